#include "simfuse/solvers/Builtins.hpp"

#include "simfuse/solvers/diffusion/DiffusionSolver.hpp"
#include "simfuse/solvers/navier_stokes/NavierStokesSolver.hpp"
#include "simfuse/solvers/reacting/ReactingSolver.hpp"
#include "simfuse/solvers/reacting/ReactorSweep.hpp"
#include "simfuse/solvers/reaction_diffusion/ReactionDiffusionSolver.hpp"

namespace simfuse {

void register_builtin_solvers() {
  static const bool done = [] {
    solver_registry().add("diffusion", "heat equation du/dt = div(kappa grad u) + f (implicit Euler or Crank-Nicolson)",
                          &DiffusionSolver::declare,
                          [](const SolverContext& c) { return std::make_unique<DiffusionSolver>(c); });
    solver_registry().add("reaction_diffusion",
                          "N species: dc/dt = D Laplacian c + R(c), Strang splitting, stiff Rodas3 reaction step",
                          &ReactionDiffusionSolver::declare,
                          [](const SolverContext& c) { return std::make_unique<ReactionDiffusionSolver>(c); });
    solver_registry().add("navier_stokes",
                          "incompressible Navier-Stokes 2D on a staggered grid: advect, diffuse, project (pressure "
                          "Poisson, multigrid), correct",
                          &NavierStokesSolver::declare,
                          [](const SolverContext& c) { return std::make_unique<NavierStokesSolver>(c); });
    solver_registry().add("reacting",
                          "ideal-gas mixture of a Cantera-format mechanism at constant pressure: [T, Y] per point, "
                          "unity-Lewis diffusion of h and Y with one implicit operator, per-cell CVODE/Rodas3 "
                          "chemistry, Strang splitting",
                          &ReactingSolver::declare,
                          [](const SolverContext& c) { return std::make_unique<ReactingSolver>(c); });
    solver_registry().add("reactors",
                          "independent 0D reactors (constant pressure or volume), one per point of a 1D grid: "
                          "ignition-delay sweeps (reactors.csv) or steps of dt",
                          &ReactorSweep::declare,
                          [](const SolverContext& c) { return std::make_unique<ReactorSweep>(c); });
    set_min_grid_points("reactors", 1);  // a single reactor is a sweep of one
    return true;
  }();
  (void)done;
}

}  // namespace simfuse
