#pragma once
/// \file DiffusionOperator.hpp
/// The discrete operator of -div(kappa grad u) on a Grid, and an implicit theta-scheme
/// step for du/dt = div(kappa grad u) + f with its own KSP.
///
/// Discretisation: vertex-centred finite volumes. Each point owns the dual cell around it
/// (half a cell on a wall, a quarter in a corner), so the lumped mass M is the dual-cell
/// volume fraction and Neumann fluxes enter exactly through the wall faces. Face
/// coefficients are kappa at the face midpoint. Dirichlet points are eliminated from
/// their neighbours' rows, so the stiffness K is symmetric positive semi-definite and
/// CG applies. Second order in space (tests/solvers/test_Diffusion.cpp measures it).
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "simfuse/core/Field.hpp"
#include "simfuse/core/base/Function.hpp"
#include "simfuse/solvers/common/Boundary.hpp"

namespace simfuse {

class DiffusionOperator {
 public:
  /// Assembles K. `kappa` must be positive on the grid (UserError otherwise, naming
  /// `kappa_key` and a point where it is not). Collective.
  DiffusionOperator(const Grid& grid, std::shared_ptr<Function> kappa, BoundaryConditions bc,
                    const std::string& kappa_key = "kappa");

  const Grid& grid() const { return grid_; }
  /// Stiffness: K u approximates -div(kappa grad u) * (cell volume fraction); zero rows at
  /// Dirichlet points, Dirichlet columns removed.
  Mat stiffness() const { return K_; }
  /// Lumped mass (dual-cell volume fractions), 1 at Dirichlet points.
  Vec mass() const { return M_; }

  /// b = boundary data at time t: couplings to Dirichlet values moved to the right-hand
  /// side plus Neumann fluxes; 0 at Dirichlet points.
  void boundary_terms(double t, Vec b) const;
  /// Sets the Dirichlet points of x to their values at time t (other points untouched).
  void set_dirichlet(double t, Vec x, double scale = 1.0) const;
  bool boundary_time_independent() const { return boundary_static_; }
  /// Number of Dirichlet points owned by this rank.
  size_t dirichlet_points() const { return dirichlet_.size(); }

 private:
  struct Coupling {
    PetscInt row;  // local index
    double coef;
    std::array<double, 3> x;
    const Function* g;
  };
  const Grid& grid_;
  std::shared_ptr<Function> kappa_;
  BoundaryConditions bc_;
  PetscHandle<Mat> K_;
  PetscHandle<Vec> M_;
  std::vector<Coupling> dirichlet_;  // coef unused
  std::vector<Coupling> couplings_;  // to Dirichlet neighbours
  std::vector<Coupling> fluxes_;     // Neumann faces
  bool boundary_static_ = true;
};

/// Options of an implicit diffusion step.
struct ThetaOptions {
  double theta = 0.5;               ///< 1 implicit Euler, 0.5 Crank-Nicolson
  std::string prefix = "diffuse_";  ///< PETSc options prefix of the KSP
  double rtol = 1e-10;              ///< default relative tolerance (overridable by options)
};

/// One theta-scheme step (M/dt + theta K) u^{n+1} = (M/dt - (1-theta) K) u^n + sources.
/// Owns the system matrix and a KSP (CG + geometric multigrid by default, configurable
/// through the options prefix).
class ThetaDiffusion {
 public:
  /// `source` may be null (no source). Collective.
  ThetaDiffusion(const DiffusionOperator& op, std::shared_ptr<Function> source, ThetaOptions opt);

  /// Advances u (global vector of the grid, dof 1) from t to t+dt. Uses u as the initial
  /// guess, or from `guess` when set: the combination a u + c guess with the smallest
  /// residual ||b - A x||_2 (never worse than either candidate; it also corrects a guess
  /// that is right in shape but off in scale). Throws RunFailure if the KSP does not
  /// converge.
  void step(Vec u, double t, double dt, Vec guess = nullptr);

  KSP ksp() const { return ksp_; }
  int last_iterations() const { return last_its_; }
  /// Weights (a, c) of the last initial guess a u + c guess (guess given), for diagnostics.
  std::array<double, 2> guess_weights() const { return guess_weights_; }
  double last_residual() const { return last_rnorm_; }
  /// "cg + mg(5 levels, galerkin)" etc.
  std::string solver_description() const;
  /// Sets up the KSP for time step dt (assembles A, runs PCSetUp). Collective.
  void prepare(double dt);

 private:
  void sources(double t, Vec out);  // M f(t) + b(t)

  const DiffusionOperator& op_;
  std::shared_ptr<Function> source_;
  ThetaOptions opt_;
  PetscHandle<Mat> A_;
  PetscHandle<KSP> ksp_;
  PetscHandle<Vec> rhs_, work_, s_old_, s_new_, f_cache_, au_, ag_;
  double dt_ = -1;
  double s_old_t_ = std::numeric_limits<double>::quiet_NaN();
  bool source_static_ = true;
  bool f_cached_ = false;
  int last_its_ = 0;
  std::array<double, 2> guess_weights_{1, 0};
  double last_rnorm_ = 0;
};

}  // namespace simfuse
