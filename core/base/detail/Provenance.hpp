#pragma once
/// \file Provenance.hpp
/// What a run's summary.json records about how it was made (the audit trail): the
/// command line, the PETSc options given on it, the host and the time.
#include <string>
#include <vector>

namespace simfuse {

/// Records the program's command line: `args` its own arguments (argv[0] first), `petsc`
/// the PETSc options (after `--`). The simfuse tool calls it once at start.
void record_invocation(std::vector<std::string> args, std::vector<std::string> petsc);
/// The recorded arguments (empty if record_invocation was never called, e.g. a library user).
const std::vector<std::string>& invocation();
/// The recorded PETSc options of the command line.
const std::vector<std::string>& petsc_command_line();
/// The current time in UTC, ISO 8601: "2026-12-02T10:04:05Z".
std::string utc_timestamp();
/// This machine's host name ("" if unknown).
std::string host_name();

}  // namespace simfuse
