// Prints what simfuse's MixtureTransport computes, for the checks against Cantera
// (tests/chemistry/check_cantera.py transport): reads
//   {"fits": {"viscosity": [[5 coefficients] per species], "conductivity": [...],
//             "diffusion": [[5] per pair i <= j, packed by rows]},
//    "states": [{"T": K, "p": Pa, "Y": [...]}, ...]}
// on stdin and writes, per state, the species viscosities and conductivities, the mixture
// viscosity, thermal conductivity and mixture-averaged diffusion coefficients, as JSON;
// also, per species, whether the mechanism gives transport data. "fits": "own" uses
// simfuse's own fits (fit_transport); "temperatures": [...] adds, per temperature, the
// species viscosities and conductivities and the binary diffusion coefficients at 1 atm
// (pairs i <= j, packed by rows).
//   transport_props FILE [PHASE] < input.json
#include <iostream>
#include <nlohmann/json.hpp>

#include "simfuse/solvers/chemistry/Mechanism.hpp"
#include "simfuse/solvers/chemistry/Transport.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: transport_props FILE [PHASE] < input.json\n";
    return 2;
  }
  try {
    const auto mech = simfuse::Mechanism::load(argv[1], argc > 2 ? argv[2] : "");
    const auto in = nlohmann::json::parse(std::cin);
    nlohmann::json out;
    for (const auto& s : mech.species()) out["has_transport"].push_back(s.has_transport);
    simfuse::TransportFits fits;
    auto polys = [](const nlohmann::json& j) {
      std::vector<simfuse::TransportFits::Poly> v;
      for (const auto& r : j) v.push_back(r.get<simfuse::TransportFits::Poly>());
      return v;
    };
    if (in["fits"].is_string()) {
      fits = simfuse::fit_transport(mech);
    } else {
      fits.viscosity = polys(in["fits"]["viscosity"]);
      fits.conductivity = polys(in["fits"]["conductivity"]);
      fits.diffusion = polys(in["fits"]["diffusion"]);
    }
    const simfuse::MixtureTransport tr(mech, fits);
    const int n = mech.n_species();
    out["species_at"] = nlohmann::json::array();
    for (const auto& tj : in.value("temperatures", nlohmann::json::array())) {
      const double T = tj.get<double>();
      std::vector<double> mu(n), lam(n), D(static_cast<size_t>(n) * n), packed;
      tr.species_viscosities(T, mu.data());
      tr.species_conductivities(T, lam.data());
      tr.binary_diff_coeffs(T, 101325.0, D.data());
      for (int i = 0; i < n; ++i)
        for (int j = i; j < n; ++j) packed.push_back(D[static_cast<size_t>(i) * n + j]);
      out["species_at"].push_back({{"T", T}, {"viscosity", mu}, {"conductivity", lam}, {"diffusion", packed}});
    }
    out["results"] = nlohmann::json::array();
    for (const auto& st : in["states"]) {
      const double T = st["T"].get<double>(), p = st["p"].get<double>();
      const auto Y = st["Y"].get<std::vector<double>>();
      std::vector<double> mu(n), lam(n), D(n);
      tr.species_viscosities(T, mu.data());
      tr.species_conductivities(T, lam.data());
      tr.mix_diff_coeffs(T, p, Y.data(), D.data());
      out["results"].push_back({{"species_viscosities", mu},
                                {"species_conductivities", lam},
                                {"viscosity", tr.viscosity(T, Y.data())},
                                {"thermal_conductivity", tr.thermal_conductivity(T, Y.data())},
                                {"mix_diff_coeffs", D}});
    }
    std::cout << out.dump() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
