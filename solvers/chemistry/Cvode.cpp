#include "simfuse/solvers/chemistry/Cvode.hpp"

#include <cvode/cvode.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nvector/nvector_serial.h>
#include <petscsys.h>
#include <sundials/sundials_context.h>
#include <sunlinsol/sunlinsol_dense.h>
#include <sunlinsol/sunlinsol_klu.h>
#include <sunmatrix/sunmatrix_dense.h>
#include <sunmatrix/sunmatrix_sparse.h>

// Needs petscsys.h first.
#include <petscblaslapack.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace simfuse {

namespace {

// A dense direct SUNLinearSolver on LAPACK getrf/getrs (the BLAS/LAPACK PETSc links:
// OpenBLAS on Debian). SUNDIALS' own dense LU is a plain triple loop; for GRI-3.0's
// 54 x 54 matrices LAPACK factorises 8x faster (bench/run_chemistry_bench.py), and the
// factorisation was 40% of a CVODE cell integration.
struct LapackDense {
  PetscBLASInt n = 0;
  std::vector<double> lu;
  std::vector<PetscBLASInt> piv;
  long last = 0;
};

LapackDense& lapack(SUNLinearSolver S) {
  return *static_cast<LapackDense*>(S->content);
}

SUNLinearSolver make_lapack_dense(int n, SUNContext ctx) {
  SUNLinearSolver S = SUNLinSolNewEmpty(ctx);
  if (!S) return nullptr;
  auto* c = new LapackDense;
  c->n = static_cast<PetscBLASInt>(n);
  c->lu.resize(static_cast<size_t>(n) * n);
  c->piv.resize(static_cast<size_t>(n));
  S->content = c;
  S->ops->gettype = [](SUNLinearSolver) { return SUNLINEARSOLVER_DIRECT; };
  S->ops->getid = [](SUNLinearSolver) { return SUNLINEARSOLVER_CUSTOM; };
  S->ops->initialize = [](SUNLinearSolver) { return SUNLS_SUCCESS; };
  S->ops->setup = [](SUNLinearSolver S, SUNMatrix A) {
    LapackDense& c = lapack(S);
    const double* a = SUNDenseMatrix_Data(A);
    std::copy(a, a + c.lu.size(), c.lu.begin());
    PetscBLASInt info = 0;
    LAPACKgetrf_(&c.n, &c.n, c.lu.data(), &c.n, c.piv.data(), &info);
    c.last = info;
    return info > 0 ? SUNLS_LUFACT_FAIL : info < 0 ? SUNLS_PACKAGE_FAIL_UNREC : SUNLS_SUCCESS;
  };
  S->ops->solve = [](SUNLinearSolver S, SUNMatrix, N_Vector x, N_Vector b, sunrealtype) {
    LapackDense& c = lapack(S);
    N_VScale(1.0, b, x);
    const PetscBLASInt one = 1;
    PetscBLASInt info = 0;
    LAPACKgetrs_("N", &c.n, &one, c.lu.data(), &c.n, c.piv.data(), N_VGetArrayPointer(x), &c.n, &info);
    c.last = info;
    return info == 0 ? SUNLS_SUCCESS : SUNLS_PACKAGE_FAIL_UNREC;
  };
  S->ops->lastflag = [](SUNLinearSolver S) { return static_cast<sunindextype>(lapack(S).last); };
  S->ops->free = [](SUNLinearSolver S) {
    if (!S) return SUNLS_SUCCESS;
    delete static_cast<LapackDense*>(S->content);
    S->content = nullptr;
    SUNLinSolFreeEmpty(S);
    return SUNLS_SUCCESS;
  };
  return S;
}

}  // namespace

struct CvodeIntegrator::Impl {
  Reactor& reactor;
  CvodeOptions opt;
  SUNContext ctx = nullptr;
  N_Vector y = nullptr;
  SUNMatrix A = nullptr;
  SUNLinearSolver LS = nullptr;
  void* mem = nullptr;
  double T_target = 0;
  int root_species = -1;  // >= 0: the root is a mole fraction of this species reaching X_target
  double X_target = 0;
  bool rooting = false;
  bool sparse = false;
  std::vector<double> dense;                   // row-major Jacobian from the reactor
  std::vector<double> jac_cm;                  // the same, column-major (dense analytic path)
  std::vector<sunindextype> col_ptr, row_idx;  // KLU: the structural pattern (CSC)

