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

constexpr double kBoltzmann = 1.380649e-23;     // J/K
constexpr double kAvogadro = 6.02214076e23;     // 1/mol
constexpr double kEpsilon0 = 8.8541878128e-12;  // F/m
constexpr double kPi = 3.14159265358979323846;

// Reduced collision integrals of the Lennard-Jones (12-6) potential at T* = k T / eps:
// Neufeld, Janzen and Aziz, J. Chem. Phys. 57 (1972) 1100, eqs. for (1,1) and (2,2)
// (within 0.1% of the tables for 0.3 <= T* <= 100).
double omega11_lj(double ts) {
  return 1.06036 / std::pow(ts, 0.15610) + 0.19300 * std::exp(-0.47635 * ts) + 1.03587 * std::exp(-1.52996 * ts) +
         1.76474 * std::exp(-3.89411 * ts);
}
double omega22_lj(double ts) {
  return 1.16145 / std::pow(ts, 0.14874) + 0.52487 * std::exp(-0.77320 * ts) + 2.16178 * std::exp(-2.43787 * ts) -
         6.435e-4 * std::pow(ts, 0.14874) * std::sin(18.0323 * std::pow(ts, -0.76830) - 7.27371);
}

// Parker's temperature dependence of the rotational relaxation number, F(T*) with
// Z_rot(T) = Z_rot(298 K) F(298 k / eps) / F(T*).
double parker(double ts) {
  const double r = 1.0 / ts, sr = std::sqrt(r);
  return 1.0 + 0.5 * std::pow(kPi, 1.5) * sr + (0.25 * kPi * kPi + 2.0) * r + std::pow(kPi, 1.5) * r * sr;
}

// Least squares in the relative residuals: the degree-4 polynomial in x through (x_i, y_i),
// by Householder QR of the
// 5-column Vandermonde matrix (the normal equations square its condition number, ~1e7 over
// ln T in [5.7, 8.2]).
TransportFits::Poly fit4(const std::vector<double>& x, const std::vector<double>& y) {
  const size_t m = x.size();
  constexpr int n = 5;
  std::vector<double> A(m * n), b(m);
  for (size_t i = 0; i < m; ++i) {
    const double w = 1.0 / std::abs(y[i]);  // relative residuals: each temperature alike
    double v = 1;
    for (int j = 0; j < n; ++j, v *= x[i]) A[i * n + j] = v * w;
    b[i] = y[i] * w;
  }
  for (int j = 0; j < n; ++j) {
    double norm = 0;
    for (size_t i = j; i < m; ++i) norm += A[i * n + j] * A[i * n + j];
    norm = std::sqrt(norm);
    const double alpha = A[j * n + j] > 0 ? -norm : norm;
    std::vector<double> v(m, 0.0);
    for (size_t i = j; i < m; ++i) v[i] = A[i * n + j];
    v[j] -= alpha;
    double vv = 0;
    for (size_t i = j; i < m; ++i) vv += v[i] * v[i];
    if (vv == 0) continue;
    for (int c = j; c < n; ++c) {
      double d = 0;
      for (size_t i = j; i < m; ++i) d += v[i] * A[i * n + c];
      for (size_t i = j; i < m; ++i) A[i * n + c] -= 2 * d / vv * v[i];
    }
    double d = 0;
    for (size_t i = j; i < m; ++i) d += v[i] * b[i];
    for (size_t i = j; i < m; ++i) b[i] -= 2 * d / vv * v[i];
  }
  TransportFits::Poly c{};
  for (int j = n - 1; j >= 0; --j) {
    double s = b[static_cast<size_t>(j)];
    for (int k = j + 1; k < n; ++k) s -= A[static_cast<size_t>(j) * n + k] * c[static_cast<size_t>(k)];
    c[static_cast<size_t>(j)] = s / A[static_cast<size_t>(j) * n + j];
  }
  return c;
}

}  // namespace

