#pragma once
/// \file Coupler.hpp
/// Runs a solver's plan of sub-steps each time step, each under its policy, timing every
/// sub-step (a PETSc log stage of the same name, so -log_view lists it) and keeping the
/// audit trail (SubStepStats).
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "simfuse/core/Checkpoint.hpp"
#include "simfuse/core/Solver.hpp"
#include "simfuse/core/Timer.hpp"
#include "simfuse/coupling/Policy.hpp"

namespace simfuse {

/// Watches a sub-step without changing it (e.g. captures training data). Must not
/// modify the state.
class StepObserver {
 public:
  virtual ~StepObserver() = default;
  /// Called before and after the sub-step runs (under its policy). Collective.
  virtual void before(const SubStep& /*step*/, const State& /*state*/, const StepInfo& /*info*/) {}
  virtual void after(const SubStep& /*step*/, const State& /*state*/, const StepInfo& /*info*/) {}
};

class Coupler {
 public:
  /// Every sub-step starts with the classical policy. Collective (registers log stages).
  explicit Coupler(Solver& solver);

  /// Names of the distinct sub-steps of the plan, in plan order.
  std::vector<std::string> substeps() const;
  /// Replaces the policy of sub-step `name` (InternalError if there is no such sub-step).
  /// Calls policy->attach with the sub-step's time step for `dt` (the case's step).
  void set_policy(const std::string& name, std::unique_ptr<Policy> policy, double dt);
  Policy& policy(const std::string& name);
  SubStep& substep(const std::string& name);

  /// Adds an observer of sub-step `name` (not owned; must outlive the Coupler's use).
  void observe(const std::string& name, StepObserver* observer);

  /// Advances the solver's state by one step from t to t + dt (step is 1-based). Collective.
  void advance(long step, double t, double dt);

  /// Statistics per distinct sub-step, in plan order (this rank's counts).
  std::vector<SubStepStats> stats() const;
  /// The same with point counts summed and times maximised over ranks. Collective.
  std::vector<SubStepStats> reduced_stats(MPI_Comm comm) const;

  /// Checkpoints: the audit counters of every sub-step, and the state of the sub-steps
  /// and policies that are Checkpointable (under "substep/<name>/", "policy/<name>/").
  void save_state(CheckpointData& out) const;
  void restore_state(const CheckpointData& in);

 private:
  struct Slot {
    SubStep* step;
    std::unique_ptr<Policy> policy;
    std::unique_ptr<StageTimer> timer;
    SubStepStats stats;
    std::vector<StepObserver*> observers;
  };
  Slot& slot(const std::string& name);

  Solver& solver_;
  std::vector<PlanEntry> plan_;
  std::vector<std::unique_ptr<Slot>> slots_;  // distinct sub-steps, plan order
  std::vector<Slot*> plan_slots_;             // slot of each plan entry
};

}  // namespace simfuse
