#include "simfuse/solvers/navier_stokes/NavierStokesSolver.hpp"

#include <fmt/format.h>
#include <petscdmda.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>

#include "simfuse/core/base/Error.hpp"
#include "simfuse/solvers/common/LinearSolver.hpp"
#include "simfuse/solvers/navier_stokes/Mac.hpp"
#include "simfuse/solvers/navier_stokes/ReactingFlow.hpp"

namespace simfuse {

namespace {

const char* kFaces[4] = {"x_lo", "x_hi", "y_lo", "y_hi"};

}  // namespace

// ----------------------------------------------------------------------------- Impl

class NavierStokesSolver::Impl {
 public:
  struct Opt {
    double nu = 0.01;
    std::array<double, 4> wall{0, 0, 0, 0};
    std::string initial = "rest";
    double max_cfl = 0.5;
    double steady_tol = 0;
    double rtol = 1e-8;
    std::string guess = "previous";
    double check_rtol = 1e-3;
  };

  Impl(NavierStokesSolver& s, const Grid& g, Opt o) : s_(s), grid(g), opt(std::move(o)) {
    nx = g.n(0);
    ny = g.n(1);
    px = g.periodic(0);
    py = g.periodic(1);
    hx = g.h(0);
    hy = g.h(1);
  }

  bool u_unknown(PetscInt i) const { return px || i < nx - 1 || bnd.outflow(1); }
  bool v_unknown(PetscInt j) const { return py || j < ny - 1 || bnd.outflow(3); }
  bool singular() const { return !bnd.any_outflow(); }
  Field& faces() { return s_.state_.get("face_velocity"); }
  Field& pressure() { return s_.state_.get("pressure"); }

  // out = N(u) (advection, conservative central fluxes) at the unknown faces, 0 elsewhere.
  // Returns max |u|/hx + |v|/hy over the owned faces (for the CFL number). Collective.
  double advection(Vec u, Vec out) {
    const Faces f(grid, u, bnd);
    ArrayView o(out, grid.owned(), 2);
    double speed = 0;
    for_each(grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
      double nu_ = 0, nv_ = 0;
      if (u_unknown(i)) {
        const double ue = 0.5 * (f.U(i, j) + f.U(i + 1, j)), uw = 0.5 * (f.U(i - 1, j) + f.U(i, j));
        const double un = 0.5 * (f.U(i, j) + f.U(i, j + 1)), vn = 0.5 * (f.V(i, j) + f.V(i + 1, j));
        const double us = 0.5 * (f.U(i, j - 1) + f.U(i, j)), vs = 0.5 * (f.V(i, j - 1) + f.V(i + 1, j - 1));
        nu_ = (ue * ue - uw * uw) / hx + (un * vn - us * vs) / hy;
        if (flow) nu_ -= f.U(i, j) * 0.5 * (cell_div(f, i, j) + cell_div(f, i + 1, j));
      }
      if (v_unknown(j)) {
        const double vn = 0.5 * (f.V(i, j) + f.V(i, j + 1)), vs = 0.5 * (f.V(i, j - 1) + f.V(i, j));
        const double ue = 0.5 * (f.U(i, j) + f.U(i, j + 1)), ve = 0.5 * (f.V(i, j) + f.V(i + 1, j));
        const double uw = 0.5 * (f.U(i - 1, j) + f.U(i - 1, j + 1)), vw = 0.5 * (f.V(i - 1, j) + f.V(i, j));
        nv_ = (ue * ve - uw * vw) / hx + (vn * vn - vs * vs) / hy;
        if (flow) nv_ -= f.V(i, j) * 0.5 * (cell_div(f, i, j) + cell_div(f, i, j + 1));
      }
      o(i, j, 0, 0) = nu_;
      o(i, j, 0, 1) = nv_;
      speed = std::max(speed, std::abs(f.a(i, j, 0, 0)) / hx + std::abs(f.a(i, j, 0, 1)) / hy);
    });
    MPI_Allreduce(MPI_IN_PLACE, &speed, 1, MPI_DOUBLE, MPI_MAX, grid.comm());
    return speed;
  }

  // div u of cell (i, j) (one cell beyond the domain: that of the boundary cell).
  double cell_div(const Faces& f, PetscInt i, PetscInt j) const {
    if (!px) i = std::clamp<PetscInt>(i, 0, nx - 1);
    if (!py) j = std::clamp<PetscInt>(j, 0, ny - 1);
    return (f.U(i, j) - f.U(i - 1, j)) / hx + (f.V(i, j) - f.V(i, j - 1)) / hy;
  }

