#pragma once
/// \file Reactor.hpp
/// Homogeneous adiabatic reactors of an ideal-gas mechanism, with state
/// y = [T, Y_1, ..., Y_N] (temperature in K, mass fractions): the layout a pointwise model
/// binds to. Constant pressure p:
///   rho = p W / (R T),  C_k = rho Y_k / W_k,
///   dY_k/dt = W_k wdot_k / rho,
///   dT/dt  = - sum_k h_k wdot_k / (rho cp)          (h_k molar, cp per unit mass).
/// Constant volume: rho fixed, u instead of h and cv instead of cp. Total mass and every
/// element are conserved exactly by the rates; enthalpy (energy) to the integration error.
#include <vector>

#include "simfuse/solvers/chemistry/Mechanism.hpp"

namespace simfuse {

class Reactor {
 public:
  enum class Mode { constant_pressure, constant_volume };

  /// `pressure` (Pa) for constant pressure; for constant volume the density is taken
  /// from the first state given to set_volume_state().
  Reactor(const Mechanism& mech, Mode mode, double pressure);

  const Mechanism& mechanism() const { return mech_; }
  Mode mode() const { return mode_; }
  int size() const { return mech_.n_species() + 1; }
  /// "constant_pressure" or "constant_volume" (the case key's values).
  static const char* mode_name(Mode m) {
    return m == Mode::constant_pressure ? "constant_pressure" : "constant_volume";
  }
  double pressure() const { return p_; }

  /// Constant volume: fixes the density from state y (at this->pressure()).
  void set_volume_state(const double* y);
  /// Sets the pressure (constant pressure; a sweep changes it from reactor to reactor).
  void set_pressure(double p) { p_ = p; }
  /// A constant rate added to rhs() ([dT/dt, dY_k/dt], size()), e.g. a flow's transport
  /// over the step; null: none. The Jacobian does not change (the source is constant).
  void set_source(const double* s) { source_ = s; }
  /// Constant volume: sets the density directly.
  void set_density(double rho) { rho_ = rho; }
  /// Density (kg/m^3) at state y.
  double density(const double* y) const;

  /// dy/dt at y. Not thread-safe (scratch buffers).
  void rhs(const double* y, double* dydt) const;
  /// The exact Jacobian d(dy/dt)/dy at y, row-major size() x size(), from the
  /// mechanism's analytic rate derivatives (constant pressure; constant volume has none
  /// yet and throws InternalError: use finite differences there).
  void jacobian(const double* y, double* J) const;
  /// Heat release rate -sum_k h_k wdot_k, W/m^3.
  double heat_release_rate(const double* y) const;
  /// Specific enthalpy (J/kg) of T and mass fractions Y.
  double enthalpy_mass(double T, const double* Y) const;
  /// Specific heat at constant pressure (J/(kg K)).
  double cp_mass(double T, const double* Y) const;
  /// The temperature at which the mixture Y has specific enthalpy h (Newton on h(T),
  /// from T_guess); throws RunFailure if it does not converge to 1e-10 relative.
  double temperature_from_enthalpy(double h, const double* Y, double T_guess) const;
  /// The conserved specific energy of an adiabatic reactor of this mode: h (constant
  /// pressure) or u = h - R T sum Y_k/W_k (constant volume), J/kg.
  double energy_mass(double T, const double* Y) const;
  /// The temperature with energy_mass(T, Y) = e (Newton from T_guess); throws RunFailure
  /// if it does not converge to 1e-10 relative.
  double temperature_from_energy(double e, const double* Y, double T_guess) const;
  /// Mole fraction of species k at state y.
  double mole_fraction(const double* y, int k) const;
  /// d[X_k]/dt (mol/m^3/s) of the molar concentration of species k, given dy/dt = f at y
  /// (the density changes with T and the mean molar mass at constant pressure).
  double concentration_rate(const double* y, const double* f, int k) const;

 private:
  void concentrations(const double* y, double rho) const;
  // Newton on h(T) (internal = false) or u(T) = h(T) - R T / Wbar (true) = e.
  double newton_temperature(double e, const double* Y, double T_guess, bool internal) const;

  const Mechanism& mech_;
  Mode mode_;
  double p_;
  double rho_ = 0;  // constant volume
  mutable std::vector<double> C_, wdot_, h_, cp_, dwdC_, dwdT_, dcp_;
  const double* source_ = nullptr;
};

}  // namespace simfuse
