// Runs simfuse's constant-pressure (or constant-volume) reactor under CVODE, for the checks
// against Cantera (tests/chemistry/check_cantera.py) and the chemistry benchmark: reads
//   {"T0": K, "p": Pa, "Y": [...] or "X": {"H2": 2, ...} (mole fractions, normalised here),
//    "t_max": s, "rtol": r, "atol": a, "mode": "pressure"|"volume", "jacobian": "analytic"|"fd",
//    optional "dT": K (time_to_rise), "criteria": [["rise", dT] | ["max_dTdt"] |
//    ["max_dXdt", species] | ["threshold", species, X]], "t_eq": s, "dt": s}
// on stdin and writes {"tau": s (-1 if no rise), "taus": [one per criterion], "y": [T, Y...]
// at tau, "y_end": [...] at t_max (in one call, or in calls of dt), "y_eq" and "dTdt_eq" at t_eq
// (continued from t_max),
// "steps": n, ...} as JSON. With "integrator": "rodas4" the reactor runs under Rodas4
// instead (its step carried from call to call): "taus" of the rise criteria (others null),
// "y_end", "y_eq" and "steps_total".
//   reactor_ignition FILE [PHASE] < problem.json
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "simfuse/solvers/chemistry/CellChemistry.hpp"
#include "simfuse/solvers/chemistry/Cvode.hpp"
#include "simfuse/solvers/kinetics/Rosenbrock.hpp"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Mass fractions from the problem's "Y" or its mole fractions "X" (by species name).
std::vector<double> mass_fractions(const simfuse::Mechanism& mech, const nlohmann::json& in) {
  if (in.contains("Y")) return in["Y"].get<std::vector<double>>();
  std::vector<double> Y(static_cast<size_t>(mech.n_species()), 0.0);
  double sum = 0;
  for (const auto& [name, x] : in["X"].items()) {
    const int k = mech.species_index(name);
    if (k < 0) throw simfuse::UserError("the mechanism has no species '" + name + "'");
    Y[k] = x.get<double>() * mech.species()[k].molar_mass;
    sum += Y[k];
  }
  for (double& v : Y) v /= sum;
  return Y;
}

simfuse::IgnitionCriterion criterion(const simfuse::Mechanism& mech, const nlohmann::json& c) {
  simfuse::IgnitionCriterion out;
  const std::string kind = c[0].get<std::string>();
  out.kind = simfuse::IgnitionCriterion::parse(kind == "rise" ? "temperature_rise" : kind);
  if (kind == "rise") out.delta_T = c[1].get<double>();
  if (kind == "max_dXdt" || kind == "threshold") out.species = mech.species_index(c[1].get<std::string>());
  if (kind == "threshold") out.value = c[2].get<double>();
  return out;
}

