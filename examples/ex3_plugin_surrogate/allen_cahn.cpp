//            simfuse Example 3: a guarded surrogate in your own solver, as a plugin
//
// Sample runs:  see run_ex3.sh (build, capture -> generate -> train -> guarded run)
//               simfuse run allen_cahn.yaml                  (plugins: loads this library)
//               simfuse compare allen_cahn.yaml --set coupling.react='{type: guarded, model: model/react.card.yaml}'
//
// Description:  The Allen-Cahn equation u_t = eps^2 Laplacian u + u - u^3, the simplest
//               phase-field model: a mixture separates into phases u = -1 and u = +1
//               divided by interfaces of width ~eps. The time step is split (Lie) into
//               two sub-steps: `diffuse`, an implicit Crank-Nicolson step with simfuse's
//               diffusion operator (CG + multigrid), and `react`, the local ODE
//               u' = u - u^3 solved exactly at every point. `react` is the sub-step a
//               surrogate replaces, so it tells a guarded policy what it can:
//                 - Pointwise: the classical step on the points the guard rejected;
//                 - Checkable: a cheap error estimate of a proposed result, the residual
//                   of the implicit trapezoidal rule, so a wrong prediction is caught
//                   without running the exact step.
//               Built as a plugin (no main()): every simfuse verb can use it.
//
// Measured:     run_ex3.sh on one core: the guarded MLP keeps 100% of the points, u
//               within 5e-5 (relative L2) of the classical twin at t = 4 -- and react is
//               ~8x slower with the model than without: the exact step is one exp and
//               one sqrt per point, far cheaper than a 32x32 MLP. This example shows the
//               workflow; a surrogate pays where the classical sub-step is expensive
//               (detailed chemistry: docs/benchmarks.md).
//
// Builds on:    ex2 (a solver of your own); docs/plugins.md walks through it.
#include <cmath>
#include <simfuse/simfuse.hpp>

namespace {

// The exact solution of u' = u - u^3 after time dt.
double react_exact(double u, double dt) {
  const double e = std::exp(2 * dt);
  return u * std::exp(dt) / std::sqrt(1 + u * u * (e - 1));
}

double rate(double u) {
  return u - u * u * u;
}

class React final : public simfuse::SubStep, public simfuse::Pointwise, public simfuse::Checkable {
 public:
  explicit React(double tol) : tol_(tol) {}
  const std::string& name() const override { return name_; }
  std::vector<std::string> reads() const override { return {"u"}; }
  std::vector<std::string> writes() const override { return {"u"}; }
  void apply(simfuse::State& state, const simfuse::StepInfo& info) override {
    auto v = state.get("u").view();
    double* u = v.data();
    const PetscInt n = v.box().size();
    for (PetscInt p = 0; p < n; ++p) u[p] = react_exact(u[p], info.dt);
  }
  // Pointwise: only the listed points (indices into this rank's block, Box::index order).
  void apply_points(simfuse::State& state, const simfuse::StepInfo& info,
                    const std::vector<PetscInt>& points) override {
    auto v = state.get("u").view();
    double* u = v.data();
    for (const PetscInt p : points) u[p] = react_exact(u[p], info.dt);
  }
  // Checkable: per point, |u1 - u0 - dt (f(u0) + f(u1)) / 2| / tol. The exact step has a
  // residual of order dt^3 |f''| / 12; a prediction off by more than tol shows up.
  void estimate(const simfuse::State& state, const std::vector<Vec>& before, const simfuse::StepInfo& info,
                std::vector<double>& estimate) override {
    const simfuse::Field& f = state.get("u");
    const auto now = f.view_read();
    const simfuse::ArrayView old(before.front(), f.grid().owned(), 1, /*read_only=*/true);
    const PetscInt n = now.box().size();
    estimate.assign(static_cast<size_t>(n), 0.0);
    for (PetscInt p = 0; p < n; ++p) {
      const double u0 = old.data()[p], u1 = now.data()[p];
      estimate[static_cast<size_t>(p)] = std::abs(u1 - u0 - 0.5 * info.dt * (rate(u0) + rate(u1))) / tol_;
    }
  }
  std::string estimate_description() const override {
    return "implicit-trapezoid residual of u' = u - u^3 over the step, divided by check_tol";
  }

 private:
  double tol_;
  std::string name_ = "react";
};

class Diffuse final : public simfuse::SubStep {
 public:
  explicit Diffuse(simfuse::ThetaDiffusion& stepper) : stepper_(stepper) {}
  const std::string& name() const override { return name_; }
  std::vector<std::string> reads() const override { return {"u"}; }
  std::vector<std::string> writes() const override { return {"u"}; }
  void apply(simfuse::State& state, const simfuse::StepInfo& info) override {
    stepper_.step(state.get("u").vec(), info.t, info.dt);
  }

 private:
  simfuse::ThetaDiffusion& stepper_;
  std::string name_ = "diffuse";
};

class AllenCahn final : public simfuse::Solver {
 public:
  static void declare(simfuse::Schema& s) {
    s.add_real("eps", "interface width parameter: u_t = eps^2 Laplacian u + u - u^3").def(0.02).positive();
    s.add_block("initial", "function", "initial mixture u0(x, y, z), in [-1, 1]").required();
    s.add_real("check_tol", "tolerance of react's error estimate (a guarded policy's tol: 1 means this)")
        .def(1e-4)
        .positive();
    simfuse::BoundaryConditions::declare(s.add_section("bc", "boundary conditions of the walled faces"),
                                         "{type: neumann, flux: 0.0}");
  }
  explicit AllenCahn(const simfuse::SolverContext& c)
      : grid_(c.grid),
        op_(c.grid, simfuse::constant_function(std::pow(c.params.get<double>("eps"), 2)),
            simfuse::BoundaryConditions::from(c.params.sub("bc"), c.grid, c.constants), "solver.params.eps"),
        stepper_(op_, nullptr, simfuse::ThetaOptions{}),
        diffuse_(stepper_),
        react_(c.params.get<double>("check_tol")) {
    state_.add(grid_, "u");
    simfuse::sample(grid_, *simfuse::make_function(c.params, "initial", c.constants), c.t0, state_.get("u").vec());
  }
  simfuse::State& state() override { return state_; }
  // Lie splitting: diffuse over dt, then react over dt.
  std::vector<simfuse::PlanEntry> plan() override { return {{&diffuse_, 1.0, 0.0}, {&react_, 1.0, 0.0}}; }

 private:
  const simfuse::Grid& grid_;
  simfuse::State state_;
  simfuse::DiffusionOperator op_;
  simfuse::ThetaDiffusion stepper_;
  Diffuse diffuse_;
  React react_;
};

}  // namespace

SIMFUSE_PLUGIN("allen_cahn") {
  simfuse::solver_registry().add("allen_cahn", "Allen-Cahn phase separation u_t = eps^2 Laplacian u + u - u^3",
                                 &AllenCahn::declare,
                                 [](const simfuse::SolverContext& c) { return std::make_unique<AllenCahn>(c); });
}
