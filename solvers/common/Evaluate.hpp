#pragma once
/// \file Evaluate.hpp
/// Sampling functions of space and time on grid points, and manufactured data built from
/// an exact solution.
#include <memory>

#include "simfuse/core/Field.hpp"
#include "simfuse/core/base/Function.hpp"

namespace simfuse {

/// out(i,j,k,c) = f(x_i, y_j, z_k, t) on the owned points of `grid`, for component `c`
/// of a `dof`-component vector.
void sample(const Grid& grid, const Function& f, double t, Vec out, int dof = 1, int c = 0);

/// The source f = du/dt - div(kappa grad u) of an exact solution u, by 4th-order central
/// differences of the given functions (step `delta`). Accurate to ~1e-9 relative for
/// smooth u; used for the method of manufactured solutions with any expression.
class ManufacturedSource final : public Function {
 public:
  ManufacturedSource(std::shared_ptr<Function> exact, std::shared_ptr<Function> kappa, int dim,
                     std::array<double, 3> delta);
  double operator()(double x, double y, double z, double t) const override;
  bool time_independent() const override { return false; }
  std::string describe() const override { return "manufactured from " + u_->describe(); }

 private:
  std::shared_ptr<Function> u_, k_;
  int dim_;
  std::array<double, 3> delta_;
};

/// kappa * du/dn of an exact solution on face `face` (2*d + side; n the outward normal).
class ManufacturedFlux final : public Function {
 public:
  ManufacturedFlux(std::shared_ptr<Function> exact, std::shared_ptr<Function> kappa, int face, double delta);
  double operator()(double x, double y, double z, double t) const override;
  std::string describe() const override { return "flux of " + u_->describe(); }

 private:
  std::shared_ptr<Function> u_, k_;
  int d_;
  double sign_, delta_;
};

}  // namespace simfuse
