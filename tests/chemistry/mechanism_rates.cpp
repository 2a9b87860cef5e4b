// Prints what simfuse's Mechanism and Reactor compute, for the checks against Cantera
// (tests/chemistry/check_cantera.py): reads
//   {"states": [{"T": K, "p": Pa, "Y": [...], "C": [...]}, ...], "jacobian": false}
// on stdin and writes, per state, the thermodynamics per species (cp/R, h/RT, s/R); with C
// (mol/m^3) the forward and reverse rate constants and the net production rates at those
// concentrations; with p and Y the mixture's cp, cv, h, u, s per unit mass, the density,
// simfuse's own concentrations of (T, p, Y), and with "jacobian" the constant-pressure
// reactor's analytic Jacobian in [T, Y] (row-major), as JSON; also each species' name, molar
// mass (kg/mol) and composition, as read.
//   mechanism_rates FILE [PHASE] < states.json
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "simfuse/solvers/chemistry/Mechanism.hpp"
#include "simfuse/solvers/chemistry/Reactor.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: mechanism_rates FILE [PHASE] < states.json\n";
    return 2;
  }
  try {
    const auto mech = simfuse::Mechanism::load(argv[1], argc > 2 ? argv[2] : "");
    const auto in = nlohmann::json::parse(std::cin);
    const bool want_jacobian = in.value("jacobian", false);
    nlohmann::json out;
    for (const auto& s : mech.species()) {
      out["species"].push_back(s.name);
      out["molar_mass"].push_back(s.molar_mass);
      out["composition"].push_back(s.composition);
    }
    out["results"] = nlohmann::json::array();
    const int ns = mech.n_species(), nr = mech.n_reactions();
    for (const auto& st : in["states"]) {
      const double T = st["T"].get<double>();
      std::vector<double> cp(ns), h(ns), s(ns);
      mech.cp_R(T, cp.data());
      mech.h_RT(T, h.data());
      mech.s_R(T, s.data());
      nlohmann::json r{{"cp_R", cp}, {"h_RT", h}, {"s_R", s}};
      if (st.contains("C")) {
        const std::vector<double> C = st["C"].get<std::vector<double>>();
        if (static_cast<int>(C.size()) != ns) throw simfuse::UserError("a state's C has the wrong size");
        std::vector<double> kf(nr), kr(nr), w(ns);
        mech.rate_constants(T, C.data(), kf.data(), kr.data());
        mech.net_production_rates(T, C.data(), w.data());
        r["kf"] = kf;
        r["kr"] = kr;
        r["wdot"] = w;
      }
      if (st.contains("Y") && st.contains("p")) {
        const double p = st["p"].get<double>();
        const std::vector<double> Y = st["Y"].get<std::vector<double>>();
        if (static_cast<int>(Y.size()) != ns) throw simfuse::UserError("a state's Y has the wrong size");
        simfuse::Reactor reactor(mech, simfuse::Reactor::Mode::constant_pressure, p);
        std::vector<double> y{T};
        y.insert(y.end(), Y.begin(), Y.end());
        const double rho = reactor.density(y.data());
        std::vector<double> C(ns);
        for (int k = 0; k < ns; ++k) C[k] = rho * Y[k] / mech.species()[k].molar_mass;
        r["cp_mass"] = mech.cp_mass(T, Y.data());
        r["cv_mass"] = mech.cv_mass(T, Y.data());
        r["h_mass"] = mech.enthalpy_mass(T, Y.data());
        r["u_mass"] = mech.int_energy_mass(T, Y.data());
        r["s_mass"] = mech.entropy_mass(T, p, Y.data());
        r["density"] = rho;
        r["C_from_Y"] = C;
        if (want_jacobian) {
          std::vector<double> J(static_cast<size_t>(ns + 1) * (ns + 1));
          reactor.jacobian(y.data(), J.data());
          r["jacobian"] = J;
        }
      }
      out["results"].push_back(std::move(r));
    }
    std::cout << out.dump() << "\n";
  } catch (const simfuse::UserError& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  return 0;
}
