#pragma once
// Helpers shared by the tests.
#include <cmath>
#include <string>
#include <vector>

#include "simfuse/core/Field.hpp"
#include "simfuse/core/base/Config.hpp"

namespace simfuse::test {

/// Observed convergence orders log2(e[i]/e[i+1]) for errors at successive halvings.
inline std::vector<double> orders(const std::vector<double>& e) {
  std::vector<double> p;
  for (size_t i = 0; i + 1 < e.size(); ++i) p.push_back(std::log2(e[i] / e[i + 1]));
  return p;
}

/// The whole vector (component-interleaved, natural x-fastest order) on every rank.
std::vector<double> gather_natural(const Field& f);

/// MPI rank and size of PETSC_COMM_WORLD.
int world_rank();
int world_size();

/// A fresh, empty temporary folder (same name on every rank). Collective.
std::string temp_dir(const std::string& tag);

}  // namespace simfuse::test
