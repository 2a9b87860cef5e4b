#pragma once
/// \file Checkpoints.hpp
/// The checkpoints of a run in `<output>/checkpoints/` (internal to the coupling layer;
/// the Simulation owns one store). A checkpoint at step N is
///   - `checkpoint_<N>.rank<r>.bin`, one per MPI rank: that rank's CheckpointData;
///   - `checkpoint_<N>.json`, the manifest, written by rank 0 last: case, step, time,
///     rank count, the case's fingerprint, and each rank file's size and FNV-1a checksum.
/// Every file is written to a temporary name, flushed to disk and renamed; a checkpoint
/// exists only once its manifest does, and is valid only if every file it lists matches
/// its checksum. The last `keep` checkpoints are kept.
#include <mpi.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "simfuse/core/Checkpoint.hpp"

namespace simfuse {

class CheckpointStore {
 public:
  CheckpointStore(std::string dir, int keep, MPI_Comm comm);

  /// Writes this rank's `data` and the manifest (`info` plus the files' sizes and
  /// checksums), then removes checkpoints beyond the last `keep`. Collective; an error on
  /// any rank is thrown on every rank. Returns the manifest's path.
  std::string write(const CheckpointData& data, long step, nlohmann::ordered_json info);

  /// The newest valid checkpoint's manifest (with "file": its path), or nothing. Each
  /// newer one that is not valid is described in `skipped` (why). With `max_step` >= 0,
  /// only checkpoints at or before that step count. Collective.
  std::optional<nlohmann::ordered_json> newest_valid(std::vector<std::string>& skipped, long max_step = -1) const;

  /// This rank's data of the checkpoint `manifest` describes (checksum verified).
  /// Collective; CheckpointError on every rank if any rank cannot read its part.
  CheckpointData read(const nlohmann::ordered_json& manifest) const;

  /// Removes every checkpoint file in `dir` (a fresh run replaces an earlier run's). Rank 0.
  static void remove_all(const std::string& dir);

  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  int keep_;
  MPI_Comm comm_;
};

}  // namespace simfuse