  // out = Lap u at the unknown faces, 0 elsewhere. Collective.
  void laplacian(Vec u, Vec out) {
    const Faces f(grid, u, bnd);
    ArrayView o(out, grid.owned(), 2);
    const double ix = 1 / (hx * hx), iy = 1 / (hy * hy);
    for_each(grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
      o(i, j, 0, 0) = u_unknown(i) ? (f.U(i + 1, j) - 2 * f.U(i, j) + f.U(i - 1, j)) * ix +
                                         (f.U(i, j + 1) - 2 * f.U(i, j) + f.U(i, j - 1)) * iy
                                   : 0.0;
      o(i, j, 0, 1) = v_unknown(j) ? (f.V(i + 1, j) - 2 * f.V(i, j) + f.V(i - 1, j)) * ix +
                                         (f.V(i, j + 1) - 2 * f.V(i, j) + f.V(i, j - 1)) * iy
                                   : 0.0;
    });
  }

  // out = D u (divergence per cell). Collective.
  void divergence(Vec u, Vec out) const {
    const Faces f(grid, u, bnd);
    ArrayView o(out, grid.owned(), 1);
    for_each(grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
      o(i, j) = (f.U(i, j) - f.U(i - 1, j)) / hx + (f.V(i, j) - f.V(i, j - 1)) / hy;
    });
  }

  // The projection's right-hand side. Incompressible: b = -D u / dt (without its mean on
  // a closed or periodic domain). Low Mach: b = -(D (rho_f u) + (rho^{n+1} - rho^n) / dt) / dt
  // with rho^{n+1} from the equation of state (into rho_new), rho_f the face average of
  // rho^{n+1} (the inflow's at an inflow face, the cell's at an outflow). Collective.
  void projection_rhs(Vec u, double dt, Vec b) {
    if (!flow) {
      divergence(u, b);
    } else {
      flow->new_density(rho_new);
      // Round-off of (rho^{n+1} - rho^n) / dt^2: a right-hand side no larger is zero (a
      // closed box of uniform gas: the Krylov solver would call it divergent).
      PetscReal rmax = 0;
      SIMFUSE_PETSC(VecNorm(rho_new, NORM_INFINITY, &rmax));
      b_floor = 1e-13 * rmax / (dt * dt);
      const Faces f(grid, u, bnd);
      const double rin = flow->inflow_density();
      const Cells r(grid, rho_new, 1, 1, bnd, &rin);
      const ArrayView rho_old = s_.state_.get("density").view_read();
      ArrayView o(b, grid.owned(), 1);
      for_each(grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
        o(i, j) = (f.U(i, j) * face_density(r, i, j, 0) - f.U(i - 1, j) * face_density(r, i - 1, j, 0)) / hx +
                  (f.V(i, j) * face_density(r, i, j, 1) - f.V(i, j - 1) * face_density(r, i, j - 1, 1)) / hy +
                  (r(i, j, 0) - rho_old(i, j)) / dt;
      });
    }
    SIMFUSE_PETSC(VecScale(b, -1.0 / dt));
    if (singular()) SIMFUSE_PETSC(MatNullSpaceRemove(nullspace, b));
  }

  // rho on the face east (d = 0) or north (d = 1) of cell (i, j), which may be the cell
  // before the domain (i = -1: the low face).
  double face_density(const Cells& r, PetscInt i, PetscInt j, int d) const {
    const PetscInt n = d == 0 ? nx : ny, t = d == 0 ? i : j;
    if (!(d == 0 ? px : py)) {
      if (t < 0) return r.in[0];
      if (t >= n - 1) return r(d == 0 ? n - 1 : i, d == 1 ? n - 1 : j, 0);
    }
    return 0.5 * (r(i, j, 0) + r(d == 0 ? i + 1 : i, d == 1 ? j + 1 : j, 0));
  }

  // A = -D G: the 5-point Laplacian with zero normal gradient at walls and inflows and
  // p = 0 on an outflow face. Collective.
  void assemble() {
    DM dm = grid.dm(1);
    SIMFUSE_PETSC(DMCreateMatrix(dm, A.out()));
    const double ix = 1 / (hx * hx), iy = 1 / (hy * hy);
    for_each(grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
      MatStencil row{}, col[5]{};
      PetscScalar v[5];
      int n = 1;
      row.i = i;
      row.j = j;
      double diag = 0;
      auto nb = [&](PetscInt ii, PetscInt jj, double c) {
        col[n].i = ii;
        col[n].j = jj;
        v[n++] = -c;
        diag += c;
      };
      if (px || i > 0) nb(i - 1, j, ix);
      if (px || i < nx - 1)
        nb(i + 1, j, ix);
      else if (bnd.outflow(1))
        diag += 2 * ix;
      if (py || j > 0) nb(i, j - 1, iy);
      if (py || j < ny - 1)
        nb(i, j + 1, iy);
      else if (bnd.outflow(3))
        diag += 2 * iy;
      col[0] = row;
      v[0] = diag;
      SIMFUSE_PETSC(MatSetValuesStencil(A, 1, &row, n, col, v, INSERT_VALUES));
    });
    SIMFUSE_PETSC(MatAssemblyBegin(A, MAT_FINAL_ASSEMBLY));
    SIMFUSE_PETSC(MatAssemblyEnd(A, MAT_FINAL_ASSEMBLY));
    if (singular()) {
      SIMFUSE_PETSC(MatNullSpaceCreate(grid.comm(), PETSC_TRUE, 0, nullptr, nullspace.out()));
      SIMFUSE_PETSC(MatSetNullSpace(A, nullspace));
    }

    // CG + geometric multigrid by default, with a pseudo-inverse on the coarsest grid, where
    // the constant null space makes the operator singular.
    create_ksp(grid, {"project_", opt.rtol, 9, singular(), flow != nullptr}, "the 'project' linear solver", ksp);
    SIMFUSE_PETSC(KSPSetOperators(ksp, A, A));
    options_checked([&] { return KSPSetUp(ksp); }, reinterpret_cast<PetscObject>(ksp.get()),
                    "the 'project' linear solver");
    for (auto* v : {&b, &ax, &ag}) SIMFUSE_PETSC(DMCreateGlobalVector(dm, v->out()));
  }

  // Solves A p = b from the initial guess in p (and `guess`, if any). Collective.
  void solve(Vec p, Vec guess, double t) {
    const Vec dp = s_.state_.get("pressure_change").vec();
    if (b_floor > 0) {
      PetscReal bmax = 0;
      SIMFUSE_PETSC(VecNorm(b, NORM_INFINITY, &bmax));
      if (bmax <= b_floor) {  // nothing to project: the gas is at rest and stays so
        SIMFUSE_PETSC(VecSet(p, 0.0));
        last_its = 0;
        return;
      }
    }
    if (guess) {
      least_residual_combination(A, b, p, guess, ax, ag);
    } else if (opt.guess == "extrapolate") {
      SIMFUSE_PETSC(VecAXPY(p, 1.0, dp));  // p^n + (p^n - p^{n-1})
    } else if (opt.guess == "extrapolate2") {
      // 3 p^n - 3 p^{n-1} + p^{n-2} = p^n + 2 dp^n - dp^{n-1}
      SIMFUSE_PETSC(VecAXPBYPCZ(p, 2.0, -1.0, 1.0, dp, s_.state_.get("pressure_change_previous").vec()));
    } else if (opt.guess == "zero") {
      SIMFUSE_PETSC(VecSet(p, 0.0));
    }
    SIMFUSE_PETSC(KSPSolve(ksp, b, p));
    KSPConvergedReason reason;
    SIMFUSE_PETSC(KSPGetConvergedReason(ksp, &reason));
    PetscInt its = 0;
    SIMFUSE_PETSC(KSPGetIterationNumber(ksp, &its));
    last_its = static_cast<int>(its);
    if (reason < 0) {
      PetscReal rn = 0, bnorm = 0;
      SIMFUSE_PETSC(KSPGetResidualNorm(ksp, &rn));
      SIMFUSE_PETSC(VecNorm(b, NORM_2, &bnorm));
      throw RunFailure(fmt::format("the pressure projection did not converge at t = {:g}: {} after {} iterations "
                                   "(residual norm {:g}, right-hand side norm {:g})",
                                   t, KSPConvergedReasons[reason], its, rn, bnorm),
                       "a blow-up shows first as a failing projection: reduce time.dt; -project_ksp_monitor shows "
                       "the iterations");
    }
    if (singular()) SIMFUSE_PETSC(MatNullSpaceRemove(nullspace, p));  // pressure with zero mean
  }

  // ||b - A p|| / ||b|| for the current b. Collective.
  double relative_residual(Vec p) {
    SIMFUSE_PETSC(MatMult(A, p, ax));
    SIMFUSE_PETSC(VecAYPX(ax, -1.0, b));
    PetscReal rn = 0, bn = 0;
    SIMFUSE_PETSC(VecNorm(ax, NORM_2, &rn));
    SIMFUSE_PETSC(VecNorm(b, NORM_2, &bn));
    if (bn == 0) return rn == 0 ? 0.0 : std::numeric_limits<double>::infinity();
    return rn / bn;
  }

  // velocity (cell-centred) and vorticity (cell average of the four corners). Collective.
  void derived() {
    const Faces f(grid, faces().vec(), bnd);
    ArrayView vel = s_.state_.get("velocity").view();
    ArrayView vor = s_.state_.get("vorticity").view();
    for_each(grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
      vel(i, j, 0, 0) = 0.5 * (f.U(i - 1, j) + f.U(i, j));
      vel(i, j, 0, 1) = 0.5 * (f.V(i, j - 1) + f.V(i, j));
      vor(i, j) = 0.25 * (f.omega(i - 1, j - 1, hx, hy) + f.omega(i, j - 1, hx, hy) + f.omega(i - 1, j, hx, hy) +
                          f.omega(i, j, hx, hy));
    });
  }

  // The inflow face's normal velocity at time t (every rank: the face's points -1..n).
  // Under hold_front the profile is shifted to the mean the control asks for, kept in
  // [0, 0.9 max_cfl (h / dt) (rho_min / rho_in)]: the burnt gas is faster by rho_in / rho
  // (a clamped step is counted). Collective.
  void update_inflow(double t, double dt) {
    const int f = bnd.inflow_face();
    if (f < 0) return;
    const int d = f / 2, tdir = 1 - d;
    const PetscInt n = grid.n(tdir);
    bnd.inflow.resize(static_cast<size_t>(n + 2));
    double mean = 0;
    for (PetscInt q = -1; q <= n; ++q) {
      const double xt = grid.lower(tdir) + (q + 0.5) * grid.h(tdir);
      const double x = d == 0 ? grid.lower(0) : xt, y = d == 1 ? grid.lower(1) : xt;
      bnd.inflow[static_cast<size_t>(q + 1)] = (*inflow_velocity)(x, y, 0.0, t);
      if (q >= 0 && q < n) mean += bnd.inflow[static_cast<size_t>(q + 1)] / static_cast<double>(n);
    }
    const std::optional<double> want = flow ? flow->controlled_inflow() : std::nullopt;
    if (!want) return;
    PetscReal rho_min = 0;
    SIMFUSE_PETSC(VecMin(s_.state_.get("density").vec(), nullptr, &rho_min));
    const double top = 0.9 * opt.max_cfl * grid.h(d) / dt * std::min(1.0, rho_min / flow->inflow_density());
    bool clamped = false;
    for (double& u : bnd.inflow) {
      const double v = u + *want - mean;
      u = std::clamp(v, 0.0, top);
      clamped = clamped || u != v;
    }
    inflow_clamped += clamped ? 1 : 0;
  }

  // Low Mach with an inflow: the initial normal velocity carries the inflow's mass flux
  // through the initial density, u = u_in rho_in / rho_f (the steady 1D flame's; at rest
  // the first projection would have to set up the whole expansion in one step). Collective.
  void start_from_inflow() {
    const int f = bnd.inflow_face();
    if (f < 0) return;
    const double rin = flow->inflow_density();
    const Cells r(grid, rho_new, 1, 1, bnd, &rin);
    ArrayView u = faces().view();
    for_each(grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
      if (f == 0 && u_unknown(i)) u(i, j, 0, 0) = bnd.inflow_at(j) * rin / face_density(r, i, j, 0);
      if (f == 2 && v_unknown(j)) u(i, j, 0, 1) = bnd.inflow_at(i) * rin / face_density(r, i, j, 1);
    });
  }

  // Adds the curl of the streamfunction psi to the face velocity: u = d psi / dy and
  // v = -d psi / dx as differences of psi at the cell corners, so the added velocity has
  // zero discrete divergence in every cell (a wall's faces keep their zero). Collective.
  // Returns the largest |u|/hx + |v|/hy of the velocity after it (0 without psi).
  double add_streamfunction(double t) {
    if (!streamfunction) return 0;
    const Function& psi = *streamfunction;
    auto corner = [&](PetscInt a, PetscInt b) { return psi(grid.lower(0) + a * hx, grid.lower(1) + b * hy, 0.0, t); };
    ArrayView u = faces().view();
    double speed = 0;
    for_each(grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
      if (u_unknown(i)) u(i, j, 0, 0) += (corner(i + 1, j + 1) - corner(i + 1, j)) / hy;
      if (v_unknown(j)) u(i, j, 0, 1) -= (corner(i + 1, j + 1) - corner(i, j + 1)) / hx;
      speed = std::max(speed, std::abs(u(i, j, 0, 0)) / hx + std::abs(u(i, j, 0, 1)) / hy);
    });
    MPI_Allreduce(MPI_IN_PLACE, &speed, 1, MPI_DOUBLE, MPI_MAX, grid.comm());
    return speed;
  }

  // Low Mach: u += dt (1/rho)_f div tau, tau = mu (grad u + grad u^T) - 2/3 mu (div u) I,
  // explicit, in as many equal sub-steps as keep it stable (the normal stress diffuses at
  // 4/3 nu: (4/3) nu dt_sub (1/hx^2 + 1/hy^2) <= 0.45). The normal stresses sit at the
  // cell centres, the shear stress at the corners with mu averaged from the four cells
  // around; beyond an outflow the normal stress has zero gradient. With a constant mu and
  // div u = 0 it is mu Lap u exactly (the cross terms cancel). Collective.
  void viscous_low_mach(Vec u, double dt) {
    const double limit = 0.45 / (4.0 / 3.0 * flow->max_kinematic_viscosity() * (1 / (hx * hx) + 1 / (hy * hy)));
    viscous_substeps = std::max(1, static_cast<int>(std::ceil(dt / limit)));
    const double ds = dt / viscous_substeps;
    const double zero = 0, rin = flow->inflow_density();
    // mu = nu rho per cell (both of the step's start).
    SIMFUSE_PETSC(VecPointwiseMult(mu, flow->kinematic_viscosity(), s_.state_.get("density").vec()));
    const Cells m(grid, mu, 1, 1, bnd, &zero, true);
    const Cells r(grid, s_.state_.get("density").vec(), 1, 1, bnd, &rin);
    for (int s = 0; s < viscous_substeps; ++s) {
      {
        const Faces f(grid, u, bnd);
        ArrayView o(work, grid.owned(), 2);
        // Normal stresses of cell (i, j), zero-gradient beyond an outflow or a wall.
        auto txx = [&](PetscInt i, PetscInt j) {
          if (!px) i = std::clamp<PetscInt>(i, 0, nx - 1);
          return m(i, j, 0) * (2 * (f.U(i, j) - f.U(i - 1, j)) / hx - 2.0 / 3.0 * cell_div(f, i, j));
        };
        auto tyy = [&](PetscInt i, PetscInt j) {
          if (!py) j = std::clamp<PetscInt>(j, 0, ny - 1);
          return m(i, j, 0) * (2 * (f.V(i, j) - f.V(i, j - 1)) / hy - 2.0 / 3.0 * cell_div(f, i, j));
        };
        // Shear stress at the corner (x_{i+1/2}, y_{j+1/2}).
        auto txy = [&](PetscInt i, PetscInt j) {
          const double mc = 0.25 * (m(i, j, 0) + m(i + 1, j, 0) + m(i, j + 1, 0) + m(i + 1, j + 1, 0));
          return mc * ((f.U(i, j + 1) - f.U(i, j)) / hy + (f.V(i + 1, j) - f.V(i, j)) / hx);
        };
        for_each(grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
          o(i, j, 0, 0) = u_unknown(i) ? ((txx(i + 1, j) - txx(i, j)) / hx + (txy(i, j) - txy(i, j - 1)) / hy) /
                                             face_density(r, i, j, 0)
                                       : 0.0;
          o(i, j, 0, 1) = v_unknown(j) ? ((txy(i, j) - txy(i - 1, j)) / hx + (tyy(i, j + 1) - tyy(i, j)) / hy) /
                                             face_density(r, i, j, 1)
                                       : 0.0;
        });
      }
      SIMFUSE_PETSC(VecAXPY(u, ds, work));
    }
  }

  // Taylor-Green vortex: one period per domain length in each direction; exact values at t.
  double kx() const { return 2 * M_PI / (grid.n(0) * hx); }
  double ky() const { return 2 * M_PI / (grid.n(1) * hy); }
  double tg_u(double x, double y, double t) const {
    return std::sin(kx() * (x - grid.lower(0))) * std::cos(ky() * (y - grid.lower(1))) * tg_rate(t);
  }
  double tg_v(double x, double y, double t) const {
    return -(kx() / ky()) * std::cos(kx() * (x - grid.lower(0))) * std::sin(ky() * (y - grid.lower(1))) * tg_rate(t);
  }
  double tg_p(double x, double y, double t) const {
    const double r = kx() / ky();
    const double e = tg_rate(t);
    return 0.25 * (std::cos(2 * kx() * (x - grid.lower(0))) + r * r * std::cos(2 * ky() * (y - grid.lower(1)))) * e * e;
  }
  double tg_rate(double t) const { return std::exp(-opt.nu * (kx() * kx() + ky() * ky()) * t); }

  void set_taylor_green(double t) {
    ArrayView fv = faces().view();
    ArrayView p = pressure().view();
    for_each(grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
      const double x = grid.x(0, i), y = grid.x(1, j);
      fv(i, j, 0, 0) = tg_u(x + 0.5 * hx, y, t);
      fv(i, j, 0, 1) = tg_v(x, y + 0.5 * hy, t);
      p(i, j) = tg_p(x, y, t);
    });
  }

  NavierStokesSolver& s_;
  const Grid& grid;
  Opt opt;
  PetscInt nx = 0, ny = 0;
  bool px = false, py = false;
  double hx = 1, hy = 1;

  PetscHandle<Mat> A;
  PetscHandle<MatNullSpace> nullspace;
  PetscHandle<KSP> ksp;
  PetscHandle<Vec> b, ax, ag;
  PetscHandle<Vec> n_old, work, u_start, p_hist, rho_new, mu;
  MacBoundary bnd;
  std::unique_ptr<Function> inflow_velocity;  // at the inflow face's points, of t
  std::unique_ptr<Function> streamfunction;   // an initial velocity added, of x and y
  long inflow_clamped = 0;                    // hold_front: steps whose inflow was clamped
  std::unique_ptr<ReactingFlow> flow;         // low Mach: the scalars (null: incompressible)
  int viscous_substeps = 1;
  bool have_n_old = false;
  int last_its = 0;
  double b_floor = 0;  // a projection right-hand side at or below it is zero (low Mach: round-off)
  double last_cfl = 0;
  double last_change = 0;                            // max |u^{n+1} - u^n| / dt
  double t = 0;                                      // time of the state
  double energy0 = 0;                                // kinetic energy at t0
  std::vector<std::unique_ptr<SubStep>> steps_plan;  // advect, diffuse, project, correct
  std::unique_ptr<SubStep> force;                    // forced_split: after react
};

