#pragma once
/// \file LinearSolver.hpp
/// The KSP set-up the solvers share, and initial guesses for iterative linear solves.
#include <array>
#include <string>

#include "simfuse/core/Grid.hpp"

namespace simfuse {

/// Defaults of a KSP on a Grid's dof-1 DMDA (the command line and the case's
/// petsc_options win over them).
struct KspDefaults {
  std::string prefix;     ///< options prefix, e.g. "diffuse_"
  double rtol = 1e-10;    ///< relative tolerance
  int max_levels = 8;     ///< at most this many multigrid levels
  bool singular = false;  ///< the operator has a null space: pseudo-inverse on the coarsest grid
  /// Where the grid allows fewer than 3 multigrid levels: Jacobi instead of GAMG. GAMG's
  /// set-up draws random vectors from a generator that runs on through the process, so a run
  /// resumed from a checkpoint solves to the same tolerance but not bitwise the same.
  bool jacobi_when_coarse = false;
};

/// Sets the defaults -- CG with geometric multigrid on the DMDA hierarchy (Galerkin coarse
/// operators, Chebyshev/Jacobi smoothing on fixed bounds [0.3, 2]; GAMG when the grid
/// allows fewer than 3 levels) -- and creates the KSP on grid.dm(1) with a nonzero initial
/// guess, configured from the options (a bad option is a UserError naming `what`). The
/// caller sets the operators. Collective.
///
/// The fixed Chebyshev bounds hold for weakly diagonally dominant operators with positive
/// diagonal (and their Galerkin coarsenings): Gershgorin puts the spectrum of D^-1 A in
/// [0, 2]. They make the iteration independent of the number of ranks (PETSc's eigenvalue
/// estimate starts from a vector that depends on the parallel numbering; SOR would too),
/// and measured fewer iterations than the estimate (docs/benchmarks.md).
void create_ksp(const Grid& grid, const KspDefaults& defaults, const std::string& what, PetscHandle<KSP>& ksp);
/// Refuses tolerances no solve can use (a negative -diffuse_ksp_max_it, an rtol of 1e400 or
/// of 0, ...), naming the option: PETSc 3.18 takes them silently. After KSPSetFromOptions.
void check_ksp_tolerances(KSP ksp, const std::string& prefix, const std::string& what);

/// "cg + mg (5 levels)" etc.
std::string describe_ksp(KSP ksp);

/// Replaces x by the combination a x + c g with the smallest residual ||b - A(a x + c g)||_2
/// (a 2x2 least-squares problem; never worse than either candidate, and it corrects a
/// guess that is right in shape but off in scale). `ax` and `ag` are work vectors of x's
/// layout. Returns (a, c). Collective.
std::array<double, 2> least_residual_combination(Mat A, Vec b, Vec x, Vec g, Vec ax, Vec ag);

}  // namespace simfuse
