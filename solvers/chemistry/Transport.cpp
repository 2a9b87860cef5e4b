#include "simfuse/solvers/chemistry/Transport.hpp"

#include <fmt/format.h>

#include <cmath>

namespace simfuse {

namespace {

// Cantera's floor on the mole fractions of the transport expressions (its `Tiny`).
constexpr double kTiny = 1e-20;

double poly(const TransportFits::Poly& c, double L) {
  return c[0] + L * (c[1] + L * (c[2] + L * (c[3] + L * c[4])));
}

}  // namespace

MixtureTransport::MixtureTransport(const Mechanism& mech, TransportFits fits) : n_(mech.n_species()) {
  const size_t n = static_cast<size_t>(n_);
  if (fits.viscosity.size() != n || fits.conductivity.size() != n || fits.diffusion.size() != n * (n + 1) / 2)
    throw UserError(Diagnostic{
        Location{mech.file(), 0, 0}, "transport",
        fmt::format("transport fits for {} / {} species and {} pairs; the mechanism has {} "
                    "species and {} pairs",
                    fits.viscosity.size(), fits.conductivity.size(), fits.diffusion.size(), n, n * (n + 1) / 2),
        "fit the transport properties of this mechanism's species"});
  fits_ = std::move(fits);
  for (const auto& s : mech.species()) W_.push_back(s.molar_mass);
  x_.resize(n);
  mu_.resize(n);
  lam_.resize(n);
  bd_.resize(n * n);
}

void MixtureTransport::species_viscosities(double T, double* mu) const {
  const double L = std::log(T), t14 = std::sqrt(std::sqrt(T));
  for (int k = 0; k < n_; ++k) {
    const double s = t14 * poly(fits_.viscosity[static_cast<size_t>(k)], L);
    mu[k] = s * s;
  }
}

void MixtureTransport::species_conductivities(double T, double* lambda) const {
  const double L = std::log(T), st = std::sqrt(T);
  for (int k = 0; k < n_; ++k) lambda[k] = st * poly(fits_.conductivity[static_cast<size_t>(k)], L);
}

void MixtureTransport::binary_diff_coeffs(double T, double p, double* D) const {
  const double L = std::log(T), t32 = T * std::sqrt(T) / p;
  for (int i = 0; i < n_; ++i)
    for (int j = i; j < n_; ++j) {
      const double d = t32 * poly(fits_.diffusion[TransportFits::pair(i, j, n_)], L);
      D[i * n_ + j] = d;
      D[j * n_ + i] = d;
    }
}

void MixtureTransport::mole_fractions(const double* Y, double* X, double& Wbar) const {
  double s = 0;
  for (int k = 0; k < n_; ++k) s += Y[k] / W_[static_cast<size_t>(k)];
  Wbar = 1.0 / s;
  for (int k = 0; k < n_; ++k) X[k] = std::max(kTiny, Y[k] / W_[static_cast<size_t>(k)] * Wbar);
}

double MixtureTransport::viscosity(double T, const double* Y) const {
  double Wbar = 0;
  mole_fractions(Y, x_.data(), Wbar);
  species_viscosities(T, mu_.data());
  double mix = 0;
  for (int k = 0; k < n_; ++k) {
    double denom = 0;
    for (int j = 0; j < n_; ++j) {
      if (j == k) {
        denom += x_[static_cast<size_t>(j)];
        continue;
      }
      const double a = 1.0 + std::sqrt(mu_[static_cast<size_t>(k)] / mu_[static_cast<size_t>(j)]) *
                                 std::sqrt(std::sqrt(W_[static_cast<size_t>(j)] / W_[static_cast<size_t>(k)]));
      denom += x_[static_cast<size_t>(j)] * a * a /
               std::sqrt(8.0 * (1.0 + W_[static_cast<size_t>(k)] / W_[static_cast<size_t>(j)]));
    }
    mix += x_[static_cast<size_t>(k)] * mu_[static_cast<size_t>(k)] / denom;
  }
  return mix;
}

double MixtureTransport::thermal_conductivity(double T, const double* Y) const {
  double Wbar = 0;
  mole_fractions(Y, x_.data(), Wbar);
  species_conductivities(T, lam_.data());
  double s1 = 0, s2 = 0;
  for (int k = 0; k < n_; ++k) {
    s1 += x_[static_cast<size_t>(k)] * lam_[static_cast<size_t>(k)];
    s2 += x_[static_cast<size_t>(k)] / lam_[static_cast<size_t>(k)];
  }
  return 0.5 * (s1 + 1.0 / s2);
}

void MixtureTransport::mix_diff_coeffs(double T, double p, const double* Y, double* D) const {
  double Wbar = 0;
  mole_fractions(Y, x_.data(), Wbar);
  binary_diff_coeffs(T, p, bd_.data());
  if (n_ == 1) {
    D[0] = bd_[0];
    return;
  }
  for (int k = 0; k < n_; ++k) {
    double s = 0;
    for (int j = 0; j < n_; ++j)
      if (j != k) s += x_[static_cast<size_t>(j)] / bd_[static_cast<size_t>(j * n_ + k)];
    D[k] = s > 0 ? (Wbar - x_[static_cast<size_t>(k)] * W_[static_cast<size_t>(k)]) / (Wbar * s)
                 : bd_[static_cast<size_t>(k * n_ + k)];
  }
}

}  // namespace simfuse
