#pragma once
/// \file ReactingFlow.hpp
/// The low-Mach, variable-density part of navier_stokes (internal to the solver): a
/// reacting ideal-gas mixture at a thermodynamic pressure p0 carried by the MAC velocity.
///
/// Fields: `gas` = [T, Y_1..Y_N] per cell (the layout of the reacting solver, so the
/// `react` sub-step and every policy on it are the same), `density` (rho = p0 W / (R T),
/// the equation of state, always), `heat_release`, `react_seconds`.
///
/// Per time step the scalars take three sub-steps, each of them at the density rho^n of the
/// step's start (a parcel's mass does not change inside the step), with the transport
/// coefficients of the step's start:
///  - advect: phi <- phi - dt / rho [div(F phi_f) - phi div F] for h and every Y_k, F the
///    face mass flux rho_f u^n, phi_f the upwind face value with van Leer's limited slope
///    (bounded at a CFL number below 1, and a uniform phi stays uniform exactly);
///  - diffuse: mixture-averaged (or unity Lewis) fluxes
///      j_k = -rho D_k (W_k / W) grad X_k + rho Y_k V_c,  sum_k j_k = 0 on every face,
///      q   = -lambda grad T + sum_k h_k j_k;
///    each Y_k by implicit Euler in its main term -rho D_k grad Y_k (one solve per species),
///    then every Y_k updated from the full fluxes of the solution (so the correction
///    velocity holds exactly and sum_k Y_k stays 1); h implicit in -(lambda/cp) grad h with
///    the rest (lambda/cp sum_k h_k grad Y_k + sum_k h_k j_k) from the new Y_k;
///  - react: the per-cell chemistry at p0 (ChemistryStep). `splitting: forced` (default):
///    from the state before advect, with the transport's rate over the step as a constant
///    source and the enthalpy the transport left as the end state's; the species' implicit
///    diffusion then takes the chemistry's own rate of the last step as a source. A steady
///    flame is the unsplit one (S_L does not depend on dt). The state the transport leaves
///    is the field `transported` (react's required input): a policy on react is a model
///    that reads it (a forced model), the classical code, or balanced.
///    `forced_split`: the same diffusion, but react is the chemistry alone, started from
///    half the transport's change (the mean of the states before and after it), and the
///    `force` sub-step adds the other half after it: a Strang split inside the forced step,
///    so react takes any policy.
///    `strang` / `lie`: react half a step before and after the transport / a step after it,
///    any policy, first order in dt at steady state.
/// The projection then makes the mass flux satisfy continuity with the new density from the
/// equation of state: div(rho_f u^{n+1}) = -(rho^{n+1} - rho^n) / dt, which holds every
/// sub-step's actual effect (chemistry included) and leaves no drift from the equation of
/// state to correct.
///
/// A closed domain (walls or periodic all round) has p0(t): each step p0^{n+1} is the
/// pressure at which the equation of state holds the domain's mass (new_density), and the
/// enthalpy equation carries the compression dp0/dt (rho Dh/Dt = dp0/dt + ..., the last
/// step's rate, explicit). A uniform mixture in a closed box is then a constant-volume
/// reactor: its internal energy h - p0/rho is conserved exactly once p0 stops changing.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "simfuse/core/Solver.hpp"
#include "simfuse/solvers/chemistry/ChemistryStep.hpp"
#include "simfuse/solvers/chemistry/Transport.hpp"
#include "simfuse/solvers/navier_stokes/Mac.hpp"

namespace simfuse {

class ReactingFlow {
 public:
  /// Declares the `reacting:` section of navier_stokes.
  static void declare(Schema& s);
  /// From the validated `reacting:` section; adds gas, density, heat_release and
  /// react_seconds to `state`. The inflow state is the initial mixture at the inflow face.
  /// Collective.
  ReactingFlow(const Grid& grid, const Params& p, const Constants& constants, State& state, MacBoundary& boundary);
  ~ReactingFlow();

  ChemistryStep& react() { return *react_; }
  const Mechanism& mechanism() const { return *mech_; }
  double pressure() const { return p0_; }
  double inflow_density() const { return rho_in_; }

  /// The advect sub-step of the scalars with the face velocity u (at t^n). Returns the
  /// largest advective CFL number of the scalars. Collective.
  double advect(Vec u, double dt);
  /// The diffuse sub-step of the scalars; then the largest kinematic viscosity (for the
  /// momentum's explicit viscous term) is in max_kinematic_viscosity(). Collective.
  void diffuse(double dt);
  /// Kinematic viscosity per cell (mu / rho) of the last diffuse, a dof-1 vector.
  Vec kinematic_viscosity() const { return nu_; }
  double max_kinematic_viscosity() const { return nu_max_; }

  /// rho from the equation of state at the gas field's (T, Y) into `out` (dof 1). Collective.
  void eos_density(Vec out) const;
  /// rho^{n+1} for the projection: the equation of state at the step's end. On a closed
  /// domain (no inflow, no outflow) the thermodynamic pressure p0^{n+1} is the one that keeps
  /// the domain's mass (the integral of the density field, rho^n) exactly: then
  /// div(rho u) = -(rho^{n+1} - rho^n)/dt integrates to zero, as it must with no flux
  /// through the boundary. Collective; end_step() takes p0^{n+1} over.
  void new_density(Vec out);
  /// A closed domain: p0 changes in time.
  bool closed() const { return closed_; }
  /// forced_split: react is the chemistry alone from half-way along the transport's change;
  /// the other half follows it (the `force` sub-step, before the projection).
  bool split_forcing() const { return split_; }
  /// forced_split: adds the second half of the transport's rate of this step to the gas
  /// (T from the enthalpy the transport left). Collective.
  void finish_forcing(double dt);
  /// After the react sub-step (forced splitting: keeps the chemistry's own rate).
  void end_step(double dt);
  /// Strang splitting of the chemistry (else Lie).
  bool strang() const { return strang_; }
  /// After the step: records the flame's diagnostics at time t (front position; the fuel
  /// consumption speed from the fuel's production rate at the state). Collective.
  void record(double t);

  /// hold_front: the inflow velocity the control asks for (none: the inflow's expression).
  std::optional<double> controlled_inflow() const;
  /// The first flame event of `stop_when` that happened (empty: none).
  std::string stop_event() const;
  /// Reaction-flow diagnostics for summary.json: flame speeds, burnt temperature, counters.
  std::map<std::string, double> metrics() const;
  nlohmann::ordered_json describe() const;
  /// flame.csv: t, front position, consumption speed. Rank 0 writes. Returns the names.
  std::vector<std::string> write_results(const std::string& dir) const;
  std::map<std::string, std::string> model_context() const;

  void save_state(CheckpointData& out) const;
  void restore_state(const CheckpointData& in);

 private:
  // Transport coefficients and the kinematic viscosity at the gas field's state. Collective.
  void update_coefficients();
  struct Impl;
  std::unique_ptr<Impl> m_;
  std::shared_ptr<const Mechanism> mech_;
  std::unique_ptr<CellChemistry> chem_;
  std::unique_ptr<ChemistryStep> react_;
  PetscHandle<Vec> nu_;
  double p0_ = 101325, rho_in_ = 0, nu_max_ = 0;
  // Closed domain: p0 at the start (for the record), the next step's (new_density), and
  // dp0/dt of the last step, the enthalpy's compression source (lagged by a step).
  double p0_start_ = 101325, p0_next_ = 101325, dp0dt_ = 0;
  bool strang_ = true, forced_ = false, split_ = false, closed_ = false;
};

}  // namespace simfuse
