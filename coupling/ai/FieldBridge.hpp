#pragma once
/// \file FieldBridge.hpp
/// PETSc fields <-> torch tensors.
///
/// A DMDA vector with `c` interleaved components stores [z][y][x][c]: the owned points
/// are already a [points, c] row-major matrix, so a pointwise model reads them through
/// torch::from_blob with no copy (FieldTensor). Stencil models need neighbours: the
/// owned block plus r ghost layers comes from a ghost exchange on a DMDA of stencil width
/// r (box stencil, so corners are there), viewed channels-first without a copy, and padded
/// by replication at physical walls only -- so inference on any number of ranks equals
/// inference on one.
#include <ATen/core/Tensor.h>

#include "simfuse/core/Field.hpp"

namespace simfuse {

/// The owned values of a vector as a [points, ncomp] float64 tensor over the PETSc array
/// itself (zero copy). The array is held (VecGetArray) while this object lives.
class FieldTensor {
 public:
  FieldTensor(Vec v, const Grid& grid, int ncomp, bool read_only = false);
  explicit FieldTensor(Field& f, bool read_only = false) : FieldTensor(f.vec(), f.grid(), f.ncomp(), read_only) {}
  const at::Tensor& tensor() const { return t_; }
  /// [1, ncomp, ny, nx] view of the same memory (2D grids), for stencil outputs.
  at::Tensor nchw() const;
  double* data() { return view_.data(); }

 private:
  ArrayView view_;
  const Grid& grid_;
  int ncomp_;
  at::Tensor t_;
};

/// The owned block of a 2D field with r ghost layers as [1, ncomp, ny + 2r, nx + 2r]
/// float64: neighbours' values and periodic wraps from a ghost exchange, replicated
/// values beyond physical walls. Collective.
at::Tensor stencil_input(const Field& f, int r);

}  // namespace simfuse
