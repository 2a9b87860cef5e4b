// The online policy's decisions alone (coupling/ai/detail/OnlineStateMachine.hpp): no
// solver, no model, no trainer; numbers in, phases and events out.
#include <catch2/catch.hpp>

#include "simfuse/coupling/ai/detail/OnlineStateMachine.hpp"

using namespace simfuse;
using simfuse::ai::detail::GuardedStepCounts;
using simfuse::ai::detail::OnlineRules;
using simfuse::ai::detail::OnlineStateMachine;

namespace {

OnlineRules rules() {
  OnlineRules r;
  r.target = 0.05;
  r.consecutive = 3;
  r.validate_every = 2;
  r.refresh_gain = 0.1;
  r.refresh = true;
  r.shadow_error = 0.2;
  r.fallback_rate = 0.2;
  r.window = 3;
  return r;
}

// A guarded step whose shadow points have RMS error `rms` and whose guard kept `kept`
// of 100 points.
GuardedStepCounts step_with(double rms, double kept = 100) {
  return GuardedStepCounts{10, 10 * rms * rms, 100, kept};
}

// Switched in at step 6 after three passing validations (one failure between).
OnlineStateMachine switched_in() {
  OnlineStateMachine m(rules());
  CHECK_FALSE(m.validated_classical(2, 0.2, 0.01, 100, 10));
  CHECK_FALSE(m.validated_classical(4, 0.4, 0.09, 200, 20));  // fails: the run of passes starts again
  CHECK(m.consecutive() == 0);
  CHECK_FALSE(m.validated_classical(6, 0.6, 0.04, 300, 30));
  CHECK_FALSE(m.validated_classical(8, 0.8, 0.03, 400, 40));
  CHECK(m.consecutive() == 2);
  CHECK(m.validated_classical(10, 1.0, 0.02, 500, 50));
  return m;
}

}  // namespace

TEST_CASE("Online: the model switches in after the required validations in a row, and only then", "[online]") {
  OnlineStateMachine m = switched_in();
  CHECK(m.guarded());
  CHECK(m.consecutive() == 0);
  CHECK(m.serving_error() == 0.02);
  CHECK(m.first_switch_step() == 10);
  CHECK(m.first_switch_t() == 1.0);
  REQUIRE(m.events().size() == 1);
  CHECK(m.events()[0]["event"] == "switch_in");
  CHECK(m.events()[0]["samples_seen"] == 500);
  CHECK(m.events()[0]["reason"].get<std::string>().find("3 checks in a row") != std::string::npos);
  CHECK(m.history().size() == 5);
  CHECK(m.validates_at(4));
  CHECK_FALSE(m.validates_at(5));
  // Calls count by phase.
  m.count_call();
  CHECK(m.calls() == 1);
  CHECK(m.guarded_calls() == 1);
}

TEST_CASE("Online: shadow checks that fail roll the model back; small errors keep it", "[online]") {
  OnlineStateMachine m = switched_in();
  CHECK(m.checked(11, 1.1, step_with(0.1)).empty());
  CHECK(m.checked(12, 1.2, step_with(0.15)).empty());
  // RMS over the window of 3: sqrt((0.01 + 0.0225 + 0.16) / 3) = 0.253 > 0.2.
  const std::string why = m.checked(13, 1.3, step_with(0.4));
  CHECK(why.find("shadow error 0.253 > 0.2 over the last 3 step(s)") != std::string::npos);
  CHECK_FALSE(m.guarded());
  REQUIRE(m.events().size() == 2);
  CHECK(m.events()[1]["event"] == "rollback");
  CHECK(m.events()[1]["shadow_error"].get<double>() == Approx(0.2533).epsilon(1e-3));
  // Switching in again needs the full run of validations again; the first switch-in stays.
  CHECK_FALSE(m.validated_classical(14, 1.4, 0.01, 600, 60));
  CHECK_FALSE(m.validated_classical(16, 1.6, 0.01, 700, 70));
  CHECK(m.validated_classical(18, 1.8, 0.01, 800, 80));
  CHECK(m.first_switch_step() == 10);
}

