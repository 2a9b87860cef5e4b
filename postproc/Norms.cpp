#include "simfuse/postproc/Norms.hpp"

#include <cmath>

namespace simfuse {

ErrorNorms error_norms(const Grid& grid, Vec a, Vec b, int dof, int c) {
  const ArrayView av(a, grid.owned(), dof, true);
  const ArrayView bv(b, grid.owned(), dof, true);
  const ArrayView w(grid.weights(), grid.owned(), 1, true);
  double loc[2] = {0, 0}, mx = 0;
  for_each(grid.owned(), [&](PetscInt i, PetscInt j, PetscInt k) {
    const double e = av(i, j, k, c) - bv(i, j, k, c);
    loc[0] += w(i, j, k) * e * e;
    loc[1] += w(i, j, k) * bv(i, j, k, c) * bv(i, j, k, c);
    mx = std::max(mx, std::abs(e));
    if (std::isnan(e)) mx = e;
  });
  double glob[2];
  MPI_Allreduce(loc, glob, 2, MPI_DOUBLE, MPI_SUM, grid.comm());
  double gmx = 0;
  MPI_Allreduce(&mx, &gmx, 1, MPI_DOUBLE, MPI_MAX, grid.comm());
  ErrorNorms n;
  n.l2 = std::sqrt(glob[0]);
  n.l2_ref = std::sqrt(glob[1]);
  n.linf = std::isnan(glob[0]) ? glob[0] : gmx;
  return n;
}

double l2_norm(const Grid& grid, Vec a, int dof, int c) {
  const ArrayView av(a, grid.owned(), dof, true);
  const ArrayView w(grid.weights(), grid.owned(), 1, true);
  double loc = 0;
  for_each(grid.owned(),
           [&](PetscInt i, PetscInt j, PetscInt k) { loc += w(i, j, k) * av(i, j, k, c) * av(i, j, k, c); });
  double glob = 0;
  MPI_Allreduce(&loc, &glob, 1, MPI_DOUBLE, MPI_SUM, grid.comm());
  return std::sqrt(glob);
}

}  // namespace simfuse
