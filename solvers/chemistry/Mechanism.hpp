#pragma once
/// \file Mechanism.hpp
/// A detailed reaction mechanism read from Cantera's YAML format: an ideal-gas phase
/// chosen by name, NASA-7 thermodynamics, and elementary, three-body and falloff
/// (Lindemann, Troe) reactions, reversible through the equilibrium constant or
/// irreversible (`=>`), duplicates allowed where marked.
///
///     auto mech = simfuse::Mechanism::load("cases/mechanisms/h2o2.yaml", "ohmech");
///     mech.net_production_rates(T, C, wdot);   // C, wdot in mol/m^3, mol/m^3/s
///
/// Units are those the file declares (`units: {length: cm, quantity: mol,
/// activation-energy: cal/mol}`; Cantera's defaults m, kmol, s, J/kmol where it declares
/// none), converted at load to SI with moles: m, mol, s, J/mol, K. Every reaction's element
/// balance is checked at load. Anything this reader does not implement (PLOG, Chebyshev,
/// SRI, chemically activated, explicit orders, non-ideal phases, values with their own
/// units) is a UserError naming the file:line, the reaction or key, and what is supported;
/// never silently ignored. No PETSc, no torch: the chemistry is plain C++.
#include <array>
#include <map>
#include <string>
#include <vector>

#include "simfuse/core/base/Error.hpp"

namespace simfuse {

/// Universal gas constant, J/(mol K).
inline constexpr double kGasConstant = 8.31446261815324;
/// Standard pressure of the thermodynamic data, Pa (one atmosphere, as Cantera's).
inline constexpr double kStandardPressure = 101325.0;

/// NASA 7-coefficient polynomials: cp/R = a0 + a1 T + a2 T^2 + a3 T^3 + a4 T^4,
/// h/(RT) = a0 + a1 T/2 + a2 T^2/3 + a3 T^3/4 + a4 T^4/5 + a5/T,
/// s/R = a0 ln T + a1 T + a2 T^2/2 + a3 T^3/3 + a4 T^4/4 + a6;
/// `low` for T <= t_mid, `high` above (as Cantera's NasaPoly2: at t_mid itself the low
/// range, which matters where the two polynomials do not meet exactly).
struct Nasa7 {
  double t_min = 0, t_mid = 0, t_max = 0;
  std::array<double, 7> low{}, high{};
  const std::array<double, 7>& at(double T) const { return T <= t_mid ? low : high; }
};

/// A gas species' molecular data for transport (Cantera's `transport: {model: gas, ...}`),
/// in SI units: the file gives the diameter in Angstrom, the dipole in Debye and the
/// polarizability in Angstrom^3 (Cantera's fixed units for these keys).
struct GasTransportData {
  enum class Geometry { atom, linear, nonlinear };
  Geometry geometry = Geometry::atom;
  double well_depth = 0;             ///< Lennard-Jones well depth epsilon / k_B, K
  double diameter = 0;               ///< Lennard-Jones collision diameter, m
  double dipole = 0;                 ///< permanent dipole moment, C m
  double polarizability = 0;         ///< m^3
  double rotational_relaxation = 0;  ///< rotational relaxation collision number Z_rot at 298 K
  Location where;                    ///< the `transport:` entry in the file
};

struct Species {
  std::string name;
  std::map<std::string, double> composition;  ///< atoms per molecule, by element
  double molar_mass = 0;                      ///< kg/mol
  Nasa7 thermo;
  bool has_transport = false;  ///< the file gives `transport:` data (model: gas)
  GasTransportData transport;
};

/// k = A T^b exp(-Ea / (R T)) in SI-mol units; `ea_r` = Ea / R in K.
struct Arrhenius {
  double A = 0, b = 0, ea_r = 0;
  double operator()(double T, double log_T) const;
};

enum class ReactionType { elementary, three_body, falloff };

struct Reaction {
  std::string equation;
  Location where;  ///< file:line of the reaction in the mechanism file
  ReactionType type = ReactionType::elementary;
  std::vector<std::pair<int, double>> reactants, products;  ///< (species, stoichiometric coefficient)
  bool reversible = true;
  bool duplicate = false;
  Arrhenius rate;  ///< the rate constant; the high-pressure limit for falloff
  Arrhenius low;   ///< falloff: the low-pressure limit
  bool troe = false;
  double troe_a = 0, troe_t3 = 0, troe_t1 = 0, troe_t2 = 0;
  bool troe_has_t2 = false;
  /// Third-body efficiency of each species (three-body and falloff); empty otherwise.
  std::vector<double> efficiency;
};

class Mechanism {
 public:
  /// Reads `file` (Cantera YAML) and the ideal-gas phase `phase` (empty: the first
  /// phase). UserError with file:line for anything unsupported or inconsistent.
  static Mechanism load(const std::string& file, const std::string& phase = {});

