// The admissible set of a reacting cell: element-conserving non-negative projection of the
// mass fractions and the energy-conserving temperature.
#include <catch2/catch.hpp>
#include <cmath>
#include <random>

#include "simfuse/solvers/chemistry/Admissible.hpp"
#include "simfuse/solvers/chemistry/Cvode.hpp"
#include "support/Chemistry.hpp"

using namespace simfuse;

namespace {

// Element moles per kg of composition Y.
std::vector<double> elements(const ElementProjection& P, const double* Y, int n) {
  std::vector<double> b(static_cast<size_t>(P.n_elements()), 0.0);
  for (int e = 0; e < P.n_elements(); ++e)
    for (int k = 0; k < n; ++k) b[e] += P.a(e, k) * Y[k];
  return b;
}

// States along a GRI-3.0 ignition at 1400 K (every CVODE call of dt), for realistic compositions.
std::vector<std::vector<double>> trajectory(const Mechanism& m, Reactor& r) {
  CvodeOptions o;
  o.rtol = 1e-8;
  o.atol = 1e-14;
  CvodeIntegrator cv(r, o);
  auto y = test::stoichiometric_state(m, "CH4", 1400.0);
  std::vector<std::vector<double>> out;
  for (int i = 0; i < 40; ++i) {
    cv.advance(y.data(), 1e-4);
    out.push_back(y);
  }
  return out;
}

}  // namespace

TEST_CASE("Projected proposals are non-negative and conserve every element to round-off", "[chemistry]") {
  const Mechanism m = Mechanism::load(test::mechanism_file("gri30.yaml"), "gri30");
  Reactor r(m, Reactor::Mode::constant_pressure, 101325);
  const ElementProjection P(m);
  const int n = m.n_species();
  std::mt19937 rng(2026);
  std::normal_distribution<double> noise(0.0, 1.0);
  int tried = 0, projected = 0;
  double worst_defect = 0, worst_sum = 0, largest_defect_before = 0;
  for (const auto& y : trajectory(m, r)) {
    for (int rep = 0; rep < 10; ++rep) {
      // A surrogate-like error: 5% relative on every species plus 1e-7 absolute, which
      // makes small species negative and breaks the element balance.
      std::vector<double> prop(y);
      for (int k = 1; k <= n; ++k) prop[k] = y[k] * (1 + 0.05 * noise(rng)) + 1e-7 * noise(rng);
      std::vector<double> Y(static_cast<size_t>(n));
      const auto res = P.project(y.data() + 1, prop.data() + 1, Y.data());
      ++tried;
      if (!res.ok) continue;
      ++projected;
      largest_defect_before = std::max(largest_defect_before, res.defect_before);
      const auto b0 = elements(P, y.data() + 1, n), b1 = elements(P, Y.data(), n);
      double total = 0;
      for (double v : b0) total += v;
      for (int e = 0; e < P.n_elements(); ++e) worst_defect = std::max(worst_defect, std::abs(b1[e] - b0[e]) / total);
      double sum = 0;
      for (int k = 0; k < n; ++k) {
        CHECK(Y[k] >= 0);
        sum += Y[k];
      }
      worst_sum = std::max(worst_sum, std::abs(sum - 1));
    }
  }
  INFO("projected " << projected << " of " << tried << "; element defect before up to " << largest_defect_before);
  CHECK(projected == tried);
  CHECK(largest_defect_before > 1e-4);  // the proposals really were off
  INFO("worst defect " << worst_defect << ", worst sum " << worst_sum);
  // Round-off of ~50-term sums of products up to tens of mol/kg (N eps max|a Y| ~ 1e-13),
  // amplified by the small dense solves, which run in LAPACK: its blocking (and so the
  // last bits) depends on the BLAS kernels of the CPU. Measured 4e-13..1.3e-12 across
  // machines (OpenBLAS generic kernels give the larger). The bound is the projection's
  // own acceptance threshold (1e-11, Admissible.cpp): a result above it is not returned
  // as projected, and a real conservation bug is 1e-4 or more (the defects before).
  CHECK(worst_defect <= 1e-11);
  CHECK(worst_sum <= 1e-11);  // element conservation implies mass conservation
}

