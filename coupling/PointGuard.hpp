#pragma once
/// \file PointGuard.hpp
/// The torch-free machinery of a policy that replaces a sub-step's result by a proposal (a
/// model's prediction, a table's retrieval, ...) and keeps it only where it passes the
/// checks: the sub-step's inputs saved before the proposal, the per-point checks (finite,
/// inputs inside given ranges, the admissible set, the sub-step's error estimate), the
/// classical rerun of exactly the rejected points, the `<sub-step>_path` field and the
/// audit counters. No libtorch: a classical policy (tabulation) uses it as the surrogate
/// policies do (coupling/ai). Part of the extension tier: a policy of one's own that
/// proposes results gets the stock guard from here (docs/plugins.md).
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "simfuse/core/Petsc.hpp"
#include "simfuse/core/SubStep.hpp"
#include "simfuse/core/base/Schema.hpp"
#include "simfuse/coupling/Policy.hpp"

namespace simfuse {

class BusyClock;

/// What became of a point's proposed result. The values are the codes of the path field
/// and must not change (output files and tests read them).
enum class Fallback : char {
  kept = 0,           ///< the proposal was kept
  non_finite = 1,     ///< NaN or Inf in the proposal
  out_of_range = 2,   ///< inputs outside the ranges the proposal is valid for
  estimate = 3,       ///< the sub-step's error estimate above the tolerance
  whole_substep = 4,  ///< the whole sub-step ran classically (not pointwise)
  inadmissible = 5,   ///< could not be mapped onto the admissible set
};

/// "0 the model, 1 NaN/Inf, ..." for docs and the path_field key, from one table.
std::string fallback_codes_doc();

/// The counter of SubStepStats a rejection is counted in (not for `kept`, `whole_substep`).
long& fallback_counter(SubStepStats& stats, Fallback why);

/// Per-point guard of a replacing policy. Life cycle: declare_keys() in the policy's schema;
/// construct from its Params; prepare() at attach; each call save_inputs(), then write the
/// proposal into the state, then check_points() (pointwise) or a whole-field decision.
class PointGuard {
 public:
  /// How the sub-step's error estimate is used.
  enum class Estimate {
    automatic,  ///< on every point if cheap; if costly, only on points out of range
    always,     ///< on every point
    never,      ///< not at all
  };

  /// tol, ood_margin (default `default_margin`), estimate, path_field.
  static void declare_keys(Schema& s, double default_margin = 0.0);

  /// `guarded` false: only the saved inputs and the path field (unchecked policies).
  PointGuard(const Params& params, bool guarded);

  /// Work vectors for the written fields, and the path field of `path_of` (a written field
  /// whose grid it takes) when asked for. At attach.
  void prepare(SubStep& step, State& state, const std::string& path_of);
  /// Decides which checks run on `step` (after prepare; again when the proposer changes).
  /// `pointwise`: the proposal is per point (the estimate can be asked per point).
  void configure(const SubStep& step, bool pointwise);

  /// The ranges inputs must lie in, per input channel (physical units), already widened by
  /// the margin; empty: no range check.
  void set_ranges(std::vector<double> lo, std::vector<double> hi) {
    lo_ = std::move(lo);
    hi_ = std::move(hi);
  }
  double margin() const { return margin_; }
  /// A model's regime in place of the ranges: a point is out of range when one of its
  /// coordinates (by `step`, from the saved inputs of written field `field`; indices into
  /// step->regime_coordinates()) leaves [lo, hi] (already widened by the margin).
  void set_regime(const RegimeAware* step, std::string field, std::vector<int> coords, std::vector<double> lo,
                  std::vector<double> hi) {
    lo_.clear();
    hi_.clear();
    regime_ = step;
    regime_field_ = std::move(field);
    regime_coords_ = std::move(coords);
    regime_lo_ = std::move(lo);
    regime_hi_ = std::move(hi);
  }

  /// The data's support: `near(p)` of owned point p of the last check_points call (whose
  /// inputs the caller holds, e.g. as its inference normalised them); a point in the ranges
  /// or regime but not near the data is out of range, counted in `outside_support`. `what`
  /// describes it (summary.json).
  void set_support(std::function<bool(PetscInt)> near, nlohmann::ordered_json what) {
    near_ = std::move(near);
    support_what_ = std::move(what);
  }

