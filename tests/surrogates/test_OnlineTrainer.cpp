// The online trainer (the online policy's engine), without a simulation: its stratified
// buffer keeps rare samples that a uniform reservoir would drown; it learns a smooth map
// to a validation error it measures correctly; a trainer restored from save_state()
// continues exactly as the original; its snapshot predicts what it validates; a channel
// that is always zero does not make the validation error infinite; a diverging training is
// rolled back with its reason.
#include <ATen/ATen.h>

#include <catch2/catch.hpp>
#include <cmath>

#include "simfuse/surrogates/OnlineTrainer.hpp"
#include "support/TestUtil.hpp"

using namespace simfuse;

namespace {

ModelCard layout() {
  ModelCard c;
  c.name = "test_online";
  c.substep = "react";
  c.inputs = {CardChannel{"c", {"u", "v"}, {}}};
  c.outputs = {CardChannel{"c", {"u", "v"}, {}}};
  c.conditions["dt"] = 0.02;
  return c;
}

OnlineSettings settings(int64_t capacity = 20000) {
  OnlineSettings s;
  s.architecture = YAML::Load("{type: mlp, hidden: [16, 16], activation: tanh}");
  s.capacity = capacity;
  s.validation_capacity = 512;
  s.batch = 128;
  s.lr = 5e-3;
  s.seed = 3;
  return s;
}

// n samples of a smooth 2 -> 2 map (an increment of a few per cent), seeded.
void feed(OnlineTrainer& t, int64_t n, uint64_t seed, double held_out_every = 5) {
  at::manual_seed(seed);
  const at::Tensor x = at::rand({n, 2}, at::kDouble) * 0.9 + 0.1;
  const at::Tensor x0 = x.select(1, 0), x1 = x.select(1, 1);
  const at::Tensor y = x + at::stack({0.05 * at::sin(3 * x0) * x1, -0.02 * x0 * x1}, 1);
  std::vector<char> held(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) held[i] = i % static_cast<int64_t>(held_out_every) == 0;
  t.add(x, y, held, std::vector<double>(static_cast<size_t>(n), 1.0));
}

}  // namespace

TEST_CASE("Online buffer: strata keep rare large changes that a uniform reservoir would drown", "[online]") {
  OnlineSettings s = settings(1000);
  s.strata = 4;
  OnlineTrainer t(layout(), s, PETSC_COMM_SELF);
  // 20000 samples: 1 in 100 changes by 0.5 (a front), the rest by 1e-4 (quiescent).
  const int64_t n = 20000;
  const at::Tensor x = at::full({n, 2}, 0.3, at::kDouble);
  at::Tensor y = x.clone();
  y.select(1, 0).add_(1e-4);
  long big = 0;
  for (int64_t i = 0; i < n; i += 100, ++big) y[i][0] = 0.8;
  t.add(x, y, std::vector<char>(n, 0), std::vector<double>(n, 1.0));
  REQUIRE(t.buffered() == 1000);
  REQUIRE(t.seen() == n);
  const auto st = t.strata();
  // Every front sample is kept (200 < its share of 250); a uniform sample of 1000 of the
  // 20000 would hold about 10.
  CHECK(st.back() == big);
  long total = 0;
  for (auto k : st) total += k;
  CHECK(total == 1000);
}

TEST_CASE("Online trainer learns a smooth map; its validation error and its snapshot agree", "[online]") {
  OnlineTrainer t(layout(), settings(), PETSC_COMM_SELF);
  CHECK(std::isinf(t.validate()));  // nothing trained yet
  feed(t, 5000, 1);
  REQUIRE(t.validating() == 512);  // the window keeps the most recent held-out samples
  const double before = (t.train(1), t.validate());
  t.train(1500);
  const double after = t.validate();
  INFO("validation error " << before << " -> " << after);
  // The error is RMS(model - classical) / RMS(classical change): 1 is no better than no
  // change. A 16x16 MLP fits this map to a few per cent of its change in 1500 steps.
  CHECK(after < 0.1);
  CHECK(after < 0.5 * before);
  // The snapshot (the inference path of a loaded card) predicts to that error: the change
  // is 1e-2 to 5e-2, so 0.1 of it is below 5e-3.
  auto model = t.surrogate(SurrogateOptions{});
  at::manual_seed(9);
  const at::Tensor x = at::rand({200, 2}, at::kDouble) * 0.9 + 0.1;
  const at::Tensor x0 = x.select(1, 0), x1 = x.select(1, 1);
  const at::Tensor y = x + at::stack({0.05 * at::sin(3 * x0) * x1, -0.02 * x0 * x1}, 1);
  const at::Tensor pred = model->predict(x);
  CHECK((pred - y).abs().max().item<double>() < 5e-3);
  const ModelCard c = t.card();
  CHECK(c.range_min[0] >= 0.1);
  CHECK(c.range_max[0] <= 1.0);
  CHECK(c.validation_samples == 512);
  CHECK(t.divergences() == 0);  // a healthy training is never taken for a diverging one
  CHECK(t.learning_rate() == 5e-3);
}

