#include "simfuse/coupling/Coupler.hpp"

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

void Coupler::set_policy(const std::string& name, std::unique_ptr<Policy> policy, double dt) {
  Slot& s = slot(name);
  double fraction = 1.0;
  for (size_t i = 0; i < plan_.size(); ++i)
    if (plan_slots_[i] == &s) {
      fraction = plan_[i].fraction;
      break;
    }
  policy->attach(*s.step, solver_.state(), fraction * dt);
  s.stats.policy = policy->name();
  s.policy = std::move(policy);
}

Policy& Coupler::policy(const std::string& name) {
  return *slot(name).policy;
}
SubStep& Coupler::substep(const std::string& name) {
  return *slot(name).step;
}

void Coupler::observe(const std::string& name, StepObserver* observer) {
  slot(name).observers.push_back(observer);
}

void Coupler::advance(long step, double t, double dt) {
  for (size_t i = 0; i < plan_.size(); ++i) {
    Slot& s = *plan_slots_[i];
    const StepInfo info{step, t + plan_[i].offset * dt, plan_[i].fraction * dt};
    for (auto* o : s.observers) o->before(*s.step, solver_.state(), info);
    {
      StageTimer::Scope scope(*s.timer);
      s.policy->apply(*s.step, solver_.state(), info, s.stats);
    }
    for (auto* o : s.observers) o->after(*s.step, solver_.state(), info);
    ++s.stats.calls;
    s.stats.seconds = s.timer->seconds();
  }
}

std::vector<SubStepStats> Coupler::stats() const {
  std::vector<SubStepStats> out;
  for (const auto& s : slots_) out.push_back(s->stats);
  return out;
}

std::vector<SubStepStats> Coupler::reduced_stats(MPI_Comm comm) const {
  auto out = stats();
  reduce_stats(out, comm);
  return out;
}

void Coupler::save_state(CheckpointData& out) const {
  for (const auto& sl : slots_) {
    const std::string name = sl->step->name();
    CheckpointData d = out.scoped("stats/" + name + "/");
    for (const auto& c : substep_counters()) d.put(c.key, c.value(sl->stats));
    d.put("last_iterations", sl->stats.last_iterations);
    d.put("iterative", sl->stats.iterative);
    if (const auto* cp = dynamic_cast<const Checkpointable*>(sl->step)) {
      CheckpointData sd = out.scoped("substep/" + name + "/");
      cp->save_state(sd);
    }
    if (const auto* cp = dynamic_cast<const Checkpointable*>(sl->policy.get())) {
      CheckpointData pd = out.scoped("policy/" + name + "/");
      cp->save_state(pd);
    }
  }
}

void Coupler::restore_state(const CheckpointData& in) {
  for (auto& sl : slots_) {
    const std::string name = sl->step->name();
    CheckpointData d = in.scoped("stats/" + name + "/");
    for (const auto& c : substep_counters()) {
      // A counter added after the checkpoint was written starts from zero.
      const double v = d.has(c.key) ? d.get<double>(c.key) : 0.0;
      if (c.count)
        sl->stats.*c.count = static_cast<long>(v);
      else
        sl->stats.*c.seconds = v;
    }
    sl->stats.last_iterations = d.get<int>("last_iterations");
    sl->stats.iterative = d.get<bool>("iterative");
    if (auto* cp = dynamic_cast<Checkpointable*>(sl->step)) cp->restore_state(in.scoped("substep/" + name + "/"));
    if (auto* cp = dynamic_cast<Checkpointable*>(sl->policy.get()))
      cp->restore_state(in.scoped("policy/" + name + "/"));
  }
}

}  // namespace simfuse
