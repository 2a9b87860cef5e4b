#pragma once
// The sub-commands of the simfuse tool. Each returns the process exit code.
#include <string>
#include <vector>

namespace simfuse::app {

struct CommonOptions {
  std::string case_file;
  std::vector<std::string> sets;    // --set k=v
  std::vector<std::string> unsets;  // --unset k (applied before the --set)
  std::string output;               // --output DIR
  bool allow_unused = false;
  bool resume = false;       // --resume
  bool resume_auto = false;  // --resume auto: continue if there is a checkpoint, else start
  bool force = false;        // train, run, compare --force
  bool progress = true;
  int verbosity = 1;  // 0 quiet, 1 normal, 2 verbose
};

int cmd_run(const CommonOptions& o);
int cmd_validate(const CommonOptions& o);
int cmd_compare(const CommonOptions& o);
int cmd_train(const CommonOptions& o);
int cmd_generate(const CommonOptions& o);
int cmd_doc(const std::string& component, bool markdown = false);

/// Loads the AI layer (libsimfuse_ai.so, with libtorch) once and registers its components.
void load_ai_layer();

}  // namespace simfuse::app
