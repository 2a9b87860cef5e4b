#pragma once
/// \file RunOutput.hpp
/// What a run writes and when (internal to the coupling layer; Simulation owns one):
///   - the output fields on the schedule of the case's `output:` section: a `.pvd` series
///     of VTK files and PNG snapshots;
///   - `steps.csv`, a row per step with what each sub-step did in that step;
///   - `summary.json` at the end.
/// The per-sub-step columns and keys come from the audit-counter table
/// (substep_counters() in Policy.hpp), so they never need editing here.
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "simfuse/core/Checkpoint.hpp"
#include "simfuse/core/base/Schema.hpp"
#include "simfuse/coupling/detail/RunClock.hpp"

namespace simfuse {

class Grid;
class Solver;
class Coupler;

/// What RunOutput reads of the run it writes: the parts, the clock and the audit trail,
/// owned by the Simulation (they outlive the RunOutput), not the Simulation itself.
struct RunView {
  MPI_Comm comm;
  const std::string& name;       ///< the case's name (names the files)
  const std::string& case_file;  ///< where the case came from
  std::string solver_type;
  bool force = false;  ///< write into a folder that holds another case's results
  const Grid& grid;
  Solver& solver;
  Coupler& coupler;
  const RunClock& clock;
  const std::string& petsc_case_options;
  const nlohmann::ordered_json& provenance;
};

/// Error norms of each solution field against the solver's exact solution at time t, per
/// field (per component, as <field>_<component>, for several); empty if it has none.
/// Collective.
nlohmann::ordered_json exact_errors(Solver& solver, const Grid& grid, double t);

class RunOutput {
 public:
  /// Declares the keys of the case's `output:` section.
  static void declare(Schema& output);

  /// Validates `output` (the case's section) against the simulation's fields, solution and
  /// diagnostic; UserError on a bad key. Writes nothing.
  RunOutput(RunView run, const Params& output, std::string dir);
  ~RunOutput();

  /// Claims the output folder for this run: refuses (UserError, nothing written or removed
  /// anywhere) one that holds another case's results unless --force, then creates it and
  /// removes this case's earlier output there. Collective; begin() calls it if not done.
  void claim_folder();
  /// Creates the folder, starts steps.csv and writes the initial fields. Collective.
  void begin();
  /// Instead of begin() for a resumed run, after the other state is restored from `in`:
  /// continues the .pvd series and steps.csv from the checkpoint's step, removing what the
  /// interrupted run wrote after it (frames, PNGs, rows). Collective.
  void resume(const CheckpointData& in);
  /// Output bookkeeping for a checkpoint (frames written, PNGs, error history, extras).
  void save_state(CheckpointData& out) const;
  /// After each step: its steps.csv row and the fields due at this step. Collective.
  void after_step();
  /// Writes summary.json: `status` ("completed", "failed", ...), `message`, and the extra
  /// sections given to add(). Collective; returns the summary.
  const nlohmann::ordered_json& write_summary(const std::string& status, const std::string& message,
                                              const std::vector<std::string>& result_files);
  /// Adds `value` to summary.json under `key`.
  void add(const std::string& key, nlohmann::ordered_json value);
  /// The summary as last written.
  const nlohmann::ordered_json& summary() const { return summary_; }
  /// Wall time spent writing output.
  double seconds() const { return seconds_; }

 private:
  struct Impl;
  void write_fields();
  /// resume(): of a run extended past its old end, the frame and PNGs written only
  /// because its step was the last (removed from `files`, `times` and the PNG list).
  std::vector<std::string> drop_last_step_extras(std::vector<std::string>& files, std::vector<double>& times);
  void open_writers();
  nlohmann::ordered_json substeps_json() const;

  RunView run_;
  bool claimed_ = false;
  std::string dir_;
  std::vector<std::string> fields_;
  int every_ = 0;
  double seconds_ = 0;
  nlohmann::ordered_json summary_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace simfuse