  explicit Impl(Reactor& r, const CvodeOptions& o) : reactor(r), opt(o) {}

  static int rhs(sunrealtype, N_Vector y, N_Vector ydot, void* data) {
    auto* self = static_cast<Impl*>(data);
    const double* yy = N_VGetArrayPointer(y);
    if (!(yy[0] > 0)) return 1;  // recoverable: CVODE retries with a smaller step
    self->reactor.rhs(yy, N_VGetArrayPointer(ydot));
    return 0;
  }
  // The KLU path: the reactor's Jacobian into the sparse matrix's fixed pattern. (The
  // dense analytic path goes through linsys below.)
  static int sparse_jac(sunrealtype, N_Vector y, N_Vector, SUNMatrix J, void* data, N_Vector, N_Vector, N_Vector) {
    auto* self = static_cast<Impl*>(data);
    const double* yy = N_VGetArrayPointer(y);
    if (!(yy[0] > 0)) return 1;
    const int n = self->reactor.size();
    self->dense.resize(static_cast<size_t>(n) * n);
    self->reactor.jacobian(yy, self->dense.data());
    sunindextype* cp = SUNSparseMatrix_IndexPointers(J);
    sunindextype* ri = SUNSparseMatrix_IndexValues(J);
    double* v = SUNSparseMatrix_Data(J);
    std::copy(self->col_ptr.begin(), self->col_ptr.end(), cp);
    std::copy(self->row_idx.begin(), self->row_idx.end(), ri);
    for (int j = 0; j < n; ++j)
      for (sunindextype e = self->col_ptr[j]; e < self->col_ptr[j + 1]; ++e)
        v[e] = self->dense[static_cast<size_t>(self->row_idx[e]) * n + j];
    return 0;
  }
  // The dense analytic path: the linear system M = I - gamma J assembled in one pass from
  // the reactor's Jacobian (kept column-major between setups), instead of CVODE's
  // Jacobian callback followed by a saved-copy and a scale-add pass over the matrix (15% of
  // a GRI-3.0 cell integration). A new Jacobian only when CVODE says the old one is stale.
  static int linsys(sunrealtype, N_Vector y, N_Vector, SUNMatrix A, sunbooleantype jok, sunbooleantype* jcur,
                    sunrealtype gamma, void* data, N_Vector, N_Vector, N_Vector) {
    auto* self = static_cast<Impl*>(data);
    const int n = self->reactor.size();
    const size_t nn = static_cast<size_t>(n) * n;
    if (!jok || self->jac_cm.size() != nn) {
      const double* yy = N_VGetArrayPointer(y);
      if (!(yy[0] > 0)) return 1;
      self->dense.resize(nn);
      self->jac_cm.resize(nn);
      self->reactor.jacobian(yy, self->dense.data());
      for (int j = 0; j < n; ++j)
        for (int i = 0; i < n; ++i)
          self->jac_cm[static_cast<size_t>(j) * n + i] = self->dense[static_cast<size_t>(i) * n + j];
      *jcur = SUNTRUE;
    } else {
      *jcur = SUNFALSE;
    }
    double* a = SUNDenseMatrix_Data(A);
    for (size_t k = 0; k < nn; ++k) a[k] = -gamma * self->jac_cm[k];
    for (int j = 0; j < n; ++j) a[static_cast<size_t>(j) * n + j] += 1.0;
    return 0;
  }
  static int root(sunrealtype, N_Vector y, sunrealtype* g, void* data) {
    auto* self = static_cast<Impl*>(data);
    const double* yy = N_VGetArrayPointer(y);
    g[0] = self->root_species >= 0 ? self->reactor.mole_fraction(yy, self->root_species) - self->X_target
                                   : yy[0] - self->T_target;
    return 0;
  }

  void check(int flag, const char* what) const {
    if (flag < 0)
      throw RunFailure(fmt::format("CVODE: {} failed: {}", what, CVodeGetReturnFlagName(flag)),
                       "see the CVODE documentation of this flag");
  }
};

