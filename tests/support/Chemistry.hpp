#pragma once
/// \file Chemistry.hpp
/// Helpers of the chemistry tests (header-only; for test binaries that link
/// simfuse_solvers and define SIMFUSE_SOURCE_DIR).
#include <string>
#include <vector>

#include "simfuse/solvers/chemistry/Mechanism.hpp"

namespace simfuse::test {

/// A shipped mechanism: cases/mechanisms/<name>.
inline std::string mechanism_file(const std::string& name) {
  return std::string(SIMFUSE_SOURCE_DIR) + "/cases/mechanisms/" + name;
}

/// The stoichiometric fuel-air state [T0, Y_1..Y_N]: fuel H2 or CH4, air O2 + 3.76 N2.
inline std::vector<double> stoichiometric_state(const Mechanism& m, const std::string& fuel, double T0) {
  std::vector<double> X(static_cast<size_t>(m.n_species()), 0.0);
  const double o2 = fuel == "H2" ? 0.5 : 2.0;
  X[m.species_index(fuel)] = 1;
  X[m.species_index("O2")] = o2;
  X[m.species_index("N2")] = 3.76 * o2;
  double w = 0;
  for (int k = 0; k < m.n_species(); ++k) w += X[k] * m.species()[k].molar_mass;
  std::vector<double> y{T0};
  for (int k = 0; k < m.n_species(); ++k) y.push_back(X[k] * m.species()[k].molar_mass / w);
  return y;
}

}  // namespace simfuse::test
