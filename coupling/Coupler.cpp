#include "coupling/Coupler.hpp"

namespace simfuse {

Coupler::Coupler(Solver& solver) : solver_(solver), plan_(solver.plan()) {
  for (const auto& e : plan_) {
    SIMFUSE_REQUIRE(e.step != nullptr, "plan entry without a sub-step");
    Slot* found = nullptr;
    for (auto& s : slots_)
      if (s->step == e.step) found = s.get();
    if (!found) {
      auto s = std::make_unique<Slot>();
      s->step = e.step;
      s->policy = std::make_unique<ClassicalPolicy>();
      s->timer = std::make_unique<StageTimer>(e.step->name());
      s->stats.name = e.step->name();
      s->stats.policy = "classical";
      found = s.get();
      slots_.push_back(std::move(s));
    }
    plan_slots_.push_back(found);
  }
}

std::vector<std::string> Coupler::substeps() const {
  std::vector<std::string> n;
  for (const auto& s : slots_) n.push_back(s->step->name());
  return n;
}

Coupler::Slot& Coupler::slot(const std::string& name) {
  for (auto& s : slots_)
    if (s->step->name() == name) return *s;
  throw InternalError("no sub-step named " + name, __FILE__, __LINE__);
}

void Coupler::set_policy(const std::string& name, std::unique_ptr<Policy> policy) {
  Slot& s = slot(name);
  policy->attach(*s.step);
  s.stats.policy = policy->name();
  s.policy = std::move(policy);
}

Policy& Coupler::policy(const std::string& name) {
  return *slot(name).policy;
}
SubStep& Coupler::substep(const std::string& name) {
  return *slot(name).step;
}

void Coupler::advance(long step, double t, double dt) {
  for (size_t i = 0; i < plan_.size(); ++i) {
    Slot& s = *plan_slots_[i];
    const StepInfo info{step, t + plan_[i].offset * dt, plan_[i].fraction * dt};
    {
      StageTimer::Scope scope(*s.timer);
      s.policy->apply(*s.step, solver_.state(), info, s.stats);
    }
    ++s.stats.calls;
    s.stats.seconds = s.timer->seconds();
  }
}

std::vector<SubStepStats> Coupler::stats() const {
  std::vector<SubStepStats> out;
  for (const auto& s : slots_) out.push_back(s->stats);
  return out;
}

}  // namespace simfuse
