#pragma once
/// \file Policy.hpp
/// How a sub-step is run each time step. `classical` runs the solver's own code; the
/// surrogate policies (surrogate, guarded, warm_start, every_n, online) are added by the
/// surrogates-aware part of the coupling layer. Policies are found by name in
/// policy_registry() (family "policy"), so an extension can add its own.
#include <map>
#include <memory>
#include <string>

#include "core/Registry.hpp"
#include "core/SubStep.hpp"

namespace simfuse {

/// What happened in a sub-step, accumulated over the run (the audit trail).
struct SubStepStats {
  std::string name;
  std::string policy;
  long calls = 0;
  double seconds = 0;            ///< total wall time of the sub-step
  double classical_seconds = 0;  ///< time in the classical implementation
  double inference_seconds = 0;  ///< time in surrogate inference
  double check_seconds = 0;      ///< time in guards (NaN, range, error estimate)
  long iterations = 0;           ///< summed over calls (Iterative sub-steps)
  int max_iterations = 0;
  int last_iterations = 0;
  bool iterative = false;
  // Surrogate policies: grid points (summed over ranks when reported).
  long points = 0;             ///< points the surrogate was asked for
  long accepted = 0;           ///< points whose surrogate result was kept
  long fallback_nan = 0;       ///< rejected: NaN or Inf
  long fallback_ood = 0;       ///< rejected: input outside the training ranges
  long fallback_estimate = 0;  ///< rejected: error estimate above tolerance
  long whole_fallbacks = 0;    ///< calls where the whole sub-step ran classically
  long surrogate_calls = 0;    ///< calls that used the surrogate
};

class Policy {
 public:
  virtual ~Policy() = default;
  virtual const std::string& name() const = 0;
  /// Checks that the policy can drive `step` with sub-step time step `dt` and `state`
  /// (e.g. warm_start needs Iterative, a model card must fit the fields); throws
  /// UserError otherwise. Called once at set-up, before anything runs.
  virtual void attach(SubStep& step, const State& state, double dt) {}
  /// Runs the sub-step once. Collective.
  virtual void apply(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats) = 0;
};

/// Runs the classical implementation and records its iterations.
class ClassicalPolicy final : public Policy {
 public:
  const std::string& name() const override { return name_; }
  void apply(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats) override;

 private:
  std::string name_ = "classical";
};

/// Calls `step.apply` timing it into stats.classical_seconds and recording iterations.
void run_classical(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats);

/// What a policy is created from.
struct PolicyContext {
  const Params& params;  ///< the policy block's parameters
  SubStep& step;         ///< the sub-step it will drive
  std::string base_dir;  ///< folder of the case file (relative model paths start here)
  MPI_Comm comm = MPI_COMM_WORLD;
};
using PolicyRegistry = Registry<Policy, const PolicyContext&>;
/// Policies by name (family "policy"); `classical` is always there.
PolicyRegistry& policy_registry();

}  // namespace simfuse
