#pragma once
/// \file SubStep.hpp
/// The unit the coupling layer works on: one named part of a solver's time step.
///
/// A SubStep reads and writes named fields of the State. Its `apply` is the classical
/// implementation. Optional capabilities are small interfaces a sub-step may also
/// implement (the coupling layer discovers them with dynamic_cast):
///  - Iterative: solved iteratively; accepts an initial guess, reports iterations.
///  - Checkable: gives a cheap error estimate for a proposed result.
///  - Pointwise: acts on each grid point independently, so fallback can be per point.
///  - Relocatable: a Pointwise sub-step whose points can be computed away from the grid,
///    on any rank, from a point-state record (core/base/PointStates.hpp).
///  - Differentiable: a Relocatable sub-step that gives the sensitivity of a point's
///    result to its state (what in situ adaptive tabulation stores with each entry).
#include <random>
#include <string>
#include <vector>

#include "simfuse/core/Field.hpp"
#include "simfuse/core/base/PointStates.hpp"

namespace simfuse {

/// What a sub-step is asked to do: advance from time `t` by `dt` (its share of the
/// full step), as part of time step number `step` (1-based).
struct StepInfo {
  long step = 0;
  double t = 0;
  double dt = 0;
};

class SubStep {
 public:
  virtual ~SubStep() = default;
  /// The name used in plans, policies, timers, log stages and options prefixes.
  virtual const std::string& name() const = 0;
  /// Fields read and written (by name).
  virtual std::vector<std::string> reads() const = 0;
  virtual std::vector<std::string> writes() const = 0;
  /// The classical implementation. Collective on the grid's communicator.
  virtual void apply(State& state, const StepInfo& info) = 0;
  /// Why this sub-step, as configured, can run only classically (a policy other than
  /// classical on it is refused with this reason); empty: any policy.
  virtual std::string classical_only() const { return {}; }
  /// Fields besides its own (those it writes) that the sub-step's result depends on, and
  /// that a policy must therefore take into account (a model must read them): e.g. forced
  /// chemistry's `transported`, the state the transport leaves. A policy that does not is
  /// refused at set-up (Policy::takes_required_inputs). Empty: none.
  virtual std::vector<std::string> required_inputs() const { return {}; }
};

/// A sub-step solved by an iterative method.
class Iterative {
 public:
  virtual ~Iterative() = default;
  /// Iterations used by the last apply().
  virtual int last_iterations() const = 0;
  /// Makes the next apply() start from `guess` (same layout as the written field)
  /// instead of its default initial guess. The guess is used once.
  virtual void set_initial_guess(Vec guess) = 0;
};

/// A sub-step that acts on every grid point independently (a local ODE integration),
/// so a policy can run the classical code on some points only.
class Pointwise {
 public:
  virtual ~Pointwise() = default;
  /// Runs the classical implementation on the listed points only (indices into this
  /// rank's owned block, x fastest), reading and writing the sub-step's fields there.
  /// Not collective: ranks may pass different lists.
  virtual void apply_points(State& state, const StepInfo& info, const std::vector<PetscInt>& points) = 0;
};

/// A sub-step that can estimate the error of a proposed result cheaply.
class Checkable {
 public:
  virtual ~Checkable() = default;
  /// `before` holds the written fields as they were before the step (same layout as in
  /// the state), the state holds the proposed result. Fills `estimate` with one value per
  /// owned point (Pointwise sub-steps) or a single value; values <= 1 mean "within the
  /// sub-step's check tolerance". Collective for non-pointwise sub-steps.
  virtual void estimate(const State& state, const std::vector<Vec>& before, const StepInfo& info,
                        std::vector<double>& estimate) = 0;
  /// One line on what the estimate measures, for the audit trail.
  virtual std::string estimate_description() const = 0;
  /// The estimate of the listed owned points only (Pointwise sub-steps), one value per
  /// entry of `points`. The default computes every point's estimate and picks; a
  /// sub-step whose estimate is costly overrides it to compute only those asked for.
  virtual void estimate_points(const State& state, const std::vector<Vec>& before, const StepInfo& info,
                               const std::vector<PetscInt>& points, std::vector<double>& estimate) {
    std::vector<double> all;
    this->estimate(state, before, info, all);
    estimate.resize(points.size());
    for (size_t i = 0; i < points.size(); ++i)
      estimate[i] = all.size() == 1 ? all[0] : all[static_cast<size_t>(points[i])];
  }
  /// Whether the estimate costs a sizeable share of the sub-step itself (a loose
  /// integration per point, as chemistry's). A guarded policy in `estimate: auto` then
  /// runs it only on points outside the model's training ranges; a cheap one runs on all.
  virtual bool estimate_is_costly() const { return false; }
  /// Whether estimate_points computes each point's reference result (a classical
  /// integration at a looser tolerance, as chemistry's) and keeps it for keep_estimated():
  /// a guard then gives a point the estimate rejects that result instead of running the
  /// sub-step on it again (`reuse_estimate`).
  virtual bool estimate_leaves_results() const { return false; }
  /// Writes the reference results of the last estimate_points call into the state at the
  /// listed owned points (each was in that call with a finite estimate). Not collective.
  virtual void keep_estimated(State& /*state*/, const std::vector<PetscInt>& /*points*/) {}
};

/// A sub-step whose results must lie in a physically admissible set (detailed chemistry:
/// non-negative mass fractions that conserve every element, the temperature that conserves
/// the energy). A guarded policy maps a proposed result onto that set before its other
/// checks; points that cannot be mapped fall back.
class Admissible {
 public:
  virtual ~Admissible() = default;
  /// Maps the proposed result in `state` onto the admissible set in place, on this rank's
  /// owned points; `before` as in Checkable::estimate. Sets ok[p] = 0 (and leaves the point
  /// unspecified) where that was impossible. Not collective.
  virtual void make_admissible(State& state, const std::vector<Vec>& before, const StepInfo& info,
                               std::vector<char>& ok) = 0;
  /// One line on what it does, for the audit trail.
  virtual std::string admissible_description() const = 0;
  /// A cheap test of one point's components (the layout of the written field): false when
  /// the point must be mapped. A tabulation maps only the retrievals that fail it (a
  /// linear retrieval conserves what the sub-step conserves linearly, such as the
  /// elements, but can leave a bound such as Y >= 0). Default: every point is mapped.
  virtual bool point_admissible(const double* /*components*/) const { return false; }
  /// make_admissible on the listed owned points only (ok as there, indexed by point; the
  /// others are left as they are and reported ok). Default: all points.
  virtual void make_points_admissible(State& state, const std::vector<Vec>& before, const StepInfo& info,
                                      const std::vector<PetscInt>& /*points*/, std::vector<char>& ok) {
    make_admissible(state, before, info, ok);
  }
};

/// A sub-step whose points have the physical coordinates a model's regime is stated in
/// (detailed chemistry: the temperature and the local equivalence ratio of the element
/// composition, which the chemistry conserves). A model card's `regime:` names them; a
/// guarded policy then judges "out of range" by them instead of the per-channel training
/// ranges, and set-up warns when the case starts outside.
class RegimeAware {
 public:
  virtual ~RegimeAware() = default;
  /// The coordinates' names, e.g. {"temperature", "equivalence_ratio"}.
  virtual std::vector<std::string> regime_coordinates() const = 0;
  /// One point's coordinates (in the order of regime_coordinates) from its components (the
  /// layout of the written field). Not collective.
  virtual void regime_point(const double* components, double* coords) const = 0;
};

/// A Pointwise sub-step whose points can be computed anywhere: everything one point's
/// computation needs (its components, its local conditions, its per-point solver memory)
/// travels in a point-state record (core/base/PointStates.hpp). What a policy uses to run
/// points on another rank (load balancing), to look them up in a table (tabulation), or
/// to label states that are not in the State (perturbed training samples).
class Relocatable {
 public:
  virtual ~Relocatable() = default;
  /// The record's layout: components, names of the local conditions and of the memory.
  /// The conditions hold everything else the point's result depends on (its required
  /// inputs included, SubStep::required_inputs).
  virtual PointLayout point_layout() const = 0;
  /// Appends the records of the listed owned points (indices as in apply_points) to `out`
  /// (of this layout). Not collective.
  virtual void take_points(const State& state, const std::vector<PetscInt>& points, PointStates& out) const = 0;
  /// Computes every record in place (state and memory; the conditions are read), with
  /// the classical implementation, exactly as apply_points would on the points they came
  /// from. Sets ok[q] = 0 where the computation failed (that record's state is then
  /// unspecified). Uses nothing of the grid or the rank: not collective.
  virtual void apply_states(const StepInfo& info, PointStates& states, std::vector<char>& ok) = 0;
  /// Writes records (state and memory) back into the listed owned points, `states`
  /// point q into points[q]. Not collective.
  virtual void return_points(State& state, const std::vector<PetscInt>& points, const PointStates& states) = 0;
};

/// A Relocatable sub-step that gives the sensitivity matrix A = d(result)/d(state) of a
/// record's computation (components x components, row-major): what a tabulation (ISAT,
/// coupling/Isat.hpp) stores to extrapolate the result linearly to nearby states. An
/// approximation is allowed (the table checks its error before it grows an entry); the
/// error test weighs each component by its scale.
class Differentiable {
 public:
  virtual ~Differentiable() = default;
  /// A at record q of `in` (its state and conditions as they were before the computation),
  /// whose computed state is `out`. Not collective.
  virtual void sensitivity(const StepInfo& info, const PointStates& in, size_t q, const double* out, double* A) = 0;
  /// How A is obtained (summary.json).
  virtual std::string sensitivity_description() const = 0;
  /// The size of one unit of component c in an absolute error test (chemistry: 1000 K for
  /// T, 1 for a mass fraction): a tabulation's default scale.
  virtual double component_scale(int /*c*/) const { return 1.0; }
};

/// A Relocatable sub-step on one field (it reads and writes the same components) that
/// can make states that are not in the State: the training data's perturbed samples
/// (states near a trajectory, as a diffusing field produces them off it), labelled by
/// Relocatable::apply_states.
class Perturbable {
 public:
  virtual ~Perturbable() = default;
  /// Replaces `point` (one point's components) by a random state near it that the
  /// sub-step accepts as a start (detailed chemistry: non-negative mass fractions summing
  /// to 1, a temperature inside the thermo data). `amplitude` in (0, 1] sets how far.
  virtual void perturb(double* point, double amplitude, std::mt19937_64& rng) const = 0;
  /// A Relocatable sub-step's record conditions that go with its state (its required
  /// inputs, e.g. forced chemistry's transported state), moved with a perturbation of the
  /// state from `original` to `perturbed` (and perturbed themselves). Default: unchanged.
  virtual void perturb_conditions(const double* /*original*/, const double* /*perturbed*/, double* /*conditions*/,
                                  double /*amplitude*/, std::mt19937_64& /*rng*/) const {}
};

}  // namespace simfuse
