// A plugin built against another simfuse version: simfuse must refuse it, naming both
// versions, before running any of its code.
#include "simfuse/core/Version.hpp"
#undef SIMFUSE_VERSION
#define SIMFUSE_VERSION "0.0.1"
#include "simfuse/core/base/Plugins.hpp"

SIMFUSE_PLUGIN("old") {
  throw simfuse::UserError("the registration of a refused plugin ran", "");
}