TEST_CASE("Online validation: a channel that is zero in every call does not make the error infinite", "[online]") {
  // A species absent from the mixture (argon in H2-air): its change and its value are 0, so
  // the model's residual on it (its output scale is 1e-12) has no scale to be divided by.
  // Before this was handled the validation error was ~1e286 and no model ever switched in.
  ModelCard c = layout();
  c.inputs = {CardChannel{"c", {"u", "v", "w"}, {}}};
  c.outputs = c.inputs;
  OnlineTrainer t(c, settings(), PETSC_COMM_SELF);
  at::manual_seed(4);
  const int64_t n = 5000;
  const at::Tensor uv = at::rand({n, 2}, at::kDouble) * 0.9 + 0.1;
  const at::Tensor x = at::cat({uv, at::zeros({n, 1}, at::kDouble)}, 1);
  const at::Tensor x0 = uv.select(1, 0), x1 = uv.select(1, 1);
  const at::Tensor y = x + at::stack({0.05 * at::sin(3 * x0) * x1, -0.02 * x0 * x1, at::zeros_like(x0)}, 1);
  std::vector<char> held(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) held[i] = i % 5 == 0;
  t.add(x, y, held, std::vector<double>(static_cast<size_t>(n), 1.0));
  t.train(1500);
  // As the two-channel map of the test above (the same bound, the same reason).
  CHECK(t.validate() < 0.1);
}

TEST_CASE("Online trainer: a diverging training is rolled back to healthy weights, with its reason", "[online]") {
  OnlineSettings s = settings();
  s.optimizer = "sgd";
  s.lr = 1e6;  // the first step throws the weights far off: the next loss is ~1e12 times the first
  OnlineTrainer fresh(layout(), s, PETSC_COMM_SELF);
  feed(fresh, 5000, 1);
  const long done = fresh.train(100);
  INFO(fresh.last_divergence());
  CHECK(done == 1);  // stopped at the first loss of the thrown-off weights
  REQUIRE(fresh.divergences() == 1);
  CHECK(fresh.last_divergence().find("back to the weights of iteration 0") != std::string::npos);
  CHECK(fresh.last_divergence().find("learning rate halved to 500000") != std::string::npos);
  CHECK(fresh.learning_rate() == 5e5);
  // Back to the initial weights, bitwise (a trainer of the same seed that never trained).
  OnlineTrainer again(layout(), s, PETSC_COMM_SELF);
  feed(again, 5000, 1);
  const std::string initial = again.weights();
  CHECK(fresh.weights() == initial);
  // The state carries the guard: a restored trainer has the halved rate and the count.
  OnlineTrainer restored(layout(), s, PETSC_COMM_SELF);
  restored.restore_state(fresh.save_state());
  CHECK(restored.learning_rate() == 5e5);
  CHECK(restored.divergences() == 1);
  // Training on, each divergence halves the rate again until it is stable; it never keeps a
  // non-finite model.
  for (int k = 0; k < 60; ++k) fresh.train(20);
  CHECK(fresh.divergences() > 1);
  CHECK(std::isfinite(fresh.validate()));
}

