//                       simfuse Example 1: the heat equation from C++
//
// Sample runs:  ./ex1
//               ./ex1 -n 129 -steps 64
//               mpirun -n 2 ./ex1 -n 65 -- -diffuse_ksp_monitor_short
//
// Description:  Solves du/dt = div(kappa grad u) + f on the unit square with a
//               manufactured exact solution, without a case file: the grid, the
//               problem and the time loop are built in code with simfuse's public
//               API. It prints the error against the exact solution, which drops 4x
//               each time the grid spacing and the time step are halved (second order),
//               and writes a ParaView series ex1_out/heat.pvd.
//
// Builds on:    nothing; ex2 shows how to add your own solver and drive it from YAML.
#include <petscsys.h>

#include <cstdio>
#include <cstdlib>
#include <simfuse/core/Grid.hpp>
#include <simfuse/coupling/Coupler.hpp>
#include <simfuse/postproc/Norms.hpp>
#include <simfuse/postproc/VtkWriter.hpp>
#include <simfuse/solvers/diffusion/DiffusionSolver.hpp>
#include <string>

int main(int argc, char** argv) {
  // 1. Initialise MPI and PETSc. PETSc options (e.g. -diffuse_ksp_type) work as usual.
  simfuse::PetscSession session(&argc, &argv);
  PetscInt n = 65, steps = 32;
  PetscOptionsGetInt(nullptr, nullptr, "-n", &n, nullptr);
  PetscOptionsGetInt(nullptr, nullptr, "-steps", &steps, nullptr);

  try {
    // 2. A 2D grid of n x n points on the unit square, walls on all sides.
    simfuse::GridSpec spec;
    spec.dim = 2;
    spec.n = {n, n, 1};
    simfuse::Grid grid(PETSC_COMM_WORLD, spec);

    // 3. The problem: a variable conductivity and an exact solution. With `exact` set,
    //    the solver derives the source, boundary values and initial condition from it.
    std::shared_ptr<simfuse::Function> exact = simfuse::expression_function("sin(pi*x)*sin(pi*y)*exp(-t) + 0.5*x");
    simfuse::DiffusionProblem problem;
    problem.kappa = simfuse::expression_function("1 + 0.5*x*y");
    problem.exact = exact;
    problem.bc = simfuse::BoundaryConditions::all(grid, simfuse::BcKind::dirichlet, exact);
    problem.bc.face[1].kind = simfuse::BcKind::neumann;  // x_hi: flux from the exact solution
    problem.theta = 0.5;                                 // Crank-Nicolson

    // 4. The solver owns its fields; the Coupler runs its plan of sub-steps ("diffuse").
    simfuse::DiffusionSolver solver(grid, problem);
    simfuse::Coupler coupler(solver);
    simfuse::VtkSeriesWriter vtk(grid, "ex1_out", "heat");
    vtk.write({&solver.u()}, 0.0, 0);

    // 5. Time loop to t = 0.5.
    const double dt = 0.5 / static_cast<double>(steps);
    for (PetscInt s = 0; s < steps; ++s) coupler.advance(s + 1, s * dt, dt);
    vtk.write({&solver.u()}, 0.5, steps);

    // 6. Error against the exact solution.
    simfuse::PetscHandle<Vec> ue;
    VecDuplicate(solver.u().vec(), ue.out());
    solver.exact_solution("u", 0.5, ue);
    const auto e = simfuse::error_norms(grid, solver.u().vec(), ue);
    const auto stats = coupler.stats().front();
    PetscPrintf(PETSC_COMM_WORLD, "n = %d, steps = %d: relative L2 error %.4e, %.1f KSP iterations per step\n",
                static_cast<int>(n), static_cast<int>(steps), e.rel_l2(),
                static_cast<double>(stats.iterations) / stats.calls);
    PetscPrintf(PETSC_COMM_WORLD, "wrote %s\n", vtk.pvd_path().c_str());
  } catch (const std::exception& ex) {
    PetscPrintf(PETSC_COMM_WORLD, "%s\n", ex.what());
    return 2;
  }
  return 0;
}
