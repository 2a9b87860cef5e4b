#include "simfuse/coupling/ai/FieldBridge.hpp"

#include <ATen/ATen.h>

namespace simfuse {

FieldTensor::FieldTensor(Vec v, const Grid& grid, int ncomp, bool read_only)
    : view_(v, grid.owned(), ncomp, read_only), grid_(grid), ncomp_(ncomp) {
  t_ = at::from_blob(view_.data(), {grid.owned().size(), ncomp}, at::TensorOptions().dtype(at::kDouble));
}

at::Tensor FieldTensor::nchw() const {
  const Box& b = grid_.owned();
  SIMFUSE_REQUIRE(grid_.dim() == 2, "nchw views need a 2D grid");
  return t_.view({b.n[1], b.n[0], ncomp_}).permute({2, 0, 1}).unsqueeze(0);
}

at::Tensor stencil_input(const Field& f, int r) {
  const Grid& g = f.grid();
  SIMFUSE_REQUIRE(g.dim() == 2, "stencil models need a 2D grid");
  const int nc = f.ncomp();
  GhostedVec local(g.dm(nc, std::max(r, 1), true), f.vec());
  const Box& gb = local.box();
  const Box& own = g.owned();
  const ArrayView a(local.get(), gb, nc, true);
  at::Tensor view =
      at::from_blob(const_cast<double*>(a.data()), {gb.n[1], gb.n[0], nc}, at::TensorOptions().dtype(at::kDouble))
          .permute({2, 0, 1})
          .unsqueeze(0);
  // Keep exactly r layers around the owned block where neighbours exist (the DM may hold
  // more), then replicate at physical walls.
  int64_t pad[4];  // left, right, top(low y), bottom(high y) -> replication_pad2d order
  int64_t x0 = own.lo[0] - gb.lo[0], y0 = own.lo[1] - gb.lo[1];
  const int64_t have_lx = std::min<int64_t>(x0, r), have_ly = std::min<int64_t>(y0, r);
  const int64_t have_hx = std::min<int64_t>(gb.lo[0] + gb.n[0] - (own.lo[0] + own.n[0]), r);
  const int64_t have_hy = std::min<int64_t>(gb.lo[1] + gb.n[1] - (own.lo[1] + own.n[1]), r);
  at::Tensor core =
      view.narrow(3, x0 - have_lx, have_lx + own.n[0] + have_hx).narrow(2, y0 - have_ly, have_ly + own.n[1] + have_hy);
  pad[0] = r - have_lx;
  pad[1] = r - have_hx;
  pad[2] = r - have_ly;
  pad[3] = r - have_hy;
  at::Tensor out = (pad[0] || pad[1] || pad[2] || pad[3])
                       ? at::replication_pad2d(core, {pad[0], pad[1], pad[2], pad[3]})
                       : core.clone();
  return out;  // a copy: the local vector goes back to the DM's pool
}

}  // namespace simfuse
