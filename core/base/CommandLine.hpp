#pragma once
/// \file CommandLine.hpp
/// The command-line convention of simfuse programs: the program's own arguments first,
/// PETSc's after the first "--" (`simfuse run case.yaml -- -log_view`). One split for the
/// simfuse command and for programs of one's own (examples/ex2_custom_solver).
#include <string>
#include <vector>

namespace simfuse {

/// argv split at the first "--" (which belongs to neither part).
struct SplitCommandLine {
  std::vector<char*> ours;   ///< argv[0], then the program's arguments
  std::vector<char*> petsc;  ///< argv[0], then PETSc's options, then a null pointer (argv-style)
  /// PETSc's part as PetscInitialize takes it: the count without the final null pointer.
  int petsc_argc() const { return static_cast<int>(petsc.size()) - 1; }
};

inline SplitCommandLine split_command_line(int argc, char** argv) {
  SplitCommandLine s;
  s.ours.push_back(argv[0]);
  s.petsc.push_back(argv[0]);
  bool after = false;
  for (int i = 1; i < argc; ++i) {
    if (!after && std::string(argv[i]) == "--") {
      after = true;
      continue;
    }
    (after ? s.petsc : s.ours).push_back(argv[i]);
  }
  s.petsc.push_back(nullptr);
  return s;
}

}  // namespace simfuse
