// Grid geometry, quadrature weights, multigrid level count, layout on any number of ranks.
#include <catch2/catch.hpp>

#include "simfuse/core/Grid.hpp"
#include "simfuse/core/Petsc.hpp"
#include "simfuse/core/Timer.hpp"
#include "support/TestUtil.hpp"

using namespace simfuse;

TEST_CASE("walled and periodic spacing - coordinates and weights", "[grid][mpi]") {
  GridSpec g;
  g.dim = 2;
  g.n = {11, 8, 1};
  g.lower = {0, -1, 0};
  g.upper = {2, 1, 1};
  g.periodic = {false, true, false};
  Grid grid(PETSC_COMM_WORLD, g);
  CHECK(grid.h(0) == Approx(0.2));   // 11 points on [0, 2], both walls
  CHECK(grid.h(1) == Approx(0.25));  // 8 points on a period of 2
  CHECK(grid.x(1, 7) == Approx(0.75));
  double sum = 0;
  SIMFUSE_PETSC(VecSum(grid.weights(), &sum));
  CHECK(sum == Approx(4.0));  // area of [0,2] x [-1,1]
  CHECK(grid.owned().size() <= grid.points());
  PetscInt total = grid.owned().size(), all = 0;
  MPI_Allreduce(&total, &all, 1, MPIU_INT, MPI_SUM, PETSC_COMM_WORLD);
  CHECK(all == grid.points());
}

TEST_CASE("cell-centred grids: points at cell centres, midpoint weights, coordinates in the DM", "[grid][mpi]") {
  GridSpec g;
  g.dim = 2;
  g.n = {10, 8, 1};
  g.lower = {0, -1, 0};
  g.upper = {2, 1, 1};
  g.periodic = {false, true, false};
  g.cell_centered = true;
  Grid grid(PETSC_COMM_WORLD, g);
  CHECK(grid.h(0) == Approx(0.2));  // 10 cells on [0, 2]
  CHECK(grid.h(1) == Approx(0.25));
  CHECK(grid.x(0, 0) == Approx(0.1));
  CHECK(grid.x(0, 9) == Approx(1.9));
  CHECK(grid.x(1, 0) == Approx(-0.875));
  double sum = 0;
  SIMFUSE_PETSC(VecSum(grid.weights(), &sum));
  CHECK(sum == Approx(4.0));  // every cell counts fully
  // The DMDA's coordinates (what PETSc viewers and PCMG see) are the cell centres too.
  Vec c = nullptr;
  SIMFUSE_PETSC(DMGetCoordinates(grid.dm(1), &c));
  const ArrayView xy(c, grid.owned(), 2, true);
  const Box& o = grid.owned();
  CHECK(xy(o.lo[0], o.lo[1], 0, 0) == Approx(grid.x(0, o.lo[0])));
  CHECK(xy(o.lo[0], o.lo[1], 0, 1) == Approx(grid.x(1, o.lo[1])));
}

TEST_CASE("multigrid levels follow the grid", "[grid]") {
  GridSpec g;
  g.dim = 2;
  g.n = {129, 129, 1};
  CHECK(Grid(PETSC_COMM_SELF, g).max_mg_levels() == 6);  // 129 -> 65 -> 33 -> 17 -> 9 -> 5
  g.n = {100, 100, 1};
  CHECK(Grid(PETSC_COMM_SELF, g).max_mg_levels() == 1);  // 99 is odd: no coarsening
  g.periodic = {true, true, false};
  g.n = {64, 64, 1};
  CHECK(Grid(PETSC_COMM_SELF, g).max_mg_levels() == 4);  // 64 -> 32 -> 16 -> 8
}

TEST_CASE("multigrid depth does not depend on 1 or 2 ranks", "[grid][mpi]") {
  GridSpec g;
  g.dim = 3;
  g.n = {17, 17, 17};
  CHECK(Grid(PETSC_COMM_WORLD, g).max_mg_levels() == 3);  // 17 -> 9 -> 5 on 1 and 2 ranks
}

TEST_CASE("grid spec errors name the key", "[grid]") {
  Schema s("grid");
  GridSpec::declare(s);
  auto doc = ConfigDocument::from_string("n: [10, 10]\nlower: [0, 0, 0]\n", "g.yaml");
  const Params p = s.validate_or_throw(doc, doc.root(), "grid");
  CHECK_THROWS_WITH(GridSpec::from(p), Catch::Contains("has 3 entries but grid.n has 2"));
  doc = ConfigDocument::from_string("n: [10, 10]\nupper: 0\n", "g.yaml");
  CHECK_THROWS_WITH(GridSpec::from(s.validate_or_throw(doc, doc.root(), "grid")),
                    Catch::Contains("must be greater than lower"));
}

// Issue 13, point 7: a flat position of ArrayView::data() (e.g. a tensor row) back to
// (i, j, k), and the const data() a read-only user needs.
TEST_CASE("Box::index and Box::point are inverse, in ArrayView's storage order", "[grid]") {
  simfuse::Box b;
  b.lo = {3, 5, 2};
  b.n = {4, 3, 2};
  PetscInt flat = 0;
  simfuse::for_each(b, [&](PetscInt i, PetscInt j, PetscInt k) {
    CHECK(b.index(i, j, k) == flat);  // for_each walks the storage order, i fastest
    CHECK(b.point(flat) == std::array<PetscInt, 3>{i, j, k});
    ++flat;
  });
  CHECK(flat == b.size());
  Vec v;
  REQUIRE(VecCreateSeq(PETSC_COMM_SELF, b.size() * 2, &v) == 0);
  for (PetscInt q = 0; q < b.size() * 2; ++q) REQUIRE(VecSetValue(v, q, static_cast<double>(q), INSERT_VALUES) == 0);
  REQUIRE(VecAssemblyBegin(v) == 0);
  REQUIRE(VecAssemblyEnd(v) == 0);
  {
    const simfuse::ArrayView view(v, b, 2, /*read_only=*/true);
    const double* data = view.data();
    CHECK(view.dof() == 2);
    CHECK(data[b.index(5, 6, 3) * 2 + 1] == view(5, 6, 3, 1));
    CHECK(view(5, 6, 3, 1) == static_cast<double>(((1 * 3 + 1) * 4 + 2) * 2 + 1));
  }
  REQUIRE(VecDestroy(&v) == 0);
}

TEST_CASE("Busy time leaves out the wait for other ranks in simfuse's collectives", "[timer][mpi]") {
  // Rank 1 works 0.3 s before agreeing on an error; rank 0 has no work and waits. Rank 0's
  // busy time over the same span is its own (nothing), not the 0.3 s it waited: the margin
  // (half the wait) is far above any scheduling noise, and a wait counted as work would
  // exceed it. On 1 rank there is no wait, and the busy time is the work.
  const int rank = simfuse::test::world_rank();
  const simfuse::BusyClock busy;
  const double t0 = simfuse::wall_time();
  if (rank == 1 || simfuse::test::world_size() == 1)
    while (simfuse::wall_time() - t0 < 0.3) {
    }
  CHECK(simfuse::first_failing_rank(PETSC_COMM_WORLD, false) == -1);
  if (rank == 0 && simfuse::test::world_size() > 1) {
    CHECK(busy.seconds() < 0.15);
    CHECK(simfuse::wall_time() - t0 >= 0.3);
  } else {
    CHECK(busy.seconds() >= 0.3);
  }
}
