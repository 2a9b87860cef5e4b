// Verification of the diffusion solver: manufactured solutions with measured orders in
// space (2D, 3D) and time (implicit Euler, Crank-Nicolson), Fourier-mode decay against the
// analytic and the exact discrete amplification, conservation, and 1 vs 2 ranks.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <cmath>

#include "simfuse/core/Grid.hpp"
#include "simfuse/coupling/Coupler.hpp"
#include "simfuse/postproc/Norms.hpp"
#include "simfuse/solvers/common/Evaluate.hpp"
#include "simfuse/solvers/diffusion/DiffusionSolver.hpp"
#include "support/TestUtil.hpp"

using namespace simfuse;

namespace {

struct Mms {
  int dim = 2;
  std::string exact, kappa = "1";
  std::vector<std::pair<int, BcKind>> faces;  // faces that are not Dirichlet
  double theta = 0.5;
  double t_end = 0.5;
};

GridSpec square(int dim, PetscInt n, bool periodic = false, double len = 1.0) {
  GridSpec g;
  g.dim = dim;
  for (int d = 0; d < dim; ++d) {
    g.n[d] = n;
    g.upper[d] = len;
    g.periodic[d] = periodic;
  }
  return g;
}

// Relative L2 error at t_end on an n^dim grid with `steps` time steps.
double mms_error(const Mms& m, PetscInt n, long steps, MPI_Comm comm = PETSC_COMM_WORLD) {
  Grid grid(comm, square(m.dim, n));
  std::shared_ptr<Function> exact = expression_function(m.exact);
  DiffusionProblem p;
  p.kappa = expression_function(m.kappa);
  p.exact = exact;
  p.theta = m.theta;
  p.bc = BoundaryConditions::all(grid, BcKind::dirichlet, exact);
  for (auto [f, k] : m.faces) p.bc.face[f].kind = k;
  DiffusionSolver s(grid, p);
  Coupler c(s);
  const double dt = m.t_end / static_cast<double>(steps);
  for (long i = 0; i < steps; ++i) c.advance(i + 1, i * dt, dt);
  PetscHandle<Vec> ex;
  SIMFUSE_PETSC(VecDuplicate(s.u().vec(), ex.out()));
  REQUIRE(s.exact_solution("u", m.t_end, ex));
  return error_norms(grid, s.u().vec(), ex).rel_l2();
}

}  // namespace

TEST_CASE("2D spatial order 2 with variable kappa and mixed boundaries", "[diffusion][mms]") {
  Mms m;
  m.dim = 2;
  m.exact = "sin(pi*x)*cos(2*pi*y)*exp(-t) + x*y";
  m.kappa = "1 + 0.5*sin(pi*x)*cos(pi*y)";
  m.faces = {{1, BcKind::neumann}, {2, BcKind::neumann}};  // x_hi, y_lo
  m.t_end = 0.5;
  std::vector<double> e;
  for (PetscInt n : {17, 33, 65, 129}) e.push_back(mms_error(m, n, (n - 1) / 2));  // CN, dt = h
  const auto p = test::orders(e);
  INFO(fmt::format("errors {} orders {}", fmt::join(e, " "), fmt::join(p, " ")));
  for (double o : p) CHECK(o == Approx(2.0).margin(0.1));
}

TEST_CASE("3D spatial order 2 with mixed boundaries", "[diffusion][mms]") {
  Mms m;
  m.dim = 3;
  m.exact = "cos(pi*x)*sin(pi*y)*(1+z*z)*exp(-t)";
  m.kappa = "1 + 0.5*z";
  m.faces = {{0, BcKind::neumann}, {5, BcKind::neumann}};  // x_lo, z_hi
  m.t_end = 0.25;
  std::vector<double> e;
  for (PetscInt n : {9, 17, 33, 65}) e.push_back(mms_error(m, n, (n - 1) / 2));  // CN, dt = h/2
  const auto p = test::orders(e);
  INFO(fmt::format("errors {} orders {}", fmt::join(e, " "), fmt::join(p, " ")));
  for (double o : p) CHECK(o == Approx(2.0).margin(0.1));
}

