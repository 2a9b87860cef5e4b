#include "simfuse/coupling/ai/detail/OnlineStateMachine.hpp"

#include <fmt/format.h>

#include <cmath>
#include <vector>

namespace simfuse::ai::detail {

void OnlineStateMachine::count_call() {
  ++calls_;
  if (guarded_) ++guarded_calls_;
}

bool OnlineStateMachine::validated_classical(long step, double t, double err, long seen, long iterations) {
  history_.push_back({step, err});
  consecutive_ = err <= rules_.target ? consecutive_ + 1 : 0;
  if (consecutive_ < rules_.consecutive) return false;
  serving_error_ = err;
  guarded_ = true;
  consecutive_ = 0;
  window_.clear();
  if (first_switch_step_ < 0) {
    first_switch_step_ = step;
    first_switch_t_ = t;
  }
  events_.push_back({{"step", step},
                     {"t", t},
                     {"event", "switch_in"},
                     {"reason", fmt::format("validation error {:.3g} <= target {:g} in {} checks in a row", err,
                                            rules_.target, rules_.consecutive)},
                     {"validation_error", err},
                     {"samples_seen", seen},
                     {"iterations", iterations}});
  return true;
}

bool OnlineStateMachine::validated_guarded(long step, double err) {
  history_.push_back({step, err});
  if (!rules_.refresh || !(err < serving_error_ * (1 - rules_.refresh_gain))) return false;
  serving_error_ = err;
  ++refreshes_;
  return true;
}

std::string OnlineStateMachine::checked(long step, double t, const GuardedStepCounts& c) {
  window_.push_back({c.shadow_points, c.shadow_sq_error, c.points, c.accepted});
  while (static_cast<int>(window_.size()) > rules_.window) window_.pop_front();
  double n = 0, e2 = 0, pts = 0, ok = 0;
  for (const auto& w : window_) {
    n += w[0];
    e2 += w[1];
    pts += w[2];
    ok += w[3];
  }
  const double shadow_rms = n > 0 ? std::sqrt(e2 / n) : 0.0, fallback = pts > 0 ? 1 - ok / pts : 0.0;
  std::string why;
  if (shadow_rms > rules_.shadow_error)
    why = fmt::format("shadow error {:.3g} > {:g} over the last {} step(s)", shadow_rms, rules_.shadow_error,
                      window_.size());
  else if (fallback > rules_.fallback_rate)
    why = fmt::format("fallback rate {:.3g} > {:g} over the last {} step(s)", fallback, rules_.fallback_rate,
                      window_.size());
  if (why.empty()) return why;
  guarded_ = false;
  consecutive_ = 0;
  window_.clear();
  events_.push_back({{"step", step},
                     {"t", t},
                     {"event", "rollback"},
                     {"reason", why},
                     {"shadow_error", shadow_rms},
                     {"fallback_rate", fallback}});
  return why;
}

void OnlineStateMachine::training_rolled_back(long step, double t, const std::string& why) {
  if (!guarded_) consecutive_ = 0;
  events_.push_back({{"step", step}, {"t", t}, {"event", "training_rollback"}, {"reason", why}});
}

void OnlineStateMachine::save(CheckpointData& out) const {
  out.put("phase", static_cast<int>(guarded_));
  out.put("consecutive", consecutive_);
  out.put("counts", std::vector<long>{calls_, guarded_calls_, first_switch_step_, refreshes_});
  out.put("serving_error", serving_error_);
  out.put("first_switch_t", first_switch_t_);
  out.put("events", events_.dump());
  out.put("history", history_.dump());
  std::vector<double> w;
  for (const auto& s : window_) w.insert(w.end(), s.begin(), s.end());
  out.put("window", w);
}

void OnlineStateMachine::restore(const CheckpointData& in) {
  consecutive_ = in.get<int>("consecutive");
  const auto counts = in.get<std::vector<long>>("counts");
  calls_ = counts.at(0);
  guarded_calls_ = counts.at(1);
  first_switch_step_ = counts.at(2);
  refreshes_ = counts.at(3);
  serving_error_ = in.get<double>("serving_error");
  first_switch_t_ = in.get<double>("first_switch_t");
  events_ = nlohmann::ordered_json::parse(in.get<std::string>("events"));
  history_ = nlohmann::ordered_json::parse(in.get<std::string>("history"));
  const auto w = in.get<std::vector<double>>("window");
  window_.clear();
  for (size_t i = 0; i + 4 <= w.size(); i += 4) window_.push_back({w[i], w[i + 1], w[i + 2], w[i + 3]});
  guarded_ = in.get<int>("phase") != 0;
}

}  // namespace simfuse::ai::detail
