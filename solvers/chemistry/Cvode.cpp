#include "solvers/chemistry/Cvode.hpp"

#include <cvode/cvode.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nvector/nvector_serial.h>
#include <sundials/sundials_context.h>
#include <sunlinsol/sunlinsol_dense.h>
#include <sunmatrix/sunmatrix_dense.h>

#include <algorithm>
#include <vector>

namespace simfuse {

struct CvodeIntegrator::Impl {
  Reactor& reactor;
  CvodeOptions opt;
  SUNContext ctx = nullptr;
  N_Vector y = nullptr;
  SUNMatrix A = nullptr;
  SUNLinearSolver LS = nullptr;
  void* mem = nullptr;
  double T_target = 0;
  bool rooting = false;
  std::vector<double> dense;  // row-major Jacobian from the reactor

  explicit Impl(Reactor& r, const CvodeOptions& o) : reactor(r), opt(o) {}

  static int rhs(sunrealtype, N_Vector y, N_Vector ydot, void* data) {
    auto* self = static_cast<Impl*>(data);
    const double* yy = N_VGetArrayPointer(y);
    if (!(yy[0] > 0)) return 1;  // recoverable: CVODE retries with a smaller step
    self->reactor.rhs(yy, N_VGetArrayPointer(ydot));
    return 0;
  }
  static int jac(sunrealtype, N_Vector y, N_Vector, SUNMatrix J, void* data, N_Vector, N_Vector, N_Vector) {
    auto* self = static_cast<Impl*>(data);
    const double* yy = N_VGetArrayPointer(y);
    if (!(yy[0] > 0)) return 1;
    const int n = self->reactor.size();
    self->dense.resize(static_cast<size_t>(n) * n);
    self->reactor.jacobian(yy, self->dense.data());
    for (int j = 0; j < n; ++j) {
      double* col = SUNDenseMatrix_Column(J, j);
      for (int i = 0; i < n; ++i) col[i] = self->dense[static_cast<size_t>(i) * n + j];
    }
    return 0;
  }
  static int root(sunrealtype, N_Vector y, sunrealtype* g, void* data) {
    auto* self = static_cast<Impl*>(data);
    g[0] = N_VGetArrayPointer(y)[0] - self->T_target;
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
  m.check(CVodeSStolerances(m.mem, opt.rtol, opt.atol), "CVodeSStolerances");
  m.check(CVodeSetUserData(m.mem, &m), "CVodeSetUserData");
  m.check(CVodeSetMaxNumSteps(m.mem, opt.max_steps), "CVodeSetMaxNumSteps");
  m.check(CVodeSetMaxOrd(m.mem, opt.max_order), "CVodeSetMaxOrd");
  m.A = SUNDenseMatrix(n, n, m.ctx);
  m.LS = SUNLinSol_Dense(m.y, m.A, m.ctx);
  m.check(CVodeSetLinearSolver(m.mem, m.LS, m.A), "CVodeSetLinearSolver");
  if (opt.jacobian == "analytic") {
    if (reactor.mode() != Reactor::Mode::constant_pressure)
      throw UserError("the analytic Jacobian is for constant-pressure reactors", "use jacobian: fd at constant volume");
    m.check(CVodeSetJacFn(m.mem, &Impl::jac), "CVodeSetJacFn");
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
  stats_.jac_evals += v;
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

void CvodeIntegrator::advance(double* y, double dt) {
  Impl& m = *impl_;
  restart(y, dt, false);
  sunrealtype t = 0;
  const int flag = CVode(m.mem, dt, m.y, &t, CV_NORMAL);
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

}  // namespace simfuse