// The same problem under Rodas4: the time T first exceeds T0 + dT, found by integrating
// in 4000 chunks of t_max (the step carried across chunks) and bisecting the chunk where
// it happens (each trial integrated afresh from the chunk's start), to 1e-12 relative.
nlohmann::json rodas4_run(simfuse::Reactor& reactor, const std::vector<double>& y0, const nlohmann::json& in) {
  simfuse::ReactorKinetics k(reactor);
  simfuse::RosenbrockOptions o;
  o.rtol = in["rtol"].get<double>();
  o.atol = std::max(in["atol"].get<double>(), 1e-20);
  o.max_steps = 10000000;
  o.clip_negative = false;  // the integrator alone (clipping trace negatives changes the element masses)
  simfuse::RosenbrockStats st;
  const double t_max = in["t_max"].get<double>();
  auto run = [&](std::vector<double>& y, double T, double& h) {
    if (!simfuse::Rodas4::integrate(k, y.data(), T, h, o, st)) throw simfuse::RunFailure("Rodas4 failed");
  };
  nlohmann::json out{{"y0", y0}, {"taus", nlohmann::json::array()}};
  for (const auto& c : in.value("criteria", nlohmann::json::array())) {
    if (c[0] != "rise") {
      out["taus"].push_back(nullptr);
      continue;
    }
    const double target = y0[0] + c[1].get<double>();
    const int chunks = 4000;
    const double dt = t_max / chunks;
    std::vector<double> y = y0, prev;
    double h = 0, tau = -1;
    for (int i = 0; i < chunks && tau < 0; ++i) {
      prev = y;
      const double h_prev = h;
      run(y, dt, h);
      if (y[0] < target) continue;
      double lo = 0, hi = dt;
      while (hi - lo > 1e-12 * (i * dt + hi)) {
        const double mid = 0.5 * (lo + hi);
        std::vector<double> yt = prev;
        double ht = h_prev;
        run(yt, mid, ht);
        (yt[0] < target ? lo : hi) = mid;
      }
      tau = i * dt + 0.5 * (lo + hi);
    }
    out["taus"].push_back(tau);
  }
  std::vector<double> ye = y0;
  double h = 0;
  run(ye, t_max, h);
  out["y_end"] = ye;
  if (in.contains("t_eq")) {
    std::vector<double> yq = ye, f(y0.size());
    run(yq, in["t_eq"].get<double>() - t_max, h);
    reactor.rhs(yq.data(), f.data());
    out["y_eq"] = yq;
    out["dTdt_eq"] = f[0];
  }
  out["steps_total"] = st.steps;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: reactor_ignition FILE [PHASE] < problem.json\n";
    return 2;
  }
  try {
    const auto mech = simfuse::Mechanism::load(argv[1], argc > 2 ? argv[2] : "");
    const auto in = nlohmann::json::parse(std::cin);
    const bool volume = in.value("mode", std::string("pressure")) == "volume";
    simfuse::Reactor reactor(
        mech, volume ? simfuse::Reactor::Mode::constant_volume : simfuse::Reactor::Mode::constant_pressure,
        in["p"].get<double>());
    std::vector<double> y{in["T0"].get<double>()};
    for (double v : mass_fractions(mech, in)) y.push_back(v);
    if (volume) reactor.set_volume_state(y.data());
    if (in.value("integrator", std::string("cvode")) == "rodas4") {
      nlohmann::json out = rodas4_run(reactor, y, in);
      const std::vector<double> ye = out["y_end"].get<std::vector<double>>();
      out["e0"] = reactor.energy_mass(y[0], y.data() + 1);
      out["e_end"] = reactor.energy_mass(ye[0], ye.data() + 1);
      out["cp0"] = reactor.cp_mass(y[0], y.data() + 1);
      std::cout << out.dump() << "\n";
      return 0;
    }
    simfuse::CvodeOptions opt;
    opt.rtol = in["rtol"].get<double>();
    opt.atol = in["atol"].get<double>();
    opt.max_steps = 1000000;
    opt.jacobian = in.value("jacobian", std::string(volume ? "fd" : "analytic"));
    simfuse::CvodeIntegrator cv(reactor, opt);
    const double t_max = in["t_max"].get<double>();
    nlohmann::json out{{"y0", y}};
    std::vector<double> yt = y;
    const auto t0 = std::chrono::steady_clock::now();
    out["tau"] = in.contains("dT") ? cv.time_to_rise(yt.data(), in["dT"].get<double>(), t_max) : -1.0;
    out["seconds"] = seconds_since(t0);
    out["y"] = yt;
    const auto work = cv.stats();
    out["steps"] = work.steps;
    out["rhs_evals"] = work.rhs_evals + work.lin_rhs_evals;
    out["jac_evals"] = work.jac_evals;
    // The ignition time by each criterion, found inside CVODE's steps (ignite()).
    // Each run ends at t_max: the first one's end state is y_end (one integration fewer).
    out["taus"] = nlohmann::json::array();
    std::vector<double> ye = y;
    bool have_end = false;
    for (const auto& c : in.value("criteria", nlohmann::json::array())) {
      std::vector<double> yc = y;
      out["taus"].push_back(cv.ignite(yc.data(), criterion(mech, c), t_max));
      if (!have_end) ye = yc, have_end = true;
    }
    double stepped_seconds = 0;
    long stepped_jacobians = 0;
    if (in.contains("dt")) {  // as a split solver calls it: CVodeReInit every dt
      const double dt = in["dt"].get<double>();
      const long n = static_cast<long>(t_max / dt + 0.5);
      const long jac0 = cv.stats().jac_evals;
      const auto s0 = std::chrono::steady_clock::now();
      for (long i = 0; i < n; ++i) cv.advance(ye.data(), dt);
      stepped_seconds = seconds_since(s0);
      stepped_jacobians = cv.stats().jac_evals - jac0;
    } else if (!have_end) {
      cv.advance(ye.data(), t_max);
    }
    out["y_end"] = ye;
    out["stepped_seconds"] = stepped_seconds;
    out["stepped_jacobians"] = stepped_jacobians;
    if (in.contains("t_eq")) {                   // a long run towards equilibrium: its end state and dT/dt there
      std::vector<double> yq = ye, f(y.size());  // continued from t_max
      cv.advance(yq.data(), in["t_eq"].get<double>() - t_max);
      reactor.rhs(yq.data(), f.data());
      out["y_eq"] = yq;
      out["dTdt_eq"] = f[0];
    }
    const auto total = cv.stats();
    out["steps_total"] = total.steps;
    out["h0"] = reactor.enthalpy_mass(y[0], y.data() + 1);
    out["e0"] = reactor.energy_mass(y[0], y.data() + 1);
    out["e_end"] = reactor.energy_mass(ye[0], ye.data() + 1);
    out["h_end"] = reactor.enthalpy_mass(ye[0], ye.data() + 1);
    out["cp0"] = reactor.cp_mass(y[0], y.data() + 1);
    std::cout << out.dump() << "\n";
  } catch (const simfuse::RunFailure& e) {
    std::cerr << e.what() << "\n";
    return 3;
  } catch (const simfuse::UserError& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  return 0;
}