TEST_CASE("An admissible proposal is left as it is, and the temperature conserves the enthalpy", "[chemistry]") {
  const Mechanism m = Mechanism::load(test::mechanism_file("gri30.yaml"), "gri30");
  Reactor r(m, Reactor::Mode::constant_pressure, 101325);
  const ElementProjection P(m);
  const auto traj = trajectory(m, r);
  const auto& before = traj[10];
  auto after = traj[11];
  const double T_exact = after[0];
  after[0] += 25.0;  // a wrong temperature: the projection recomputes it from h
  std::vector<double> prop = after;
  std::string why;
  REQUIRE(make_admissible(r, P, before.data(), prop.data(), &why));
  for (size_t k = 1; k < prop.size(); ++k) CHECK(prop[k] == Approx(after[k]).epsilon(1e-12).margin(1e-18));
  // CVODE kept h to its tolerance (rtol 1e-8); the projection keeps it to Newton's 1e-10.
  CHECK(r.enthalpy_mass(prop[0], prop.data() + 1) ==
        Approx(r.enthalpy_mass(before[0], before.data() + 1)).epsilon(1e-9).margin(1e-4));
  CHECK(prop[0] == Approx(T_exact).epsilon(1e-6));
}

TEST_CASE("A proposal whose energy-conserving temperature leaves the thermo data is refused, with the reason",
          "[chemistry]") {
  const Mechanism m = Mechanism::load(test::mechanism_file("h2o2.yaml"), "ohmech");
  Reactor r(m, Reactor::Mode::constant_pressure, 101325);
  const ElementProjection P(m);
  // Unburnt stoichiometric H2-air at 3000 K proposed to have burnt completely to H2O: the
  // heat of combustion would take T far above the polynomials' 3500 K.
  auto before = test::stoichiometric_state(m, "H2", 3000.0);
  std::vector<double> prop(before.size(), 0.0);
  const int h2 = 1 + m.species_index("H2"), o2 = 1 + m.species_index("O2"), h2o = 1 + m.species_index("H2O"),
            n2 = 1 + m.species_index("N2");
  prop[0] = 3000;
  prop[h2o] = before[h2] + before[o2];
  prop[n2] = before[n2];
  std::string why;
  CHECK_FALSE(make_admissible(r, P, before.data(), prop.data(), &why));
  CHECK_THAT(why, Catch::Contains("outside [200, 3500] K"));
  // A non-finite proposal is refused, not projected.
  auto nan = before;
  nan[o2] = std::nan("");
  CHECK_FALSE(make_admissible(r, P, before.data(), nan.data(), &why));
}

TEST_CASE("At constant volume the projection conserves the internal energy", "[chemistry]") {
  const Mechanism m = Mechanism::load(test::mechanism_file("h2o2.yaml"), "ohmech");
  Reactor r(m, Reactor::Mode::constant_volume, 101325);
  auto before = test::stoichiometric_state(m, "H2", 1200.0);
  r.set_volume_state(before.data());
  CvodeOptions o;
  o.rtol = 1e-10;
  o.atol = 1e-16;
  o.jacobian = "fd";
  CvodeIntegrator cv(r, o);
  auto after = before;
  cv.advance(after.data(), 2e-4);  // through ignition
  const ElementProjection P(m);
  auto prop = after;
  prop[0] -= 100;  // recomputed from u
  REQUIRE(make_admissible(r, P, before.data(), prop.data()));
  CHECK(prop[0] == Approx(after[0]).epsilon(1e-7));
  CHECK(r.energy_mass(prop[0], prop.data() + 1) ==
        Approx(r.energy_mass(before[0], before.data() + 1)).epsilon(1e-9).margin(1e-3));
}

