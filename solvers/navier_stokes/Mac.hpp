#pragma once
/// \file Mac.hpp
/// The staggered (MAC) grid of navier_stokes and what its boundaries mean (internal to the
/// solver: NavierStokesSolver.cpp and ReactingFlow.cpp).
///
/// U(i, j) is u at (x_{i+1/2}, y_j), V(i, j) is v at (x_i, y_{j+1/2}); i = -1 is the x_lo
/// face, i = nx - 1 the x_hi face. A face of a walled direction is
///  - a wall: zero normal velocity, the tangential velocity beyond it the mirror image about
///    the wall's velocity (its average on the wall is the wall's velocity);
///  - an inflow (x_lo or y_lo): the normal velocity given, zero tangential velocity;
///  - an outflow (x_hi or y_hi): the normal velocity on the face is an unknown (the pressure
///    is zero there), every quantity has zero normal gradient beyond it.
#include <algorithm>
#include <array>
#include <vector>

#include "simfuse/core/Grid.hpp"

namespace simfuse {

enum class FaceKind { wall, inflow, outflow, periodic };

struct MacBoundary {
  std::array<FaceKind, 4> kind{FaceKind::wall, FaceKind::wall, FaceKind::wall, FaceKind::wall};
  std::array<double, 4> tangential{0, 0, 0, 0};  ///< wall velocity (0 at an inflow)
  /// Normal velocity at the inflow face per tangential index t = -1..n (entry t + 1).
  std::vector<double> inflow;

  bool outflow(int face) const { return kind[face] == FaceKind::outflow; }
  bool any_outflow() const { return outflow(1) || outflow(3); }
  int inflow_face() const { return kind[0] == FaceKind::inflow ? 0 : kind[2] == FaceKind::inflow ? 2 : -1; }
  double inflow_at(PetscInt t) const {
    const auto n = static_cast<PetscInt>(inflow.size());
    return inflow[static_cast<size_t>(std::clamp<PetscInt>(t + 1, 0, n - 1))];
  }
};

/// A ghosted local copy of `face_velocity` (box stencil: corners too) read with the
/// boundary conditions. Collective (the ghost exchange).
struct Faces {
  Faces(const Grid& grid, Vec u, const MacBoundary& boundary)
      : g(grid.dm(2, 1, true), u),
        a(g.get(), g.box(), 2, true),
        nx(grid.n(0)),
        ny(grid.n(1)),
        px(grid.periodic(0)),
        py(grid.periodic(1)),
        b(boundary) {}

  GhostedVec g;
  const ArrayView a;
  PetscInt nx, ny;
  bool px, py;
  const MacBoundary& b;

  double U(PetscInt i, PetscInt j) const {
    if (!px && i < 0) return b.kind[0] == FaceKind::inflow ? b.inflow_at(j) : 0.0;
    if (!px && i >= nx - 1 && !b.outflow(1)) return 0.0;
    if (!py && j < 0) return b.outflow(2) ? U(i, 0) : 2 * b.tangential[2] - U(i, 0);
    if (!py && j >= ny) return b.outflow(3) ? U(i, ny - 1) : 2 * b.tangential[3] - U(i, ny - 1);
    if (!px && i >= nx) return a(nx - 1, j, 0, 0);  // beyond an outflow
    return a(i, j, 0, 0);
  }
  double V(PetscInt i, PetscInt j) const {
    if (!py && j < 0) return b.kind[2] == FaceKind::inflow ? b.inflow_at(i) : 0.0;
    if (!py && j >= ny - 1 && !b.outflow(3)) return 0.0;
    if (!px && i < 0) return b.outflow(0) ? V(0, j) : 2 * b.tangential[0] - V(0, j);
    if (!px && i >= nx) return b.outflow(1) ? V(nx - 1, j) : 2 * b.tangential[1] - V(nx - 1, j);
    if (!py && j >= ny) return a(i, ny - 1, 0, 1);  // beyond an outflow
    return a(i, j, 0, 1);
  }
  // Vorticity at the corner (x_{i+1/2}, y_{j+1/2}).
  double omega(PetscInt i, PetscInt j, double hx, double hy) const {
    return (V(i + 1, j) - V(i, j)) / hx - (U(i, j + 1) - U(i, j)) / hy;
  }
};

/// A ghosted cell-centred field read with zero normal gradient beyond walls and outflows and
/// a given boundary value (`inflow`, per component) at an inflow face: C(i, j, c) beyond the
/// domain is the value on the boundary face, extrapolated so that the face average holds it
/// (an inflow's ghost is 2 v_in - v_0; a wall's or outflow's the mirror v_0).
struct Cells {
  /// `box`: corner ghosts too (for a square of four cells).
  Cells(const Grid& grid, Vec v, int dof, int width, const MacBoundary& boundary, const double* inflow,
        bool box = false)
      : g(grid.dm(dof, width, box), v),
        a(g.get(), g.box(), dof, true),
        nx(grid.n(0)),
        ny(grid.n(1)),
        px(grid.periodic(0)),
        py(grid.periodic(1)),
        b(boundary),
        in(inflow) {}

  GhostedVec g;
  const ArrayView a;
  PetscInt nx, ny;
  bool px, py;
  const MacBoundary& b;
  const double* in;

  /// The value in cell (i, j) with i, j one beyond the domain at most.
  double operator()(PetscInt i, PetscInt j, int c) const {
    if (!px && (i < 0 || i >= nx)) {
      const PetscInt ii = i < 0 ? 0 : nx - 1;
      const double v0 = (*this)(ii, j, c);
      return i < 0 && b.kind[0] == FaceKind::inflow ? 2 * in[c] - v0 : v0;
    }
    if (!py && (j < 0 || j >= ny)) {
      const PetscInt jj = j < 0 ? 0 : ny - 1;
      const double v0 = a(i, jj, 0, c);
      return j < 0 && b.kind[2] == FaceKind::inflow ? 2 * in[c] - v0 : v0;
    }
    return a(i, j, 0, c);
  }
  /// True when the face between (i, j) and its neighbour beyond the domain in direction d
  /// (side -1 or +1) is an inflow.
  bool inflow_face(PetscInt i, PetscInt j, int d, int side) const {
    if (d == 0) return !px && side < 0 && i == 0 && b.kind[0] == FaceKind::inflow;
    return !py && side < 0 && j == 0 && b.kind[2] == FaceKind::inflow;
  }
  /// True when the face in direction d, side +-1 of cell (i, j) is a boundary face.
  bool boundary_face(PetscInt i, PetscInt j, int d, int side) const {
    if (d == 0) return !px && ((side < 0 && i == 0) || (side > 0 && i == nx - 1));
    return !py && ((side < 0 && j == 0) || (side > 0 && j == ny - 1));
  }
};

}  // namespace simfuse