// ----------------------------------------------------------------------------- sub-steps

namespace {

class NsStep : public SubStep {
 public:
  NsStep(NavierStokesSolver::Impl& m, std::string name) : m_(m), name_(std::move(name)) {}
  const std::string& name() const override { return name_; }

 protected:
  NavierStokesSolver::Impl& m_;
  std::string name_;
};

class Advect final : public NsStep {
 public:
  explicit Advect(NavierStokesSolver::Impl& m) : NsStep(m, "advect") {}
  std::vector<std::string> reads() const override {
    if (m_.flow) return {"face_velocity", "pressure", "pressure_change", "gas", "density"};
    return {"face_velocity", "pressure", "pressure_change"};
  }
  std::vector<std::string> writes() const override {
    if (m_.flow) return {"face_velocity", "pressure_change", "pressure_change_previous", "gas"};
    return {"face_velocity", "pressure_change", "pressure_change_previous"};
  }
  void apply(State& state, const StepInfo& info) override {
    Vec u = state.get("face_velocity").vec();
    SIMFUSE_PETSC(VecCopy(u, m_.u_start));
    // History for models and extrapolated guesses: pressure_change = p^n - p^{n-1},
    // pressure_change_previous = p^{n-1} - p^{n-2}.
    SIMFUSE_PETSC(VecCopy(state.get("pressure_change").vec(), state.get("pressure_change_previous").vec()));
    SIMFUSE_PETSC(VecWAXPY(state.get("pressure_change").vec(), -1.0, m_.p_hist, state.get("pressure").vec()));
    SIMFUSE_PETSC(VecCopy(state.get("pressure").vec(), m_.p_hist));

    m_.update_inflow(info.t, info.dt);
    if (m_.flow) {
      const double cfl = m_.flow->advect(u, info.dt);
      if (!(cfl <= 1.0))
        throw RunFailure(fmt::format("the scalars' CFL number {:.3g} at t = {:g} exceeds 1 (the flow is too fast "
                                     "for dt = {:g}, or it is blowing up)",
                                     cfl, info.t, info.dt),
                         fmt::format("use time.dt <= {:.3g}", 0.9 * info.dt / cfl));
    }
    const double speed = m_.advection(u, m_.work);
    m_.last_cfl = speed * info.dt;
    if (!(m_.last_cfl <= m_.opt.max_cfl))
      throw RunFailure(fmt::format("the CFL number {:.3g} at t = {:g} exceeds max_cfl = {:g} (the flow is too fast "
                                   "for dt = {:g}, or it is blowing up)",
                                   m_.last_cfl, info.t, m_.opt.max_cfl, info.dt),
                       fmt::format("use time.dt <= {:.3g}", m_.opt.max_cfl / speed * 0.9));
    if (m_.have_n_old) {
      // u -= dt (1.5 N^n - 0.5 N^{n-1});  N^{n-1} <- N^n
      SIMFUSE_PETSC(VecAXPBYPCZ(u, -1.5 * info.dt, 0.5 * info.dt, 1.0, m_.work, m_.n_old));
    } else {
      SIMFUSE_PETSC(VecAXPY(u, -info.dt, m_.work));
      m_.have_n_old = true;
    }
    std::swap(m_.work, m_.n_old);
  }
};

class Diffuse final : public NsStep {
 public:
  explicit Diffuse(NavierStokesSolver::Impl& m) : NsStep(m, "diffuse") {}
  std::vector<std::string> reads() const override {
    if (m_.flow) return {"face_velocity", "gas", "density"};
    return {"face_velocity"};
  }
  std::vector<std::string> writes() const override {
    if (m_.flow) return {"face_velocity", "gas"};
    return {"face_velocity"};
  }
  void apply(State& state, const StepInfo& info) override {
    Vec u = state.get("face_velocity").vec();
    if (m_.flow) {
      m_.flow->diffuse(info.dt);
      m_.viscous_low_mach(u, info.dt);
      return;
    }
    m_.laplacian(u, m_.work);
    SIMFUSE_PETSC(VecAXPY(u, m_.opt.nu * info.dt, m_.work));
  }
};

// splitting: forced_split -- the second half of the transport's rate, after react.
class Force final : public NsStep {
 public:
  explicit Force(NavierStokesSolver::Impl& m) : NsStep(m, "force") {}
  std::vector<std::string> reads() const override { return {"gas"}; }
  std::vector<std::string> writes() const override { return {"gas"}; }
  std::string classical_only() const override {
    return "it adds the transport's rate already computed in diffuse (nothing to model)";
  }
  void apply(State&, const StepInfo& info) override { m_.flow->finish_forcing(info.dt); }
};

class Project final : public NsStep, public Iterative, public Checkable {
 public:
  explicit Project(NavierStokesSolver::Impl& m) : NsStep(m, "project") {}
  std::vector<std::string> reads() const override {
    if (m_.flow) return {"face_velocity", "pressure", "pressure_change", "pressure_change_previous", "gas", "density"};
    return {"face_velocity", "pressure", "pressure_change", "pressure_change_previous"};
  }
  std::vector<std::string> writes() const override { return {"pressure"}; }
  void apply(State& state, const StepInfo& info) override {
    Vec g = guess_;
    guess_ = nullptr;
    m_.projection_rhs(state.get("face_velocity").vec(), info.dt, m_.b);
    m_.solve(state.get("pressure").vec(), g, info.t + info.dt);
  }
  int last_iterations() const override { return m_.last_its; }
  void set_initial_guess(Vec guess) override { guess_ = guess; }
  void estimate(const State& state, const std::vector<Vec>&, const StepInfo& info, std::vector<double>& est) override {
    // (A constant shift of p is in A's null space: the residual needs no mean removal.)
    m_.projection_rhs(state.get("face_velocity").vec(), info.dt, m_.b);
    est.assign(1, m_.relative_residual(state.get("pressure").vec()) / m_.opt.check_rtol);
  }
  std::string estimate_description() const override {
    return fmt::format("relative residual ||b - A p|| / ||b|| of the pressure Poisson equation / {:g} (check_rtol)",
                       m_.opt.check_rtol);
  }

