#pragma once
/// \file NavierStokesSolver.hpp
/// Incompressible Navier-Stokes in 2D, du/dt + (u.grad)u = -grad p + nu Lap u, div u = 0,
/// on a staggered (MAC) grid with a projection method. One time step is four sub-steps:
///
///  - `advect`:  u* = u^n - dt (1.5 N(u^n) - 0.5 N(u^{n-1}))   second-order Adams-Bashforth,
///                central (energy-conserving) fluxes; the CFL number is checked every step
///  - `diffuse`: u** = u* + dt nu Lap u*                     explicit; dt is checked at set-up
///  - `project`: A p = -div(u**)/dt,  A = -D G               pressure Poisson, KSP (prefix
///                `project_`: CG + geometric multigrid on the DMDA by default), constant null
///                space (walls or periodic); Iterative (initial guess) and Checkable
///                (relative residual ||b - A p|| / ||b||)
///  - `correct`: u^{n+1} = u** - dt G p                      then div u^{n+1} = 0 to KSP tolerance
///
/// The grid is cell-centred (`grid.centering: cell`): the pressure lives at cell centres, the
/// x-velocity on the east face and the y-velocity on the north face of each cell (field
/// `face_velocity`, the unknowns). Walls carry a tangential velocity (a moving lid);
/// directions may be periodic. Output fields are cell-centred: `velocity` (a vector),
/// `pressure`, `vorticity`; `pressure_change` (dp^n = p^n - p^{n-1}) is there
/// for surrogates and diagnostics. Runs may stop at a steady state (`steady_tol`).
///
/// Inflow (`inflow: {face: x_lo | y_lo, velocity}`) and outflow (`outflow: x_hi | y_hi`,
/// pressure zero on the face) faces join walls and periodic directions. With a `reacting:`
/// section the flow is low Mach number and variable density (ReactingFlow.hpp): `gas` =
/// [T, Y], `density` from the equation of state, a `react` sub-step before `project`, and
/// the projection acts on the mass flux, div(rho u) = -(rho^{n+1} - rho^n)/dt.
///
/// The splitting of advection and diffusion is first order in time (second order with dt
/// proportional to h^2, which the explicit viscous limit enforces anyway); the spatial
/// discretisation is second order (tests/solvers/test_NavierStokes.cpp measures both
/// against the Taylor-Green vortex and the cavity against Ghia, Ghia & Shin 1982).
#include <array>
#include <memory>

#include "simfuse/core/Checkpoint.hpp"
#include "simfuse/core/Solver.hpp"

namespace simfuse {

class NavierStokesSolver final : public Solver, public Checkpointable {
 public:
  /// Declares `solver.params` of type navier_stokes.
  static void declare(Schema& s);
  /// From validated parameters (the registry factory). Collective.
  explicit NavierStokesSolver(const SolverContext& ctx);
  ~NavierStokesSolver() override;

  State& state() override { return state_; }
  std::vector<PlanEntry> plan() override;
  std::vector<std::string> output_fields() const override;
  void prepare_output() override;
  std::map<std::string, std::string> model_context() const override;
  bool exact_solution(const std::string& field, double t, Vec out) override;
  nlohmann::ordered_json describe() const override;
  std::map<std::string, double> metrics() override;
  bool steady() const override { return steady_; }
  std::string stop_event() const override;
  /// centerline_u.csv (u along x = mid, against y) and centerline_v.csv (v along y = mid,
  /// against x): the profiles of the lid-driven cavity benchmark.
  std::vector<std::string> write_results(const std::string& dir) override;

  /// Checkpoints: the Adams-Bashforth history N(u^{n-1}), the previous pressure, the
  /// steady-state test's last value.
  void save_state(CheckpointData& out) const override;
  void restore_state(const CheckpointData& in) override;

  /// Kinetic energy 1/2 int |u|^2 over the domain (faces' midpoint rule). Collective.
  double kinetic_energy() const;
  /// max |div u| over the cells (D applied to the face velocities). Collective.
  double max_divergence() const;
  /// KSP iterations of the last projection.
  int last_projection_iterations() const;
  /// Centreline profiles: u(x_mid, y_j) for all j, v(x_i, y_mid) for all i (every rank).
  std::pair<std::vector<double>, std::vector<double>> centerlines() const;

  class Impl;

 private:
  const Grid& grid_;
  State state_;
  std::unique_ptr<Impl> impl_;
  bool steady_ = false;
  double t0_ = 0;
};

}  // namespace simfuse