TransportFits fit_transport(const Mechanism& mech) {
  mech.require_transport("fitting transport properties");
  const auto& sp = mech.species();
  const int n = mech.n_species();
  double t_lo = 0, t_hi = 1e300;
  for (const auto& s : sp) {
    t_lo = std::max(t_lo, s.thermo.t_min);
    t_hi = std::min(t_hi, s.thermo.t_max);
  }
  constexpr int np = 50;
  std::vector<double> T(np), lnT(np);
  for (int i = 0; i < np; ++i) {
    T[i] = t_lo + (t_hi - t_lo) * i / (np - 1);
    lnT[i] = std::log(T[i]);
  }
  std::vector<double> eps(n), sig(n), dip(n), alpha(n), m(n), crot(n);
  std::vector<char> polar(n);
  for (int k = 0; k < n; ++k) {
    const GasTransportData& d = sp[k].transport;
    eps[k] = d.well_depth * kBoltzmann;
    sig[k] = d.diameter;
    dip[k] = d.dipole;
    alpha[k] = d.polarizability;
    polar[k] = d.dipole > 0;
    m[k] = sp[k].molar_mass / kAvogadro;
    crot[k] = d.geometry == GasTransportData::Geometry::atom     ? 0.0
              : d.geometry == GasTransportData::Geometry::linear ? 1.0
                                                                 : 1.5;
  }
  // The pair's collision parameters: sigma, epsilon and the reduced dipole delta*.
  struct Pair {
    double sigma, eps, delta;
  };
  auto pair = [&](int i, int j) {
    Pair p{0.5 * (sig[i] + sig[j]), std::sqrt(eps[i] * eps[j]), 0.0};
    if (polar[i] && polar[j]) {
      p.delta = 0.5 * dip[i] * dip[j] / (4 * kPi * kEpsilon0 * p.eps * p.sigma * p.sigma * p.sigma);
    } else if (polar[i] != polar[j]) {
      const int a = polar[i] ? i : j, b = polar[i] ? j : i;  // polar, nonpolar
      const double alpha_n = alpha[b] / (sig[b] * sig[b] * sig[b]);
      const double mu_p = dip[a] / std::sqrt(4 * kPi * kEpsilon0 * sig[a] * sig[a] * sig[a] * eps[a]);
      const double xi = 1 + 0.25 * alpha_n * mu_p * mu_p * std::sqrt(eps[a] / eps[b]);
      p.sigma *= std::pow(xi, -1.0 / 6.0);
      p.eps *= xi * xi;
    }
    return p;
  };
  auto om22 = [](double ts, double delta) { return omega22_lj(ts) + 0.2 * delta * delta / ts; };
  auto om11 = [](double ts, double delta) { return omega11_lj(ts) + 0.19 * delta * delta / ts; };
  // p D_ij at T (Pa m^2/s).
  auto pdiff = [&](int i, int j, double t, const Pair& p) {
    const double mij = m[i] * m[j] / (m[i] + m[j]), kt = kBoltzmann * t;
    return 3.0 / 16.0 * std::sqrt(2 * kPi / mij) * kt * std::sqrt(kt) /
           (kPi * p.sigma * p.sigma * om11(kt / p.eps, p.delta));
  };

  TransportFits fits;
  // cp/R of every species at the fit's temperatures, once.
  std::vector<double> cp(static_cast<size_t>(np) * n), yv(np), yl(np), yd(np);
  for (int i = 0; i < np; ++i) mech.cp_R(T[i], cp.data() + static_cast<size_t>(i) * n);
  for (int k = 0; k < n; ++k) {
    const Pair p = pair(k, k);
    const GasTransportData& d = sp[k].transport;
    for (int i = 0; i < np; ++i) {
      const double t = T[i], ts = kBoltzmann * t / p.eps;
      const double mu =
          5.0 / 16.0 * std::sqrt(kPi * m[k] * kBoltzmann * t) / (kPi * p.sigma * p.sigma * om22(ts, p.delta));
      // Conductivity: rho D_kk / mu and the heat capacities (per R).
      const double f_int = sp[k].molar_mass / (kGasConstant * t) * pdiff(k, k, t, p) / mu;
      const double zrot = d.rotational_relaxation * parker(298.0 * kBoltzmann / p.eps) / parker(ts);
      const double A = 2.5 - f_int, B = zrot + 2.0 / kPi * (5.0 / 3.0 * crot[k] + f_int);
      const double c1 = 2.0 / kPi * A / B;
      const double cv_int = cp[static_cast<size_t>(i) * n + k] - 2.5 - crot[k];
      const double f_rot = f_int * (1 + c1), f_trans = 2.5 * (1 - c1 * crot[k] / 1.5);
      const double lambda = mu / sp[k].molar_mass * kGasConstant * (1.5 * f_trans + f_rot * crot[k] + f_int * cv_int);
      yv[i] = std::sqrt(mu / std::sqrt(t));
      yl[i] = lambda / std::sqrt(t);
    }
    fits.viscosity.push_back(fit4(lnT, yv));
    fits.conductivity.push_back(fit4(lnT, yl));
  }
  for (int i = 0; i < n; ++i)
    for (int j = i; j < n; ++j) {
      const Pair p = pair(i, j);
      for (int q = 0; q < np; ++q) yd[q] = pdiff(i, j, T[q], p) / (T[q] * std::sqrt(T[q]));
      fits.diffusion.push_back(fit4(lnT, yd));
    }
  return fits;
}

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
  lam_.resize(n);
  bd_.resize(n * n);
  smu_.resize(n);
  ismu_.resize(n);
  wilke_w4_.resize(n * n);
  wilke_den_.resize(n * n);
  for (size_t k = 0; k < n; ++k)
    for (size_t j = 0; j < n; ++j) {
      wilke_w4_[k * n + j] = std::sqrt(std::sqrt(W_[j] / W_[k]));
      wilke_den_[k * n + j] = j == k ? 0.0 : 1.0 / std::sqrt(8.0 * (1.0 + W_[k] / W_[j]));
    }
}

