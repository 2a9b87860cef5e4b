#include "solvers/chemistry/Reactor.hpp"

namespace simfuse {

Reactor::Reactor(const Mechanism& mech, Mode mode, double pressure) : mech_(mech), mode_(mode), p_(pressure) {
  const size_t n = static_cast<size_t>(mech.n_species());
  C_.resize(n);
  wdot_.resize(n);
  h_.resize(n);
  cp_.resize(n);
}

double Reactor::density(const double* y) const {
  if (mode_ == Mode::constant_volume && rho_ > 0) return rho_;
  return p_ * mech_.mean_molar_mass(y + 1) / (kGasConstant * y[0]);
}

void Reactor::set_volume_state(const double* y) {
  rho_ = 0;
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
  mech_.h_RT(T, h_.data());
  double h = 0;
  for (int k = 0; k < mech_.n_species(); ++k) h += Y[k] / mech_.species()[k].molar_mass * h_[k];
  return h * kGasConstant * T;
}

double Reactor::cp_mass(double T, const double* Y) const {
  mech_.cp_R(T, cp_.data());
  double c = 0;
  for (int k = 0; k < mech_.n_species(); ++k) c += Y[k] / mech_.species()[k].molar_mass * cp_[k];
  return c * kGasConstant;
}

}  // namespace simfuse