  /// Copies the written fields into the saved inputs (before the proposal is written).
  void save_inputs(const State& state);
  /// The saved inputs of written field `f`; all of them by name.
  Vec before(const std::string& f) const { return before_.at(f); }
  std::map<std::string, Vec> inputs() const;

  /// Checks the proposal in `out` (this rank's owned points) and reruns the rejected points
  /// classically (Pointwise sub-steps) or the whole sub-step (others). `inputs` are the
  /// proposal's inputs, `cin` per point (for the range check; may be null). Counts into
  /// `stats` (accepted, fallbacks, estimated, check and classical time).
  void check_points(SubStep& step, State& state, const StepInfo& info, Field& out, const double* inputs, int cin,
                    SubStepStats& stats, MPI_Comm comm);
  /// Restores the saved inputs of `points` and reruns them classically (timed as classical).
  void rerun_classically(const SubStep& step, Pointwise& pw, State& state, const StepInfo& info,
                         const std::vector<PetscInt>& points, SubStepStats& stats);
  /// The sub-step's estimate of the proposal, if it runs on every point (else empty).
  /// Collective for non-pointwise sub-steps.
  std::vector<double> estimate_all(SubStep& step, const State& state, const StepInfo& info) const;
  /// Restores every saved input and runs the sub-step classically; an Iterative one starts
  /// from `proposal` (if given) as its initial guess.
  void whole_fallback(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats, Vec proposal = nullptr);

  /// Every cell of the path field (if any) took `why`.
  void mark_path(Fallback why);
  /// Per point, why the last check_points kept or rejected it.
  const std::vector<Fallback>& reasons() const { return reason_; }

  bool guarded() const { return guarded_; }
  /// Whether the policy asks for the data's support to be checked (`support`, default true).
  bool wants_support() const { return support_; }
  /// Whether rejected points are rerun balanced over the ranks (`balance: true`).
  bool balanced() const { return balance_; }
  double tol() const { return tol_; }
  /// summary.json's "guard" block: exactly the checks that run.
  nlohmann::ordered_json describe() const;

 private:
  // The steps of check_points(), in order.
  void screen(const Field& out, const double* inputs, int cin, SubStepStats& stats);
  void screen_regime();
  void map_admissible(SubStep& step, State& state, const StepInfo& info);
  void judge_by_estimate(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats);
  void fall_back(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats, MPI_Comm comm,
                 const BusyClock& checks);
  void restore_inputs(const SubStep& step, State& state, const std::vector<PetscInt>& points) const;
  void rerun_balanced(const SubStep& step, Relocatable& rel, Pointwise& pw, State& state, const StepInfo& info,
                      const std::vector<PetscInt>& points, SubStepStats& stats, MPI_Comm comm);
  bool admissible_ok(PetscInt p) const {
    return admissible_ok_.empty() || (p < static_cast<PetscInt>(admissible_ok_.size()) && admissible_ok_[p]);
  }
  enum class Scope { all, out_of_range, none };
  bool guarded_;
  double tol_ = 1, margin_ = 0;
  Estimate estimate_ = Estimate::automatic;
  Scope scope_ = Scope::none;
  std::string estimate_what_, admissible_what_;
  bool path_field_ = false, balance_ = false, support_ = false, reuse_ = false;
  std::vector<PetscInt> reused_;  // the last check's points given the estimate's own result
  Field* path_ = nullptr;
  std::map<std::string, PetscHandle<Vec>> before_;
  PetscHandle<Vec> proposal_;
  std::vector<double> lo_, hi_;
  const RegimeAware* regime_ = nullptr;  // set: the regime check replaces the ranges
  std::string regime_field_;
  std::vector<int> regime_coords_;
  std::vector<double> regime_lo_, regime_hi_;
  std::function<bool(PetscInt)> near_;  // set: the data's support is checked
  nlohmann::ordered_json support_what_;
  std::vector<Fallback> reason_;
  std::vector<char> admissible_ok_;
  std::vector<double> cost_;  // per owned point: its last classical rerun's seconds (balance)
  Params params_;
};

}  // namespace simfuse
