#include "simfuse/solvers/diffusion/DiffusionSolver.hpp"

#include <fmt/format.h>

#include "simfuse/solvers/common/Evaluate.hpp"

namespace simfuse {

void DiffusionSolver::declare(Schema& s) {
  function_registry();
  s.add_block("kappa", "function", "diffusion coefficient kappa(x, y, z) > 0").def("1.0");
  s.add_block("source", "function", "source term f(x, y, z, t)").def("0.0");
  s.add_block("initial", "function", "initial condition u(x, y, z, t0)").def("0.0");
  s.add_block("exact", "function",
              "exact solution u(x, y, z, t): manufactured-solution mode (sets source, boundary data, initial "
              "condition; errors are reported)");
  BoundaryConditions::declare(s.add_section("bc", "boundary conditions of the walled faces"));
  s.add_string("scheme", "time integration").def("crank_nicolson").choices({"crank_nicolson", "implicit_euler"});
  s.add_real("rtol", "default relative tolerance of the linear solve (-diffuse_ksp_rtol overrides)")
      .def(1e-10)
      .positive()
      .max(0.1);
}

DiffusionSolver::DiffusionSolver(const SolverContext& ctx) : grid_(ctx.grid) {
  const Params& p = ctx.params;
  problem_.kappa = make_function(p, "kappa", ctx.constants);
  problem_.theta = p.get<std::string>("scheme") == "implicit_euler" ? 1.0 : 0.5;
  problem_.bc = BoundaryConditions::from(p.sub("bc"), grid_, ctx.constants);
  if (p.has("exact")) {
    problem_.exact = make_function(p, "exact", ctx.constants);
    for (const char* key : {"source", "initial"})
      if (p.is_set(key))
        p.fail(key, fmt::format("'{}' cannot be given together with 'exact'", key),
               "with an exact solution the source, initial condition and boundary values are computed from it; "
               "remove one of the two");
    const Params& bc = p.sub("bc");
    for (const auto& face : bc.keys())
      if (bc.is_set(face) && (bc.sub(face).is_set("value") || bc.sub(face).is_set("flux")))
        bc.sub(face).fail(bc.sub(face).is_set("value") ? "value" : "flux",
                          "boundary values cannot be given together with 'exact'",
                          "give only the type (e.g. 'x_hi: neumann'); the values come from the exact solution");
  } else {
    problem_.source = make_function(p, "source", ctx.constants);
    problem_.initial = make_function(p, "initial", ctx.constants);
    if (problem_.source->is_constant() && (*problem_.source)(0, 0, 0, 0) == 0.0) problem_.source.reset();
  }
  problem_.rtol = p.get<double>("rtol");
  build(ctx.t0);
  stepper_->prepare(ctx.dt);  // set up the KSP now, so every option is read before the run
}

DiffusionSolver::DiffusionSolver(const Grid& grid, DiffusionProblem problem, double t0)
    : grid_(grid), problem_(std::move(problem)) {
  build(t0);
}

void DiffusionSolver::build(double t0) {
  if (problem_.exact) {
    std::array<double, 3> delta{};
    for (int d = 0; d < 3; ++d) delta[d] = 1e-3 * (d < grid_.dim() ? grid_.h(d) * grid_.n(d) : 1.0);
    problem_.source = std::make_shared<ManufacturedSource>(problem_.exact, problem_.kappa, grid_.dim(), delta);
    problem_.initial = problem_.exact;
    for (int f = 0; f < 6; ++f) {
      auto& fc = problem_.bc.face[f];
      if (fc.kind == BcKind::dirichlet) fc.value = problem_.exact;
      if (fc.kind == BcKind::neumann)
        fc.value = std::make_shared<ManufacturedFlux>(problem_.exact, problem_.kappa, f, delta[f / 2]);
    }
  }
  state_.add(grid_, "u");
  if (problem_.initial) sample(grid_, *problem_.initial, t0, u().vec());
  op_ = std::make_unique<DiffusionOperator>(grid_, problem_.kappa, problem_.bc, "solver.params.kappa");
  ThetaOptions opt;
  opt.theta = problem_.theta;
  opt.rtol = problem_.rtol;
  stepper_ = std::make_unique<ThetaDiffusion>(*op_, problem_.source, opt);
  op_->set_dirichlet(t0, u().vec());
}

void DiffusionSolver::Diffuse::apply(State& state, const StepInfo& info) {
  Vec g = guess_;
  guess_ = nullptr;
  s_.stepper_->step(state.get("u").vec(), info.t, info.dt, g);
}

bool DiffusionSolver::exact_solution(const std::string& field, double t, Vec out) {
  if (!problem_.exact || field != "u") return false;
  sample(grid_, *problem_.exact, t, out);
  return true;
}

nlohmann::ordered_json DiffusionSolver::describe() const {
  return {{"scheme", problem_.theta == 1.0 ? "implicit_euler" : "crank_nicolson"},
          {"diffuse_solver", stepper_->solver_description()},
          {"kappa", problem_.kappa->describe()}};
}

}  // namespace simfuse