 private:
  Vec guess_ = nullptr;
};

class Correct final : public NsStep {
 public:
  Correct(NavierStokesSolver::Impl& m, bool& steady) : NsStep(m, "correct"), steady_(steady) {}
  std::vector<std::string> reads() const override {
    if (m_.flow) return {"face_velocity", "pressure", "gas", "density"};
    return {"face_velocity", "pressure"};
  }
  std::vector<std::string> writes() const override {
    if (m_.flow) return {"face_velocity", "velocity", "vorticity", "density"};
    return {"face_velocity", "velocity", "vorticity"};
  }
  void apply(State& state, const StepInfo& info) override {
    Field& fv = state.get("face_velocity");
    {
      // The pressure beyond an outflow face is -p (zero on the face).
      const double zero = 0;
      const Cells p(m_.grid, state.get("pressure").vec(), 1, 1, m_.bnd, &zero);
      auto pe = [&](PetscInt i, PetscInt j) { return !m_.px && i >= m_.nx ? -p(m_.nx - 1, j, 0) : p(i, j, 0); };
      auto pn = [&](PetscInt i, PetscInt j) { return !m_.py && j >= m_.ny ? -p(i, m_.ny - 1, 0) : p(i, j, 0); };
      std::unique_ptr<Cells> r;
      double rin = 0;
      if (m_.flow) {
        rin = m_.flow->inflow_density();
        r = std::make_unique<Cells>(m_.grid, m_.rho_new, 1, 1, m_.bnd, &rin);
      }
      ArrayView u = fv.view();
      const double cx = info.dt / m_.hx, cy = info.dt / m_.hy;
      for_each(m_.grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
        const double rx = r ? m_.face_density(*r, i, j, 0) : 1.0, ry = r ? m_.face_density(*r, i, j, 1) : 1.0;
        if (m_.u_unknown(i)) u(i, j, 0, 0) -= cx * (pe(i + 1, j) - p(i, j, 0)) / rx;
        if (m_.v_unknown(j)) u(i, j, 0, 1) -= cy * (pn(i, j + 1) - p(i, j, 0)) / ry;
      });
    }
    if (m_.flow) {
      SIMFUSE_PETSC(VecCopy(m_.rho_new, state.get("density").vec()));
      m_.flow->end_step(info.dt);
      m_.flow->record(info.t + info.dt);
    }
    m_.derived();
    m_.t = info.t + info.dt;
    SIMFUSE_PETSC(VecAYPX(m_.u_start, -1.0, fv.vec()));
    PetscReal change = 0;
    SIMFUSE_PETSC(VecNorm(m_.u_start, NORM_INFINITY, &change));
    m_.last_change = change / info.dt;
    steady_ = m_.opt.steady_tol > 0 && m_.last_change < m_.opt.steady_tol;
  }

