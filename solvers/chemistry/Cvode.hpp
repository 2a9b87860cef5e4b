#pragma once
/// \file Cvode.hpp
/// SUNDIALS CVODE (BDF, Newton, dense LAPACK or KLU sparse direct linear solver) on a Reactor: the integrator
/// combustion codes use. One CVODE memory is created once and reused across cells with
/// CVodeReInit (creating it per cell would cost more than integrating an inert cell); no
/// history is kept from one call to the next. The Jacobian is the reactor's analytic one
/// (constant pressure) or CVODE's internal difference quotients.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "simfuse/solvers/chemistry/Reactor.hpp"

namespace simfuse {

struct CvodeOptions {
  double rtol = 1e-6;
  double atol = 1e-12;        ///< on every component (mass fractions and T) ...
  std::vector<double> atols;  ///< ... unless given per component here (size reactor.size())
  int max_order = 5;
  long max_steps = 20000;
  /// "analytic": Reactor::jacobian (constant pressure); "fd": CVODE's difference
  /// quotients (one right-hand side per column).
  std::string jacobian = "analytic";
  /// "dense" (LAPACK getrf/getrs through PETSc's BLAS/LAPACK), "sundials_dense"
  /// (SUNDIALS' own dense LU, for comparison) or "klu" (SuiteSparse KLU on the
  /// Jacobian's structural pattern; needs the analytic Jacobian).
  std::string linear_solver = "dense";
  /// Step growth limits after the first step and over the first steps (CVODE's defaults
  /// 1e4 and 10; SUNDIALS 6.4's CVodeSetEtaMaxFirstStep / CVodeSetEtaMaxEarlyStep): what
  /// a remembered first step (step memory) trades against; 0 keeps CVODE's.
  double eta_max_first_step = 0;
  double eta_max_early_step = 0;
};

/// When a reactor has ignited.
struct IgnitionCriterion {
  enum class Kind {
    temperature_rise,  ///< T = T0 + delta_T (root finding)
    max_dTdt,          ///< the maximum of dT/dt (dense output)
    max_dXdt,          ///< the maximum of d[X]/dt, [X] the molar concentration of `species`
    threshold          ///< mole fraction of `species` reaches `value` (root finding)
  };
  Kind kind = Kind::temperature_rise;
  double delta_T = 400;
  int species = -1;  ///< mechanism species index (max_dXdt, threshold)
  double value = 0;  ///< threshold mole fraction
  static Kind parse(const std::string& name);
  static const std::vector<std::string>& names();
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
  /// the state on failure. With `step` (a cell's memory; 0 at first): CVODE starts from
  /// `first_step_fraction` x the last step it took in the cell's previous call (BDF
  /// restarts at order 1, where the last step, taken at a higher order, would fail), and
  /// `step` receives this call's last step.
  void advance(double* y, double dt, double* step = nullptr, double first_step_fraction = 0.1);

  /// Integrates from y until T rises by `dT` above its start or `t_max` passes; returns
  /// the time of the rise, located by CVODE's root finding inside a step (so it does not
  /// depend on any output interval), or a negative number if it did not happen. y holds
  /// the state at the returned time (or at t_max).
  double time_to_rise(double* y, double dT, double t_max);

  /// Integrates from y over [0, t_max] in CVODE's own adaptive steps and returns the
  /// ignition time by `c` (negative if it did not happen); y holds the state at t_max.
  /// Maxima of a rate are located within the step that holds them, on CVODE's
  /// interpolating polynomial (golden-section search), not on an output grid.
  /// `on_step(t, y)`, if given, sees the state after every internal step (time histories).
  double ignite(double* y, const IgnitionCriterion& c, double t_max,
                const std::function<void(double, const double*)>& on_step = {});

  const CvodeStats& stats() const { return stats_; }
  /// Continues the counts from `s` (a resumed run).
  void set_stats(const CvodeStats& s) { stats_ = s; }

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
