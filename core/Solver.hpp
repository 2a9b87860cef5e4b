#pragma once
/// \file Solver.hpp
/// A PDE solver: sets itself up from its parameters, owns its State, and exposes one
/// time step as a plan of named sub-steps (deal.II step-N structure; MFEM ODESolver).
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "simfuse/core/SubStep.hpp"
#include "simfuse/core/base/Function.hpp"
#include "simfuse/core/base/Registry.hpp"

namespace simfuse {

/// One entry of a time-step plan: run `step` from t + offset*dt over fraction*dt.
/// Strang splitting is {diffuse, 0.5, 0}, {react, 1, 0}, {diffuse, 0.5, 0.5}; the
/// sub-steps of a fractional-step method each cover the whole step ({s, 1, 0}).
struct PlanEntry {
  SubStep* step = nullptr;
  double fraction = 1.0;
  double offset = 0.0;
};

/// What a solver is created from.
struct SolverContext {
  const Grid& grid;
  const Params& params;        ///< the solver's validated `solver.params`
  const Constants& constants;  ///< the case's `parameters:`
  double dt;                   ///< the time step the solver will be advanced with
  double t0;                   ///< start time
};

class Solver {
 public:
  virtual ~Solver() = default;

  /// The fields (initialised at t0 on construction).
  virtual State& state() = 0;
  /// The ordered sub-steps of one time step.
  virtual std::vector<PlanEntry> plan() = 0;
  /// Fields written to output when the case does not choose.
  virtual std::vector<std::string> output_fields() const { return state().names(); }

  /// Fills `out` (layout of `field`) with the exact solution at time t if the solver
  /// knows one; returns false otherwise. Collective.
  virtual bool exact_solution(const std::string& /*field*/, double /*t*/, Vec /*out*/) { return false; }

  /// Extra facts for summary.json (e.g. the linear solver configuration, integrator
  /// statistics). Numbers as JSON numbers, not strings.
  virtual nlohmann::ordered_json describe() const { return nlohmann::ordered_json::object(); }
  /// Measured quantities for summary.json "metrics" (e.g. kinetic energy). Collective.
  virtual std::map<std::string, double> metrics() { return {}; }

  /// Facts a model trained on this solver's sub-steps depends on beyond its fields and dt
  /// (e.g. the mechanism's content hash and the reactor type). Capture and generate record
  /// them in datasets, train copies them into the model card (`context:`), and a card whose
  /// context differs from the case's is refused at set-up naming both.
  virtual std::map<std::string, std::string> model_context() const { return {}; }

  /// Called after every completed step at its end time t, whichever policies ran the
  /// sub-steps (e.g. to record when a quantity crossed a threshold). Collective.
  virtual void end_of_step(double /*t*/) {}
  /// Brings diagnostic fields that are costly to keep current (the chemistry's heat
  /// release) up to date; the output calls it on the steps it writes fields.
  virtual void prepare_output() {}

  /// True once the solution has reached a steady state by the solver's own criterion: the
  /// run then stops early (summary.json says so). Same value on every rank.
  virtual bool steady() const { return false; }
  /// A physical event the case asked to stop at (a flame's "flashback", "blow_off",
  /// "extinction"; empty: none): the run then ends normally, exit 0, and summary.json names
  /// the event (time.stop_event). Same value on every rank.
  virtual std::string stop_event() const { return {}; }

  /// Writes solver-specific results (e.g. profiles as CSV) into `dir` at the end of a
  /// completed run; returns the file names written. Collective.
  virtual std::vector<std::string> write_results(const std::string& /*dir*/) { return {}; }

 protected:
  const State& state() const { return const_cast<Solver*>(this)->state(); }
};

using SolverRegistry = Registry<Solver, const SolverContext&>;
/// Solvers by name (family "solver"). Built-ins: see solvers/Builtins.hpp.
SolverRegistry& solver_registry();

/// The fewest points per direction a solver type's grid may have: 3 by default (a stencil
/// needs neighbours); a solver whose points are independent (the reactors sweep: a single
/// 0D reactor is one point) sets 1 when it registers.
void set_min_grid_points(const std::string& solver_type, int n);
int min_grid_points(const std::string& solver_type);

}  // namespace simfuse