CvodeIntegrator::CvodeIntegrator(Reactor& reactor, const CvodeOptions& opt)
    : impl_(std::make_unique<Impl>(reactor, opt)) {
  Impl& m = *impl_;
  const int n = reactor.size();
  if (SUNContext_Create(nullptr, &m.ctx) != 0) throw InternalError("SUNContext_Create failed", __FILE__, __LINE__);
  m.y = N_VNew_Serial(n, m.ctx);
  N_VConst(0.0, m.y);
  N_VGetArrayPointer(m.y)[0] = 1000.0;
  m.mem = CVodeCreate(CV_BDF, m.ctx);
  m.check(CVodeInit(m.mem, &Impl::rhs, 0.0, m.y), "CVodeInit");
  if (!opt.atols.empty()) {
    if (static_cast<int>(opt.atols.size()) != n)
      throw InternalError(fmt::format("{} absolute tolerances for {} components", opt.atols.size(), n), __FILE__,
                          __LINE__);
    N_Vector a = N_VNew_Serial(n, m.ctx);
    std::copy(opt.atols.begin(), opt.atols.end(), N_VGetArrayPointer(a));
    const int flag = CVodeSVtolerances(m.mem, opt.rtol, a);  // CVODE keeps its own copy
    N_VDestroy(a);
    m.check(flag, "CVodeSVtolerances");
  } else {
    m.check(CVodeSStolerances(m.mem, opt.rtol, opt.atol), "CVodeSStolerances");
  }
  m.check(CVodeSetUserData(m.mem, &m), "CVodeSetUserData");
  m.check(CVodeSetMaxNumSteps(m.mem, opt.max_steps), "CVodeSetMaxNumSteps");
  m.check(CVodeSetMaxOrd(m.mem, opt.max_order), "CVodeSetMaxOrd");
  if (opt.eta_max_first_step > 0)
    m.check(CVodeSetEtaMaxFirstStep(m.mem, opt.eta_max_first_step), "CVodeSetEtaMaxFirstStep");
  if (opt.eta_max_early_step > 0)
    m.check(CVodeSetEtaMaxEarlyStep(m.mem, opt.eta_max_early_step), "CVodeSetEtaMaxEarlyStep");
  if (opt.linear_solver == "klu") {
    if (opt.jacobian != "analytic")
      throw UserError("the KLU linear solver needs the analytic Jacobian (CVODE's difference quotients are dense)",
                      "use jacobian: analytic with linear_solver: klu, or linear_solver: dense");
    // Structural pattern of d(dy/dt)/dy in [T, Y]: the temperature row and column are
    // full; at constant pressure a species taking part in any reaction depends on every
    // mass fraction through the density (C_j = rho Y_j / W_j, rho ~ 1/sum Y/W), so its row
    // is full too; only inert species (N2 in h2o2.yaml, AR, HE) give empty rows.
    const Mechanism& mech = reactor.mechanism();
    std::vector<char> active(static_cast<size_t>(n), 0);
    active[0] = 1;
    for (const auto& r : mech.reactions()) {
      for (const auto& [k, nu] : r.reactants) active[static_cast<size_t>(k) + 1] = 1;
      for (const auto& [k, nu] : r.products) active[static_cast<size_t>(k) + 1] = 1;
    }
    m.col_ptr.assign(1, 0);
    for (int j = 0; j < n; ++j) {
      for (int i = 0; i < n; ++i)
        if (active[static_cast<size_t>(i)] || i == j) m.row_idx.push_back(i);
      m.col_ptr.push_back(static_cast<sunindextype>(m.row_idx.size()));
    }
    m.sparse = true;
    m.A = SUNSparseMatrix(n, n, static_cast<sunindextype>(m.row_idx.size()), CSC_MAT, m.ctx);
    m.LS = SUNLinSol_KLU(m.y, m.A, m.ctx);
  } else if (opt.linear_solver == "dense") {
    m.A = SUNDenseMatrix(n, n, m.ctx);
    m.LS = make_lapack_dense(n, m.ctx);
  } else if (opt.linear_solver == "sundials_dense") {
    m.A = SUNDenseMatrix(n, n, m.ctx);
    m.LS = SUNLinSol_Dense(m.y, m.A, m.ctx);
  } else {
    throw UserError(fmt::format("linear solver '{}' is not known", opt.linear_solver),
                    "use dense, sundials_dense or klu");
  }
  if (!m.A || !m.LS) throw InternalError("creating the CVODE linear solver failed", __FILE__, __LINE__);
  m.check(CVodeSetLinearSolver(m.mem, m.LS, m.A), "CVodeSetLinearSolver");
  if (opt.jacobian == "analytic") {
    if (reactor.mode() != Reactor::Mode::constant_pressure)
      throw UserError("the analytic Jacobian is for constant-pressure reactors", "use jacobian: fd at constant volume");
    if (m.sparse)
      m.check(CVodeSetJacFn(m.mem, &Impl::sparse_jac), "CVodeSetJacFn");
    else
      m.check(CVodeSetLinSysFn(m.mem, &Impl::linsys), "CVodeSetLinSysFn");
  } else if (opt.jacobian != "fd") {
    throw UserError(fmt::format("jacobian '{}' is not known", opt.jacobian), "use analytic or fd");
  }
  CVodeSetErrHandlerFn(
      m.mem, [](int, const char*, const char*, char*, void*) {}, nullptr);  // failures are thrown, not printed
}

