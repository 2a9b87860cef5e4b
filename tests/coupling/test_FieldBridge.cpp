// FieldBridge: pointwise models read the PETSc array itself; stencil inference with r
// ghost layers gives on 2 ranks what it gives on 1.
#include <ATen/ATen.h>

#include <catch2/catch.hpp>

#include "simfuse/core/Field.hpp"
#include "simfuse/coupling/ai/FieldBridge.hpp"
#include "simfuse/surrogates/Surrogate.hpp"
#include "support/TestUtil.hpp"

using namespace simfuse;

namespace {

std::string fixture(const std::string& name) {
  return std::string(SIMFUSE_SOURCE_DIR) + "/tests/fixtures/" + name;
}

GridSpec plate(PetscInt nx, PetscInt ny, bool periodic_y) {
  GridSpec g;
  g.dim = 2;
  g.n = {nx, ny, 1};
  g.upper = {2.0, 1.0, 1.0};
  g.periodic = {false, periodic_y, false};
  return g;
}

// A smooth two-component field, the same function of the global index on any layout.
void fill(Field& f) {
  ArrayView a = f.view();
  const Box& b = f.grid().owned();
  for (PetscInt j = b.lo[1]; j < b.lo[1] + b.n[1]; ++j)
    for (PetscInt i = b.lo[0]; i < b.lo[0] + b.n[0]; ++i) {
      a(i, j, 0, 0) = std::sin(0.3 * i) * std::cos(0.2 * j);
      a(i, j, 0, 1) = 0.01 * i - 0.02 * j;
    }
}

}  // namespace

TEST_CASE("A pointwise field tensor is the PETSc array itself (zero copy)", "[torch][mpi]") {
  Grid g(PETSC_COMM_WORLD, plate(17, 13, false));
  Field f(g, "c", {"a", "b", "c"});
  fill(f);
  const double* petsc = nullptr;
  {
    ArrayView a = f.view_read();
    petsc = a.data();
  }
  FieldTensor t(f);
  CHECK(t.tensor().data_ptr<double>() == petsc);
  CHECK(t.tensor().size(0) == g.owned().size());
  CHECK(t.tensor().size(1) == 3);
  // Writing through the tensor writes the field.
  t.tensor().select(1, 2).fill_(7.0);
  double sum = 0;
  VecSum(f.vec(), &sum);
  CHECK(sum != 0);
}

TEST_CASE("Stencil inference with ghost layers: 2 ranks give the 1-rank result", "[torch][mpi]") {
  auto model = Surrogate::load(fixture("tiny_cnn.card.yaml"));
  const int r = model->card().radius;
  for (bool periodic_y : {false, true}) {
    CAPTURE(periodic_y);
    // Distributed over all ranks.
    Grid g(PETSC_COMM_WORLD, plate(23, 19, periodic_y));
    Field w(g, "w", {"p", "q"});
    fill(w);
    const at::Tensor x = stencil_input(w, r);
    REQUIRE(x.size(2) == g.owned().n[1] + 2 * r);
    REQUIRE(x.size(3) == g.owned().n[0] + 2 * r);
    const at::Tensor y = model->predict_stencil(x);
    // The same field on this rank alone.
    Grid s(PETSC_COMM_SELF, plate(23, 19, periodic_y));
    Field ws(s, "w", {"p", "q"});
    fill(ws);
    const at::Tensor ys = model->predict_stencil(stencil_input(ws, r));
    const Box& b = g.owned();
    const at::Tensor mine = ys.narrow(2, b.lo[1], b.n[1]).narrow(3, b.lo[0], b.n[0]);
    CHECK((y - mine).abs().max().item<double>() <= 1e-6 * (1 + mine.abs().max().item<double>()));
  }
}