TEST_CASE("Online normalisation follows the data and keeps the model's map exactly", "[online]") {
  OnlineSettings s = settings();
  s.lr = 1e-30;  // the weights stay put: only the refit changes them
  OnlineTrainer t(layout(), s, PETSC_COMM_SELF);
  feed(t, 3000, 1);  // inputs in [0.1, 1]
  t.train(200);      // fits the normalisation on these
  at::manual_seed(5);
  const at::Tensor xq = at::rand({100, 2}, at::kDouble) * 0.9 + 0.1;
  const at::Tensor before = t.surrogate(SurrogateOptions{})->predict(xq);
  // The run moves on: inputs over [0.1, 19], a spread ~20x the fitted one.
  at::manual_seed(6);
  const int64_t n = 20000;
  const at::Tensor x = at::rand({n, 2}, at::kDouble) * 18.9 + 0.1;
  const at::Tensor y = x + at::stack({0.05 * at::sin(3 * x.select(1, 0)), -0.02 * x.select(1, 1)}, 1);
  t.add(x, y, std::vector<char>(static_cast<size_t>(n), 0), std::vector<double>(static_cast<size_t>(n), 1.0));
  t.train(1);  // 200 iterations since the fit: the spread is checked
  INFO(t.last_refit());
  REQUIRE(t.refits() == 1);
  CHECK(t.last_refit().find("c.u (in)") != std::string::npos);
  const at::Tensor after = t.surrogate(SurrogateOptions{})->predict(xq);
  // The same map in physical units, to the float32 rounding of the re-expressed weights
  // (~1e-7 relative each, summed over 16 units) on outputs of order 1.
  const double d = (after - before).abs().max().item<double>();
  INFO("largest change of a prediction " << d);
  CHECK(d < 1e-5);
}

TEST_CASE("Online physical loss: a trace channel's label noise does not swamp the training", "[online]") {
  // u, v as above and a trace species w between 1e-13 and 1e-8 (log-uniform, as a radical
  // across a flame's fresh gas and front) whose labels carry an absolute noise of 1e-12 (a
  // solver's atol), Box-Cox transformed as chemistry's species are: in Box-Cox space that
  // noise is as large as the small values' own changes, and the normalised loss chases it
  // (a learning it cannot win, at the cost of u and v); in physical units it is ~1% of w's
  // RMS change.
  ModelCard c = layout();
  c.inputs = {CardChannel{"c", {"u", "v", "w"}, {}}};
  c.outputs = c.inputs;
  auto trained = [&](const std::string& loss) {
    OnlineSettings s = settings();
    s.loss = loss;
    s.transform = {"none", "none", "boxcox"};
    OnlineTrainer t(c, s, PETSC_COMM_SELF);
    at::manual_seed(7);
    const int64_t n = 5000;
    const at::Tensor uv = at::rand({n, 2}, at::kDouble) * 0.9 + 0.1;
    const at::Tensor w = at::pow(10.0, at::rand({n, 1}, at::kDouble) * 5 - 13);  // 1e-13 .. 1e-8
    const at::Tensor x = at::cat({uv, w}, 1);
    const at::Tensor x0 = uv.select(1, 0), x1 = uv.select(1, 1);
    const at::Tensor noise = (at::rand({n}, at::kDouble) - 0.5) * 2e-12;
    const at::Tensor y =
        (x + at::stack({0.05 * at::sin(3 * x0) * x1, -0.02 * x0 * x1, 0.1 * w.select(1, 0) * x0 + noise}, 1))
            .clamp_min(0);
    std::vector<char> held(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) held[i] = i % 5 == 0;
    t.add(x, y, held, std::vector<double>(static_cast<size_t>(n), 1.0));
    t.train(1500);
    return t.validate();
  };
  const double normalised = trained("normalised"), physical = trained("physical");
  INFO("validation error: normalised loss " << normalised << ", physical loss " << physical);
  // Measured 0.053 against 1.10 (the worst channel; 1 is no better than no change).
  CHECK(physical < 0.5 * normalised);
  CHECK(physical < 0.2);
}

TEST_CASE("Online trainer restored from its state continues exactly as the original", "[online]") {
  OnlineTrainer a(layout(), settings(), PETSC_COMM_SELF);
  feed(a, 3000, 2);
  a.train(50);
  const std::string state = a.save_state();
  OnlineTrainer b(layout(), settings(), PETSC_COMM_SELF);
  b.restore_state(state);
  // The same samples, the same steps: the same computations in the same shapes, so the
  // same bits (same process, same thread count).
  feed(a, 1000, 5);
  feed(b, 1000, 5);
  a.train(40);
  b.train(40);
  CHECK(a.validate() == b.validate());
  CHECK(a.iterations() == b.iterations());
  CHECK(a.strata() == b.strata());
  CHECK(a.weights() == b.weights());
}