 private:
  bool& steady_;
};

}  // namespace

// ----------------------------------------------------------------------------- solver

void NavierStokesSolver::declare(Schema& s) {
  s.add_real("viscosity", "kinematic viscosity nu (= U L / Re); not with `reacting` (the mixture's then)").positive();
  s.add_string("initial", "initial velocity: rest, or the Taylor-Green vortex (periodic domain, exact solution known)")
      .def("rest")
      .choices({"rest", "taylor_green"});
  Schema& w = s.add_section("wall_velocity", "tangential velocity of each wall (e.g. a lid: y_hi: 1)");
  for (const char* f : kFaces) w.add_real(f, fmt::format("tangential velocity of the {} wall", f)).def(0.0);
  s.add_real("max_cfl", "the run fails when dt (|u|/hx + |v|/hy) exceeds this").def(0.5).positive().max(2.0);
  s.add_real("steady_tol", "stop when max |u^{n+1} - u^n| / dt is below this (0: run to the end)")
      .def(0.0)
      .non_negative();
  s.add_block("initial_streamfunction", "function",
              "a velocity added to the initial one: u = d psi/dy, v = -d psi/dx of this streamfunction psi(x, y) "
              "(m^2/s), differenced at the cell corners, so it has zero discrete divergence (e.g. a vortex pair)");
  s.add_check([](const Params& p, Diagnostics& d) {
    if (p.is_set("initial_streamfunction") && p.get<std::string>("initial") == "taylor_green")
      d.push_back(p.diag("initial_streamfunction",
                         "the Taylor-Green vortex is an exact solution; a velocity added "
                         "to it is not",
                         "remove initial_streamfunction, or set initial: rest"));
  });
  Schema& in = s.add_section("inflow", "an inflow face: given normal velocity, zero tangential velocity");
  in.add_string("face", "the inflow face (a low face of a walled direction)").choices({"x_lo", "y_lo"});
  in.add_block("velocity", "function", "normal velocity into the domain, m/s (an expression of x, y and t)");
  in.add_check([](const Params& p, Diagnostics& d) {
    if (p.is_set("face") != p.is_set("velocity"))
      d.push_back(p.diag(p.is_set("face") ? "face" : "velocity",
                         p.is_set("face") ? "an inflow face needs its velocity" : "an inflow velocity needs its face",
                         "give both, e.g. inflow: {face: x_lo, velocity: 2.0}"));
  });
  s.add_string("outflow", "an outflow face (a high face of a walled direction): zero pressure, zero normal gradients")
      .def("none")
      .choices({"none", "x_hi", "y_hi"});
  Schema& r =
      s.add_optional_section("reacting",
                             "low Mach number, variable density: a reacting ideal-gas mixture at a thermodynamic "
                             "pressure carried by the flow (gas = [T, Y], density from the equation of state)");
  ReactingFlow::declare(r);
  s.add_check([](const Params& p, Diagnostics& d) {
    const bool reacting = p.has("reacting");
    if (reacting && p.is_set("viscosity"))
      d.push_back(p.diag("viscosity", "a reacting flow takes its viscosity from the mixture (mixture-averaged)",
                         "remove solver.params.viscosity"));
    if (!reacting && !p.is_set("viscosity"))
      d.push_back(p.diag("viscosity", "no viscosity given", "add viscosity: 0.01 (= U L / Re)"));
  });
  Schema& p = s.add_section("projection", "the pressure Poisson solve");
  p.add_real("rtol", "relative tolerance of the KSP (-project_ksp_rtol overrides)").def(1e-8).positive().max(0.1);
  p.add_string("guess",
               "initial guess: the previous pressure, its linear (2 p^n - p^{n-1}) or quadratic (3 p^n - 3 p^{n-1} + "
               "p^{n-2}) extrapolation in time, or zero")
      .def("previous")
      .choices({"previous", "extrapolate", "extrapolate2", "zero"});
  p.add_real("check_rtol", "a proposed pressure (a model's) is acceptable when ||b - A p|| / ||b|| <= this")
      .def(1e-3)
      .positive();
}