CvodeIntegrator::~CvodeIntegrator() {
  Impl& m = *impl_;
  if (m.mem) CVodeFree(&m.mem);
  if (m.LS) SUNLinSolFree(m.LS);
  if (m.A) SUNMatDestroy(m.A);
  if (m.y) N_VDestroy(m.y);
  if (m.ctx) SUNContext_Free(&m.ctx);
}

void CvodeIntegrator::collect() {
  Impl& m = *impl_;
  long v = 0;
  CVodeGetNumSteps(m.mem, &v);
  stats_.steps += v;
  CVodeGetNumRhsEvals(m.mem, &v);
  stats_.rhs_evals += v;
  CVodeGetNumJacEvals(m.mem, &v);
  stats_.jac_evals += v;  // CVODE counts the Jacobians linsys makes (jcur) too
  CVodeGetNumLinRhsEvals(m.mem, &v);
  stats_.lin_rhs_evals += v;
  CVodeGetNumErrTestFails(m.mem, &v);
  stats_.error_test_fails += v;
  CVodeGetNumNonlinSolvConvFails(m.mem, &v);
  stats_.nonlin_fails += v;
  ++stats_.calls;
}

void CvodeIntegrator::restart(const double* y, double t_stop, bool root) {
  Impl& m = *impl_;
  std::copy(y, y + m.reactor.size(), N_VGetArrayPointer(m.y));
  m.check(CVodeReInit(m.mem, 0.0, m.y), "CVodeReInit");
  if (root != m.rooting) {
    m.check(root ? CVodeRootInit(m.mem, 1, &Impl::root) : CVodeRootInit(m.mem, 0, nullptr), "CVodeRootInit");
    m.rooting = root;
  }
  m.check(CVodeSetStopTime(m.mem, t_stop), "CVodeSetStopTime");
}

void CvodeIntegrator::advance(double* y, double dt, double* step, double first_step_fraction) {
  Impl& m = *impl_;
  restart(y, dt, false);
  // 0: CVODE's own estimate of the first step (set on every call: the value persists).
  if (step) m.check(CVodeSetInitStep(m.mem, std::min(dt, first_step_fraction * *step)), "CVodeSetInitStep");
  sunrealtype t = 0;
  const int flag = CVode(m.mem, dt, m.y, &t, CV_NORMAL);
  if (step && flag >= 0) {
    sunrealtype h = 0;
    CVodeGetLastStep(m.mem, &h);
    *step = h;
  }
  collect();
  if (flag < 0)
    throw RunFailure(fmt::format("CVODE failed ({}) at t = {:g} of a step of {:g} from T = {:g} K",
                                 CVodeGetReturnFlagName(flag), t, dt, y[0]),
                     "tighten or loosen the tolerances, raise max_steps, or reduce dt");
  const double* yy = N_VGetArrayPointer(m.y);
  std::copy(yy, yy + m.reactor.size(), y);
}

