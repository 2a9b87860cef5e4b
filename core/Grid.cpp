#include "simfuse/core/Grid.hpp"

#include <fmt/format.h>
#include <petscdmda.h>

#include <algorithm>
#include <cmath>

namespace simfuse {

void GridSpec::declare(Schema& s) {
  s.add("n", ParamType::IntList,
        "points per direction; the list length is the dimension (1-3); at least 3 (1 for the reactors solver, "
        "whose points are independent)")
      .required()
      .size(1, 3)
      .min(1);
  s.add("lower", ParamType::RealList, "lower corner of the domain").def("[0.0]").broadcast().size(1, 3);
  s.add("upper", ParamType::RealList, "upper corner of the domain").def("[1.0]").broadcast().size(1, 3);
  s.add("periodic", ParamType::BoolList, "periodic per direction (else walls with boundary conditions)")
      .def("[false]")
      .broadcast()
      .size(1, 3);
  s.add_string("centering", "where the points are: vertex (on the walls, h = L/(n-1)) or cell (cell centres, h = L/n)")
      .def("vertex")
      .choices({"vertex", "cell"});
  s.add_int("stencil_width", "ghost layers exchanged between ranks").def(1).range(1, 16);
  s.add_string("stencil", "ghost exchange shape: star (faces) or box (faces, edges, corners)")
      .def("star")
      .choices({"star", "box"});
  s.add("processes", ParamType::IntList, "MPI processes per direction (0 = let PETSc decide)")
      .def("[0]")
      .broadcast()
      .size(1, 3)
      .min(0);
}

GridSpec GridSpec::from(const Params& p, int min_points) {
  GridSpec g;
  const auto n = p.get<std::vector<int>>("n");
  g.dim = static_cast<int>(n.size());
  auto per_dim = [&](const char* key, auto values, auto& out) {
    if (values.size() == 1) values.resize(g.dim, values[0]);
    if (static_cast<int>(values.size()) != g.dim)
      p.fail(key, fmt::format("has {} entries but grid.n has {} (the dimension)", values.size(), g.dim),
             fmt::format("give one entry per direction, or a single value for all"));
    for (int d = 0; d < g.dim; ++d) out[d] = values[d];
  };
  for (int d = 0; d < g.dim; ++d) g.n[d] = n[d];
  per_dim("lower", p.get<std::vector<double>>("lower"), g.lower);
  per_dim("upper", p.get<std::vector<double>>("upper"), g.upper);
  per_dim("periodic", p.get<std::vector<bool>>("periodic"), g.periodic);
  std::array<PetscInt, 3> procs{0, 0, 0};
  per_dim("processes", p.get<std::vector<int>>("processes"), procs);
  for (int d = 0; d < 3; ++d) g.procs[d] = procs[d] > 0 ? procs[d] : PETSC_DECIDE;
  g.stencil_width = p.get<int>("stencil_width");
  g.box_stencil = p.get<std::string>("stencil") == "box";
  g.cell_centered = p.get<std::string>("centering") == "cell";
  for (int d = 0; d < g.dim; ++d) {
    if (!(g.upper[d] > g.lower[d]))
      p.fail("upper",
             fmt::format("upper[{}] = {:g} must be greater than lower[{}] = {:g}", d, g.upper[d], d, g.lower[d]),
             "the domain is [lower, upper] in each direction");
    const double width = g.upper[d] - g.lower[d], h = width / std::max(1, g.n[d] - 1);
    const double magnitude = std::max(std::abs(g.lower[d]), std::abs(g.upper[d]));
    if (!std::isfinite(width) || !std::isfinite(magnitude) || !(h > 1e3 * 2.2e-16 * magnitude))
      p.fail("upper",
             fmt::format(
                 "the domain [{:g}, {:g}] in direction {} cannot be represented with {} points (its width "
                 "or spacing overflows double precision, or the spacing is below the precision of the coordinates)",
                 g.lower[d], g.upper[d], d, g.n[d]),
             "use physical units of a sane size, e.g. lower: [0, 0], upper: [1, 1]");
    if (g.n[d] < min_points)
      p.fail("n", fmt::format("n[{}] = {} is too small", d, g.n[d]),
             fmt::format("use at least {} point{} per direction", min_points, min_points > 1 ? "s" : ""));
  }
  return g;
}

Grid::Grid(MPI_Comm comm, const GridSpec& spec) : comm_(comm), spec_(spec) {
  MPI_Comm_rank(comm, &rank_);
  MPI_Comm_size(comm, &size_);
  for (int d = spec_.dim; d < 3; ++d) {
    spec_.n[d] = 1;
    spec_.periodic[d] = false;
  }
  for (int d = 0; d < spec_.dim; ++d)  // a single (vertex) point: at `lower`, its spacing the width
    h_[d] =
        (spec_.upper[d] - spec_.lower[d]) /
        static_cast<double>(spec_.periodic[d] || spec_.cell_centered || spec_.n[d] == 1 ? spec_.n[d] : spec_.n[d] - 1);

  // Check the layout is possible before PETSc refuses it with a less helpful message.
  PetscInt min_n = spec_.n[0];
  for (int d = 1; d < spec_.dim; ++d) min_n = std::min(min_n, spec_.n[d]);
  const long long total_points =
      static_cast<long long>(spec_.n[0]) * static_cast<long long>(spec_.n[1]) * static_cast<long long>(spec_.n[2]);
  if (sizeof(PetscInt) == 4 && total_points > 2147483647LL / 4)  // room for a few unknowns per point
    throw UserError(fmt::format("the grid has {} points: more than this PETSc's 32-bit indices can address "
                                "(about 5e8 points with 4 unknowns each)",
                                total_points),
                    "use a coarser grid (grid.n), or a PETSc built with 64-bit indices");
  if (total_points < size_)
    throw UserError(fmt::format("the grid has {} points, fewer than the {} MPI ranks", total_points, size_),
                    "use a finer grid or fewer ranks");

  // The parallel layout first, from a one-ghost-layer DM: PETSc checks a rank's slab
  // against the ghost width on that rank only, and the other ranks would wait in DMSetUp
  // for ever. With the layout known on every rank, every rank checks every slab alike.
  {
    DM probe = dm(1, 1, false);
    PetscInt px = 1, py = 1, pz = 1;
    SIMFUSE_PETSC(DMDAGetInfo(probe, nullptr, nullptr, nullptr, nullptr, &px, &py, &pz, nullptr, nullptr, nullptr,
                              nullptr, nullptr, nullptr));
    const PetscInt *lx = nullptr, *ly = nullptr, *lz = nullptr;
    SIMFUSE_PETSC(DMDAGetOwnershipRanges(probe, &lx, &ly, &lz));
    std::vector<PetscInt> layout_x(lx, lx + px), layout_y, layout_z;
    if (spec_.dim > 1) layout_y.assign(ly, ly + py);
    if (spec_.dim > 2) layout_z.assign(lz, lz + pz);
    dms_.clear();
    procs_ = {px, py, pz};
    lx_ = std::move(layout_x);
    ly_ = std::move(layout_y);
    lz_ = std::move(layout_z);
  }
  DM base = dm(1, 0, false);

  PetscInt xs, ys, zs, xm, ym, zm;
  SIMFUSE_PETSC(DMDAGetCorners(base, &xs, &ys, &zs, &xm, &ym, &zm));
  owned_.lo = {xs, ys, zs};
  owned_.n = {xm, spec_.dim > 1 ? ym : 1, spec_.dim > 2 ? zm : 1};
  SIMFUSE_PETSC(DMDAGetGhostCorners(base, &xs, &ys, &zs, &xm, &ym, &zm));
  ghosted_.lo = {xs, spec_.dim > 1 ? ys : 0, spec_.dim > 2 ? zs : 0};
  ghosted_.n = {xm, spec_.dim > 1 ? ym : 1, spec_.dim > 2 ? zm : 1};
}

DM Grid::dm(int dof, int stencil_width, bool box) const {
  const int sw = stencil_width > 0 ? stencil_width : spec_.stencil_width;
  const bool use_box = box || spec_.box_stencil;
  auto key = std::make_tuple(dof, sw, use_box);
  auto it = dms_.find(key);
  if (it != dms_.end()) return it->second;

  auto bt = [&](int d) { return spec_.periodic[d] ? DM_BOUNDARY_PERIODIC : DM_BOUNDARY_NONE; };
  const DMDAStencilType st = use_box ? DMDA_STENCIL_BOX : DMDA_STENCIL_STAR;
  // Every DM after the first uses the first one's ownership ranges, so all fields and
  // ghost widths share one parallel layout.
  const PetscInt* lx = lx_.empty() ? nullptr : lx_.data();
  const PetscInt* ly = ly_.empty() ? nullptr : ly_.data();
  const PetscInt* lz = lz_.empty() ? nullptr : lz_.data();
  if (!lx_.empty()) {  // the layout is known on every rank: check every slab, alike everywhere
    const std::array<const std::vector<PetscInt>*, 3> layout{&lx_, &ly_, &lz_};
    for (int d = 0; d < spec_.dim; ++d) {
      if (procs_[d] == 1 && !spec_.periodic[d]) continue;  // PETSc needs no ghost exchange there
      const PetscInt thinnest = *std::min_element(layout[d]->begin(), layout[d]->end());
      if (thinnest < sw)
        throw UserError(fmt::format("cannot distribute the grid over {} ranks: direction {} ({} points) is split "
                                    "into {} slab(s), the thinnest {} point(s) wide, fewer than the {} ghost layer(s) "
                                    "the solver needs",
                                    size_, d, spec_.n[d], procs_[d], thinnest, sw),
                        "use more points per direction, fewer ranks, or choose the split with grid.processes");
    }
  }
  PetscHandle<DM> h;
  try {
    switch (spec_.dim) {
      case 1:
        SIMFUSE_PETSC(DMDACreate1d(comm_, bt(0), spec_.n[0], dof, sw, lx, h.out()));
        break;
      case 2:
        SIMFUSE_PETSC(DMDACreate2d(comm_, bt(0), bt(1), st, spec_.n[0], spec_.n[1],
                                   lx_.empty() ? spec_.procs[0] : procs_[0], lx_.empty() ? spec_.procs[1] : procs_[1],
                                   dof, sw, lx, ly, h.out()));
        break;
      default:
        SIMFUSE_PETSC(DMDACreate3d(comm_, bt(0), bt(1), bt(2), st, spec_.n[0], spec_.n[1], spec_.n[2],
                                   lx_.empty() ? spec_.procs[0] : procs_[0], lx_.empty() ? spec_.procs[1] : procs_[1],
                                   lx_.empty() ? spec_.procs[2] : procs_[2], dof, sw, lx, ly, lz, h.out()));
        break;
    }
    SIMFUSE_PETSC(DMSetUp(h));
  } catch (const PetscError& e) {
    // Checked above for what we know of; anything else PETSc finds on one rank only must
    // still end every rank, which otherwise wait inside DMSetUp.
    fail_all_ranks(comm_,
                   UserError(fmt::format("cannot distribute the {}-point grid over {} ranks with {} ghost layer(s): {}",
                                         spec_.n[0] * spec_.n[1] * spec_.n[2], size_, sw, e.petsc_message()),
                             "each rank needs at least as many points per direction as ghost layers; use a finer grid, "
                             "fewer ranks, or set grid.processes"));
  }
  // First and last point of each direction.
  auto first = [&](int d) { return d < spec_.dim ? x(d, 0) : 0.0; };
  // (one point: PETSc needs xmax > xmin, and places the point at xmin)
  auto last = [&](int d) { return d < spec_.dim ? (spec_.n[d] == 1 ? spec_.upper[d] : x(d, spec_.n[d] - 1)) : 0.0; };
  SIMFUSE_PETSC(DMDASetUniformCoordinates(h, first(0), last(0), first(1), last(1), first(2), last(2)));
  DM out = h;
  dms_.emplace(key, std::move(h));
  return out;
}

Vec Grid::weights() const {
  if (weights_) return weights_;
  SIMFUSE_PETSC(DMCreateGlobalVector(dm(1), weights_.out()));
  ArrayView w(weights_, owned_, 1);
  double vol = 1;
  for (int d = 0; d < spec_.dim; ++d) vol *= h_[d];
  for_each(owned_, [&](PetscInt i, PetscInt j, PetscInt k) {
    const PetscInt idx[3] = {i, j, k};
    double v = vol;
    for (int d = 0; d < spec_.dim; ++d)
      if (!spec_.periodic[d] && !spec_.cell_centered && (idx[d] == 0 || idx[d] == spec_.n[d] - 1)) v *= 0.5;
    w(i, j, k) = v;
  });
  return weights_;
}

int Grid::max_mg_levels(PetscInt min_coarse) const {
  int levels = 1;
  std::array<PetscInt, 3> n = spec_.n;
  while (levels < 12) {
    bool ok = true;
    std::array<PetscInt, 3> c = n;
    for (int d = 0; d < spec_.dim; ++d) {
      if (spec_.periodic[d]) {
        ok = ok && n[d] % 2 == 0;
        c[d] = n[d] / 2;
      } else {
        ok = ok && (n[d] - 1) % 2 == 0;
        c[d] = (n[d] - 1) / 2 + 1;
      }
      ok = ok && c[d] >= min_coarse && c[d] >= 2 * procs_[d];
    }
    if (!ok) break;
    n = c;
    ++levels;
  }
  return levels;
}

GhostedVec::GhostedVec(DM dm, Vec global) : dm_(dm) {
  SIMFUSE_PETSC(DMGetLocalVector(dm_, &local_));
  SIMFUSE_PETSC(DMGlobalToLocalBegin(dm_, global, INSERT_VALUES, local_));
  SIMFUSE_PETSC(DMGlobalToLocalEnd(dm_, global, INSERT_VALUES, local_));
  PetscInt dim, xs, ys, zs, xm, ym, zm;
  SIMFUSE_PETSC(DMGetDimension(dm_, &dim));
  SIMFUSE_PETSC(DMDAGetGhostCorners(dm_, &xs, &ys, &zs, &xm, &ym, &zm));
  box_.lo = {xs, dim > 1 ? ys : 0, dim > 2 ? zs : 0};
  box_.n = {xm, dim > 1 ? ym : 1, dim > 2 ? zm : 1};
}

GhostedVec::~GhostedVec() {
  DMRestoreLocalVector(dm_, &local_);
}

ArrayView::ArrayView(Vec v, const Box& box, int dof, bool read_only)
    : v_(v), box_(box), dof_(dof), read_only_(read_only) {
  if (read_only_) {
    const PetscScalar* a = nullptr;
    SIMFUSE_PETSC(VecGetArrayRead(v_, &a));
    data_ = const_cast<double*>(a);
  } else {
    SIMFUSE_PETSC(VecGetArray(v_, &data_));
  }
}

ArrayView::~ArrayView() {
  if (read_only_) {
    const PetscScalar* a = data_;
    VecRestoreArrayRead(v_, &a);
  } else {
    VecRestoreArray(v_, &data_);
  }
}

}  // namespace simfuse