  const std::string& file() const { return file_; }
  const std::string& phase() const { return phase_; }
  /// "fnv1a64:<16 hex digits>" of the file's bytes (identifies the mechanism a model was
  /// trained on, whatever the file is called).
  const std::string& hash() const { return hash_; }
  const std::vector<std::string>& elements() const { return elements_; }
  const std::vector<Species>& species() const { return species_; }
  const std::vector<Reaction>& reactions() const { return reactions_; }
  int n_species() const { return static_cast<int>(species_.size()); }
  int n_reactions() const { return static_cast<int>(reactions_.size()); }
  /// Index of species `name`, or -1.
  int species_index(const std::string& name) const;
  /// Whether every species has gas transport data.
  bool has_transport() const;
  /// UserError unless every species has gas transport data: names the file, the first
  /// species without (and how many lack it), and says that `what` needs it.
  void require_transport(const std::string& what) const;

  /// Per species at temperature T (arrays of n_species()): cp/R, h/(RT), s/R.
  void cp_R(double T, double* out) const;
  void h_RT(double T, double* out) const;
  void s_R(double T, double* out) const;

  /// Forward and reverse rate constants of every reaction at T for the given molar
  /// concentrations (mol/m^3; three-body and falloff reactions depend on them). SI-mol
  /// units. `kr` is 0 for irreversible reactions.
  void rate_constants(double T, const double* C, double* kf, double* kr) const;
  /// Net rate of progress of every reaction, mol/(m^3 s).
  void rates_of_progress(double T, const double* C, double* q) const;
  /// Net molar production rate of every species, mol/(m^3 s).
  void net_production_rates(double T, const double* C, double* wdot) const;
  /// Net production rates and their exact derivatives: dwdot_dC[k * n + j] = d wdot_k /
  /// d C_j at fixed T, and dwdot_dT[k] = d wdot_k / d T at fixed concentrations (through
  /// the rate constants, the equilibrium constants and falloff). n = n_species().
  void production_rate_derivatives(double T, const double* C, double* wdot, double* dwdot_dC, double* dwdot_dT) const;
  /// d(cp/R)/dT per species.
  void dcp_R_dT(double T, double* out) const;

  /// Mixture molar mass (kg/mol) of mass fractions Y: 1 / sum_k Y_k / W_k.
  double mean_molar_mass(const double* Y) const;

  /// Mixture properties per unit mass of the ideal gas at T (K), p (Pa) and mass fractions Y,
  /// as Cantera defines them: sums over Y_k / W_k (so Y need not sum to 1 exactly, and the
  /// mole fractions X_k = Wbar Y_k / W_k always do). cp and cv in J/(kg K), h and u in J/kg,
  /// s = sum_k X_k (s_k(T) - R ln max(X_k, 1e-300) - R ln(p / p0)) / Wbar in J/(kg K) (the
  /// floor is Cantera's: a species at X_k = 0 contributes nothing to the mixing term).
  double cp_mass(double T, const double* Y) const;
  double cv_mass(double T, const double* Y) const;
  double enthalpy_mass(double T, const double* Y) const;
  double int_energy_mass(double T, const double* Y) const;
  double entropy_mass(double T, double p, const double* Y) const;

 private:
  std::string file_, phase_, hash_;
  std::vector<std::string> elements_;
  std::vector<Species> species_;
  std::vector<Reaction> reactions_;
};

}  // namespace simfuse