double CvodeIntegrator::time_to_rise(double* y, double dT, double t_max) {
  Impl& m = *impl_;
  m.root_species = -1;
  m.T_target = y[0] + dT;
  restart(y, t_max, true);
  sunrealtype t = 0;
  double found = -1;
  while (t < t_max) {
    const int flag = CVode(m.mem, t_max, m.y, &t, CV_NORMAL);
    if (flag == CV_ROOT_RETURN) {
      found = t;
      break;
    }
    if (flag < 0) {
      collect();
      throw RunFailure(
          fmt::format("CVODE failed ({}) at t = {:g} s from T = {:g} K", CVodeGetReturnFlagName(flag), t, y[0]),
          "tighten the tolerances or raise max_steps");
    }
  }
  collect();
  const double* yy = N_VGetArrayPointer(m.y);
  std::copy(yy, yy + m.reactor.size(), y);
  return found;
}

IgnitionCriterion::Kind IgnitionCriterion::parse(const std::string& name) {
  const auto& n = names();
  const auto it = std::find(n.begin(), n.end(), name);
  if (it == n.end()) throw InternalError("unknown ignition criterion " + name, __FILE__, __LINE__);
  return static_cast<Kind>(it - n.begin());
}

const std::vector<std::string>& IgnitionCriterion::names() {
  static const std::vector<std::string> n{"temperature_rise", "max_dTdt", "max_dXdt", "threshold"};
  return n;
}

