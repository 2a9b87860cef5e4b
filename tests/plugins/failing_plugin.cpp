// A plugin whose registration fails: the error names the plugin.
#include "simfuse/core/base/Plugins.hpp"

SIMFUSE_PLUGIN("failing") {
  throw simfuse::UserError("this plugin needs the environment variable FAILING_PLUGIN_DATA", "set it");
}
