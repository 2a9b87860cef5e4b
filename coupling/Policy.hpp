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
  long iterations = 0;           ///< summed over calls (Iterative sub-steps)
  int max_iterations = 0;
  int last_iterations = 0;
  bool iterative = false;
};

class Policy {
 public:
  virtual ~Policy() = default;
  virtual const std::string& name() const = 0;
  /// Checks that the policy can drive `step` (e.g. warm_start needs Iterative); throws
  /// UserError otherwise. Called once at set-up.
  virtual void attach(SubStep& step) {}
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
};
using PolicyRegistry = Registry<Policy, const PolicyContext&>;
/// Policies by name (family "policy"); `classical` is always there.
PolicyRegistry& policy_registry();

}  // namespace simfuse