double CvodeIntegrator::ignite(double* y, const IgnitionCriterion& c, double t_max,
                               const std::function<void(double, const double*)>& on_step) {
  Impl& m = *impl_;
  const int n = m.reactor.size();
  using Kind = IgnitionCriterion::Kind;
  const bool by_root = c.kind == Kind::temperature_rise || c.kind == Kind::threshold;
  m.root_species = c.kind == Kind::threshold ? c.species : -1;
  m.T_target = y[0] + c.delta_T;
  m.X_target = c.value;
  restart(y, t_max, by_root);
  const double T0 = y[0];
  auto fail = [&](int flag, double t) {
    collect();
    throw RunFailure(fmt::format("CVODE failed ({}) at t = {:g} s of an ignition run from T = {:g} K",
                                 CVodeGetReturnFlagName(flag), t, T0),
                     "tighten the tolerances or raise max_steps");
  };
  // The rate whose maximum marks ignition, at time t inside the last step (interpolated).
  std::vector<double> yt(static_cast<size_t>(n)), f(static_cast<size_t>(n));
  N_Vector yv = N_VMake_Serial(n, yt.data(), m.ctx);
  auto rate_at = [&](double t) {
    if (CVodeGetDky(m.mem, t, 0, yv) < 0) return -HUGE_VAL;
    m.reactor.rhs(yt.data(), f.data());
    return c.kind == Kind::max_dTdt ? f[0] : m.reactor.concentration_rate(yt.data(), f.data(), c.species);
  };
  // The maximum of the rate inside the last step [t - h, t]: samples, then a
  // golden-section search around the best sample. Returns (time, rate).
  auto max_in_step = [&](double t_end) {
    sunrealtype h = 0;
    CVodeGetLastStep(m.mem, &h);
    const double a = t_end - h;
    constexpr int kSamples = 8;
    double tb = a, fb = -HUGE_VAL;
    for (int i = 0; i <= kSamples; ++i) {
      const double ti = i == kSamples ? t_end : a + h * i / kSamples;
      const double fi = rate_at(ti);
      if (fi > fb) {
        fb = fi;
        tb = ti;
      }
    }
    double lo = std::max(a, tb - h / kSamples), hi = std::min(t_end, tb + h / kSamples);
    const double g = 0.5 * (std::sqrt(5.0) - 1);
    double x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo);
    double f1 = rate_at(x1), f2 = rate_at(x2);
    for (int it = 0; it < 60 && hi - lo > 1e-10 * h; ++it) {
      if (f1 < f2) {
        lo = x1;
        x1 = x2;
        f1 = f2;
        x2 = lo + g * (hi - lo);
        f2 = rate_at(x2);
      } else {
        hi = x2;
        x2 = x1;
        f2 = f1;
        x1 = hi - g * (hi - lo);
        f1 = rate_at(x1);
      }
    }
    const double tm = 0.5 * (lo + hi), fm = rate_at(tm);
    return fm >= fb ? std::make_pair(tm, fm) : std::make_pair(tb, fb);
  };
  // Rising phase: only the rate at each step's end (one right-hand side per step). When
  // it first falls at step n, the maximum lies in [t_{n-2}, t_n]: searched in step n, and
  // if it sits at that step's start, in step n-1 re-integrated from the saved state.
  double found = -1, best = -HUGE_VAL;
  double r_prev = -HUGE_VAL, t_prev = 0, t_prev2 = 0;
  std::vector<double> y_prev(y, y + n), y_prev2(y, y + n), y_now(static_cast<size_t>(n));
  sunrealtype t = 0;
  long steps = 0;  // one step per call here: CVODE's own max_steps counts calls, so count them
  while (t < t_max) {
    const int flag = CVode(m.mem, t_max, m.y, &t, CV_ONE_STEP);
    if (flag < 0) {
      N_VDestroy(yv);
      fail(flag, t);
    }
    if (++steps > m.opt.max_steps) {
      N_VDestroy(yv);
      collect();
      throw RunFailure(fmt::format("CVODE took more than max_steps = {} steps in an ignition run from T = {:g} K "
                                   "(at t = {:g} s of {:g} s)",
                                   m.opt.max_steps, T0, t, t_max),
                       "raise solver.params.integrator.max_steps (or loosen the tolerances)");
    }
    if (on_step) on_step(t, N_VGetArrayPointer(m.y));
    if (by_root) {
      if (flag == CV_ROOT_RETURN && found < 0) found = t;
      continue;
    }
    const double* yc = N_VGetArrayPointer(m.y);
    const double r_end = rate_at(t);
    if (r_end < r_prev && r_prev > best) {
      auto [tm, fm] = max_in_step(t);
      sunrealtype h = 0;
      CVodeGetLastStep(m.mem, &h);
      if (tm <= t - h + 1e-9 * h && t_prev > 0) {
        // The maximum is at or before this step's start: search the previous step again.
        std::copy(yc, yc + n, y_now.begin());
        const double t_now = t;
        std::copy(y_prev2.begin(), y_prev2.end(), N_VGetArrayPointer(m.y));
        m.check(CVodeReInit(m.mem, t_prev2, m.y), "CVodeReInit");
        m.check(CVodeSetStopTime(m.mem, t_prev), "CVodeSetStopTime");
        sunrealtype tr = t_prev2;
        while (tr < t_prev) {
          const int fl = CVode(m.mem, t_prev, m.y, &tr, CV_ONE_STEP);
          if (fl < 0) {
            N_VDestroy(yv);
            fail(fl, tr);
          }
          auto [ts, fs] = max_in_step(tr);
          if (fs > fm) {
            tm = ts;
            fm = fs;
          }
        }
        std::copy(y_now.begin(), y_now.end(), N_VGetArrayPointer(m.y));
        m.check(CVodeReInit(m.mem, t_now, m.y), "CVodeReInit");
        m.check(CVodeSetStopTime(m.mem, t_max), "CVodeSetStopTime");
        t = t_now;
      }
      if (fm > best) {
        best = fm;
        found = tm;
      }
    }
    y_prev2 = y_prev;
    t_prev2 = t_prev;
    const double* yn = N_VGetArrayPointer(m.y);
    std::copy(yn, yn + n, y_prev.begin());
    t_prev = t;
    r_prev = r_end;
  }
  // A rate still rising at t_max has its maximum there.
  if (!by_root && r_prev > best && t > 0) found = t;
  N_VDestroy(yv);
  collect();
  // A maximum at the very start (a rate that only decays) is not an ignition.
  if (!by_root && found >= 0 && found <= 1e-12 * t_max) found = -1;
  const double* yy = N_VGetArrayPointer(m.y);
  std::copy(yy, yy + n, y);
  return found;
}

}  // namespace simfuse
