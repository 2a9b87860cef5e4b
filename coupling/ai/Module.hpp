#pragma once
/// \file Module.hpp
/// The AI layer as the simfuse command loads it: on first need, with dlopen, so that only
/// what uses a model, a capture or training pays libtorch's start-up (about two seconds of
/// dynamic linking on these machines; `config validate`, a classical run or a refused case
/// file do not). libsimfuse_ai exports one C entry point, simfuse_ai_module(), returning
/// this table; the command registers it with add_lazy_components (core/base/Schema.hpp). Programs
/// that link simfuse::ai directly call simfuse::ai::register_builtins() instead.
/// Internal: not installed. No torch header here.
#include <iosfwd>
#include <string>

namespace simfuse {
class ConfigDocument;
}

namespace simfuse::ai {

/// The options the train and generate commands take from the command line.
struct CommandOptions {
  bool resume = false;
  bool force = false;
  bool progress = true;
  bool check_only = false;  ///< config validate: check the spec (and its data), run and write nothing
};

inline constexpr int kModuleApiVersion = 1;

struct ModuleApi {
  int version = kModuleApiVersion;
  /// Registers the AI policies, architectures and the capture: section (idempotent).
  void (*register_all)() = nullptr;
  /// `simfuse train SPEC` and `simfuse generate SPEC`; each returns the exit code.
  int (*train)(const ConfigDocument& spec, const CommandOptions& o) = nullptr;
  int (*generate)(const ConfigDocument& spec, const CommandOptions& o) = nullptr;
  /// Documents a file the AI layer reads ("capture", "card", "generate", "train") as text
  /// (prefix-indented, as Schema::document) or as Markdown (Schema::document_markdown).
  void (*document)(const std::string& what, bool markdown, std::ostream& os) = nullptr;
};

}  // namespace simfuse::ai

extern "C" const simfuse::ai::ModuleApi* simfuse_ai_module();
