#pragma once
/// \file Cvode.hpp
/// SUNDIALS CVODE (BDF, Newton, dense direct linear solver) on a Reactor: the integrator
/// combustion codes use. One CVODE memory is created once and reused across cells with
/// CVodeReInit (creating it per cell would cost more than integrating an inert cell); no
/// history is kept from one call to the next. The Jacobian is the reactor's analytic one
/// (constant pressure) or CVODE's internal difference quotients.
#include <memory>
#include <string>

#include "solvers/chemistry/Reactor.hpp"

namespace simfuse {

struct CvodeOptions {
  double rtol = 1e-6;
  double atol = 1e-12;  ///< on every component (mass fractions and T)
  int max_order = 5;
  long max_steps = 20000;
  /// "analytic": Reactor::jacobian (constant pressure); "fd": CVODE's difference
  /// quotients (one right-hand side per column).
  std::string jacobian = "analytic";
};

/// Integrator work, summed over calls.
struct CvodeStats {
  long calls = 0, steps = 0, rhs_evals = 0, jac_evals = 0, lin_rhs_evals = 0, error_test_fails = 0, nonlin_fails = 0;
};

class CvodeIntegrator {
 public:
  CvodeIntegrator(Reactor& reactor, const CvodeOptions& opt);
  ~CvodeIntegrator();
  CvodeIntegrator(const CvodeIntegrator&) = delete;
  CvodeIntegrator& operator=(const CvodeIntegrator&) = delete;

  /// Advances y (size reactor.size()) by dt. Throws RunFailure naming the CVODE flag and
  /// the state on failure.
  void advance(double* y, double dt);

  /// Integrates from y until T rises by `dT` above its start or `t_max` passes; returns
  /// the time of the rise, located by CVODE's root finding inside a step (so it does not
  /// depend on any output interval), or a negative number if it did not happen. y holds
  /// the state at the returned time (or at t_max).
  double time_to_rise(double* y, double dT, double t_max);

  const CvodeStats& stats() const { return stats_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  CvodeStats stats_;
  void collect();
  // Loads y, re-initialises CVODE at t = 0 to stop at t_stop, with or without the
  // temperature-rise root function.
  void restart(const double* y, double t_stop, bool root);
};

}  // namespace simfuse
