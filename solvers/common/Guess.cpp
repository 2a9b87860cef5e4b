#include "solvers/common/Guess.hpp"

namespace simfuse {

std::array<double, 2> least_residual_combination(Mat A, Vec b, Vec x, Vec g, Vec ax, Vec ag) {
  SIMFUSE_PETSC(MatMult(A, x, ax));
  SIMFUSE_PETSC(MatMult(A, g, ag));
  PetscScalar dx[3], dg[3];
  Vec ys[3] = {ax, ag, b};
  SIMFUSE_PETSC(VecMDot(ax, 3, ys, dx));  // <Ax,Ax>, <Ax,Ag>, <Ax,b>
  SIMFUSE_PETSC(VecMDot(ag, 3, ys, dg));  // <Ag,Ax>, <Ag,Ag>, <Ag,b>
  const double xx = dx[0], xg = dx[1], xb = dx[2], gg = dg[1], gb = dg[2];
  const double det = xx * gg - xg * xg;
  double a = 0, c = 1;  // parallel (or zero) candidates: take the guess
  if (det > 1e-12 * xx * gg) {
    a = (xb * gg - gb * xg) / det;
    c = (gb * xx - xb * xg) / det;
  } else if (xx > 0 && gg == 0) {
    a = 1;
    c = 0;
  }
  SIMFUSE_PETSC(VecAXPBY(x, c, a, g));
  return {a, c};
}

}  // namespace simfuse
