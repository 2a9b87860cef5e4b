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

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "simfuse/core/Checkpoint.hpp"
#include "simfuse/core/base/Schema.hpp"
#include "simfuse/coupling/detail/RunClock.hpp"

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

class Solver;
class Coupler;
class RunOutput;

/// A run's checkpoints: when one is due, what it holds, and whether one fits the run that
/// resumes it. A checkpoint holds the clock and restarts (sim/), every field of the State
/// (fields/), the solver's, the coupler's and the output's state, and that of the
/// participants added (ext/<key>/); its manifest holds the run's fingerprint: the case's
/// values (all but the run's length, the output folder and the checkpoint settings) and
/// the FNV-1a checksum of every model's weights. A resume is refused if the fingerprint,
/// the case name or the rank count differ.
class RunCheckpoints {
 public:
  /// What the checkpoints save and restore (owned by the Simulation; outlive this).
  struct Parts {
    Solver& solver;
    Coupler& coupler;
    RunOutput& output;
    RunClock& clock;
    nlohmann::ordered_json& restarts;  ///< [{step, t, checkpoint}] of earlier resumes
  };
  /// `section` is the case's checkpoint: section (every, seconds, at_end, keep); the store
  /// is `<out_dir>/checkpoints`.
  RunCheckpoints(const Params& section, const std::string& out_dir, MPI_Comm comm, Parts parts);
  ~RunCheckpoints();

  /// The fingerprint: the case document's values and the models' weights (sub-step ->
  /// path), read and checksummed now.
  void set_fingerprint(const YAML::Node& case_root, const std::map<std::string, std::string>& weights);
  /// Makes `c` take part under `key` (not owned).
  void add_participant(const std::string& key, Checkpointable* c) { participants_[key] = c; }

  /// 0 not due, 1 by the schedule (steps; wall time on rank 0; the last step), 2 a stop
  /// signal arrived on some rank (`signalled` on this one). Collective.
  int due(bool signalled) const;
  /// Writes a checkpoint of the current step (none if one exists): RunFailure, and none
  /// written, if the State holds NaN or inf. `case_name`, `case_file` go into the manifest.
  /// Collective.
  void write(const std::string& case_name, const std::string& case_file);
  /// The newest valid checkpoint at or before `max_step` (-1: any), found now so that a
  /// later restore() need not look (and validate) again. False if there is none.
  /// Collective.
  bool find(long max_step);
  /// Forgets what find() found (a new bound on the step is coming).
  void forget_found();
  /// Restores the newest valid checkpoint at or before `max_step` (or the one find()
  /// found) into the parts. CheckpointError if there is none or it does not fit: another
  /// case, rank count, fingerprint, or a step beyond the clock's steps. Collective.
  void restore(const std::string& case_name, long max_step);
  /// Marks the start of the run (the wall-time schedule counts from it).
  void started(double wall) { last_wall_ = wall; }
  /// Removes an earlier run's checkpoints from the folder (rank 0; a fresh run).
  void remove_earlier() const;

  const std::string& dir() const { return store_.dir(); }
  /// The step of the last checkpoint written or restored (-1: none).
  long last_step() const { return last_step_; }

 private:
  CheckpointStore store_;
  MPI_Comm comm_;
  Parts parts_;
  long every_ = 0;
  double seconds_ = 0;
  bool at_end_ = true;
  double last_wall_ = 0;
  long last_step_ = -1;
  std::map<std::string, Checkpointable*> participants_;
  nlohmann::ordered_json case_values_, models_;
  std::optional<nlohmann::ordered_json> found_;
  std::vector<std::string> found_skipped_;
};

}  // namespace simfuse
