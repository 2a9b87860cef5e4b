#pragma once
/// \file Rosenbrock.hpp
/// Rosenbrock methods for small stiff systems (one grid point's chemistry), of any size
/// (dense LU: O(N^3) per step; one Jacobian and one LU per step, no Newton iterations):
///  - Rodas3 (Sandu et al. 1997, as in KPP): 4 stages, order 3, L-stable, stiffly
///    accurate, embedded order-2 estimate;
///  - Rodas4 (Hairer and Wanner 1996, IV.7): 6 stages, order 4, L-stable, stiffly
///    accurate, embedded order-3 estimate. What OpenFOAM's rodas34 is.
/// A one-step method has no history to rebuild: given the step the controller proposed
/// at the end of the previous call (`h` in and out of integrate()), a cell continues
/// where it stopped, which a BDF method restarted at order 1 cannot.
#include <vector>

#include "simfuse/solvers/kinetics/Kinetics.hpp"

namespace simfuse {

struct RosenbrockOptions {
  double rtol = 1e-6;         ///< relative tolerance of the local error
  double atol = 1e-10;        ///< absolute tolerance
  std::vector<double> atols;  ///< per component absolute tolerances (empty: atol for all)
  /// Nonnegative systems: set components in [-atol, 0) to 0 after each accepted step.
  /// Without it, components far below atol (radicals at 1e-9 with atol 1e-8) drift to
  /// -atol unchecked and every later step is then rejected until the step underflows.
  bool clip_negative = false;
  long max_steps = 100000;  ///< per integrate() call
  double fac_min = 0.2, fac_max = 6.0, fac_safe = 0.9;
};

struct RosenbrockStats {
  long steps = 0, rejected = 0, rhs = 0, jacobians = 0, failures = 0;
  void add(const RosenbrockStats& o) {
    steps += o.steps;
    rejected += o.rejected;
    rhs += o.rhs;
    jacobians += o.jacobians;
    failures += o.failures;
  }
};

class Rodas4 {
 public:
  /// As Rodas3::integrate (error order 4 in the step-size controller).
  static bool integrate(const Kinetics& k, double* y, double T, double& h, const RosenbrockOptions& opt,
                        RosenbrockStats& stats);
  /// `steps` equal steps without error control.
  static void fixed(const Kinetics& k, double* y, double T, int steps, RosenbrockStats& stats);
};

class Rodas3 {
 public:
  /// Integrates y (k.size() values) in place over a time T with error control. `h` is the
  /// first step to try (<= 0: a guess) and returns the last step the controller proposed:
  /// pass it back on the next call for the same point. Returns false (y at the time
  /// reached) if max_steps is exceeded, the step underflows or the state stops being finite.
  static bool integrate(const Kinetics& k, double* y, double T, double& h, const RosenbrockOptions& opt,
                        RosenbrockStats& stats);

  /// `steps` equal steps without error control.
  static void fixed(const Kinetics& k, double* y, double T, int steps, RosenbrockStats& stats);

 private:
  // One step of size H from y into ynew with error vector err; false if G is singular.
  static bool step(const Kinetics& k, const double* y, double H, double* ynew, double* err, RosenbrockStats& stats);
};

}  // namespace simfuse
