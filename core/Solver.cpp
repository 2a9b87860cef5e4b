#include "simfuse/core/Solver.hpp"

namespace simfuse {

SolverRegistry& solver_registry() {
  static SolverRegistry r("solver");
  return r;
}

}  // namespace simfuse
