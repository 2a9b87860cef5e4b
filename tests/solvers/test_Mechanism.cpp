// Detailed chemistry, the mechanism reader: NASA-7 thermodynamics against standard tables,
// conservation built into the rates, and every unsupported or inconsistent input refused
// with its file:line. (Rates against an independent implementation:
// tests/chemistry/check_mechanism.py.)
#include <fmt/format.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>

#include "simfuse/solvers/chemistry/Mechanism.hpp"
#include "simfuse/solvers/chemistry/Reactor.hpp"
#include "support/Chemistry.hpp"
#include "support/TestUtil.hpp"

using namespace simfuse;
namespace fs = std::filesystem;

namespace {

std::string read(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("Both shipped mechanisms load with their species and reactions", "[chemistry]") {
  const Mechanism h = Mechanism::load(test::mechanism_file("h2o2.yaml"), "ohmech");
  CHECK(h.n_species() == 10);
  CHECK(h.n_reactions() == 29);
  const Mechanism g = Mechanism::load(test::mechanism_file("gri30.yaml"));
  CHECK(g.n_species() == 53);
  CHECK(g.n_reactions() == 325);
  CHECK(g.species_index("NO") >= 0);  // a name YAML 1.1 would read as false
  int troe = 0, lindemann = 0, three = 0, irreversible = 0, dup = 0;
  for (const auto& r : g.reactions()) {
    troe += r.type == ReactionType::falloff && r.troe;
    lindemann += r.type == ReactionType::falloff && !r.troe;
    three += r.type == ReactionType::three_body;
    irreversible += !r.reversible;
    dup += r.duplicate;
  }
  CHECK(troe == 26);
  CHECK(lindemann == 3);
  CHECK(three > 0);
  CHECK(dup > 0);
  CHECK(irreversible == 16);  // the "=>" reactions of GRI-Mech 3.0 (e.g. 135, CH2 + O2 => OH + H + CO)
  // Molar masses from the standard atomic weights.
  CHECK(g.species()[g.species_index("CH4")].molar_mass == Approx(16.043e-3).epsilon(1e-4));
}

TEST_CASE("NASA-7 thermodynamics agree with the JANAF tables", "[chemistry]") {
  // Standard enthalpies of formation at 298.15 K (h of the elements' reference states is 0
  // in the polynomials) and cp, s from NIST-JANAF. The polynomials are fits, good to
  // about 0.3% in cp; GRI-Mech's OH (RUS 78) is 0.36 kJ/mol above JANAF's 38.99.
  const Mechanism g = Mechanism::load(test::mechanism_file("gri30.yaml"));
  const int ns = g.n_species();
  std::vector<double> h(ns), cp(ns), s(ns);
  const double RT = kGasConstant * 298.15;
  g.h_RT(298.15, h.data());
  g.s_R(298.15, s.data());
  auto hf = [&](const char* n) { return h[g.species_index(n)] * RT / 1000; };  // kJ/mol
  CHECK(hf("H2O") == Approx(-241.826).margin(0.05));
  CHECK(hf("CO2") == Approx(-393.522).margin(0.05));
  CHECK(hf("CO") == Approx(-110.527).margin(0.05));
  CHECK(hf("H") == Approx(217.999).margin(0.05));
  CHECK(hf("O") == Approx(249.173).margin(0.05));
  CHECK(hf("OH") == Approx(38.987).margin(0.5));
  CHECK(hf("CH4") == Approx(-74.873).margin(0.5));
  CHECK(hf("N2") == Approx(0.0).margin(0.01));
  CHECK(s[g.species_index("N2")] * kGasConstant == Approx(191.609).epsilon(1e-3));
  CHECK(s[g.species_index("H2O")] * kGasConstant == Approx(188.834).epsilon(1e-3));
  g.cp_R(1000, cp.data());
  CHECK(cp[g.species_index("N2")] * kGasConstant == Approx(32.697).epsilon(3e-3));
  CHECK(cp[g.species_index("H2O")] * kGasConstant == Approx(41.268).epsilon(3e-3));
  CHECK(cp[g.species_index("CO2")] * kGasConstant == Approx(54.308).epsilon(3e-3));
  // h and cp are consistent: d(h)/dT = cp, away from the range boundary.
  std::vector<double> h1(ns), h2(ns);
  const double T = 1500, dT = 1e-3;
  g.h_RT(T + dT, h1.data());
  g.h_RT(T - dT, h2.data());
  g.cp_R(T, cp.data());
  for (int k = 0; k < ns; ++k) CHECK((h1[k] * (T + dT) - h2[k] * (T - dT)) / (2 * dT) == Approx(cp[k]).epsilon(1e-7));
}

TEST_CASE("Production rates conserve every element and the mass, at any state", "[chemistry]") {
  for (const std::string name : {"h2o2.yaml", "gri30.yaml"}) {
    const Mechanism m = Mechanism::load(test::mechanism_file(name));
    const int ns = m.n_species();
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> lt(300, 3000), lc(-6, 2);
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<double> C(ns), w(ns);
      for (auto& c : C) c = std::pow(10.0, lc(rng));
      const double T = lt(rng);
      m.net_production_rates(T, C.data(), w.data());
      double mass = 0, scale = 0;
      for (int k = 0; k < ns; ++k) {
        mass += w[k] * m.species()[k].molar_mass;
        scale += std::abs(w[k]) * m.species()[k].molar_mass;
      }
      CHECK(std::abs(mass) <= 1e-12 * scale);
      for (const auto& el : m.elements()) {
        double atoms = 0, sc = 0;
        for (int k = 0; k < ns; ++k) {
          const auto it = m.species()[k].composition.find(el);
          if (it == m.species()[k].composition.end()) continue;
          atoms += w[k] * it->second;
          sc += std::abs(w[k]) * it->second;
        }
        CHECK(std::abs(atoms) <= 1e-12 * std::max(sc, 1e-300));
      }
    }
  }
}

TEST_CASE("Mechanism files with unsupported or inconsistent content are refused with file:line", "[chemistry]") {
  // The corpus (tests/fixtures/mechanisms/bad/corpus.yaml): each file refused with the texts
  // the corpus names and the file:line of the offending node. What Cantera does with each:
  // tests/chemistry/check_cantera.py refusals.
  const std::string dir = std::string(SIMFUSE_SOURCE_DIR) + "/tests/fixtures/mechanisms/bad/";
  const YAML::Node corpus = YAML::LoadFile(dir + "corpus.yaml");
  REQUIRE(corpus.size() >= 25);
  for (const auto& entry : corpus) {
    const std::string file = entry["file"].as<std::string>();
    CAPTURE(file);
    std::string e = "(no error)";
    try {
      Mechanism::load(dir + file, entry["phase"] ? entry["phase"].as<std::string>() : "");
    } catch (const UserError& x) {
      e = x.what();
    }
    for (const auto& text : entry["simfuse"]) CHECK_THAT(e, Catch::Contains(text.as<std::string>()));
    CHECK(std::regex_search(e, std::regex(std::regex_replace(file, std::regex("\\."), "\\.") + ":[0-9]+:")));
  }
  SECTION("a missing file") {
    std::string e;
    try {
      Mechanism::load("/nonexistent/mech.yaml");
    } catch (const UserError& x) {
      e = x.what();
    }
    CHECK_THAT(e, Catch::Contains("/nonexistent/mech.yaml") && Catch::Contains("does not exist"));
  }
}

TEST_CASE("What Cantera allows on request is allowed: negative-A, skip-undeclared-third-bodies", "[chemistry]") {
  // A negative A with the flag, and an efficiency for a species the phase lacks when the
  // phase says to skip those; both loaded as Cantera loads them.
  std::string text = read(test::mechanism_file("h2o2.yaml"));
  auto edit = [&](const std::string& from, const std::string& to) {
    const auto p = text.find(from);
    REQUIRE(p != std::string::npos);
    text.replace(p, from.size(), to);
  };
  edit("- equation: O + H2 <=> H + OH  # Reaction 3\n  rate-constant: {A: 3.87e+04",
       "- equation: O + H2 <=> H + OH  # Reaction 3\n  negative-A: true\n  rate-constant: {A: -3.87e+04");
  edit("efficiencies: {H2: 2.4, H2O: 15.4, AR: 0.83}", "efficiencies: {H2: 2.4, H2O: 15.4, AR: 0.83, XE: 1.5}");
  edit("  kinetics: gas\n", "  kinetics: gas\n  skip-undeclared-third-bodies: true\n");
  const fs::path dir = fs::path(test::temp_dir("mech_flags"));
  std::ofstream(dir / "flags.yaml") << text;
  const Mechanism m = Mechanism::load((dir / "flags.yaml").string(), "ohmech");
  CHECK(m.reactions()[2].rate.A < 0);
  CHECK(m.reactions()[0].efficiency[m.species_index("H2")] == 2.4);
}

TEST_CASE("Thermo at the mid temperature comes from the low range, as in Cantera", "[chemistry]") {
  // GRI-3.0's polynomials do not meet exactly at 1000 K (H2: cp/R 3.62779266 below, 3.62779265
  // above); Cantera takes the low range at T_mid, and so does simfuse.
  const Mechanism g = Mechanism::load(test::mechanism_file("gri30.yaml"));
  const auto& sp = g.species()[g.species_index("H2")];
  REQUIRE(sp.thermo.t_mid == 1000.0);
  std::vector<double> cp(g.n_species());
  g.cp_R(1000.0, cp.data());
  const auto& a = sp.thermo.low;
  CHECK(cp[g.species_index("H2")] == a[0] + 1000.0 * (a[1] + 1000.0 * (a[2] + 1000.0 * (a[3] + 1000.0 * a[4]))));
}

TEST_CASE("A negative concentration counts as itself at order 1 and as 0 above, in rates and Jacobian alike",
          "[chemistry]") {
  // Cantera's convention (an integrator's undershoot of a trace species must not feed a
  // second-order term such as 2 HO2 <=> O2 + H2O2); the rates themselves are checked against
  // Cantera's at states with negative trace species (check_cantera.py thermo). Here: the
  // analytic Jacobian is the derivative of exactly those rates (one-sided differences on the
  // side the state is on).
  const Mechanism m = Mechanism::load(test::mechanism_file("h2o2.yaml"));
  Reactor reactor(m, Reactor::Mode::constant_pressure, kStandardPressure);
  std::vector<double> y = test::stoichiometric_state(m, "H2", 1500.0);
  const int ho2 = m.species_index("HO2") + 1, oh = m.species_index("OH") + 1, h = m.species_index("H") + 1;
  y[oh] = 1e-3;
  y[h] = 1e-4;
  y[ho2] = -1e-9;
  const int n = reactor.size();
  std::vector<double> J(static_cast<size_t>(n) * n), f0(n), f1(n), f2(n);
  reactor.jacobian(y.data(), J.data());
  // [HO2] stays negative along the differences (steps of -1e-6 and -2e-6): there the rates
  // are smooth (linear in [HO2] but for the density), so second-order one-sided differences
  // are accurate to ~(1e-6)^2 relative, and rounding to ~1e-16 |f| / 1e-6.
  const double d = 1e-6;
  std::vector<double> y1 = y, y2 = y;
  y1[ho2] -= d;
  y2[ho2] -= 2 * d;
  reactor.rhs(y.data(), f0.data());
  reactor.rhs(y1.data(), f1.data());
  reactor.rhs(y2.data(), f2.data());
  double diff = 0, norm = 0;
  for (int i = 0; i < n; ++i) {
    const double fd = (3 * f0[i] - 4 * f1[i] + f2[i]) / (2 * d);
    diff += std::pow(J[static_cast<size_t>(i) * n + ho2] - fd, 2);
    norm += fd * fd;
  }
  INFO("column difference relative to its norm: " << std::sqrt(diff / norm));
  CHECK(std::sqrt(diff / norm) < 1e-6);
}

TEST_CASE("Declared units are honoured: the same mechanism in kJ/mol, m and kmol gives the same rates", "[chemistry]") {
  // Rewrite h2o2.yaml's rate constants into SI with kmol and kJ/mol, then compare.
  const Mechanism ref = Mechanism::load(test::mechanism_file("h2o2.yaml"));
  std::string text = read(test::mechanism_file("h2o2.yaml"));
  const std::string cgs = "units: {length: cm, time: s, quantity: mol, activation-energy: cal/mol}";
  REQUIRE(text.find(cgs) != std::string::npos);
  text.replace(text.find(cgs), cgs.size(), "units: {length: m, time: s, quantity: kmol, activation-energy: kJ/mol}");
  // Each rate constant: A scales by (1e-6 m^3/cm^3 * 1e3 mol/kmol)^(order-1) = 1e-3^(order-1),
  // Ea by 4.184e-3 kJ/cal. Done with a regex over {A: ..., b: ..., Ea: ...}; orders from
  // the reactions as read by the reference.
  std::regex rc(R"(\{A: ([-+.0-9eE]+), b: ([-+.0-9eE]+), Ea: ([-+.0-9eE]+)\})");
  std::string out;
  auto it = std::sregex_iterator(text.begin(), text.end(), rc);
  size_t last = 0, count = 0;
  // The i-th Arrhenius block in file order: reactions in order, falloff low before high.
  std::vector<double> orders;
  for (const auto& r : ref.reactions()) {
    double o = 0;
    for (const auto& t : r.reactants) o += t.second;
    if (r.type == ReactionType::falloff) {
      orders.push_back(o + 1);  // low-P first in the file
      orders.push_back(o);
    } else {
      orders.push_back(o + (r.type == ReactionType::three_body ? 1 : 0));
    }
  }
  for (; it != std::sregex_iterator(); ++it, ++count) {
    const auto& m = *it;
    out += text.substr(last, static_cast<size_t>(m.position()) - last);
    const double A = std::stod(m[1]) * std::pow(1e-3, orders.at(count) - 1);
    out += fmt::format("{{A: {:.17g}, b: {}, Ea: {:.17g}}}", A, m[2].str(), std::stod(m[3]) * 4.184e-3);
    last = static_cast<size_t>(m.position() + m.length());
  }
  out += text.substr(last);
  REQUIRE(count == orders.size());
  const fs::path dir = fs::path(test::temp_dir("mech_units"));
  std::ofstream(dir / "si.yaml") << out;
  const Mechanism si = Mechanism::load((dir / "si.yaml").string());
  std::vector<double> C(10, 2.0), w1(10), w2(10);
  for (double T : {800.0, 1500.0, 2500.0}) {
    ref.net_production_rates(T, C.data(), w1.data());
    si.net_production_rates(T, C.data(), w2.data());
    for (int k = 0; k < 10; ++k) CHECK(w2[k] == Approx(w1[k]).epsilon(1e-12).margin(1e-20));
  }
}

TEST_CASE("The analytic reactor Jacobian equals central differences of the right-hand side", "[chemistry]") {
  for (const std::string name : {"h2o2.yaml", "gri30.yaml"}) {
    CAPTURE(name);
    const Mechanism mech = Mechanism::load(test::mechanism_file(name));
    Reactor reactor(mech, Reactor::Mode::constant_pressure, kStandardPressure);
    const int m = reactor.size();
    std::mt19937_64 rng(11);
    std::uniform_real_distribution<double> lt(900, 2600), ly(-8, 0);
    double worst = 0;
    for (int trial = 0; trial < 8; ++trial) {
      std::vector<double> y(m);
      y[0] = lt(rng);
      double sum = 0;
      for (int k = 1; k < m; ++k) sum += y[k] = std::pow(10.0, ly(rng));
      for (int k = 1; k < m; ++k) y[k] /= sum;
      std::vector<double> J(static_cast<size_t>(m) * m), fp(m), fm(m);
      reactor.jacobian(y.data(), J.data());
      // Central differences, column by column, with h = 1e-4 relative: measured, the
      // difference falls from 4e-6 (h = 1e-7) to 2e-8 (h = 1e-4) as rounding noise leaves,
      // so it is the differences' error, not the Jacobian's.
      std::vector<double> Jfd(static_cast<size_t>(m) * m);
      for (int j = 0; j < m; ++j) {
        const double h = 1e-4 * std::max(std::abs(y[j]), j == 0 ? 1.0 : 1e-6);
        std::vector<double> yp = y, ym = y;
        yp[j] += h;
        ym[j] -= h;
        reactor.rhs(yp.data(), fp.data());
        reactor.rhs(ym.data(), fm.data());
        for (int i = 0; i < m; ++i) Jfd[static_cast<size_t>(i) * m + j] = (fp[i] - fm[i]) / (2 * h);
      }
      for (int i = 0; i < m; ++i) {
        double scale = 0;
        for (int j = 0; j < m; ++j) scale = std::max(scale, std::abs(Jfd[static_cast<size_t>(i) * m + j]));
        for (int j = 0; j < m; ++j) {
          const double d = std::abs(J[static_cast<size_t>(i) * m + j] - Jfd[static_cast<size_t>(i) * m + j]);
          worst = std::max(worst, d / std::max(scale, 1e-300));
        }
      }
    }
    INFO("largest difference relative to the row's largest entry: " << worst);
    // Truncation ~ (h x)^2 times the relative curvature: in T, exp(-Ea/RT) has (Ea/RT)^2
    // ~ 1e3 at most here, so up to 1e-5 with h = 1e-4 (measured 4e-7); a wrong or missing
    // term is O(1e-3..1) relative.
    CHECK(worst < 1e-5);
  }
}
