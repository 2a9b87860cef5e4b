#include "simfuse/solvers/common/DiffusionOperator.hpp"

#include <fmt/format.h>
#include <petscdmda.h>

#include <cmath>

#include "simfuse/solvers/common/Evaluate.hpp"
#include "simfuse/solvers/common/LinearSolver.hpp"

namespace simfuse {

namespace {

struct PointInfo {
  bool on_wall[3] = {false, false, false};
  int wall_face[3] = {-1, -1, -1};
  bool dirichlet = false;
  const Function* g = nullptr;  // Dirichlet value
};

PointInfo classify(const Grid& grid, const BoundaryConditions& bc, const PetscInt idx[3]) {
  PointInfo p;
  for (int d = 0; d < grid.dim(); ++d) {
    if (grid.periodic(d)) continue;
    if (idx[d] == 0 || idx[d] == grid.n(d) - 1) {
      p.on_wall[d] = true;
      p.wall_face[d] = 2 * d + (idx[d] == 0 ? 0 : 1);
      const auto& fc = bc.face[p.wall_face[d]];
      if (fc.kind == BcKind::dirichlet && !p.dirichlet) {
        p.dirichlet = true;
        p.g = fc.value.get();
      }
    }
  }
  return p;
}

// Area fraction of the dual-cell face normal to direction d.
double area(const PointInfo& p, int dim, int d) {
  double a = 1;
  for (int e = 0; e < dim; ++e)
    if (e != d && p.on_wall[e]) a *= 0.5;
  return a;
}

}  // namespace

DiffusionOperator::DiffusionOperator(const Grid& grid, std::shared_ptr<Function> kappa, BoundaryConditions bc,
                                     const std::string& kappa_key)
    : grid_(grid), kappa_(std::move(kappa)), bc_(std::move(bc)) {
  if (grid.cell_centered())
    throw UserError("this solver's diffusion discretisation is vertex-centred, but grid.centering is 'cell'",
                    "remove 'centering: cell' from grid: (cell centering is for staggered solvers such as "
                    "navier_stokes)");
  DM dm = grid.dm(1);
  SIMFUSE_PETSC(DMCreateMatrix(dm, K_.out()));
  SIMFUSE_PETSC(MatSetOption(K_, MAT_NEW_NONZERO_ALLOCATION_ERR, PETSC_TRUE));
  SIMFUSE_PETSC(DMCreateGlobalVector(dm, M_.out()));

  const int dim = grid.dim();
  const Box& own = grid.owned();
  double inv_h2[3];
  for (int d = 0; d < 3; ++d) inv_h2[d] = 1.0 / (grid.h(d) * grid.h(d));
  for (int f = 0; f < 6; ++f)
    if (bc_.face[f].value && !bc_.face[f].value->time_independent()) boundary_static_ = false;

  double kmin = std::numeric_limits<double>::infinity();
  std::array<double, 3> kmin_at{};
  ArrayView m(M_, own, 1);
  PetscInt local = 0;
  for_each(own, [&](PetscInt i, PetscInt j, PetscInt k) {
    const PetscInt idx[3] = {i, j, k};
    const std::array<double, 3> x{grid.x(0, i), grid.x(1, j), grid.x(2, k)};
    const PointInfo p = classify(grid, bc_, idx);
    const PetscInt row = local++;
    MatStencil rs{};
    rs.i = i;
    rs.j = j;
    rs.k = k;
    if (p.dirichlet) {
      m(i, j, k) = 1.0;
      const double zero = 0.0;
      SIMFUSE_PETSC(MatSetValuesStencil(K_, 1, &rs, 1, &rs, &zero, INSERT_VALUES));
      dirichlet_.push_back({row, 0.0, x, p.g});
      return;
    }
    double w = 1;
    for (int d = 0; d < dim; ++d)
      if (p.on_wall[d]) w *= 0.5;
    m(i, j, k) = w;

    MatStencil cols[7];
    double vals[7];
    int nc = 1;
    cols[0] = rs;
    vals[0] = 0;
    for (int d = 0; d < dim; ++d) {
      for (int s = -1; s <= 1; s += 2) {
        PetscInt q[3] = {i, j, k};
        q[d] += s;
        if (!grid.periodic(d) && (q[d] < 0 || q[d] >= grid.n(d))) {
          // A wall face of this dual cell: Neumann flux enters through it.
          const FaceCondition& fc = bc_.face[p.wall_face[d]];
          fluxes_.push_back({row, area(p, dim, d) / grid.h(d), x, fc.value.get()});
          continue;
        }
        std::array<double, 3> mid = x;
        mid[d] += 0.5 * s * grid.h(d);
        const double kf = (*kappa_)(mid[0], mid[1], mid[2], 0.0);
        // NaN or inf (sqrt(-1), 1/0, log(0) in the expression) counts as the worst value.
        const double ranked = std::isfinite(kf) ? kf : -std::numeric_limits<double>::infinity();
        if (!(kf > 0 && std::isfinite(kf)) && ranked < kmin) {
          kmin = ranked;
          kmin_at = mid;
        }
        const double coef = kf * area(p, dim, d) * inv_h2[d];
        vals[0] += coef;
        PetscInt qw[3] = {q[0], q[1], q[2]};
        if (grid.periodic(d)) qw[d] = (q[d] + grid.n(d)) % grid.n(d);
        const PointInfo pq = classify(grid, bc_, qw);
        if (pq.dirichlet) {
          const std::array<double, 3> xq{grid.x(0, qw[0]), grid.x(1, qw[1]), grid.x(2, qw[2])};
          couplings_.push_back({row, coef, xq, pq.g});
        } else {
          MatStencil c{};
          c.i = q[0];
          c.j = q[1];
          c.k = q[2];
          cols[nc] = c;
          vals[nc] = -coef;
          ++nc;
        }
      }
    }
    SIMFUSE_PETSC(MatSetValuesStencil(K_, 1, &rs, nc, cols, vals, INSERT_VALUES));
  });
  SIMFUSE_PETSC(MatAssemblyBegin(K_, MAT_FINAL_ASSEMBLY));
  SIMFUSE_PETSC(MatAssemblyEnd(K_, MAT_FINAL_ASSEMBLY));

  // kappa must be positive everywhere: check on all ranks together.
  double gmin = kmin;
  MPI_Allreduce(&kmin, &gmin, 1, MPI_DOUBLE, MPI_MIN, grid.comm());
  if (!(gmin > 0) && gmin != std::numeric_limits<double>::infinity()) {
    struct {
      double v;
      int r;
    } in{kmin, grid.rank()}, out{};
    MPI_Allreduce(&in, &out, 1, MPI_DOUBLE_INT, MPI_MINLOC, grid.comm());
    MPI_Bcast(kmin_at.data(), 3, MPI_DOUBLE, out.r, grid.comm());
    throw UserError(std::isinf(gmin) ? fmt::format("{} is not a finite number (NaN or inf) at ({:g}, {:g}, {:g}); "
                                                   "the diffusion coefficient must be positive and finite everywhere",
                                                   kappa_key, kmin_at[0], kmin_at[1], kmin_at[2])
                                     : fmt::format("{} = {:g} at ({:g}, {:g}, {:g}); the diffusion coefficient must "
                                                   "be positive everywhere",
                                                   kappa_key, gmin, kmin_at[0], kmin_at[1], kmin_at[2]),
                    fmt::format("change {} (it is '{}')", kappa_key, kappa_->describe()));
  }
}

void DiffusionOperator::boundary_terms(double t, Vec b) const {
  SIMFUSE_PETSC(VecSet(b, 0.0));
  double* a = nullptr;
  SIMFUSE_PETSC(VecGetArray(b, &a));
  for (const auto& c : couplings_) a[c.row] += c.coef * (*c.g)(c.x[0], c.x[1], c.x[2], t);
  for (const auto& c : fluxes_) a[c.row] += c.coef * (*c.g)(c.x[0], c.x[1], c.x[2], t);
  SIMFUSE_PETSC(VecRestoreArray(b, &a));
}

void DiffusionOperator::set_dirichlet(double t, Vec x, double scale) const {
  double* a = nullptr;
  SIMFUSE_PETSC(VecGetArray(x, &a));
  for (const auto& c : dirichlet_) a[c.row] = scale * (*c.g)(c.x[0], c.x[1], c.x[2], t);
  SIMFUSE_PETSC(VecRestoreArray(x, &a));
}

// ----------------------------------------------------------------------------- ThetaDiffusion

ThetaDiffusion::ThetaDiffusion(const DiffusionOperator& op, std::shared_ptr<Function> source, ThetaOptions opt)
    : op_(op), source_(std::move(source)), opt_(std::move(opt)) {
  const Grid& grid = op.grid();
  source_static_ = (!source_ || source_->time_independent()) && op_.boundary_time_independent();
  SIMFUSE_PETSC(MatDuplicate(op_.stiffness(), MAT_DO_NOT_COPY_VALUES, A_.out()));
  for (auto* v : {&rhs_, &work_, &s_old_, &s_new_, &f_cache_, &au_, &ag_})
    SIMFUSE_PETSC(VecDuplicate(op_.mass(), v->out()));

  create_ksp(grid, {opt_.prefix, opt_.rtol, 8, false},
             "the '" + opt_.prefix.substr(0, opt_.prefix.size() - 1) + "' linear solver", ksp_);
  if (source_ && source_->time_independent()) {  // now, so a NaN source stops set-up, not the first step
    sample(grid, *source_, 0.0, f_cache_);
    SIMFUSE_PETSC(VecPointwiseMult(f_cache_, f_cache_, op_.mass()));
    f_cached_ = true;
  }
}

void ThetaDiffusion::prepare(double dt) {
  if (dt == dt_) return;
  SIMFUSE_PETSC(MatCopy(op_.stiffness(), A_, SAME_NONZERO_PATTERN));
  SIMFUSE_PETSC(MatScale(A_, opt_.theta));
  SIMFUSE_PETSC(VecCopy(op_.mass(), work_));
  SIMFUSE_PETSC(VecScale(work_, 1.0 / dt));
  SIMFUSE_PETSC(MatDiagonalSet(A_, work_, ADD_VALUES));
  SIMFUSE_PETSC(KSPSetOperators(ksp_, A_, A_));
  options_checked([&] { return KSPSetUp(ksp_); }, reinterpret_cast<PetscObject>(ksp_.get()),
                  "the '" + opt_.prefix.substr(0, opt_.prefix.size() - 1) + "' linear solver");
  dt_ = dt;
}

void ThetaDiffusion::sources(double t, Vec out) {
  // out = M f(t) + b(t); M f is sampled once when f does not depend on time.
  if (!source_) {
    SIMFUSE_PETSC(VecSet(out, 0.0));
  } else if (source_->time_independent()) {
    if (!f_cached_) {
      sample(op_.grid(), *source_, t, f_cache_);
      SIMFUSE_PETSC(VecPointwiseMult(f_cache_, f_cache_, op_.mass()));
      f_cached_ = true;
    }
    SIMFUSE_PETSC(VecCopy(f_cache_, out));
  } else {
    sample(op_.grid(), *source_, t, out);
    SIMFUSE_PETSC(VecPointwiseMult(out, out, op_.mass()));
  }
  op_.boundary_terms(t, work_);
  SIMFUSE_PETSC(VecAXPY(out, 1.0, work_));
}

void ThetaDiffusion::step(Vec u, double t, double dt, Vec guess) {
  prepare(dt);
  const double theta = opt_.theta;
  if (source_static_) {
    if (std::isnan(s_old_t_)) {
      sources(t, s_old_);
      s_old_t_ = t;
    }
  } else {
    if (s_old_t_ != t) sources(t, s_old_);
    sources(t + dt, s_new_);
  }
  Vec s_new = source_static_ ? s_old_.get() : s_new_.get();

  // rhs = M/dt u - (1-theta) K u + theta s(t+dt) + (1-theta) s(t)
  SIMFUSE_PETSC(VecPointwiseMult(rhs_, op_.mass(), u));
  SIMFUSE_PETSC(VecScale(rhs_, 1.0 / dt));
  if (theta < 1) {
    SIMFUSE_PETSC(MatMult(op_.stiffness(), u, work_));
    SIMFUSE_PETSC(VecAXPY(rhs_, -(1 - theta), work_));
  }
  if (source_static_) {
    SIMFUSE_PETSC(VecAXPY(rhs_, 1.0, s_old_));
  } else {
    SIMFUSE_PETSC(VecAXPBYPCZ(rhs_, theta, 1 - theta, 1.0, s_new, s_old_));
  }
  op_.set_dirichlet(t + dt, rhs_, 1.0 / dt);

  op_.set_dirichlet(t + dt, u);
  if (guess) {
    SIMFUSE_PETSC(VecCopy(guess, work_));
    op_.set_dirichlet(t + dt, work_);
    guess_weights_ = least_residual_combination(A_, rhs_, u, work_, au_, ag_);
  }
  SIMFUSE_PETSC(KSPSolve(ksp_, rhs_, u));
  KSPConvergedReason reason;
  SIMFUSE_PETSC(KSPGetConvergedReason(ksp_, &reason));
  PetscInt its = 0;
  SIMFUSE_PETSC(KSPGetIterationNumber(ksp_, &its));
  SIMFUSE_PETSC(KSPGetResidualNorm(ksp_, &last_rnorm_));
  last_its_ = static_cast<int>(its);
  if (reason < 0) {
    const std::string name = opt_.prefix.substr(0, opt_.prefix.size() - 1);
    throw RunFailure(fmt::format("the '{}' linear solve did not converge at t = {:g}: {} after {} iterations "
                                 "(residual norm {:g})",
                                 name, t + dt, KSPConvergedReasons[reason], its, last_rnorm_),
                     fmt::format("try a smaller time step, -{}ksp_max_it, or a direct solver "
                                 "(-{}pc_type lu); -{}ksp_monitor shows the iterations",
                                 opt_.prefix, opt_.prefix, opt_.prefix));
  }
  if (!source_static_) {
    std::swap(s_old_, s_new_);
    s_old_t_ = t + dt;
  }
}

std::string ThetaDiffusion::solver_description() const {
  return describe_ksp(ksp_);
}

}  // namespace simfuse
