#include "coupling/Policy.hpp"

#include "core/Timer.hpp"

namespace simfuse {

void run_classical(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats) {
  const double t0 = wall_time();
  step.apply(state, info);
  stats.classical_seconds += wall_time() - t0;
  if (auto* it = dynamic_cast<Iterative*>(&step)) {
    stats.iterative = true;
    stats.last_iterations = it->last_iterations();
    stats.iterations += stats.last_iterations;
    stats.max_iterations = std::max(stats.max_iterations, stats.last_iterations);
  }
}

void ClassicalPolicy::apply(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats) {
  run_classical(step, state, info, stats);
}

PolicyRegistry& policy_registry() {
  static PolicyRegistry* r = [] {
    auto* reg = new PolicyRegistry("policy");
    reg->add("classical", "the solver's own implementation", nullptr,
             [](const PolicyContext&) { return std::make_unique<ClassicalPolicy>(); });
    Catalog::instance().set_shorthand("policy", Catalog::type_name_shorthand,
                                      "a name means {type: name} with default parameters");
    return reg;
  }();
  return *r;
}

}  // namespace simfuse