void MixtureTransport::sqrt_viscosities(double T, double* s) const {
  // The fits are of sqrt(mu_k) / T^(1/4).
  const double L = std::log(T), t14 = std::sqrt(std::sqrt(T));
  for (int k = 0; k < n_; ++k) s[k] = std::abs(t14 * poly(fits_.viscosity[static_cast<size_t>(k)], L));
}

void MixtureTransport::species_viscosities(double T, double* mu) const {
  sqrt_viscosities(T, mu);
  for (int k = 0; k < n_; ++k) mu[k] *= mu[k];
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
  // Wilke's rule: mu = sum_k x_k mu_k / sum_j x_j Phi_kj, Phi_kj = (1 + sqrt(mu_k/mu_j)
  // (W_j/W_k)^(1/4))^2 / sqrt(8 (1 + W_k/W_j)); Phi_kk = 1. The fits give sqrt(mu_k) directly.
  double Wbar = 0;
  mole_fractions(Y, x_.data(), Wbar);
  sqrt_viscosities(T, smu_.data());
  const size_t n = static_cast<size_t>(n_);
  for (size_t k = 0; k < n; ++k) ismu_[k] = 1.0 / smu_[k];
  double mix = 0;
  for (size_t k = 0; k < n; ++k) {
    const double* w4 = &wilke_w4_[k * n];
    const double* den = &wilke_den_[k * n];
    double denom = x_[k];
    for (size_t j = 0; j < n; ++j) {
      const double a = 1.0 + smu_[k] * ismu_[j] * w4[j];
      denom += x_[j] * a * a * den[j];
    }
    mix += x_[k] * smu_[k] * smu_[k] / denom;
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
