#pragma once
/// \file Grid.hpp
/// A structured grid on a PETSc DMDA: 1, 2 or 3 dimensions, vertex-centred points,
/// periodic or walled per direction, distributed over an MPI communicator.
///
/// Points (`centering: vertex`, the default): x_i = lower + i*h with h = (upper - lower)/(n - 1)
/// for a walled direction (points on both walls) and h = (upper - lower)/n for a periodic
/// one. With `centering: cell` the n points are the centres of n equal cells:
/// h = (upper - lower)/n and x_i = lower + (i + 1/2) h (staggered/finite-volume solvers). Fields with any
/// number of components share the grid's parallel layout (Grid::dm(dof)).
#include <array>
#include <map>
#include <memory>
#include <tuple>

#include "simfuse/core/Petsc.hpp"
#include "simfuse/core/base/Schema.hpp"

namespace simfuse {

struct GridSpec {
  int dim = 2;
  std::array<PetscInt, 3> n{1, 1, 1};
  std::array<double, 3> lower{0, 0, 0};
  std::array<double, 3> upper{1, 1, 1};
  std::array<bool, 3> periodic{false, false, false};
  int stencil_width = 1;
  bool box_stencil = false;    ///< box (corners) instead of star stencil for ghost exchange
  bool cell_centered = false;  ///< points are cell centres (see the file comment)
  std::array<PetscInt, 3> procs{PETSC_DECIDE, PETSC_DECIDE, PETSC_DECIDE};

  /// Declares the `grid:` keys into `s`.
  static void declare(Schema& s);
  /// Reads validated `grid:` parameters; throws UserError on inconsistent values.
  /// From the case's grid section; each direction needs at least `min_points` points.
  static GridSpec from(const Params& p, int min_points = 3);
};

/// A box of grid indices: lo[d] .. lo[d]+n[d]-1 (unused dimensions have lo 0, n 1).
struct Box {
  std::array<PetscInt, 3> lo{0, 0, 0};
  std::array<PetscInt, 3> n{1, 1, 1};
  PetscInt size() const { return n[0] * n[1] * n[2]; }
  bool contains(PetscInt i, PetscInt j, PetscInt k) const {
    return i >= lo[0] && i < lo[0] + n[0] && j >= lo[1] && j < lo[1] + n[1] && k >= lo[2] && k < lo[2] + n[2];
  }
  /// The position of point (i, j, k) in the box's storage order (i fastest): what
  /// ArrayView::data()[index(i, j, k) * dof + c] holds.
  PetscInt index(PetscInt i, PetscInt j = 0, PetscInt k = 0) const {
    return ((k - lo[2]) * n[1] + (j - lo[1])) * n[0] + (i - lo[0]);
  }
  /// The point at position `flat` of the storage order (the inverse of index()), e.g. of
  /// a row of a tensor made from ArrayView::data().
  std::array<PetscInt, 3> point(PetscInt flat) const {
    return {lo[0] + flat % n[0], lo[1] + (flat / n[0]) % n[1], lo[2] + flat / (n[0] * n[1])};
  }
};

class Grid {
 public:
  /// Creates the DMDA. Collective on `comm`.
  Grid(MPI_Comm comm, const GridSpec& spec);
  Grid(const Grid&) = delete;
  Grid& operator=(const Grid&) = delete;

