// A plugin as a scientist would write it (core/base/Plugins.hpp): a solver and a policy that
// simfuse does not have, registered in one SIMFUSE_PLUGIN block. The tests load it with
// --plugin, SIMFUSE_PLUGIN_PATH and a case's `plugins:`, and run every verb on it.
//
// The solver: logistic growth du/dt = r u (1 - u) at every point, one exact step per time
// step, with its exact solution (so a run reports its error). The policy `halves` runs a
// sub-step as two steps of dt/2; for an exact step the result is the same.
#include <cmath>
#include <simfuse/simfuse.hpp>

namespace {

double logistic(double u0, double rt) {
  const double g = std::exp(rt);
  return u0 * g / (1 - u0 + u0 * g);
}

// Pointwise: a guarded surrogate falls back to the classical step on the rejected
// points only, not on the whole grid.
class Grow final : public simfuse::SubStep, public simfuse::Pointwise {
 public:
  explicit Grow(double rate) : rate_(rate) {}
  const std::string& name() const override { return name_; }
  std::vector<std::string> reads() const override { return {"u"}; }
  std::vector<std::string> writes() const override { return {"u"}; }
  void apply(simfuse::State& state, const simfuse::StepInfo& info) override {
    simfuse::Field& u = state.get("u");
    auto v = u.view();
    simfuse::for_each(u.grid().owned(),
                      [&](PetscInt i, PetscInt j, PetscInt k) { v(i, j, k) = logistic(v(i, j, k), rate_ * info.dt); });
  }
  void apply_points(simfuse::State& state, const simfuse::StepInfo& info,
                    const std::vector<PetscInt>& points) override {
    simfuse::Field& u = state.get("u");
    auto v = u.view();
    double* data = v.data();  // one value per point, in Box::index order
    for (const PetscInt p : points) data[p] = logistic(data[p], rate_ * info.dt);
  }

 private:
  double rate_;
  std::string name_ = "grow";
};

class Logistic final : public simfuse::Solver {
 public:
  static void declare(simfuse::Schema& s) {
    s.add_real("rate", "growth rate r").def(1.0).positive();
    s.add_block("initial", "function", "initial density u0(x, y, z), in (0, 1)").def("0.1");
  }
  explicit Logistic(const simfuse::SolverContext& c)
      : grid_(c.grid), grow_(c.params.get<double>("rate")), rate_(c.params.get<double>("rate")), t0_(c.t0) {
    u0_ = simfuse::make_function(c.params, "initial", c.constants);
    state_.add(grid_, "u");
    simfuse::sample(grid_, *u0_, c.t0, state_.get("u").vec());
  }
  simfuse::State& state() override { return state_; }
  std::vector<simfuse::PlanEntry> plan() override { return {{&grow_, 1.0, 0.0}}; }
  bool exact_solution(const std::string& field, double t, Vec out) override {
    if (field != "u") return false;
    simfuse::ArrayView v(out, grid_.owned(), 1);
    simfuse::for_each(grid_.owned(), [&](PetscInt i, PetscInt j, PetscInt k) {
      v(i, j, k) = logistic((*u0_)(grid_.x(0, i), grid_.x(1, j), grid_.x(2, k), t0_), rate_ * (t - t0_));
    });
    return true;
  }

 private:
  const simfuse::Grid& grid_;
  simfuse::State state_;
  Grow grow_;
  double rate_, t0_;
  std::shared_ptr<simfuse::Function> u0_;
};

class Halves final : public simfuse::Policy {
 public:
  const std::string& name() const override { return name_; }
  void apply(simfuse::SubStep& step, simfuse::State& state, const simfuse::StepInfo& info,
             simfuse::SubStepStats& stats) override {
    const simfuse::StepInfo half{info.step, info.t, info.dt / 2};
    simfuse::run_classical(step, state, half, stats);
    simfuse::run_classical(step, state, {info.step, info.t + info.dt / 2, info.dt / 2}, stats);
  }

 private:
  std::string name_ = "halves";
};

}  // namespace

SIMFUSE_PLUGIN("test_logistic") {
  simfuse::solver_registry().add("plugin_logistic", "logistic growth du/dt = r u (1 - u) (a test plugin)",
                                 &Logistic::declare,
                                 [](const simfuse::SolverContext& c) { return std::make_unique<Logistic>(c); });
  simfuse::policy_registry().add("halves", "two classical steps of dt/2 (a test plugin)", nullptr,
                                 [](const simfuse::PolicyContext&) { return std::make_unique<Halves>(); });
}
