#pragma once
/// \file Files.hpp
/// Output files that are never half-written (write to a temporary name, then rename),
/// and reading a whole file.
#include <mpi.h>

#include <cstdint>
#include <optional>
#include <string>

namespace simfuse {

/// Creates `dir` (and parents) on rank 0 of `comm`; throws UserError on every rank if it
/// cannot be created or is not writable. Collective.
void ensure_directory(const std::string& dir, MPI_Comm comm);

/// Writes `content` to `path` via a temporary file in the same folder and a rename, so
/// readers see either the old or the new file. `durable`: the file and the folder entry
/// are flushed to disk (fsync) before returning, so a crash of the machine cannot leave a
/// renamed but empty file (checkpoints). Throws UserError on failure. Not collective.
void write_file_atomic(const std::string& path, const std::string& content, bool durable = false);

/// The whole content of a regular file of at most `max_bytes`, or nothing if it cannot be
/// read, is not a regular file (a FIFO, a device, a link to one) or is larger. Not collective.
std::optional<std::string> read_file(const std::string& path, std::uintmax_t max_bytes = std::uintmax_t(1) << 40);

}  // namespace simfuse