  MPI_Comm comm() const { return comm_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  const GridSpec& spec() const { return spec_; }
  int dim() const { return spec_.dim; }
  PetscInt n(int d) const { return spec_.n[d]; }
  PetscInt points() const { return spec_.n[0] * spec_.n[1] * spec_.n[2]; }
  double h(int d) const { return h_[d]; }
  double lower(int d) const { return spec_.lower[d]; }
  bool periodic(int d) const { return spec_.periodic[d]; }
  /// Coordinate of index i in direction d.
  double x(int d, PetscInt i) const {
    return spec_.lower[d] + (static_cast<double>(i) + (spec_.cell_centered ? 0.5 : 0.0)) * h_[d];
  }
  bool cell_centered() const { return spec_.cell_centered; }

  /// The points this rank owns, and the same with ghost layers (width `stencil_width`).
  const Box& owned() const { return owned_; }
  const Box& ghosted() const { return ghosted_; }
  /// MPI processes per direction.
  PetscInt ranks(int d) const { return procs_[d]; }

  /// A DMDA with `dof` interleaved components and this grid's layout; `stencil_width`
  /// (0 = the grid's) may be larger for models that need more ghost layers, `box` asks for
  /// edge and corner ghosts too. Cached; all share one parallel layout.
  DM dm(int dof = 1, int stencil_width = 0, bool box = false) const;

  /// Quadrature weight of each point (h^d, halved on each wall it touches for vertex
  /// centering), so that sum(w * f) is the trapezoidal (vertex) or midpoint (cell) integral
  /// of f. Dof 1 layout.
  Vec weights() const;

  /// The number of geometric multigrid levels: as many halvings as keep at least
  /// `min_coarse` points per direction. Independent of the number of ranks (so results
  /// are too), unless the parallel layout cannot hold that many: each rank needs two
  /// points per direction on the coarsest grid.
  int max_mg_levels(PetscInt min_coarse = 5) const;

 private:
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
  GridSpec spec_;
  std::array<double, 3> h_{1, 1, 1};
  std::array<PetscInt, 3> procs_{1, 1, 1};
  std::vector<PetscInt> lx_, ly_, lz_;
  Box owned_, ghosted_;
  mutable std::map<std::tuple<int, int, bool>, PetscHandle<DM>> dms_;
  mutable PetscHandle<Vec> weights_;
};

/// Read/write access to a (ghosted local or global) DMDA vector's array with global grid
/// indices: view(i, j, k, c). Restores the array on destruction.
class ArrayView {
 public:
  /// `box` is the index box the vector covers (Grid::ghosted() for local vectors,
  /// Grid::owned() for global ones); `dof` the components per point.
  ArrayView(Vec v, const Box& box, int dof, bool read_only = false);
  ~ArrayView();
  ArrayView(const ArrayView&) = delete;
  ArrayView& operator=(const ArrayView&) = delete;

  double& operator()(PetscInt i, PetscInt j = 0, PetscInt k = 0, int c = 0) {
    return data_[box_.index(i, j, k) * dof_ + c];
  }
  double operator()(PetscInt i, PetscInt j = 0, PetscInt k = 0, int c = 0) const {
    return data_[box_.index(i, j, k) * dof_ + c];
  }
  /// The values, point after point in Box::index order, `dof` per point.
  double* data() { return data_; }
  const double* data() const { return data_; }
  const Box& box() const { return box_; }
  int dof() const { return dof_; }

 private:
  Vec v_;
  Box box_;
  int dof_;
  bool read_only_;
  double* data_ = nullptr;
};

/// A ghosted local copy of a global vector, borrowed from the DM's pool and filled by a
/// ghost exchange. Collective (construction).
class GhostedVec {
 public:
  GhostedVec(DM dm, Vec global);
  ~GhostedVec();
  GhostedVec(const GhostedVec&) = delete;
  GhostedVec& operator=(const GhostedVec&) = delete;
  Vec get() const { return local_; }
  /// The index box the local vector covers (owned points plus ghosts).
  const Box& box() const { return box_; }

 private:
  DM dm_;
  Vec local_ = nullptr;
  Box box_;
};

/// Calls f(i, j, k) for every point of `b`, k outermost.
template <class F>
void for_each(const Box& b, F&& f) {
  for (PetscInt k = b.lo[2]; k < b.lo[2] + b.n[2]; ++k)
    for (PetscInt j = b.lo[1]; j < b.lo[1] + b.n[1]; ++j)
      for (PetscInt i = b.lo[0]; i < b.lo[0] + b.n[0]; ++i) f(i, j, k);
}

}  // namespace simfuse
