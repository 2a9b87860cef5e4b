#pragma once
/// \file Transport.hpp
/// Mixture-averaged transport properties of an ideal-gas mixture, as Cantera's
/// `transport_model = 'mixture-averaged'` defines them, from per-species fits in ln T
/// (Cantera's form, degree 4):
///   sqrt(mu_k) = T^(1/4) sum_n a_kn (ln T)^n            species viscosity, Pa s
///   lambda_k   = T^(1/2) sum_n b_kn (ln T)^n            species thermal conductivity, W/(m K)
///   p D_ij     = T^(3/2) sum_n d_ijn (ln T)^n           binary diffusion coefficient x pressure
/// mixed by
///   mu       = sum_k X_k mu_k / sum_j X_j Phi_kj,  Phi_kj = (1 + sqrt(mu_k/mu_j) (W_j/W_k)^(1/4))^2
///                                                           / sqrt(8 (1 + W_k/W_j))      (Wilke)
///   lambda   = (sum_k X_k lambda_k + 1 / sum_k X_k / lambda_k) / 2          (Mathur et al.)
///   D_km     = (Wbar - X_k W_k) / (p Wbar sum_{j != k} X_j / D_jk)          (mixture-averaged)
/// with the mole fractions floored at 1e-20 as Cantera does (a pure species or an absent
/// one keeps every expression finite). Soret diffusion is not included (off in Cantera by
/// default). Plain C++: no PETSc, no torch.
///
///     simfuse::MixtureTransport tr(mech, fits);
///     double mu = tr.viscosity(T, Y), lambda = tr.thermal_conductivity(T, Y);
///     tr.mix_diff_coeffs(T, p, Y, D);   // m^2/s per species
#include <array>
#include <vector>

#include "simfuse/solvers/chemistry/Mechanism.hpp"

namespace simfuse {

/// The per-species fits of a mixture-averaged transport model (coefficients of 1, ln T,
/// ..., (ln T)^4, SI units as in MixtureTransport's formulas).
struct TransportFits {
  using Poly = std::array<double, 5>;
  std::vector<Poly> viscosity;               ///< per species: sqrt(mu_k) / T^(1/4)
  std::vector<Poly> conductivity;            ///< per species: lambda_k / T^(1/2)
  std::vector<Poly> diffusion;               ///< per pair i <= j, packed by rows (i, j = i..n-1): p D_ij / T^(3/2)
  static size_t pair(int i, int j, int n) {  ///< index of pair (i, j) in `diffusion`, any order
    if (i > j) std::swap(i, j);
    return static_cast<size_t>(i) * static_cast<size_t>(n) - static_cast<size_t>(i) * (i - 1) / 2 +
           static_cast<size_t>(j - i);
  }
};

/// simfuse's own fits of a mechanism's species (its `transport:` data; UserError naming
/// the first species without), by kinetic theory as Cantera fits them: at 50 temperatures
/// over the range every species' thermo data covers,
///   mu_k   = 5/16 sqrt(pi m_k k T) / (pi sigma_k^2 Omega22*)
///   p D_ij = 3/16 sqrt(2 pi (k T)^3 / m_ij) / (pi sigma_ij^2 Omega11*)
///   lambda_k from mu_k, the self-diffusion and the heat capacities (translational,
///            rotational with Parker's Z_rot(T), internal; Warnatz's formulation)
/// and least-squares polynomials of degree 4 in ln T. Collision integrals: Neufeld, Janzen
/// and Aziz (1972) for the Lennard-Jones potential, plus a dipole correction
/// 0.2 delta*^2 / T* (Omega22) and 0.19 delta*^2 / T* (Omega11) for polar pairs (Brokaw's
/// form) in place of Monchick and Mason's tables: against Cantera, 0.4% (viscosity), 0.6%
/// (conductivity), 0.15% (diffusion) for nonpolar species and 2.5-3.6% for polar ones
/// (H2O), see docs/verification.md. Pairs of one polar and one nonpolar species take the
/// induction correction of sigma and epsilon (xi = 1 + alpha*_n mu*_p^2 sqrt(eps_p/eps_n)/4).
TransportFits fit_transport(const Mechanism& mech);

class MixtureTransport {
 public:
  /// The mechanism (its molar masses) and fits for its species; UserError when the fits'
  /// sizes do not match the mechanism.
  MixtureTransport(const Mechanism& mech, TransportFits fits);

  int n_species() const { return n_; }
  const TransportFits& fits() const { return fits_; }

  /// Per species at T: viscosity (Pa s), thermal conductivity (W/(m K)).
  void species_viscosities(double T, double* mu) const;
  void species_conductivities(double T, double* lambda) const;
  /// Binary diffusion coefficients at (T, p), m^2/s, n x n row-major (symmetric).
  void binary_diff_coeffs(double T, double p, double* D) const;

  /// Mixture viscosity (Pa s) at T and mass fractions Y (need not sum to 1 exactly: the
  /// mole fractions are formed from Y_k / W_k, as the thermodynamics does).
  double viscosity(double T, const double* Y) const;
  /// Mixture thermal conductivity, W/(m K).
  double thermal_conductivity(double T, const double* Y) const;
  /// Mixture-averaged diffusion coefficient of every species into the mixture, m^2/s.
  void mix_diff_coeffs(double T, double p, const double* Y, double* D) const;

 private:
  void mole_fractions(const double* Y, double* X, double& Wbar) const;
  /// sqrt(mu_k) per species at T (the fits' own quantity; Wilke's rule uses it as is).
  void sqrt_viscosities(double T, double* s) const;
  int n_ = 0;
  std::vector<double> W_;  // kg/mol
  // Wilke's rule's molar-mass factors, n x n row-major, computed once: (W_j/W_k)^(1/4) and
  // 1/sqrt(8 (1 + W_k/W_j)) (0 on the diagonal, whose term is x_k). Per cell the rule is then
  // multiply-adds only; with 53 species it took a quarter of a methane flame's step.
  std::vector<double> wilke_w4_, wilke_den_;
  TransportFits fits_;
  // Work arrays (the class is not thread-safe); smu_, ismu_: sqrt(mu_k) and its inverse.
  mutable std::vector<double> x_, lam_, bd_, smu_, ismu_;
};

}  // namespace simfuse
