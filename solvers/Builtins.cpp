#include "solvers/Builtins.hpp"

#include "solvers/diffusion/DiffusionSolver.hpp"

namespace simfuse {

void register_builtin_solvers() {
  static const bool done = [] {
    solver_registry().add("diffusion", "heat equation du/dt = div(kappa grad u) + f (implicit Euler or Crank-Nicolson)",
                          &DiffusionSolver::declare,
                          [](const SolverContext& c) { return std::make_unique<DiffusionSolver>(c); });
    return true;
  }();
  (void)done;
}

}  // namespace simfuse