NavierStokesSolver::NavierStokesSolver(const SolverContext& ctx) : grid_(ctx.grid) {
  const Params& p = ctx.params;
  if (grid_.dim() != 2)
    throw UserError(fmt::format("navier_stokes is a 2D solver; the grid is {}D", grid_.dim()),
                    "give grid.n two entries, e.g. n: [129, 129]");
  if (!grid_.cell_centered())
    throw UserError("navier_stokes uses a staggered (MAC) grid, but grid.centering is 'vertex'",
                    "add 'centering: cell' to grid: (n is then the number of cells per direction)");
  Impl::Opt o;
  const bool reacting = p.has("reacting");
  o.nu = reacting ? 0.0 : p.get<double>("viscosity");
  o.initial = p.get<std::string>("initial");
  const Params& w = p.sub("wall_velocity");
  for (int f = 0; f < 4; ++f) {
    o.wall[f] = w.get<double>(kFaces[f]);
    if (o.wall[f] != 0 && grid_.periodic(f / 2))
      w.fail(kFaces[f], fmt::format("the {} direction is periodic: it has no wall", f < 2 ? "x" : "y"),
             "remove this wall velocity, or make the direction a wall (grid.periodic)");
  }
  o.max_cfl = p.get<double>("max_cfl");
  o.steady_tol = p.get<double>("steady_tol");
  const Params& pp = p.sub("projection");
  o.rtol = pp.get<double>("rtol");
  o.guess = pp.get<std::string>("guess");
  o.check_rtol = pp.get<double>("check_rtol");
  if (o.initial == "taylor_green" && !(grid_.periodic(0) && grid_.periodic(1)))
    p.fail("initial", "the Taylor-Green vortex needs a periodic domain", "set grid.periodic: [true, true]");

  // Inflow and outflow faces: only on a walled direction, and not on a moving wall.
  MacBoundary bnd;
  for (int f = 0; f < 4; ++f) bnd.tangential[f] = o.wall[f];
  // Opens face `name` (its key `key` of `where`) as `kind`: refused on a periodic direction
  // or a moving wall.
  auto open_face = [&](const Params& where, const std::string& key, const std::string& name, FaceKind kind,
                       const char* other) {
    const int f = name == "x_lo" ? 0 : name == "x_hi" ? 1 : name == "y_lo" ? 2 : 3;
    const char* what = kind == FaceKind::inflow ? "inflow" : "outflow";
    if (grid_.periodic(f / 2))
      where.fail(key, fmt::format("the {} direction is periodic: it has no {} face", f < 2 ? "x" : "y", name),
                 fmt::format("make the direction a wall (grid.periodic), or {}", other));
    if (o.wall[f] != 0)
      where.fail(key, fmt::format("{} is both an {} and a moving wall (wall_velocity.{})", name, what, name),
                 "remove wall_velocity." + name);
    bnd.kind[f] = kind;
  };
  const Params& inflow = p.sub("inflow");
  std::unique_ptr<Function> inflow_velocity;
  if (inflow.is_set("face")) {
    open_face(inflow, "face", inflow.get<std::string>("face"), FaceKind::inflow, "put the inflow on the other face");
    inflow_velocity = make_function(inflow, "velocity", ctx.constants);
  }
  const std::string outflow = p.get<std::string>("outflow");
  if (outflow != "none") open_face(p, "outflow", outflow, FaceKind::outflow, "remove the outflow");
  for (int f = 0; f < 4; ++f)
    if (grid_.periodic(f / 2)) bnd.kind[f] = FaceKind::periodic;
  // Without an outflow a reacting flow is closed (p0(t) keeps its mass); an inflow into it
  // would have to raise p0 by the mass it brings, which is not built.
  if (reacting && !bnd.any_outflow() && bnd.inflow_face() >= 0)
    p.fail("outflow",
           "a reacting flow with an inflow needs an outflow (a closed domain's thermodynamic pressure p0(t) holds "
           "its mass, and the mass an inflow brings in is not counted)",
           "add outflow: x_hi (or y_hi), or remove the inflow for a closed vessel");

  // Explicit diffusion is stable for nu dt (1/hx^2 + 1/hy^2) <= 1/2 (the reacting flow's
  // momentum diffusion takes as many sub-steps as it needs).
  const double hx = grid_.h(0), hy = grid_.h(1);
  const double limit = 0.5 / (o.nu * (1 / (hx * hx) + 1 / (hy * hy)));
  if (!reacting && ctx.dt > limit)
    p.fail("viscosity",
           fmt::format("time.dt = {:g} exceeds the explicit diffusion limit {:.4g} for viscosity {:g} on this grid "
                       "(h = {:g})",
                       ctx.dt, limit, o.nu, std::min(hx, hy)),
           fmt::format("use time.dt <= {:.4g}", limit));

  // A moving wall drags the fluid next to it at its own speed from the first step.
  for (int f = 0; f < 4; ++f) {
    const double cfl = std::abs(o.wall[f]) * ctx.dt / (f < 2 ? hy : hx);
    if (cfl > o.max_cfl)
      w.fail(kFaces[f],
             fmt::format("a wall moving at {:g} gives a CFL number {:.3g} > max_cfl = {:g} with time.dt = {:g}",
                         o.wall[f], cfl, o.max_cfl, ctx.dt),
             fmt::format("use time.dt <= {:.3g}", 0.9 * o.max_cfl * (f < 2 ? hy : hx) / std::abs(o.wall[f])));
  }

  impl_ = std::make_unique<Impl>(*this, grid_, o);
  Impl& m = *impl_;
  m.bnd = std::move(bnd);
  m.inflow_velocity = std::move(inflow_velocity);
  if (p.is_set("initial_streamfunction")) m.streamfunction = make_function(p, "initial_streamfunction", ctx.constants);
  m.update_inflow(ctx.t0, ctx.dt);
  if (m.inflow_velocity) {
    const auto [lo, hi] = std::minmax_element(m.bnd.inflow.begin(), m.bnd.inflow.end());
    const int f = m.bnd.inflow_face();
    if (*lo < 0)
      inflow.fail("velocity", fmt::format("the inflow velocity is {:g} (negative) at t = {:g}", *lo, ctx.t0),
                  "give a velocity into the domain (> 0), or make the face an outflow");
    const double cfl = *hi * ctx.dt / grid_.h(f / 2);
    if (cfl > o.max_cfl)
      inflow.fail("velocity",
                  fmt::format("the inflow velocity {:g} gives a CFL number {:.3g} > max_cfl = {:g} with time.dt = {:g}",
                              *hi, cfl, o.max_cfl, ctx.dt),
                  fmt::format("use time.dt <= {:.3g}", 0.9 * o.max_cfl * grid_.h(f / 2) / *hi));
  }
  state_.add(grid_, "face_velocity", {"u", "v"});
  state_.add(grid_, "velocity", {"u", "v"}, true);
  state_.add(grid_, "pressure");
  state_.add(grid_, "vorticity");
  state_.add(grid_, "pressure_change");
  state_.add(grid_, "pressure_change_previous");
  if (reacting) {
    m.flow = std::make_unique<ReactingFlow>(grid_, p.sub("reacting"), ctx.constants, state_, m.bnd);
    SIMFUSE_PETSC(VecDuplicate(state_.get("pressure").vec(), m.rho_new.out()));
    SIMFUSE_PETSC(VecCopy(state_.get("density").vec(), m.rho_new));
    SIMFUSE_PETSC(VecDuplicate(state_.get("pressure").vec(), m.mu.out()));
    m.start_from_inflow();
  }
  for (auto* v : {&m.n_old, &m.work, &m.u_start})
    SIMFUSE_PETSC(VecDuplicate(state_.get("face_velocity").vec(), v->out()));
  SIMFUSE_PETSC(VecDuplicate(state_.get("pressure").vec(), m.p_hist.out()));
  if (o.initial == "taylor_green") m.set_taylor_green(ctx.t0);
  if (const double speed = m.add_streamfunction(ctx.t0); speed * ctx.dt > o.max_cfl)
    p.fail("initial_streamfunction",
           fmt::format("the initial velocity with this streamfunction gives a CFL number {:.3g} > max_cfl = {:g} with "
                       "time.dt = {:g}",
                       speed * ctx.dt, o.max_cfl, ctx.dt),
           fmt::format("use time.dt <= {:.3g}, or a weaker vortex", 0.9 * o.max_cfl / speed));
  SIMFUSE_PETSC(VecCopy(state_.get("pressure").vec(), m.p_hist));
  m.derived();
  m.assemble();
  t0_ = ctx.t0;

  m.t = ctx.t0;
  m.energy0 = kinetic_energy();
  m.steps_plan.push_back(std::make_unique<Advect>(m));
  m.steps_plan.push_back(std::make_unique<Diffuse>(m));
  m.steps_plan.push_back(std::make_unique<Project>(m));
  m.steps_plan.push_back(std::make_unique<Correct>(m, steady_));
  if (m.flow && m.flow->split_forcing()) m.force = std::make_unique<Force>(m);
}

