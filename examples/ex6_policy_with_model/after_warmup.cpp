//                 simfuse Example 6: a policy of your own that runs a model, with the stock guard
//
// Sample runs:  simfuse --plugin build/libafter_warmup.so config doc policy.after_warmup
//               simfuse --plugin build/libafter_warmup.so run cases/bz2d_guarded.yaml \
//                   --set 'coupling.react={type: after_warmup, model: models/bz_react.card.yaml, warmup: 20}'
//               run_ex6.sh (builds it and checks what ran)
//
// Description:  `after_warmup` runs the sub-step classically for the first `warmup` steps
//               (an initial transient a model was not trained on), then the model under the
//               guard `guarded` uses. It is the extension tier of the AI policies:
//                 - ReplacePolicy (coupling/ai/ReplacePolicy.hpp): the model card bound to
//                   the case and checked against it at set-up (ModelBinding), the
//                   prediction written into the sub-step's field, and the stock guard
//                   (coupling/PointGuard.hpp): NaN/Inf, training ranges, the admissible
//                   set, the error estimate, classical reruns of exactly the rejected
//                   points, the path field, every counter of steps.csv and summary.json;
//                 - declare_model_keys / declare_guard_keys: the keys `guarded` takes
//                   (model, threads, inference, tol, ood_margin, estimate, path_field).
//               What is left to write is the policy's own decision.
//
// Builds on:    ex5 (a policy plugin); link simfuse::ai (libtorch) as this CMakeLists does.
#include <simfuse/coupling/ai/ReplacePolicy.hpp>
#include <simfuse/simfuse.hpp>

namespace {

class AfterWarmup final : public simfuse::ai::ReplacePolicy {
 public:
  explicit AfterWarmup(const simfuse::PolicyContext& c)
      : ReplacePolicy(c, "after_warmup", /*guarded=*/true), warmup_(c.params.get<int>("warmup")) {}

  void apply(simfuse::SubStep& step, simfuse::State& state, const simfuse::StepInfo& info,
             simfuse::SubStepStats& stats) override {
    if (info.step <= warmup_) {
      mark_path(simfuse::Fallback::whole_substep);  // the path field says: classical
      simfuse::run_classical(step, state, info, stats);
    } else {
      replace(step, state, info, stats);  // the model, guarded
    }
  }

  nlohmann::ordered_json describe() const override {
    nlohmann::ordered_json d = ReplacePolicy::describe();  // the model and the guard
    d["warmup_steps"] = warmup_;
    return d;
  }

 private:
  int warmup_;
};

}  // namespace

SIMFUSE_PLUGIN("after_warmup") {
  simfuse::policy_registry().add(
      "after_warmup", "the classical sub-step for the first `warmup` steps, then the model under the stock guard",
      [](simfuse::Schema& s) {
        simfuse::ai::declare_model_keys(s);
        simfuse::ai::declare_guard_keys(s);
        s.add_int("warmup", "steps run classically before the model takes over").def(10).min(0);
      },
      [](const simfuse::PolicyContext& c) { return std::make_unique<AfterWarmup>(c); });
}
