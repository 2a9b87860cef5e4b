#include "simfuse/core/Solver.hpp"

#include <map>

namespace simfuse {

SolverRegistry& solver_registry() {
  static SolverRegistry r("solver");
  return r;
}

namespace {
std::map<std::string, int>& min_points() {
  static std::map<std::string, int> m;
  return m;
}
}  // namespace

void set_min_grid_points(const std::string& solver_type, int n) {
  min_points()[solver_type] = n;
}

int min_grid_points(const std::string& solver_type) {
  const auto it = min_points().find(solver_type);
  return it == min_points().end() ? 3 : it->second;
}

}  // namespace simfuse
