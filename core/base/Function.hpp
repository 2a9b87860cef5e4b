#pragma once
/// \file Function.hpp
/// Functions of space and time, f(x, y, z, t), used for coefficients, sources, initial
/// and boundary values, and exact solutions. In a case file a function is a block of
/// the "function" family, or a shorthand:
///
///     kappa: 1.5                                   # constant
///     source: "exp(-t)*sin(pi*x)*sin(pi*y)"        # expression (muparser syntax)
///     source: {type: gaussian, amplitude: 10, center: [0.5, 0.5], width: 0.05}
///
/// Expressions see x, y, z, t, the constants pi and e, and any names of the case's
/// `parameters:` section.
#include <map>
#include <memory>
#include <string>

#include "simfuse/core/base/Registry.hpp"

namespace simfuse {

class Function {
 public:
  virtual ~Function() = default;
  /// Value at point (x, y, z) and time t. Not thread-safe (expressions keep state).
  virtual double operator()(double x, double y, double z, double t) const = 0;
  /// True if the value does not depend on t (lets callers evaluate once).
  virtual bool time_independent() const { return false; }
  /// True if the value is the same everywhere at all times.
  virtual bool is_constant() const { return false; }
  /// A short human-readable description ("1.5", "sin(pi*x)", "gaussian(...)").
  virtual std::string describe() const = 0;
  /// Where the function was given (file:line and key path), for errors about its values;
  /// set by make_function, empty for functions built in code.
  const Diagnostic& origin() const { return origin_; }
  void set_origin(Diagnostic d) { origin_ = std::move(d); }

 private:
  Diagnostic origin_;
};

/// Named constants visible in expressions (the case's `parameters:`).
using Constants = std::map<std::string, double>;

using FunctionRegistry = Registry<Function, const Params&, const Constants&>;
/// The registry of function types (family "function"); built-ins are registered on first use.
FunctionRegistry& function_registry();

/// Creates the function of a validated "function" block. Throws UserError (naming the
/// key path and line) for an expression that does not parse.
std::unique_ptr<Function> make_function(const Params& parent, const std::string& key, const Constants& constants);

/// A constant function (for code that builds solvers without a case file).
std::unique_ptr<Function> constant_function(double value);
/// An expression of x, y, z, t (muparser syntax). Throws UserError if it does not parse.
std::unique_ptr<Function> expression_function(const std::string& expr, const Constants& constants = {});

}  // namespace simfuse
