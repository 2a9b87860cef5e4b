// Prints what simfuse's Mechanism computes, for the independent Python check
// (tests/chemistry/check_mechanism.py): reads {"states": [{"T": ..., "C": [...]}, ...]}
// on stdin and writes, per state, the thermodynamics per species (cp/R, h/RT, s/R), the
// forward and reverse rate constants and the net production rates, as JSON.
//   mechanism_rates FILE [PHASE] < states.json
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "simfuse/solvers/chemistry/Mechanism.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: mechanism_rates FILE [PHASE] < states.json\n";
    return 2;
  }
  try {
    const auto mech = simfuse::Mechanism::load(argv[1], argc > 2 ? argv[2] : "");
    const auto in = nlohmann::json::parse(std::cin);
    nlohmann::json out;
    for (const auto& s : mech.species()) out["species"].push_back(s.name);
    const int ns = mech.n_species(), nr = mech.n_reactions();
    for (const auto& st : in["states"]) {
      const double T = st["T"].get<double>();
      const std::vector<double> C = st["C"].get<std::vector<double>>();
      std::vector<double> cp(ns), h(ns), s(ns), kf(nr), kr(nr), w(ns);
      mech.cp_R(T, cp.data());
      mech.h_RT(T, h.data());
      mech.s_R(T, s.data());
      mech.rate_constants(T, C.data(), kf.data(), kr.data());
      mech.net_production_rates(T, C.data(), w.data());
      out["results"].push_back({{"cp_R", cp}, {"h_RT", h}, {"s_R", s}, {"kf", kf}, {"kr", kr}, {"wdot", w}});
    }
    std::cout << out.dump() << "\n";
  } catch (const simfuse::UserError& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  return 0;
}