TEST_CASE("The admissible limits refuse what the projection would turn into a temperature error", "[chemistry]") {
  const Mechanism m = Mechanism::load(test::mechanism_file("gri30.yaml"), "gri30");
  Reactor r(m, Reactor::Mode::constant_pressure, 101325);
  const ElementProjection P(m);
  const auto traj = trajectory(m, r);
  const int oh = 1 + m.species_index("OH");
  size_t at = 1;  // the step where OH is largest (igniting)
  for (size_t i = 1; i < traj.size(); ++i)
    if (traj[i][oh] > traj[at][oh]) at = i;
  const auto& before = traj[at - 1];
  const auto& truth = traj[at];
  auto corrupted = truth;
  corrupted[oh] *= 10;  // breaks the element balance; the proposal's own T is right
  AdmissibleLimits none, by_T, by_defect;
  by_T.max_temperature_change = 10;
  by_defect.max_element_defect = 1e-3;
  // Without limits the proposal is projected, and the excess O and H ends up as a large
  // change of T through the enthalpy.
  auto p = corrupted;
  ElementProjection::Result res;
  REQUIRE(make_admissible(r, P, before.data(), p.data(), nullptr, &res, none));
  INFO("T after projecting OH x10: " << p[0] << " K, the true " << truth[0] << " K; element defect "
                                     << res.defect_before);
  CHECK(std::abs(p[0] - truth[0]) > 10);
  std::string why;
  p = corrupted;
  CHECK_FALSE(make_admissible(r, P, before.data(), p.data(), &why, nullptr, by_T));
  CHECK_THAT(why, Catch::Contains("differs from the proposed") && Catch::Contains("10 K"));
  p = corrupted;
  CHECK_FALSE(make_admissible(r, P, before.data(), p.data(), &why, nullptr, by_defect));
  CHECK_THAT(why, Catch::Contains("element defect before projection"));
  // The exact result passes both limits.
  for (const auto& l : {by_T, by_defect}) {
    p = truth;
    CHECK(make_admissible(r, P, before.data(), p.data(), &why, nullptr, l));
  }
}

// Unburnt methane-air with the traces of a few steps: C and H are carried by CH4 alone
// apart from the traces, so with weights 1/(|Y| + 1e-12)^2 the two element constraints
// are numerically dependent, and a trace species retrieved at -1e-10 (an ISAT linear
// extrapolation) could not be set to 0 (the projection failed on 2017 of 4830 such
// retrievals on cases/ch4_half.yaml). The projection now retries with a looser floor.
TEST_CASE("Small negative traces of an unburnt mixture are projected", "[chemistry]") {
  const Mechanism m = Mechanism::load(test::mechanism_file("gri30.yaml"), "gri30");
  Reactor r(m, Reactor::Mode::constant_pressure, 101325);
  const ElementProjection P(m);
  const int n = m.n_species();
  CvodeOptions o;
  o.rtol = 1e-8;
  o.atol = 1e-14;
  CvodeIntegrator cv(r, o);
  auto y = test::stoichiometric_state(m, "CH4", 1000.0);
  cv.advance(y.data(), 2e-5);  // a 1000 K mixture after 20 us: CH4, O2, N2 and traces
  std::vector<int> traces;     // the species below 1e-8
  for (int k = 1; k <= n; ++k)
    if (y[static_cast<size_t>(k)] < 1e-8) traces.push_back(k);
  REQUIRE(traces.size() > 20);
  std::mt19937 rng(7);
  std::uniform_int_distribution<size_t> pick(0, traces.size() - 1);
  int failed = 0;
  double worst_defect = 0, worst_move = 0;
  for (int rep = 0; rep < 50; ++rep) {
    std::vector<double> prop(y);
    for (int i = 0; i < 3; ++i) prop[static_cast<size_t>(traces[pick(rng)])] = -1e-10;
    std::vector<double> Y(static_cast<size_t>(n));
    const auto res = P.project(y.data() + 1, prop.data() + 1, Y.data());
    if (!res.ok) {
      ++failed;
      continue;
    }
    worst_defect = std::max(worst_defect, res.defect_after);
    for (int k = 0; k < n; ++k) {
      CHECK(Y[k] >= 0.0);
      worst_move = std::max(worst_move, std::abs(Y[k] - std::max(prop[k + 1], 0.0)));
    }
  }
  INFO("largest change of a mass fraction beyond the clip of the negatives: " << worst_move);
  CHECK(failed == 0);
  CHECK(worst_defect <= 1e-11);  // the projection's own acceptance bound (round-off)
  // The negatives were -1e-10 of three species: setting them to 0 breaks the elements by
  // about 3e-10 of a mass fraction, which the projection spreads over the others.
  CHECK(worst_move <= 1e-8);
}
