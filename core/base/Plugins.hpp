#pragma once
/// \file Plugins.hpp
/// Plugins: a scientist's solver, sub-step, kinetics, policy or architecture, built as a
/// shared library, that every verb of the simfuse tool (run, compare, config validate/doc,
/// generate, train) can use with no main() of the scientist's own.
///
/// A plugin is a shared library with one SIMFUSE_PLUGIN block, which registers what the
/// library adds:
///
///     #include <simfuse/simfuse.hpp>
///     SIMFUSE_PLUGIN("allen_cahn") {
///       simfuse::solver_registry().add("allen_cahn", "...", &AllenCahn::declare, make);
///     }
///
/// It is loaded, before the case is validated, from (in this order)
///   - `SIMFUSE_PLUGIN_PATH`: a ':'-separated list of plugin files, or folders whose
///     `*.so` files are all loaded;
///   - `simfuse --plugin lib.so` (repeatable);
///   - a case's `plugins: [lib.so]` (paths relative to the case file).
/// Loading a plugin runs its code with the rights of the user, as a Python import does:
/// load only plugins you trust. summary.json lists every plugin loaded (path, sha256).
/// A plugin built against another simfuse version is refused: rebuild it.
#include <string>
#include <vector>

#include "simfuse/core/Version.hpp"
#include "simfuse/core/base/Error.hpp"

namespace simfuse {

class ConfigDocument;

/// One loaded plugin.
struct PluginInfo {
  std::string name;    ///< as given to SIMFUSE_PLUGIN
  std::string path;    ///< canonical absolute path of the library
  std::string sha256;  ///< of the library file
  std::string origin;  ///< who asked for it: "--plugin", "SIMFUSE_PLUGIN_PATH", "case.yaml:3:5"
};

/// Loads the plugin library at `path` (once: a second request for the same file returns
/// the first) and runs its registration. `origin` says who asked, `where` locates the
/// request in a file (may be null). Throws UserError when the file is missing, cannot be
/// loaded, is not a simfuse plugin, or was built against another simfuse version; an
/// error the plugin's registration raises is reported with the plugin's name.
const PluginInfo& load_plugin(const std::string& path, const std::string& origin, const Location* where = nullptr);

/// Loads what SIMFUSE_PLUGIN_PATH names (nothing if it is unset or empty).
void load_plugins_from_environment();

/// Loads the plugins a case lists under `plugins:` (a list of paths, relative to the case
/// file). Throws UserError, located in the file, on a malformed list or a bad plugin.
void load_case_plugins(const ConfigDocument& doc);

/// Every plugin loaded in this process, in load order.
const std::vector<PluginInfo>& loaded_plugins();

/// The SHA-256 of a file, as 64 lowercase hex digits. Throws UserError if it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace simfuse

/// The entry point of a plugin library: `SIMFUSE_PLUGIN("name") { registrations }`.
/// Exactly one per library. The block runs when the library is loaded, after the version
/// check; it may throw simfuse::UserError.
#define SIMFUSE_PLUGIN(plugin_name)                                                        \
  static void simfuse_plugin_body();                                                       \
  extern "C" __attribute__((visibility("default"))) const char* simfuse_plugin_version() { \
    return SIMFUSE_VERSION;                                                                \
  }                                                                                        \
  extern "C" __attribute__((visibility("default"))) const char* simfuse_plugin_name() {    \
    return plugin_name;                                                                    \
  }                                                                                        \
  extern "C" __attribute__((visibility("default"))) void simfuse_plugin_register() {       \
    simfuse_plugin_body();                                                                 \
  }                                                                                        \
  static void simfuse_plugin_body()
