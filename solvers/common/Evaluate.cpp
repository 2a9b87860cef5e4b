#include "simfuse/solvers/common/Evaluate.hpp"

#include <fmt/format.h>

#include <array>
#include <cmath>

#include "simfuse/core/base/Error.hpp"

namespace simfuse {

void sample(const Grid& grid, const Function& f, double t, Vec out, int dof, int c) {
  // The first point where f is NaN or inf (x, y, z, and 1 if found), shared by all ranks:
  // an expression such as sqrt(-1), 1/x or log(0) stops here, named, not later in a solver.
  std::array<double, 4> bad{0, 0, 0, 0};
  {
    ArrayView v(out, grid.owned(), dof);
    for_each(grid.owned(), [&](PetscInt i, PetscInt j, PetscInt k) {
      const double x = grid.x(0, i), y = grid.x(1, j), z = grid.x(2, k);
      const double value = f(x, y, z, t);
      v(i, j, k, c) = value;
      if (!std::isfinite(value) && bad[3] == 0) bad = {x, y, z, 1};
    });
  }
  struct {
    double found;
    int rank;
  } mine{bad[3], grid.rank()}, first{};
  MPI_Allreduce(&mine, &first, 1, MPI_DOUBLE_INT, MPI_MAXLOC, grid.comm());
  if (first.found == 0) return;
  MPI_Bcast(bad.data(), 4, MPI_DOUBLE, first.rank, grid.comm());
  Diagnostic d = f.origin();  // where the expression was given, when it came from a case
  d.what = fmt::format("'{}' is not a finite number (NaN or inf) at ({:g}, {:g}, {:g}), t = {:g}", f.describe(), bad[0],
                       bad[1], bad[2], t);
  d.fix =
      "fix the expression where it is undefined (a sqrt or log of a negative or zero value, a division by zero, a "
      "value beyond 1e308)";
  throw UserError(d);
}

namespace {
// 4th-order central first derivative from f(x-2d), f(x-d), f(x+d), f(x+2d).
inline double d1(double fm2, double fm1, double fp1, double fp2, double d) {
  return (fm2 - 8 * fm1 + 8 * fp1 - fp2) / (12 * d);
}
// 4th-order central second derivative.
inline double d2(double fm2, double fm1, double f0, double fp1, double fp2, double d) {
  return (-fm2 + 16 * fm1 - 30 * f0 + 16 * fp1 - fp2) / (12 * d * d);
}
}  // namespace

ManufacturedSource::ManufacturedSource(std::shared_ptr<Function> exact, std::shared_ptr<Function> kappa, int dim,
                                       std::array<double, 3> delta)
    : u_(std::move(exact)), k_(std::move(kappa)), dim_(dim), delta_(delta) {}

double ManufacturedSource::operator()(double x, double y, double z, double t) const {
  const Function& u = *u_;
  const double dt = 1e-3 * std::max(1.0, std::abs(t));
  const double ut = d1(u(x, y, z, t - 2 * dt), u(x, y, z, t - dt), u(x, y, z, t + dt), u(x, y, z, t + 2 * dt), dt);
  const double u0 = u(x, y, z, t);
  const double k0 = (*k_)(x, y, z, t);
  const bool kconst = k_->is_constant();
  double div = 0;
  for (int d = 0; d < dim_; ++d) {
    auto at = [&](const Function& f, double s) {
      double p[3] = {x, y, z};
      p[d] += s;
      return f(p[0], p[1], p[2], t);
    };
    const double h = delta_[d];
    const double um2 = at(u, -2 * h), um1 = at(u, -h), up1 = at(u, h), up2 = at(u, 2 * h);
    div += k0 * d2(um2, um1, u0, up1, up2, h);  // kappa * u_dd
    if (!kconst) {
      const double du = d1(um2, um1, up1, up2, h);
      const double dk = d1(at(*k_, -2 * h), at(*k_, -h), at(*k_, h), at(*k_, 2 * h), h);
      div += dk * du;  // + dkappa/dx_d * du/dx_d
    }
  }
  return ut - div;
}

ManufacturedFlux::ManufacturedFlux(std::shared_ptr<Function> exact, std::shared_ptr<Function> kappa, int face,
                                   double delta)
    : u_(std::move(exact)), k_(std::move(kappa)), d_(face / 2), sign_(face % 2 ? 1.0 : -1.0), delta_(delta) {}

double ManufacturedFlux::operator()(double x, double y, double z, double t) const {
  auto at = [&](double s) {
    double p[3] = {x, y, z};
    p[d_] += s;
    return (*u_)(p[0], p[1], p[2], t);
  };
  const double h = delta_;
  return sign_ * (*k_)(x, y, z, t) * d1(at(-2 * h), at(-h), at(h), at(2 * h), h);
}

}  // namespace simfuse