NavierStokesSolver::~NavierStokesSolver() = default;

std::vector<PlanEntry> NavierStokesSolver::plan() {
  std::vector<PlanEntry> out;
  // Low Mach: the chemistry Strang-split around the transport (half a step before and
  // after; Lie: one step after it), then the projection.
  const bool strang = impl_->flow && impl_->flow->strang();
  if (strang) out.push_back({&impl_->flow->react(), 0.5, 0.0});
  for (auto& s : impl_->steps_plan) {
    if (s->name() == "project" && impl_->flow) {
      out.push_back({&impl_->flow->react(), strang ? 0.5 : 1.0, strang ? 0.5 : 0.0});
      if (impl_->force) out.push_back({impl_->force.get(), 1.0});
    }
    out.push_back({s.get(), 1.0});
  }
  return out;
}

bool NavierStokesSolver::exact_solution(const std::string& field, double t, Vec out) {
  const Impl& m = *impl_;
  if (m.opt.initial != "taylor_green") return false;
  if (field != "velocity" && field != "pressure" && field != "face_velocity") return false;
  const int nc = field == "pressure" ? 1 : 2;
  ArrayView o(out, grid_.owned(), nc);
  for_each(grid_.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
    const double x = grid_.x(0, i), y = grid_.x(1, j);
    if (field == "pressure") {
      o(i, j) = m.tg_p(x, y, t);
    } else if (field == "velocity") {
      o(i, j, 0, 0) = m.tg_u(x, y, t);
      o(i, j, 0, 1) = m.tg_v(x, y, t);
    } else {
      o(i, j, 0, 0) = m.tg_u(x + 0.5 * m.hx, y, t);
      o(i, j, 0, 1) = m.tg_v(x, y + 0.5 * m.hy, t);
    }
  });
  return true;
}

double NavierStokesSolver::kinetic_energy() const {
  const Impl& m = *impl_;
  const ArrayView a = state_.get("face_velocity").view_read();
  double e = 0;
  for_each(grid_.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
    e += a(i, j, 0, 0) * a(i, j, 0, 0) + a(i, j, 0, 1) * a(i, j, 0, 1);
  });
  MPI_Allreduce(MPI_IN_PLACE, &e, 1, MPI_DOUBLE, MPI_SUM, grid_.comm());
  return 0.5 * e * m.hx * m.hy;
}