TEST_CASE("Online: the window forgets old steps; a fallback rate over the limit rolls back", "[online]") {
  OnlineStateMachine m = switched_in();
  CHECK(m.checked(11, 1.1, step_with(0.3)).empty() == false);  // one bad step alone exceeds 0.2
  CHECK(m.validated_classical(12, 1.2, 0.0, 1, 1) == false);
  CHECK(m.validated_classical(14, 1.4, 0.0, 1, 1) == false);
  CHECK(m.validated_classical(16, 1.6, 0.0, 1, 1));
  // Three good steps after a bad one: the bad one left the window of 3.
  OnlineStateMachine w = switched_in();
  CHECK(w.checked(11, 1.1, step_with(0.19)).empty());
  for (long s = 12; s < 15; ++s) CHECK(w.checked(s, 0.1 * s, step_with(0.0)).empty());
  // 30 of 100 kept: over the window of 3, 1 - 230/300 = 0.233 > 0.2.
  const std::string why = w.checked(15, 1.5, step_with(0.0, 30));
  CHECK(why.find("fallback rate") != std::string::npos);
  CHECK_FALSE(w.guarded());
}

TEST_CASE("Online: a clearly better model refreshes the serving one; a marginal one does not", "[online]") {
  OnlineStateMachine m = switched_in();         // serving error 0.02
  CHECK_FALSE(m.validated_guarded(12, 0.019));  // 5% better: below the 10% gain
  CHECK(m.serving_error() == 0.02);
  CHECK(m.validated_guarded(14, 0.017));  // 15% better
  CHECK(m.serving_error() == 0.017);
  CHECK(m.refreshes() == 1);
  OnlineRules off = rules();
  off.refresh = false;  // no training while serving: nothing to refresh to
  OnlineStateMachine n(off);
  for (long s = 2; s <= 6; s += 2) n.validated_classical(s, 0.1 * s, 0.02, 1, 1);
  REQUIRE(n.guarded());
  CHECK_FALSE(n.validated_guarded(8, 0.001));
  CHECK(n.refreshes() == 0);
}

TEST_CASE("Online: a training rollback restarts the run of passed validations, never the serving model", "[online]") {
  OnlineStateMachine m(rules());
  CHECK_FALSE(m.validated_classical(2, 0.2, 0.01, 100, 10));
  CHECK_FALSE(m.validated_classical(4, 0.4, 0.01, 200, 20));
  REQUIRE(m.consecutive() == 2);
  // The trainer restored older weights: the passes were of another model.
  m.training_rolled_back(5, 0.5, "the training loss diverged");
  CHECK(m.consecutive() == 0);
  CHECK_FALSE(m.validated_classical(6, 0.6, 0.01, 300, 30));  // one pass: not yet three
  CHECK_FALSE(m.guarded());
  REQUIRE(m.events().size() == 1);
  CHECK(m.events()[0]["event"] == "training_rollback");
  CHECK(m.events()[0]["reason"] == "the training loss diverged");
  // While a model serves, a copy of it: a training rollback is recorded, the phase stays.
  OnlineStateMachine g = switched_in();
  const size_t n = g.events().size();
  g.training_rolled_back(11, 1.1, "diverged");
  CHECK(g.guarded());
  CHECK(g.events().size() == n + 1);
  CHECK(g.checked(12, 1.2, step_with(0.01)).empty());
}

TEST_CASE("Online: a checkpoint of the state machine restores every decision to come", "[online]") {
  OnlineStateMachine m = switched_in();
  m.count_call();
  CHECK(m.checked(11, 1.1, step_with(0.15)).empty());
  CHECK(m.checked(12, 1.2, step_with(0.15)).empty());
  CheckpointData data;
  m.save(data);
  OnlineStateMachine r(rules());
  r.restore(data);
  CHECK(r.guarded());
  CHECK(r.calls() == m.calls());
  CHECK(r.guarded_calls() == m.guarded_calls());
  CHECK(r.serving_error() == m.serving_error());
  CHECK(r.first_switch_step() == 10);
  CHECK(r.events() == m.events());
  CHECK(r.history() == m.history());
  // The window came along: the same step rolls both back with the same reason.
  const std::string a = m.checked(13, 1.3, step_with(0.3)), b = r.checked(13, 1.3, step_with(0.3));
  CHECK_FALSE(a.empty());
  CHECK(a == b);
}
