#include "simfuse/coupling/ai/AiPolicies.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <deque>
#include <filesystem>
#include <numeric>
#include <random>

#include "simfuse/core/Petsc.hpp"
#include "simfuse/core/Timer.hpp"
#include "simfuse/core/base/Paths.hpp"
#include "simfuse/coupling/PointGuard.hpp"
#include "simfuse/coupling/Policy.hpp"
#include "simfuse/coupling/ai/Capture.hpp"
#include "simfuse/coupling/ai/FieldBridge.hpp"
#include "simfuse/coupling/ai/ReplacePolicy.hpp"
#include "simfuse/coupling/ai/detail/OnlinePolicy.hpp"
#include "simfuse/surrogates/OnlineTrainer.hpp"
#include "simfuse/surrogates/Surrogate.hpp"

namespace simfuse::ai {

namespace {

class WarmStartPolicy final : public Policy {
 public:
  explicit WarmStartPolicy(const PolicyContext& ctx) : binding_(ctx.params, ctx.case_file, ctx.model_context) {}
  const std::string& name() const override { return name_; }
  bool takes_required_inputs() const override { return true; }  // the model reads them (ModelBinding::check)
  void attach(SubStep& step, State& state, double dt) override {
    iterative_ = dynamic_cast<Iterative*>(&step);
    if (!iterative_)
      binding_.params().fail("model", fmt::format("warm_start needs an iterative sub-step; '{}' is not", step.name()),
                             "use guarded or surrogate for this sub-step");
    binding_.check(step, state, dt);
    SIMFUSE_PETSC(VecDuplicate(state.get(binding_.out_field()).vec(), guess_.out()));
  }
  nlohmann::ordered_json describe() const override { return binding_.describe(); }
  std::vector<PolicyFile> files_read() const override { return binding_.files(); }
  void apply(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats) override {
    const BusyClock t0;
    {
      std::vector<std::unique_ptr<FieldTensor>> hold;
      binding_.predict_into(state, {}, info.dt, guess_, hold);
    }
    stats.inference_seconds += t0.seconds();
    ++stats.surrogate_calls;
    // A guess with NaN or Inf would poison the solve: use the solver's own guess instead.
    const double tc = wall_time();
    PetscReal norm = 0;
    SIMFUSE_PETSC(VecNorm(guess_, NORM_INFINITY, &norm));  // collective: the same decision on all ranks
    stats.check_seconds += wall_time() - tc;
    stats.points += binding_.points();
    if (std::isfinite(norm)) {
      stats.accepted += binding_.points();
      iterative_->set_initial_guess(guess_);
    } else {
      stats.fallback_nan += binding_.points();
      ++stats.whole_fallbacks;
    }
    run_classical(step, state, info, stats);
  }

 private:
  std::string name_ = "warm_start";
  ModelBinding binding_;
  Iterative* iterative_ = nullptr;
  PetscHandle<Vec> guess_;
};

class EveryNPolicy final : public ReplacePolicy {
 public:
  explicit EveryNPolicy(const PolicyContext& ctx)
      : ReplacePolicy(ctx, "every_n", ctx.params.get<bool>("guard")), n_(ctx.params.get<int>("n")) {}
  void apply(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats) override {
    if (info.step % n_ == 0) {
      mark_path(Fallback::whole_substep);
      run_classical(step, state, info, stats);
    } else {
      replace(step, state, info, stats);
    }
  }

 private:
  int n_;
};

}  // namespace

void register_policies() {
  static const bool done = [] {
    auto& r = policy_registry();
    r.add(
        "surrogate", "the model's prediction replaces the sub-step, unchecked (for measurements)",
        [](Schema& s) { declare_model_keys(s); },
        [](const PolicyContext& c) { return std::make_unique<ReplacePolicy>(c, "surrogate", false); });
    r.add(
        "guarded",
        "the model's prediction, checked (NaN/Inf, training ranges, the sub-step's error estimate); rejected points "
        "(or the whole sub-step) fall back to the classical code; an iterative sub-step continues from the rejected "
        "prediction",
        [](Schema& s) {
          declare_model_keys(s);
          declare_guard_keys(s);
        },
        [](const PolicyContext& c) { return std::make_unique<ReplacePolicy>(c, "guarded", true); });
    r.add(
        "warm_start", "the model's prediction is the initial guess of the iterative solver (accuracy unchanged)",
        [](Schema& s) { declare_model_keys(s); },
        [](const PolicyContext& c) { return std::make_unique<WarmStartPolicy>(c); });
    r.add(
        "every_n", "the model, with a classical step every n steps (step numbers divisible by n)",
        [](Schema& s) {
          declare_model_keys(s);
          declare_guard_keys(s);
          s.add_int("n", "a classical step every n steps").required().min(2);
          s.add_bool("guard", "check the model's steps like the guarded policy").def(false);
        },
        [](const PolicyContext& c) { return std::make_unique<EveryNPolicy>(c); });
    r.add("online",
          "trains a pointwise model from the sub-step's own classical calls while the run goes; once it passes "
          "validation it serves under the guard (with classical shadow checks), and rolls back to the classical code "
          "when it drifts",
          detail::declare_online, detail::make_online_policy);
    return true;
  }();
  (void)done;
}

}  // namespace simfuse::ai
