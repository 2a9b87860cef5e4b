#pragma once
/// \file Admissible.hpp
/// The physically admissible set of a reacting cell's state [T, Y]: mass fractions that are
/// non-negative and conserve every element's mass (hence the total mass), and the
/// temperature that conserves the energy (h at constant pressure, u at constant volume).
/// A proposal (a surrogate's result) is mapped onto it by
///  - a weighted least-squares projection of Y onto {Y >= 0, A Y = A Y0}, A the moles of
///    each element per kg of each species, solved by an active-set method (the bounds
///    fixed or released one at a time; the equality-constrained steps are small dense
///    systems, one row per element), with relative weights 1 / (|Y_k| + floor)^2 so that
///    a species moves in proportion to its size (floor 1e-12; where that leaves the
///    element rows numerically dependent, as C and H carried by CH4 alone in an unburnt
///    mixture, again with 1e-8, then 1e-4);
///  - Newton on e(T, Y) = e(T0, Y0) from the proposed temperature.
/// Clipping negatives and renormalising conserves the total mass but not the elements;
/// this conserves both. A state that cannot be mapped (no convergence, a temperature
/// outside the thermo data's range) is reported, never returned half-done.
#include <string>
#include <vector>

#include "simfuse/solvers/chemistry/Reactor.hpp"

namespace simfuse {

class ElementProjection {
 public:
  explicit ElementProjection(const Mechanism& mech, double floor = 1e-12);

  struct Result {
    bool ok = false;
    double defect_before = 0;  ///< max over elements of |A Yhat - A Y0| / (A Y0 summed over elements)
    double defect_after = 0;   ///< the same for the result
    int iterations = 0;        ///< active-set changes
  };

  /// Projects the proposal `Yhat` onto the compositions with Y0's element masses; writes
  /// `Y` (may alias `Yhat`). `Y0` must be admissible (non-negative).
  Result project(const double* Y0, const double* Yhat, double* Y) const;

  /// Element moles per kg of each species: a(e, k) = atoms of e in k / W_k.
  double a(int e, int k) const { return A_[static_cast<size_t>(e) * n_ + k]; }
  int n_elements() const { return m_; }

 private:
  Result project_with_floor(const double* Y0, const double* Yhat, double* Y, double floor) const;
  int n_ = 0, m_ = 0;
  double floor_;
  std::vector<double> A_;  // m x n, row-major
  // The species holding element e (nonzero a(e, k)) and, for e <= f, those holding both:
  // a mechanism's element matrix is mostly zeros (N and Ar sit in one species each).
  std::vector<std::vector<int>> holders_;
  std::vector<std::vector<int>> shared_;  // index e * m + f, e <= f
};

/// Makes the proposed state [T, Y] (in place) admissible against the state `before` at
/// the start of the step: element masses of `before`, energy of `before` (h at constant
/// pressure, u at constant volume; the reactor's current pressure/density). Returns false,
/// leaving `proposed` unspecified, if the projection or the temperature fails or the
/// temperature leaves [t_min, t_max] of every species' thermo data. `why` (if given) says
/// which.
/// Limits that make a proposal inadmissible although it could be mapped: a cheap guard
/// (0: off). An element-breaking species error becomes a temperature error through h
/// (OH x10 on the hydrogen front: up to 513 K after the projection), which the proposal's
/// own T does not show: the difference between the two flags it.
struct AdmissibleLimits {
  double max_element_defect = 0;      ///< ElementProjection::Result::defect_before
  double max_temperature_change = 0;  ///< |T proposed - T from the conserved energy|, K
};

bool make_admissible(const Reactor& reactor, const ElementProjection& projection, const double* before,
                     double* proposed, std::string* why = nullptr, ElementProjection::Result* result = nullptr,
                     const AdmissibleLimits& limits = {});

}  // namespace simfuse