TEST_CASE("Solvers built one after another in a process do not inherit each other's defaults", "[diffusion]") {
  // A fine 2D grid sets multigrid defaults for the 'diffuse_' prefix; a coarse 3D grid
  // after it takes GAMG and must not see them (it used to fail in KSPSetUp), as happens
  // when a program or an ensemble builds several solvers.
  Mms m2;
  m2.exact = "sin(pi*x)*cos(2*pi*y)*exp(-t) + x*y";
  m2.t_end = 0.1;
  Mms m3;
  m3.dim = 3;
  m3.exact = "cos(pi*x)*sin(pi*y)*(1+z*z)*exp(-t)";
  m3.t_end = 0.1;
  const double e2 = mms_error(m2, 65, 2), e3 = mms_error(m3, 9, 2), e2again = mms_error(m2, 65, 2);
  CHECK(e2 < 1e-2);
  CHECK(e3 < 5e-2);
  CHECK(e2again == e2);
}

TEST_CASE("temporal order: implicit Euler 1 - Crank-Nicolson 2", "[diffusion][mms]") {
  // Quadratic in space: the spatial discretisation is exact, only the time error remains.
  Mms m;
  m.dim = 2;
  m.exact = "(1 + x*x + 2*y*y)*cos(3*t)";
  m.kappa = "0.7";
  m.faces = {{1, BcKind::neumann}, {3, BcKind::neumann}};
  m.t_end = 1.0;
  for (double theta : {1.0, 0.5}) {
    m.theta = theta;
    std::vector<double> e;
    for (long steps : {10, 20, 40, 80}) e.push_back(mms_error(m, 17, steps));
    const auto p = test::orders(e);
    INFO(fmt::format("theta {} errors {} orders {}", theta, fmt::join(e, " "), fmt::join(p, " ")));
    for (double o : p) CHECK(o == Approx(theta == 1.0 ? 1.0 : 2.0).margin(0.1));
  }
}

TEST_CASE("a Fourier mode decays by the analytic and the exact discrete factor", "[diffusion][mode]") {
  // Mode (1, 2) on a 128^2 periodic grid for lambda*T ~ 2. Against the PDE the amplitude
  // may differ by the leading-order discretisation error: (lambda - lambda_h) T in space,
  // N (dt lambda)^3 / 12 (Crank-Nicolson) or N (dt lambda)^2 / 2 (implicit Euler) in time.
  const PetscInt n = 128;
  const double kappa = 0.5, dt = 2.5e-4, h = 1.0 / n;
  const long steps = 80;
  const double T = dt * steps;
  for (double theta : {0.5, 1.0}) {
    Grid grid(PETSC_COMM_WORLD, square(2, n, true));
    DiffusionProblem p;
    p.kappa = constant_function(kappa);
    p.initial = expression_function("cos(2*pi*x)*cos(4*pi*y)");
    p.theta = theta;
    p.bc = BoundaryConditions::all(grid, BcKind::periodic, nullptr);
    DiffusionSolver s(grid, p);
    Coupler c(s);
    for (long i = 0; i < steps; ++i) c.advance(i + 1, i * dt, dt);
    // Discrete eigenvalue of the 5-point Laplacian for wave numbers (1, 2).
    const double lam = kappa * 4 / (h * h) * (std::pow(std::sin(M_PI * h), 2) + std::pow(std::sin(2 * M_PI * h), 2));
    const double g = (1 - (1 - theta) * dt * lam) / (1 + theta * dt * lam);
    const double discrete = std::pow(g, steps);
    const double analytic = std::exp(-kappa * (4 * M_PI * M_PI + 16 * M_PI * M_PI) * T);
    // Amplitude = projection on the initial mode.
    PetscHandle<Vec> u0;
    SIMFUSE_PETSC(VecDuplicate(s.u().vec(), u0.out()));
    sample(grid, *p.initial, 0, u0);
    double num = 0, den = 0;
    SIMFUSE_PETSC(VecDot(s.u().vec(), u0, &num));
    SIMFUSE_PETSC(VecDot(u0, u0, &den));
    const double amp = num / den;
    INFO(fmt::format("theta {} amplitude {} discrete {} analytic {}", theta, amp, discrete, analytic));
    CHECK(amp == Approx(discrete).epsilon(1e-8));
    // Against the PDE: within 1.5x the predicted leading-order error.
    const double lam_pde = kappa * 20 * M_PI * M_PI;
    const double predicted =
        (lam_pde - lam) * T + (theta == 0.5 ? steps * std::pow(dt * lam, 3) / 12 : steps * std::pow(dt * lam, 2) / 2);
    INFO("predicted relative error " << predicted);
    CHECK(std::abs(amp / analytic - 1) <= 1.5 * predicted);
    // The field stays a pure mode: no other content.
    PetscHandle<Vec> r;
    SIMFUSE_PETSC(VecDuplicate(u0, r.out()));
    SIMFUSE_PETSC(VecWAXPY(r, -amp, u0, s.u().vec()));
    double rn = 0, un = 0;
    SIMFUSE_PETSC(VecNorm(r, NORM_INFINITY, &rn));
    SIMFUSE_PETSC(VecNorm(s.u().vec(), NORM_INFINITY, &un));
    CHECK(rn <= 1e-8 * un);
  }
}

