#include "simfuse/solvers/chemistry/Reactor.hpp"

#include <fmt/format.h>

#include <cmath>

#include "simfuse/core/base/Error.hpp"

namespace simfuse {

Reactor::Reactor(const Mechanism& mech, Mode mode, double pressure) : mech_(mech), mode_(mode), p_(pressure) {
  const size_t n = static_cast<size_t>(mech.n_species());
  C_.resize(n);
  wdot_.resize(n);
  h_.resize(n);
  cp_.resize(n);
  dwdC_.resize(n * n);
  dwdT_.resize(n);
  dcp_.resize(n);
}

double Reactor::density(const double* y) const {
  if (mode_ == Mode::constant_volume && rho_ > 0) return rho_;
  return p_ * mech_.mean_molar_mass(y + 1) / (kGasConstant * y[0]);
}

void Reactor::set_volume_state(const double* y) {
  rho_ = p_ * mech_.mean_molar_mass(y + 1) / (kGasConstant * y[0]);
}

void Reactor::concentrations(const double* y, double rho) const {
  const auto& sp = mech_.species();
  for (size_t k = 0; k < sp.size(); ++k) C_[k] = rho * y[k + 1] / sp[k].molar_mass;
}

void Reactor::rhs(const double* y, double* dydt) const {
  const double T = y[0];
  const double rho = density(y);
  concentrations(y, rho);
  mech_.net_production_rates(T, C_.data(), wdot_.data());
  mech_.h_RT(T, h_.data());
  mech_.cp_R(T, cp_.data());
  const auto& sp = mech_.species();
  const int n = mech_.n_species();
  // Energy: constant pressure uses h and cp; constant volume u = h - RT and cv = cp - R.
  const bool cv = mode_ == Mode::constant_volume;
  double heat = 0, c = 0;
  for (int k = 0; k < n; ++k) {
    dydt[k + 1] = sp[k].molar_mass * wdot_[k] / rho;
    heat += (cv ? h_[k] - 1.0 : h_[k]) * wdot_[k];                    // * R T below
    c += y[k + 1] / sp[k].molar_mass * (cv ? cp_[k] - 1.0 : cp_[k]);  // * R below
  }
  dydt[0] = -heat * T / (rho * c);
  if (source_)
    for (int k = 0; k <= n; ++k) dydt[k] += source_[k];
}

void Reactor::jacobian(const double* y, double* J) const {
  SIMFUSE_REQUIRE(mode_ == Mode::constant_pressure, "the analytic Jacobian is for constant pressure");
  const int n = mech_.n_species(), m = n + 1;
  const auto& sp = mech_.species();
  const double T = y[0];
  const double* Y = y + 1;
  const double wbar = mech_.mean_molar_mass(Y);
  const double rho = p_ * wbar / (kGasConstant * T);
  concentrations(y, rho);
  mech_.production_rate_derivatives(T, C_.data(), wdot_.data(), dwdC_.data(), dwdT_.data());
  mech_.h_RT(T, h_.data());
  mech_.cp_R(T, cp_.data());
  mech_.dcp_R_dT(T, dcp_.data());
  // Chain rule at constant pressure: C_j = rho Y_j / W_j, rho = p Wbar / (R T):
  //   dC_j/dT = -C_j / T,  dC_j/dY_m = rho / W_j delta_jm - C_j Wbar / W_m.
  // s_k = sum_j dwdot_k/dC_j C_j gives both.
  std::vector<double> s(static_cast<size_t>(n)), dw_dT(static_cast<size_t>(n));
  for (int k = 0; k < n; ++k) {
    const double* row = dwdC_.data() + static_cast<size_t>(k) * n;
    double acc = 0;
    for (int j = 0; j < n; ++j) acc += row[j] * C_[j];
    s[k] = acc;
    dw_dT[k] = dwdT_[k] - acc / T;  // d wdot_k / dT at fixed Y
  }
  auto dw_dY = [&](int k, int mm) {
    return dwdC_[static_cast<size_t>(k) * n + mm] * rho / sp[mm].molar_mass - s[k] * wbar / sp[mm].molar_mass;
  };
  // Species rows: f_k = W_k wdot_k / rho.
  for (int k = 0; k < n; ++k) {
    double* row = J + static_cast<size_t>(k + 1) * m;
    const double a = sp[k].molar_mass / rho;
    row[0] = a * (dw_dT[k] + wdot_[k] / T);
    for (int mm = 0; mm < n; ++mm) row[mm + 1] = a * (dw_dY(k, mm) + wdot_[k] * wbar / sp[mm].molar_mass);
  }
  // Temperature row: f_T = -Q / D, Q = sum_k H_k wdot_k (H_k = R T h_RT_k), D = rho cp.
  double Q = 0, cpm = 0, dcpm = 0, dQ_dT = 0;
  for (int k = 0; k < n; ++k) {
    const double H = kGasConstant * T * h_[k];
    Q += H * wdot_[k];
    cpm += Y[k] / sp[k].molar_mass * cp_[k];
    dcpm += Y[k] / sp[k].molar_mass * dcp_[k];
    dQ_dT += kGasConstant * cp_[k] * wdot_[k] + H * dw_dT[k];
  }
  cpm *= kGasConstant;
  dcpm *= kGasConstant;
  const double D = rho * cpm;
  const double dD_dT = -rho * cpm / T + rho * dcpm;
  J[0] = -dQ_dT / D + Q / (D * D) * dD_dT;
  for (int mm = 0; mm < n; ++mm) {
    double dQ = 0;
    for (int k = 0; k < n; ++k) dQ += kGasConstant * T * h_[k] * dw_dY(k, mm);
    const double dD = -rho * wbar / sp[mm].molar_mass * cpm + rho * kGasConstant * cp_[mm] / sp[mm].molar_mass;
    J[mm + 1] = -dQ / D + Q / (D * D) * dD;
  }
}

double Reactor::heat_release_rate(const double* y) const {
  const double T = y[0];
  concentrations(y, density(y));
  mech_.net_production_rates(T, C_.data(), wdot_.data());
  mech_.h_RT(T, h_.data());
  double q = 0;
  for (int k = 0; k < mech_.n_species(); ++k) q -= h_[k] * wdot_[k];
  return q * kGasConstant * T;
}

double Reactor::enthalpy_mass(double T, const double* Y) const {
  return mech_.enthalpy_mass(T, Y);
}

double Reactor::cp_mass(double T, const double* Y) const {
  return mech_.cp_mass(T, Y);
}

double Reactor::energy_mass(double T, const double* Y) const {
  return mode_ == Mode::constant_pressure ? mech_.enthalpy_mass(T, Y) : mech_.int_energy_mass(T, Y);
}

double Reactor::temperature_from_energy(double e, const double* Y, double T_guess) const {
  return newton_temperature(e, Y, T_guess, mode_ == Mode::constant_volume);
}

double Reactor::temperature_from_enthalpy(double h, const double* Y, double T_guess) const {
  return newton_temperature(h, Y, T_guess, false);
}

double Reactor::newton_temperature(double e, const double* Y, double T_guess, bool internal) const {
  // e(T) = h(T) - Rm T with Rm = R / Wbar for u, 0 for h; de/dT = cp - Rm.
  const double Rm = internal ? kGasConstant / mech_.mean_molar_mass(Y) : 0.0;
  double T = T_guess > 0 && std::isfinite(T_guess) ? T_guess : 1000.0;
  for (int it = 0; it < 50; ++it) {
    const double dT = (enthalpy_mass(T, Y) - Rm * T - e) / (cp_mass(T, Y) - Rm);
    T -= dT;
    if (!(T > 0) || !std::isfinite(T)) break;
    if (std::abs(dT) <= 1e-10 * T) return T;
  }
  throw RunFailure(fmt::format("no temperature has the specific {} {:g} J/kg (Newton from {:g} K ended at {:g} K)",
                               internal ? "internal energy" : "enthalpy", e, T_guess, T),
                   "the state left the range of the thermo polynomials: check the initial temperature and the "
                   "time step");
}

double Reactor::mole_fraction(const double* y, int k) const {
  return mech_.mean_molar_mass(y + 1) * y[k + 1] / mech_.species()[static_cast<size_t>(k)].molar_mass;
}

double Reactor::concentration_rate(const double* y, const double* f, int k) const {
  // [X_k] = rho Y_k / W_k. Constant pressure: rho = p Wbar / (R T), 1/Wbar = sum Y_j / W_j,
  // so drho/dt = rho (dWbar/dt / Wbar - dT/dt / T), dWbar/dt = -Wbar^2 sum f_j / W_j.
  const auto& sp = mech_.species();
  const double rho = density(y);
  const double Wk = sp[static_cast<size_t>(k)].molar_mass;
  double drho = 0;
  if (mode_ == Mode::constant_pressure) {
    const double wbar = mech_.mean_molar_mass(y + 1);
    double s = 0;
    for (size_t j = 0; j < sp.size(); ++j) s += f[j + 1] / sp[j].molar_mass;
    drho = rho * (-wbar * s - f[0] / y[0]);
  }
  return (rho * f[k + 1] + y[k + 1] * drho) / Wk;
}

}  // namespace simfuse
