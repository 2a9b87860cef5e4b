#pragma once
/// \file Norms.hpp
/// Discrete norms of fields and errors, with trapezoidal weights so they approximate the
/// continuous L2 norm on the domain.
#include "simfuse/core/Field.hpp"

namespace simfuse {

struct ErrorNorms {
  double l2 = 0;      ///< sqrt(sum w (a-b)^2)
  double linf = 0;    ///< max |a-b|
  double l2_ref = 0;  ///< sqrt(sum w b^2)
  double rel_l2() const { return l2_ref > 0 ? l2 / l2_ref : l2; }
};

/// Norms of a - b for component `c` of two vectors with `dof` components on `grid`.
/// Collective.
ErrorNorms error_norms(const Grid& grid, Vec a, Vec b, int dof = 1, int c = 0);

/// Weighted L2 norm of component c. Collective.
double l2_norm(const Grid& grid, Vec a, int dof = 1, int c = 0);

}  // namespace simfuse