TEST_CASE("insulated walls conserve heat; a boundary flux adds exactly its integral", "[diffusion]") {
  Grid grid(PETSC_COMM_WORLD, square(2, 33));
  DiffusionProblem p;
  p.kappa = expression_function("1 + x");
  p.initial = expression_function("exp(-((x-0.3)^2 + (y-0.6)^2)/0.01)");
  p.bc = BoundaryConditions::all(grid, BcKind::neumann, constant_function(0.0));
  p.bc.face[0].value = constant_function(2.0);  // 2 units of flux per unit length into x_lo
  DiffusionSolver s(grid, p);
  Coupler c(s);
  auto total = [&] {
    PetscHandle<Vec> w;
    SIMFUSE_PETSC(VecDuplicate(s.u().vec(), w.out()));
    SIMFUSE_PETSC(VecPointwiseMult(w, grid.weights(), s.u().vec()));
    double sum = 0;
    SIMFUSE_PETSC(VecSum(w, &sum));
    return sum;
  };
  const double before = total();
  const double dt = 0.01;
  for (int i = 0; i < 10; ++i) c.advance(i + 1, i * dt, dt);
  // Flux 2 through a wall of length 1 for time 0.1 adds 0.2.
  CHECK(total() - before == Approx(0.2).epsilon(1e-8));
}

TEST_CASE("a coefficient that is not positive is refused with its location", "[diffusion]") {
  Grid grid(PETSC_COMM_WORLD, square(2, 17));
  DiffusionProblem p;
  p.kappa = expression_function("x - 0.5");
  p.bc = BoundaryConditions::all(grid, BcKind::dirichlet, constant_function(0.0));
  CHECK_THROWS_WITH(DiffusionSolver(grid, p), Catch::Contains("must be positive everywhere"));
}

TEST_CASE("1 and 2 ranks give the same fields", "[diffusion][mpi]") {
  // Each rank solves the problem alone on PETSC_COMM_SELF, then all together on
  // PETSC_COMM_WORLD; the fields must agree to 1e-12 relative.
  for (int dim : {2, 3}) {
    Mms m;
    m.dim = dim;
    m.exact = dim == 2 ? "sin(pi*x)*cos(2*pi*y)*exp(-t) + x*y" : "cos(pi*x)*sin(pi*y)*(1+z)*exp(-t)";
    m.kappa = "1 + 0.5*x";
    m.faces = {{1, BcKind::neumann}, {2, BcKind::neumann}};
    m.t_end = 0.1;
    const PetscInt n = dim == 2 ? 65 : 17;
    auto solve = [&](MPI_Comm comm) {
      Grid grid(comm, square(dim, n));
      std::shared_ptr<Function> exact = expression_function(m.exact);
      DiffusionProblem p;
      p.kappa = expression_function(m.kappa);
      p.exact = exact;
      p.bc = BoundaryConditions::all(grid, BcKind::dirichlet, exact);
      for (auto [f, k] : m.faces) p.bc.face[f].kind = k;
      DiffusionSolver s(grid, p);
      Coupler c(s);
      for (int i = 0; i < 10; ++i) c.advance(i + 1, i * 0.01, 0.01);
      return std::make_pair(test::gather_natural(s.u()), s.stepper().last_iterations());
    };
    const auto [serial, its1] = solve(PETSC_COMM_SELF);
    const auto [parallel, its2] = solve(PETSC_COMM_WORLD);
    REQUIRE(serial.size() == parallel.size());
    double diff = 0, ref = 0;
    for (size_t i = 0; i < serial.size(); ++i) {
      diff = std::max(diff, std::abs(serial[i] - parallel[i]));
      ref = std::max(ref, std::abs(serial[i]));
    }
    INFO(fmt::format("dim {} ranks {} max diff {} (relative {}), iterations {} vs {}", dim, test::world_size(), diff,
                     diff / ref, its1, its2));
    CHECK(diff <= 1e-12 * ref);
    CHECK(its1 == its2);
  }
}
