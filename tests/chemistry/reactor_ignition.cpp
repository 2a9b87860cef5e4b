// Runs simfuse's constant-pressure (or constant-volume) reactor under CVODE, for the
// independent Python check (tests/chemistry/check_reactor.py): reads
//   {"T0": K, "p": Pa, "Y": [...], "dT": K, "t_max": s, "rtol": r, "atol": a, "mode": "pressure"|"volume",
//    optional "criterion": "max_dTdt"|"max_dXdt"|"threshold", "species", "value"}
// on stdin and writes {"tau": s (-1 if no rise), "y": [T, Y...] at tau, "y_end": [...] at
// t_max (advanced in one call), "tau_criterion": s by the criterion, "steps": n} as JSON.
//   reactor_ignition FILE [PHASE] < problem.json
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "simfuse/solvers/chemistry/Cvode.hpp"

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
    for (double v : in["Y"].get<std::vector<double>>()) y.push_back(v);
    if (volume) reactor.set_volume_state(y.data());
    simfuse::CvodeOptions opt;
    opt.rtol = in["rtol"].get<double>();
    opt.atol = in["atol"].get<double>();
    opt.max_steps = 200000;
    opt.jacobian = in.value("jacobian", std::string(volume ? "fd" : "analytic"));
    simfuse::CvodeIntegrator cv(reactor, opt);
    std::vector<double> yt = y;
    const auto t0 = std::chrono::steady_clock::now();
    const double tau = cv.time_to_rise(yt.data(), in["dT"].get<double>(), in["t_max"].get<double>());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto work = cv.stats();
    // The ignition time by another criterion, found inside CVODE's steps (ignite()).
    double tau_criterion = -1;
    if (in.contains("criterion")) {
      simfuse::IgnitionCriterion c;
      c.kind = simfuse::IgnitionCriterion::parse(in["criterion"].get<std::string>());
      c.delta_T = in["dT"].get<double>();
      if (in.contains("species")) c.species = mech.species_index(in["species"].get<std::string>());
      if (in.contains("value")) c.value = in["value"].get<double>();
      std::vector<double> yc = y;
      tau_criterion = cv.ignite(yc.data(), c, in["t_max"].get<double>());
    }
    std::vector<double> ye = y;
    double stepped_seconds = 0;
    long stepped_jacobians = 0;
    if (in.contains("dt")) {  // as a split solver calls it: CVodeReInit every dt
      const double dt = in["dt"].get<double>();
      const long n = static_cast<long>(in["t_max"].get<double>() / dt + 0.5);
      const long jac0 = cv.stats().jac_evals;
      const auto s0 = std::chrono::steady_clock::now();
      for (long i = 0; i < n; ++i) cv.advance(ye.data(), dt);
      stepped_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - s0).count();
      stepped_jacobians = cv.stats().jac_evals - jac0;
    } else {
      cv.advance(ye.data(), in["t_max"].get<double>());
    }
    nlohmann::json out{{"tau", tau},
                       {"tau_criterion", tau_criterion},
                       {"y", yt},
                       {"y_end", ye},
                       {"steps", work.steps},
                       {"seconds", seconds},
                       {"stepped_seconds", stepped_seconds},
                       {"stepped_jacobians", stepped_jacobians},
                       {"rhs_evals", work.rhs_evals + work.lin_rhs_evals},
                       {"jac_evals", work.jac_evals},
                       {"h0", reactor.enthalpy_mass(y[0], y.data() + 1)},
                       {"h_end", reactor.enthalpy_mass(ye[0], ye.data() + 1)},
                       {"cp0", reactor.cp_mass(y[0], y.data() + 1)}};
    std::cout << out.dump() << "\n";
  } catch (const simfuse::UserError& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  return 0;
}
