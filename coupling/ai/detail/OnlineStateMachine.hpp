#pragma once
/// \file OnlineStateMachine.hpp
/// Internal: the decisions of the `online` policy (coupling/ai/OnlinePolicy.cpp), apart
/// from the model, the trainer and the solver, so they can be tested alone
/// (tests/coupling/test_OnlineStateMachine.cpp). No torch, no MPI: the policy feeds it
/// numbers already reduced over ranks and acts on its answers.
///
///   classical --(validation error <= target in `consecutive` checks in a row)--> guarded
///   guarded   --(shadow RMS error > shadow_error, or fallback rate > fallback_rate,
///                over the last `window` guarded steps)--> classical
///   guarded   --(a validation error below (1 - refresh_gain) x the serving model's)-->
///                guarded with the newer model (a refresh)
#include <array>
#include <deque>
#include <nlohmann/json.hpp>
#include <string>

#include "simfuse/core/Checkpoint.hpp"

namespace simfuse::ai::detail {

/// The rules of the state machine: the policy's validation.*, rollback.* keys and whether
/// training goes on while the model serves (training.iterations_guarded > 0).
struct OnlineRules {
  double target = 0.05;        ///< validation.target
  int consecutive = 3;         ///< validation.consecutive
  int validate_every = 10;     ///< validation.every (steps)
  double refresh_gain = 0.1;   ///< validation.refresh_gain
  bool refresh = true;         ///< training goes on in the guarded phase
  double shadow_error = 0.2;   ///< rollback.shadow_error
  double fallback_rate = 0.2;  ///< rollback.fallback_rate
  int window = 10;             ///< rollback.window (guarded steps)
};

/// One guarded step's checks, summed over ranks.
struct GuardedStepCounts {
  double shadow_points = 0;    ///< accepted points rerun classically
  double shadow_sq_error = 0;  ///< the sum of their squared errors
  double points = 0;           ///< points of the sub-step
  double accepted = 0;         ///< of which the guard kept the model's result
};

class OnlineStateMachine {
 public:
  explicit OnlineStateMachine(OnlineRules rules) : rules_(rules) {}
  const OnlineRules& rules() const { return rules_; }

  bool guarded() const { return guarded_; }
  /// Whether step `step` validates (every validate_every steps).
  bool validates_at(long step) const { return step % rules_.validate_every == 0; }
  /// Counts a call of the sub-step (in the phase it is in now).
  void count_call();

  /// Classical phase: the validation error `err` after step `step` (ending at `t`).
  /// Returns true if the model switches in now (the phase is then guarded); `seen` and
  /// `iterations` (the trainer's) go into the event.
  bool validated_classical(long step, double t, double err, long seen, long iterations);
  /// Guarded phase: the validation error of the model in training. Returns true if it
  /// should replace the serving one (its error is then the serving error).
  bool validated_guarded(long step, double err);
  /// Guarded phase: the checks of one step. Returns why the model is rolled back (the
  /// phase is then classical), or an empty string if it keeps serving.
  std::string checked(long step, double t, const GuardedStepCounts& c);

  /// The trainer rolled its training back (a diverged loss, `why`) after step `step`: an
  /// event; in the classical phase the run of passed validations starts again (the model
  /// changed), in the guarded phase the serving model (a copy) serves on.
  void training_rolled_back(long step, double t, const std::string& why);

  long calls() const { return calls_; }
  long guarded_calls() const { return guarded_calls_; }
  long refreshes() const { return refreshes_; }
  int consecutive() const { return consecutive_; }
  double serving_error() const { return serving_error_; }
  long first_switch_step() const { return first_switch_step_; }
  double first_switch_t() const { return first_switch_t_; }
  /// Switch-ins, rollbacks and training rollbacks with their reasons, in order.
  const nlohmann::ordered_json& events() const { return events_; }
  /// [step, validation error] pairs, in order.
  const nlohmann::ordered_json& history() const { return history_; }

  /// Checkpoints (the records "phase", "consecutive", "counts", "serving_error",
  /// "first_switch_t", "events", "history", "window").
  void save(CheckpointData& out) const;
  void restore(const CheckpointData& in);

 private:
  OnlineRules rules_;
  bool guarded_ = false;
  int consecutive_ = 0;
  long calls_ = 0, guarded_calls_ = 0, first_switch_step_ = -1, refreshes_ = 0;
  double serving_error_ = 0, first_switch_t_ = 0;
  nlohmann::ordered_json events_ = nlohmann::ordered_json::array();
  nlohmann::ordered_json history_ = nlohmann::ordered_json::array();
  std::deque<std::array<double, 4>> window_;  // per guarded step: shadow points, squared errors, points, accepted
};

}  // namespace simfuse::ai::detail
