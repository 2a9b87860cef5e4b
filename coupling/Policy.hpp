#pragma once
/// \file Policy.hpp
/// How a sub-step is run each time step. `classical` runs the solver's own code; the
/// surrogate policies (surrogate, guarded, warm_start, every_n) are added by the
/// surrogates-aware part of the coupling layer (coupling/ai, register_policies()). Policies are found by name in
/// policy_registry() (family "policy"), so an extension can add its own.
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "simfuse/core/SubStep.hpp"
#include "simfuse/core/base/Registry.hpp"

namespace simfuse {

/// What happened in a sub-step, accumulated over the run (the audit trail). Every
/// counter is declared once in substep_counters(): the MPI reduction, the steps.csv
/// columns, the summary.json keys and the end-of-run report are generated from that
/// table, so a new counter is a member here and one line there.
struct SubStepStats {
  std::string name;
  std::string policy;
  long calls = 0;
  double seconds = 0;            ///< total wall time of the sub-step
  double classical_seconds = 0;  ///< time in the classical implementation
  double inference_seconds = 0;  ///< time in surrogate inference
  double check_seconds = 0;      ///< time in guards (NaN, range, error estimate)
  long iterations = 0;           ///< summed over calls (Iterative sub-steps)
  long max_iterations = 0;
  int last_iterations = 0;
  bool iterative = false;
  // Surrogate policies: grid points (summed over ranks when reported).
  long points = 0;                 ///< points the surrogate was asked for
  long accepted = 0;               ///< points whose surrogate result was kept
  long fallback_nan = 0;           ///< rejected: NaN or Inf
  long fallback_ood = 0;           ///< rejected: input outside the training ranges
  long fallback_estimate = 0;      ///< rejected: error estimate above tolerance
  long whole_fallbacks = 0;        ///< calls where the whole sub-step ran classically
  long surrogate_calls = 0;        ///< calls that used the surrogate
  long fallback_inadmissible = 0;  ///< rejected: could not be made physically admissible
  long estimated = 0;              ///< points whose error estimate ran
  long accepted_out_of_range = 0;  ///< of the accepted, outside the training ranges but passed the estimate
  long outside_support = 0;        ///< judged out of range: inside the ranges or regime, far from the data
  long reused_estimate = 0;        ///< of the rejected by the estimate, given its own integration (reuse_estimate)
  // Policies that train while the run goes (online): shown when `online` is set.
  bool online = false;
  long train_iterations = 0;    ///< optimizer steps
  double train_seconds = 0;     ///< time spent training (and gathering samples)
  long guarded_steps = 0;       ///< steps served by the model (under the guard)
  long shadow_points = 0;       ///< accepted points also computed classically
  long shadow_failures = 0;     ///< of those, further from the classical result than the shadow tolerance
  long switch_ins = 0;          ///< switches to the model
  long rollbacks = 0;           ///< switches back to the classical code
  double validation_error = 0;  ///< the last validation error (a level, not a sum)
  long buffer_samples = 0;      ///< samples in the replay buffer (a level)
  // Tabulation (isat): shown when `tabulated` is set.
  bool tabulated = false;
  long isat_retrieved = 0;         ///< points answered from the table
  long isat_grown = 0;             ///< misses that grew an entry's region of accuracy
  long isat_added = 0;             ///< misses that added an entry
  long isat_direct = 0;            ///< misses computed and not tabulated
  long isat_inadmissible = 0;      ///< retrievals not admissible (Admissible sub-steps), computed instead
  long isat_evicted = 0;           ///< entries dropped to stay within the memory bound
  long isat_entries = 0;           ///< entries in the table (a level)
  double isat_megabytes = 0;       ///< the table's size (a level)
  double table_seconds = 0;        ///< time searching and growing the table, sensitivities
  long isat_verified = 0;          ///< retrievals also computed directly (verify)
  long isat_verified_within = 0;   ///< of those, with an error within the tolerance
  double isat_worst_verified = 0;  ///< the largest verified error / tolerance (a level)
  // Load balancing (balanced): shown when `balanced` is set.
  bool balanced = false;
  long balance_sent = 0;                ///< points sent to another rank to compute
  long balance_mapped = 0;              ///< points given a reference point's result (reference mapping)
  double balance_imbalance = 0;         ///< max / mean busy time over the ranks, last call (a level)
  double balance_unbalanced = 0;        ///< the same had no point moved, last call (a level)
  double balance_transfer_seconds = 0;  ///< packing, exchanging, waiting
};

/// How a counter combines over MPI ranks.
enum class Reduce {
  sum,  ///< grid points: each rank counts its own
  max,  ///< times (the slowest rank) and collective counts (the same on every rank)
};

/// When a counter appears in summary.json and the report.
enum class Show {
  always,     ///< every sub-step
  iterative,  ///< Iterative sub-steps
  surrogate,  ///< sub-steps that called a surrogate
  points,     ///< sub-steps whose surrogate counted grid points
  online,     ///< sub-steps whose policy trains a model while the run goes
  table,      ///< sub-steps run by a tabulation (isat)
  balance,    ///< sub-steps whose points are balanced over the ranks
};

/// One audit counter of SubStepStats.
struct StatCounter {
  const char* key;                      ///< summary.json key ("fallback.nan" nests); steps.csv column with '.' -> '_'
  long SubStepStats::*count = nullptr;  ///< the member, if an integer ...
  double SubStepStats::*seconds = nullptr;  ///< ... or a time
  Reduce reduce;
  Show show;
  bool per_step;       ///< a steps.csv column (the change during the step)
  const char* doc;     ///< what it counts (report label, config doc)
  bool level = false;  ///< a current value (steps.csv shows it as is, not its change)
  double value(const SubStepStats& s) const { return count ? static_cast<double>(s.*count) : s.*seconds; }
  /// A time in seconds (the double members but the levels, such as the validation error).
  bool is_time() const { return seconds != nullptr && !level; }
  /// The steps.csv column suffix: "fallback.nan" -> "fallback_nan".
  std::string column() const;
  /// Where the counter sits in a sub-step's summary.json entry: "fallback.nan" -> /fallback/nan.
  nlohmann::ordered_json::json_pointer pointer() const;
};

/// The table of audit counters, in the order of steps.csv columns and summary.json keys.
const std::vector<StatCounter>& substep_counters();

/// Sums or maximises every counter of `stats` over `comm` (per the table). Collective.
void reduce_stats(std::vector<SubStepStats>& stats, MPI_Comm comm);

/// A per-rank time over the ranks: the slowest, the mean, the sum, and max / mean (1 is a
/// perfect balance; 0 when nobody worked).
struct RankSpread {
  double max = 0, mean = 0, sum = 0;
  double imbalance() const { return mean > 0 ? max / mean : 0.0; }
};
/// For each sub-step of `local` (this rank's unreduced stats), each time counter's spread
/// over the ranks of `comm`, by counter key. Collective.
std::vector<std::map<std::string, RankSpread>> rank_spread(const std::vector<SubStepStats>& local, MPI_Comm comm);

/// True when counter `c` is shown for `s` (summary.json, report).
bool shown(const StatCounter& c, const SubStepStats& s);

/// A file a policy reads (a model card, its weights): summary.json's provenance records it
/// with its checksum, and a resumed run must find it unchanged.
struct PolicyFile {
  std::string role;  ///< "card", "weights" or "support" (the roles simfuse records)
  std::string path;  ///< as opened
};

class Policy {
 public:
  virtual ~Policy() = default;
  virtual const std::string& name() const = 0;
  /// Checks that the policy can drive `step` with sub-step time step `dt` and `state`
  /// (e.g. warm_start needs Iterative, a model card must fit the fields); throws
  /// UserError otherwise. Called once at set-up, before anything runs. A policy may add
  /// diagnostic fields to `state` here (State::add_diagnostic).
  virtual void attach(SubStep& /*step*/, State& /*state*/, double /*dt*/) {}
  /// Facts about the policy for summary.json (e.g. the model card and the inference
  /// path), merged into its sub-step's entry.
  virtual nlohmann::ordered_json describe() const { return nlohmann::ordered_json::object(); }
  /// The files the policy reads (for provenance and resume checks); none by default.
  virtual std::vector<PolicyFile> files_read() const { return {}; }
  /// Runs the sub-step once. Collective.
  virtual void apply(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats) = 0;
  /// True for a policy that trains a model while the run goes: its sub-step's training
  /// columns (Show::online counters) are written to steps.csv.
  virtual bool learns() const { return false; }
  /// Whether the counters shown as `s` are steps.csv columns of this policy's sub-step: the
  /// training counters for a policy that learns, the table and balance counters for the
  /// policies that tabulate or balance (override), the rest always.
  virtual bool has_counters(Show s) const {
    switch (s) {
      case Show::online:
        return learns();
      case Show::table:
      case Show::balance:
        return false;
      default:
        return true;
    }
  }
  /// Whether the policy can drive a sub-step with required inputs (SubStep::required_inputs:
  /// its result depends on fields it does not write): the classical code and policies that
  /// run it, a model whose card reads them (checked at attach). Otherwise the case is
  /// refused at set-up.
  virtual bool takes_required_inputs() const { return false; }
  /// Called once when the run has completed, before summary.json is written, with the
  /// output folder (empty when the run writes no output): e.g. to save a trained model
  /// there. Collective.
  virtual void finish(const std::string& /*output_dir*/) {}
};

/// Runs the classical implementation and records its iterations.
class ClassicalPolicy final : public Policy {
 public:
  const std::string& name() const override { return name_; }
  void apply(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats) override;
  bool takes_required_inputs() const override { return true; }

 private:
  std::string name_ = "classical";
};

/// Calls `step.apply` timing it into stats.classical_seconds and recording iterations.
void run_classical(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats);

/// What a policy is created from.
struct PolicyContext {
  const Params& params;   ///< the policy block's parameters
  SubStep& step;          ///< the sub-step it will drive
  std::string case_file;  ///< the case file: relative paths in params are relative to it (resolve_path)
  MPI_Comm comm = MPI_COMM_WORLD;
  std::map<std::string, std::string> model_context;  ///< the solver's (Solver::model_context)
};
using PolicyRegistry = Registry<Policy, const PolicyContext&>;
/// Policies by name (family "policy"); `classical` is always there.
PolicyRegistry& policy_registry();

}  // namespace simfuse
