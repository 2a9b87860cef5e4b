#include "simfuse/core/base/Plugins.hpp"

#include <dlfcn.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "simfuse/core/base/Config.hpp"
#include "simfuse/core/base/Paths.hpp"

namespace simfuse {

namespace fs = std::filesystem;

namespace {

std::vector<PluginInfo>& registry() {
  static std::vector<PluginInfo> plugins;
  return plugins;
}

[[noreturn]] void fail(const Location* where, const std::string& key_path, const std::string& what,
                       const std::string& fix) {
  if (where) throw UserError(std::vector<Diagnostic>{{*where, key_path, what, fix}});
  throw UserError(what, fix);
}

// While a plugin's own code runs (its static constructors in dlopen, its version and
// registration functions), a crash of that code is reported as the plugin's, with the exit
// code of bad input, instead of a bare "Segmentation fault" or an abort trace. The process
// cannot go on after such a signal: it ends at once (nothing of the run has been written).
char g_crash_message[1024];
extern "C" void on_plugin_crash(int sig) {
  const char* what = sig == SIGSEGV  ? "SIGSEGV (invalid memory access)"
                     : sig == SIGBUS ? "SIGBUS (invalid memory access)"
                     : sig == SIGFPE ? "SIGFPE (arithmetic error)"
                     : sig == SIGILL ? "SIGILL (illegal instruction)"
                                     : "SIGABRT (it called abort)";
  const auto put = [](const char* t) { (void)!::write(2, t, std::strlen(t)); };
  put(g_crash_message);
  put(what);
  put("\n  this is an error in the plugin, not in the case: remove it (--plugin, SIMFUSE_PLUGIN_PATH or the case's "
      "plugins:) or report it to its authors\n");
  std::_Exit(2);
}

class CrashGuard {
 public:
  CrashGuard(const std::string& path, const char* phase) {
    std::snprintf(g_crash_message, sizeof g_crash_message, "simfuse: error: plugin '%s' crashed %s: ", path.c_str(),
                  phase);
    struct sigaction sa {};
    sa.sa_handler = on_plugin_crash;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    for (size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &sa, &old_[i]);
  }
  ~CrashGuard() {
    for (size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &old_[i], nullptr);
  }
  CrashGuard(const CrashGuard&) = delete;
  CrashGuard& operator=(const CrashGuard&) = delete;

 private:
  static constexpr std::array<int, 5> kSignals{SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
  std::array<struct sigaction, 5> old_{};
};

const char* const kRebuild =
    "build the plugin against this simfuse: cmake -Dsimfuse_DIR=<this simfuse's lib/cmake/simfuse> (or "
    "CMAKE_PREFIX_PATH), then rebuild";

}  // namespace

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(fmt::format("cannot read '{}' to compute its SHA-256", path), "check the path");
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    throw InternalError("OpenSSL could not start a SHA-256", __FILE__, __LINE__);
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(in.gcount()));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) hex += fmt::format("{:02x}", md[i]);
  return hex;
}

const std::vector<PluginInfo>& loaded_plugins() {
  return registry();
}

