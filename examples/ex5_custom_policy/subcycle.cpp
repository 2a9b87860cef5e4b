//                 simfuse Example 5: a policy of your own, as a plugin
//
// Sample runs:  simfuse --plugin build/libsubcycle.so config doc policy.subcycle
//               simfuse --plugin build/libsubcycle.so run cases/heat2d_mms.yaml \
//                   --set 'coupling.diffuse={type: subcycle, n: 4}'
//               run_ex5.sh (builds it; the manufactured heat case with implicit Euler and
//               dt = 0.1: relative L2 error 1.54e-3 classical, 7.8e-4 with n = 4)
//
// Description:  A policy decides how a sub-step runs each time step. `subcycle` runs the
//               classical code n times with dt/n: the remedy when one sub-step needs a
//               smaller step than the others (a stiff reaction, a time-accurate
//               diffusion) without shrinking the whole time step. It shows what a policy
//               has:
//                 - declared keys (n), validated and documented like the built-ins';
//                 - (not needed here) attach(): checks at set-up, before anything runs,
//                   failing with the key and line of the case through Params::fail, as
//                   the surrogate policies check their model card;
//                 - apply(): the work, timed and counted through run_classical, so the
//                   sub-step's calls, seconds and iterations land in steps.csv and
//                   summary.json;
//                 - describe(): facts for summary.json.
//
// Builds on:    ex3 (a plugin); coupling/Policy.hpp has the interface.
#include <simfuse/simfuse.hpp>

namespace {

class Subcycle final : public simfuse::Policy {
 public:
  explicit Subcycle(const simfuse::PolicyContext& c) : n_(c.params.get<int>("n")) {}
  const std::string& name() const override { return name_; }

  void apply(simfuse::SubStep& step, simfuse::State& state, const simfuse::StepInfo& info,
             simfuse::SubStepStats& stats) override {
    const double h = info.dt / n_;
    // run_classical times the classical code and adds up its iterations; the coupler
    // counts the call and the sub-step's total time.
    for (int k = 0; k < n_; ++k) simfuse::run_classical(step, state, {info.step, info.t + k * h, h}, stats);
  }

  nlohmann::ordered_json describe() const override { return {{"subcycles", n_}}; }

 private:
  int n_;
  std::string name_ = "subcycle";
};

}  // namespace

SIMFUSE_PLUGIN("subcycle") {
  simfuse::policy_registry().add(
      "subcycle", "the classical sub-step n times with dt/n (a smaller step for one sub-step only)",
      [](simfuse::Schema& s) { s.add_int("n", "sub-cycles per time step").def(2).range(1, 1000); },
      [](const simfuse::PolicyContext& c) { return std::make_unique<Subcycle>(c); });
}