double NavierStokesSolver::max_divergence() const {
  PetscHandle<Vec> d;
  SIMFUSE_PETSC(VecDuplicate(state_.get("pressure").vec(), d.out()));
  impl_->divergence(state_.get("face_velocity").vec(), d);
  PetscReal n = 0;
  SIMFUSE_PETSC(VecNorm(d, NORM_INFINITY, &n));
  return n;
}

int NavierStokesSolver::last_projection_iterations() const {
  return impl_->last_its;
}

std::pair<std::vector<double>, std::vector<double>> NavierStokesSolver::centerlines() const {
  const Impl& m = *impl_;
  const ArrayView vel = state_.get("velocity").view_read();
  const PetscInt nx = m.nx, ny = m.ny;
  // The mid-line is a row of cell centres when n is odd, else midway between two rows.
  auto weights = [](PetscInt n, PetscInt idx) {
    if (n % 2 == 1) return idx == n / 2 ? 1.0 : 0.0;
    return idx == n / 2 || idx == n / 2 - 1 ? 0.5 : 0.0;
  };
  std::vector<double> u(static_cast<size_t>(ny), 0.0), v(static_cast<size_t>(nx), 0.0);
  for_each(grid_.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
    u[static_cast<size_t>(j)] += weights(nx, i) * vel(i, j, 0, 0);
    v[static_cast<size_t>(i)] += weights(ny, j) * vel(i, j, 0, 1);
  });
  MPI_Allreduce(MPI_IN_PLACE, u.data(), static_cast<int>(u.size()), MPI_DOUBLE, MPI_SUM, grid_.comm());
  MPI_Allreduce(MPI_IN_PLACE, v.data(), static_cast<int>(v.size()), MPI_DOUBLE, MPI_SUM, grid_.comm());
  return {u, v};
}

std::vector<std::string> NavierStokesSolver::write_results(const std::string& dir) {
  if (impl_->flow) return impl_->flow->write_results(dir);
  const auto [u, v] = centerlines();
  if (grid_.rank() == 0) {
    auto write = [&](const std::string& name, const char* header, int axis, const std::vector<double>& vals) {
      const std::string tmp = dir + "/" + name + ".tmp";
      {
        std::ofstream f(tmp, std::ios::trunc);
        f << header << "\n";
        for (size_t k = 0; k < vals.size(); ++k)
          f << fmt::format("{:.10g},{:.10g}\n", grid_.x(axis, static_cast<PetscInt>(k)), vals[k]);
        if (!f) throw RunFailure("cannot write " + dir + "/" + name, "check the output folder is writable");
      }
      std::rename(tmp.c_str(), (dir + "/" + name).c_str());
    };
    write("centerline_u.csv", "y,u", 1, u);
    write("centerline_v.csv", "x,v", 0, v);
  }
  return {"centerline_u.csv", "centerline_v.csv"};
}

nlohmann::ordered_json NavierStokesSolver::describe() const {
  if (impl_->flow) {
    nlohmann::ordered_json d{{"grid", "staggered (MAC), cell-centred pressure and scalars"},
                             {"model", "low Mach number, variable density"},
                             {"advection", "momentum central, Adams-Bashforth 2"},
                             {"viscous", "explicit (1/rho) div tau, the full Newtonian stress, sub-stepped"},
                             {"project_solver", describe_ksp(impl_->ksp)}};
    d.update(impl_->flow->describe());
    if (impl_->streamfunction) d["initial_streamfunction"] = impl_->streamfunction->describe();
    if (impl_->inflow_velocity) {
      d["inflow_face"] = impl_->bnd.inflow_face() == 0 ? "x_lo" : "y_lo";
      d["inflow_velocity"] = impl_->inflow_velocity->describe();
    }
    return d;
  }
  return {{"grid", "staggered (MAC), cell-centred pressure"},
          {"advection", "central, Adams-Bashforth 2"},
          {"diffusion", "explicit Euler"},
          {"project_solver", describe_ksp(impl_->ksp)},
          {"viscosity", impl_->opt.nu}};
}

std::map<std::string, double> NavierStokesSolver::metrics() {
  std::map<std::string, double> out{{"kinetic_energy", kinetic_energy()},
                                    {"max_divergence", max_divergence()},
                                    {"cfl", impl_->last_cfl},
                                    {"max_velocity_change_rate", impl_->last_change}};
  if (impl_->flow) {
    out.erase("max_divergence");  // not zero at low Mach number: the expansion
    for (const auto& [k, v] : impl_->flow->metrics()) out[k] = v;
    out["viscous_substeps"] = impl_->viscous_substeps;
    if (impl_->flow->controlled_inflow() || impl_->inflow_clamped)
      out["inflow_clamped_steps"] = static_cast<double>(impl_->inflow_clamped);
  }
  if (impl_->opt.initial == "taylor_green") {
    // Exact decay: E(t) = E(t0) exp(-2 nu (kx^2 + ky^2) (t - t0)).
    const double r = impl_->tg_rate(impl_->t) / impl_->tg_rate(t0_);
    out["kinetic_energy_exact"] = impl_->energy0 * r * r;
    out["kinetic_energy_error"] = out["kinetic_energy"] / (impl_->energy0 * r * r) - 1;
  }
  return out;
}

void NavierStokesSolver::save_state(CheckpointData& out) const {
  out.put_vec("n_old", impl_->n_old);
  out.put_vec("p_hist", impl_->p_hist);
  out.put("have_n_old", impl_->have_n_old);
  out.put("last_change", impl_->last_change);
  out.put("last_cfl", impl_->last_cfl);
  out.put("last_its", impl_->last_its);
  out.put("steady", steady_);
  out.put("inflow_clamped", impl_->inflow_clamped);
  if (impl_->flow) impl_->flow->save_state(out);
}

void NavierStokesSolver::restore_state(const CheckpointData& in) {
  in.get_vec("n_old", impl_->n_old);
  in.get_vec("p_hist", impl_->p_hist);
  impl_->have_n_old = in.get<bool>("have_n_old");
  impl_->last_change = in.get<double>("last_change");
  impl_->last_cfl = in.get<double>("last_cfl");
  impl_->last_its = in.get<int>("last_its");
  steady_ = in.get<bool>("steady");
  impl_->inflow_clamped = in.get<long>("inflow_clamped");
  if (impl_->flow) impl_->flow->restore_state(in);
}

std::vector<std::string> NavierStokesSolver::output_fields() const {
  if (impl_->flow) return {"velocity", "pressure", "vorticity", "gas", "density"};
  return {"velocity", "pressure", "vorticity"};
}

void NavierStokesSolver::prepare_output() {
  if (impl_->flow) impl_->flow->react().update_heat_release(state_);
}

std::string NavierStokesSolver::stop_event() const {
  return impl_->flow ? impl_->flow->stop_event() : std::string();
}

std::map<std::string, std::string> NavierStokesSolver::model_context() const {
  if (impl_->flow) return impl_->flow->model_context();
  return {};
}

}  // namespace simfuse