const PluginInfo& load_plugin(const std::string& path, const std::string& origin, const Location* where) {
  const std::string key = where ? "plugins" : std::string();
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    fail(where, key,
         fmt::format("plugin '{}'{} {}", path, where ? std::string() : " (from " + origin + ")",
                     fs::exists(path, ec) ? "is not a file" : "does not exist"),
         "give the path of the plugin's shared library (lib<name>.so), built with find_package(simfuse)");
  const std::string canonical = fs::canonical(path, ec).string();
  for (const auto& p : registry())
    if (p.path == canonical) return p;

  // RTLD_NOW: a symbol the plugin needs and this simfuse lacks fails here, with a message,
  // not later in the middle of a run. RTLD_LOCAL: plugins do not see each other.
  void* handle = nullptr;
  {
    const CrashGuard guard(path, "while being loaded (in its static constructors)");
    handle = dlopen(canonical.c_str(), RTLD_NOW | RTLD_LOCAL);
  }
  if (!handle) {
    const char* err = dlerror();
    fail(where, key, fmt::format("cannot load plugin '{}': {}", path, err ? err : "unknown error"),
         std::string("a missing symbol or library means the plugin was built against another simfuse or "
                     "libtorch; ") +
             kRebuild);
  }
  // Never dlclose'd: the registries hold functions from the library for the whole run.
  using Text = const char* (*)();
  using Register = void (*)();
  const auto version = reinterpret_cast<Text>(dlsym(handle, "simfuse_plugin_version"));
  const auto name = reinterpret_cast<Text>(dlsym(handle, "simfuse_plugin_name"));
  const auto reg = reinterpret_cast<Register>(dlsym(handle, "simfuse_plugin_register"));
  if (!version || !name || !reg)
    fail(where, key,
         fmt::format("'{}' is not a simfuse plugin: it has no SIMFUSE_PLUGIN(\"name\") {{ ... }} block", path),
         "add one (core/base/Plugins.hpp) to one .cpp file of the library, registering what it adds");
  const char* built_for = nullptr;
  const char* plugin_name = nullptr;
  {
    const CrashGuard guard(path, "in its version or name function");
    built_for = version();
    plugin_name = name();
  }
  if (!built_for || !plugin_name)
    fail(where, key,
         fmt::format("plugin '{}' returns no {} (a null string)", path, !built_for ? "simfuse version" : "name"),
         std::string("its SIMFUSE_PLUGIN block is damaged; ") + kRebuild);
  if (std::string(built_for) != SIMFUSE_VERSION)
    fail(where, key,
         fmt::format("plugin '{}' was built against simfuse {}, this is simfuse {}", path, built_for, SIMFUSE_VERSION),
         kRebuild);
  PluginInfo info{plugin_name, canonical, sha256_file(canonical), origin};
  try {
    const CrashGuard guard(path, fmt::format("in its registration (plugin name '{}')", info.name).c_str());
    reg();
  } catch (const UserError& e) {
    const auto& d = e.diagnostics();
    throw UserError(fmt::format("plugin '{}' ({}) failed to register: {}", info.name, path,
                                d.empty() ? std::string(e.what()) : d.front().what),
                    d.empty() || d.front().fix.empty() ? "see the plugin's documentation" : d.front().fix);
  } catch (const std::exception& e) {
    throw UserError(fmt::format("plugin '{}' ({}) failed to register: {}", info.name, path, e.what()),
                    "this is an error in the plugin: report it to its authors");
  } catch (...) {
    throw UserError(fmt::format("plugin '{}' ({}) failed to register: it threw something that is not a "
                                "std::exception",
                                info.name, path),
                    "this is an error in the plugin (throw std::runtime_error or simfuse::UserError): report it to "
                    "its authors");
  }
  spdlog::debug("loaded plugin '{}' from {} (sha256 {})", info.name, canonical, info.sha256);
  registry().push_back(std::move(info));
  return registry().back();
}

void load_plugins_from_environment() {
  const char* env = std::getenv("SIMFUSE_PLUGIN_PATH");
  if (!env || !*env) return;
  std::string list = env;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t end = std::min(list.find(':', start), list.size());
    const std::string entry = list.substr(start, end - start);
    start = end + 1;
    if (entry.empty()) continue;
    std::error_code ec;
    if (fs::is_directory(entry, ec)) {
      std::vector<std::string> files;  // sorted: the load order does not depend on the file system
      for (const auto& f : fs::directory_iterator(entry, ec))
        if (f.path().extension() == ".so" && f.is_regular_file(ec)) files.push_back(f.path().string());
      std::sort(files.begin(), files.end());
      for (const auto& f : files) load_plugin(f, "SIMFUSE_PLUGIN_PATH");
    } else if (fs::exists(entry, ec)) {
      load_plugin(entry, "SIMFUSE_PLUGIN_PATH");
    } else {
      throw UserError(fmt::format("SIMFUSE_PLUGIN_PATH names '{}', which does not exist", entry),
                      "list plugin libraries or folders holding them, separated by ':'");
    }
  }
}

void load_case_plugins(const ConfigDocument& doc) {
  const YAML::Node list = doc.root()["plugins"];
  if (!list) return;
  if (list.IsScalar() && !list.Scalar().empty()) {
    const Location where = doc.locate(list, "plugins");
    load_plugin(resolve_path(list.Scalar(), doc.origin()), where.str(), &where);
    return;
  }
  if (!list.IsSequence())
    throw UserError(
        std::vector<Diagnostic>{{doc.locate(list, "plugins"), "plugins", "expected a list of plugin libraries",
                                 "e.g. 'plugins: [build/libmy_solver.so]' (relative to the case file)"}});
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node item = list[i];
    const std::string kp = fmt::format("plugins[{}]", i);
    const Location where = doc.locate(item, kp);
    if (!item.IsScalar() || item.Scalar().empty())
      throw UserError(std::vector<Diagnostic>{{where, kp, "expected the path of a plugin library",
                                               "e.g. 'plugins: [build/libmy_solver.so]' (relative to the case file)"}});
    load_plugin(resolve_path(item.Scalar(), doc.origin()), where.str(), &where);
  }
}

}  // namespace simfuse
