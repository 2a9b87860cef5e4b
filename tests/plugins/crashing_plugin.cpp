// Plugins that crash or misbehave in the code simfuse runs when it loads them, one per
// CRASH_MODE (tests/CMakeLists.txt builds each): simfuse must name the plugin and exit 2,
// never die with a bare signal or an unhandled exception.
//   1 static_abort   a static constructor calls abort() (during dlopen)
//   2 static_segv    a static constructor raises SIGSEGV (during dlopen)
//   3 register_segv  the registration raises SIGSEGV
//   4 register_int   the registration throws an int (not a std::exception)
//   5 null_version   the version function returns a null string
#include <csignal>
#include <cstdlib>

#include "simfuse/core/base/Plugins.hpp"

#if CRASH_MODE == 1 || CRASH_MODE == 2
namespace {
struct CrashOnLoad {
  CrashOnLoad() {
#if CRASH_MODE == 1
    std::abort();
#else
    std::raise(SIGSEGV);
#endif
  }
} crash_on_load;
}  // namespace
#endif

#if CRASH_MODE == 5
extern "C" __attribute__((visibility("default"))) const char* simfuse_plugin_version() {
  return nullptr;
}
extern "C" __attribute__((visibility("default"))) const char* simfuse_plugin_name() {
  return "null_version";
}
extern "C" __attribute__((visibility("default"))) void simfuse_plugin_register() {}
#else
SIMFUSE_PLUGIN("crashing") {
#if CRASH_MODE == 3
  std::raise(SIGSEGV);
#elif CRASH_MODE == 4
  throw 42;
#endif
}
#endif
