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
  for (auto& s : out) {
    // Point counts add up over ranks; whole-step fallbacks are collective decisions (the
    // same on every rank) and times are taken from the slowest rank.
    long counts[5] = {s.points, s.accepted, s.fallback_nan, s.fallback_ood, s.fallback_estimate};
    MPI_Allreduce(MPI_IN_PLACE, counts, 5, MPI_LONG, MPI_SUM, comm);
    s.points = counts[0];
    s.accepted = counts[1];
    s.fallback_nan = counts[2];
    s.fallback_ood = counts[3];
    s.fallback_estimate = counts[4];
    double maxima[5] = {s.seconds, s.classical_seconds, s.inference_seconds, s.check_seconds,
                        static_cast<double>(s.whole_fallbacks)};
    MPI_Allreduce(MPI_IN_PLACE, maxima, 5, MPI_DOUBLE, MPI_MAX, comm);
    s.seconds = maxima[0];
    s.classical_seconds = maxima[1];
    s.inference_seconds = maxima[2];
    s.check_seconds = maxima[3];
    s.whole_fallbacks = static_cast<long>(maxima[4]);
  }
  return out;
}

}  // namespace simfuse
