#pragma once
/// \file Kinetics.hpp
/// Reaction kinetics of N species: dy/dt = f(y), with its Jacobian. Pluggable: a new
/// mechanism implements this interface and registers itself in kinetics_registry()
/// (family "kinetics"), then `solver.params.kinetics: {type: my_mechanism, ...}` uses it.
#include <string>
#include <vector>

#include "simfuse/core/base/Function.hpp"
#include "simfuse/core/base/Registry.hpp"

namespace simfuse {

class Kinetics {
 public:
  virtual ~Kinetics() = default;
  /// Species names, in component order.
  virtual const std::vector<std::string>& species() const = 0;
  int size() const { return static_cast<int>(species().size()); }
  /// f = dy/dt at y (arrays of size()).
  virtual void rhs(const double* y, double* f) const = 0;
  /// J = df/dy at y, row-major size() x size().
  virtual void jacobian(const double* y, double* J) const = 0;
  /// True if the species are concentrations that must stay >= 0: the integrator then
  /// rejects steps that go negative (as CVODE's inequality constraints do), which keeps
  /// loose tolerances from stepping across singularities of the rates.
  virtual bool nonnegative() const { return true; }
  /// A one-line description with parameter values.
  virtual std::string describe() const = 0;
  /// Sets parameters that change with time (e.g. the Oregonator's `f: "2.5 - 0.3*(t > 50)"`)
  /// to their values at time t. Sub-steps call it before they integrate from t. UserError
  /// if a parameter leaves its valid range.
  virtual void set_time(double /*t*/) {}
};

using KineticsRegistry = Registry<Kinetics, const Params&>;
/// Mechanisms by name; built-ins: oregonator (2 species, stiff), gray_scott (2 species).
KineticsRegistry& kinetics_registry();

}  // namespace simfuse
