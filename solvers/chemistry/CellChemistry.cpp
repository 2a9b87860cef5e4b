#include "simfuse/solvers/chemistry/CellChemistry.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>

#include "simfuse/core/Petsc.hpp"
#include "simfuse/core/Timer.hpp"
#include "simfuse/core/base/Error.hpp"
#include "simfuse/core/base/Paths.hpp"

namespace simfuse {

void declare_chemistry(Schema& s) {
  function_registry();
  Schema& k = s.add_section("kinetics", "the reaction mechanism");
  k.add_string("type", "where the mechanism comes from").def("mechanism").choices({"mechanism"});
  k.add_string("file", "Cantera YAML mechanism (relative to the case file), e.g. mechanisms/h2o2.yaml").required();
  k.add_string("phase", "name of the ideal-gas phase in the file (default: the first)");

  Schema& in = s.add_section("initial", "the initial temperature and mixture (expressions of x, y, z)");
  in.add_block("temperature", "function", "initial temperature, K").required();
  in.add_map("mole_fractions", "mole fraction of each species, e.g. {H2: 0.296, O2: 0.148, N2: 0.556}");
  in.add_map("mass_fractions", "mass fraction of each species");
  in.add_block("equivalence_ratio", "function", "fuel-oxidiser equivalence ratio (with fuel and oxidizer)");
  in.add_map("fuel", "fuel composition by moles, e.g. {CH4: 1} (normalised)");
  in.add_map("oxidizer", "oxidiser composition by moles, e.g. {O2: 1, N2: 3.76} (normalised)");
  in.add_bool("normalize", "scale mole/mass fractions that do not sum to 1 instead of refusing them").def(false);
  in.add_check([](const Params& p, Diagnostics& d) {
    const int given = p.is_set("mole_fractions") + p.is_set("mass_fractions") + p.is_set("equivalence_ratio");
    if (given != 1)
      d.push_back(p.diag(
          given ? "mole_fractions" : "temperature",
          given ? "give one of mole_fractions, mass_fractions and equivalence_ratio, not several" : "no mixture given",
          "add mole_fractions: {...}, mass_fractions: {...} or equivalence_ratio with fuel and "
          "oxidizer"));
    if (p.is_set("equivalence_ratio") && (!p.is_set("fuel") || !p.is_set("oxidizer")))
      d.push_back(p.diag("equivalence_ratio", "an equivalence ratio needs fuel and oxidizer",
                         "add fuel: {CH4: 1} and oxidizer: {O2: 1, N2: 3.76}"));
    if (!p.is_set("equivalence_ratio") && (p.is_set("fuel") || p.is_set("oxidizer")))
      d.push_back(p.diag(p.is_set("fuel") ? "fuel" : "oxidizer", "fuel and oxidizer are used with equivalence_ratio",
                         "add equivalence_ratio: 1.0, or remove fuel and oxidizer"));
  });

  Schema& i = s.add_section("integrator", "the per-cell stiff chemistry integrator");
  i.add_string("type", "cvode (SUNDIALS BDF, Newton), rodas3 or rodas4 (Rosenbrock, orders 3 and 4, one LU per step)")
      .def("cvode")
      .choices({"cvode", "rodas3", "rodas4"});
  i.add_bool("step_memory",
             "each cell starts from its own last step (kept per cell, checkpointed, moved with the cell): "
             "rodas3/rodas4 from the step their controller proposed at the end of the previous call (instead of "
             "dt/100), cvode from first_step_fraction of its last step (instead of its own estimate)")
      .def(false);
  i.add_real("first_step_fraction",
             "cvode with step_memory: the first step as a fraction of the cell's last one (BDF restarts at order 1)")
      .def(0.1)
      .positive()
      .max(1.0);
  i.add_real("eta_max_first_step",
             "cvode: the largest growth of the step after the first one (CVODE's default 1e4); with step_memory "
             "the first step is already large")
      .positive();
  i.add_real("eta_max_early_step", "cvode: the largest step growth over the first steps (CVODE's default 10)")
      .positive();
  i.add_real("rtol", "relative tolerance").def(1e-6).positive().max(0.1);
  i.add_real("atol", "absolute tolerance of every component (mass fractions; T in K)").def(1e-12).positive();
  i.add_map("atol_species", "absolute tolerance of named components, e.g. {OH: 1e-14, T: 1e-6}");
  i.add_int("max_order", "CVODE: maximum BDF order").def(5).range(1, 5);
  i.add_int("max_steps", "maximum internal steps per cell and call").def(20000).min(1);
  i.add_string("jacobian", "CVODE: analytic (from the mechanism's rate derivatives) or fd (difference quotients)")
      .def("analytic")
      .choices({"analytic", "fd"});
  i.add_string("linear_solver",
               "CVODE: dense (LAPACK LU), sundials_dense (SUNDIALS' own LU, slower) or klu (SuiteSparse, sparse)")
      .def("dense")
      .choices({"dense", "sundials_dense", "klu"});
  i.add_real("cutoff_temperature", "cells colder than this (K) are not integrated; 0: off").def(0.0).non_negative();

  Schema& c = s.add_section("check", "the cheap error estimate of a proposed chemistry step (guarded policies)");
  c.add_real("reference_rtol",
             "relative tolerance of the loose reference integration a proposal is compared with (the integrator's "
             "own: CVODE or Rodas3)")
      .def(1e-4)
      .positive()
      .max(0.1);
  c.add_real("rtol", "accepted relative deviation from that reference").def(0.02).positive();
  c.add_real("floor", "mass-fraction floor added to |Y_ref| in the relative deviation").def(1e-6).positive();
  c.add_real("temperature_floor", "temperature floor (K) added to |T_ref|").def(1.0).positive();
  c.add_map("floors", "floors of named species, e.g. {OH: 1e-8} (mass fractions spanning many decades)");
  c.add_real("max_temperature_change",
             "a proposal whose T differs by more than this (K) from the T that conserves the energy with its projected "
             "composition is rejected (a cheap guard against species errors; 0: off)")
      .def(10.0)
      .non_negative();
  c.add_real("max_element_defect",
             "a proposal whose element masses differ from the step start's by more than this fraction is rejected "
             "instead of projected (0: off)")
      .def(0.0)
      .non_negative();
}

std::vector<std::string> gas_components(const Mechanism& mech) {
  std::vector<std::string> comps{"T"};
  for (const auto& s : mech.species()) comps.push_back(s.name);
  return comps;
}

nlohmann::ordered_json describe_mechanism(const Mechanism& mech) {
  return {
      {"file", mech.file()}, {"phase", mech.phase()}, {"species", mech.n_species()}, {"reactions", mech.n_reactions()}};
}

std::map<std::string, std::string> chemistry_context(const Mechanism& mech, Reactor::Mode mode) {
  return {{"mechanism_hash", mech.hash()}, {"reactor", Reactor::mode_name(mode)}};
}

std::shared_ptr<const Mechanism> load_mechanism(const Params& k) {
  const std::string file = resolve_path(k.get<std::string>("file"), k.where("file").origin);
  if (!std::filesystem::is_regular_file(file))
    k.fail("file", fmt::format("mechanism file '{}' does not exist or is not a file", file),
           "give a Cantera YAML mechanism, relative to the case file (shipped: cases/mechanisms/h2o2.yaml, "
           "gri30.yaml)");
  const std::string phase = k.is_set("phase") ? k.get<std::string>("phase") : std::string();
  try {
    return std::make_shared<const Mechanism>(Mechanism::load(file, phase));
  } catch (const UserError& e) {
    // The problem where it is in the mechanism, then the case key that named it.
    auto d = e.diagnostics();
    const std::string key =
        phase.empty() || e.diagnostics().empty() || e.diagnostics().front().what.find("no phase") == std::string::npos
            ? "file"
            : "phase";
    d.push_back(k.diag(key, fmt::format("the mechanism named here ({})", file), {}));
    throw UserError(std::move(d));
  }
}

namespace {

// The validated map of `key` as (species index, value) for numeric per-species maps.
std::vector<double> species_reals(const Params& p, const std::string& key, const Mechanism& mech, double def,
                                  bool allow_T, double min_value, bool strict_min) {
  Schema s(key, key);
  if (allow_T) s.add_real("T", "temperature").def(def);
  for (const auto& sp : mech.species()) {
    auto b = s.add_real(sp.name, sp.name).def(def);
    if (strict_min)
      b.min(min_value, true);
    else
      b.non_negative();
  }
  const Params v = p.validate_entry(key, s);
  std::vector<double> out;
  if (allow_T) out.push_back(v.get<double>("T"));
  for (const auto& sp : mech.species()) out.push_back(v.get<double>(sp.name));
  return out;
}

// O2 needed to burn one mole of species k completely to CO2 and H2O (negative: it brings O2).
double o2_demand(const Species& s) {
  auto n = [&](const char* e) {
    auto it = s.composition.find(e);
    return it == s.composition.end() ? 0.0 : it->second;
  };
  return n("C") + 0.25 * n("H") - 0.5 * n("O");
}

}  // namespace

InitialMixture::InitialMixture(const Params& p, const Mechanism& mech, const Constants& constants)
    : mech_(mech), p_(p) {
  T_ = make_function(p, "temperature", constants);
  normalize_ = p.get<bool>("normalize");
  const int n = mech.n_species();
  if (p.is_set("equivalence_ratio")) {
    kind_ = Kind::equivalence_ratio;
    phi_ = make_function(p, "equivalence_ratio", constants);
    fuel_ = species_reals(p, "fuel", mech, 0.0, false, 0, false);
    oxidizer_ = species_reals(p, "oxidizer", mech, 0.0, false, 0, false);
    for (auto* v : {&fuel_, &oxidizer_}) {
      const double sum = std::accumulate(v->begin(), v->end(), 0.0);
      const std::string key = v == &fuel_ ? "fuel" : "oxidizer";
      if (!(sum > 0)) p.fail(key, "has no species with a positive amount", "e.g. fuel: {CH4: 1}");
      for (double& x : *v) x /= sum;
    }
    for (int k = 0; k < n; ++k) {
      fuel_o2_ += fuel_[k] * o2_demand(mech.species()[k]);
      oxidizer_o2_ += oxidizer_[k] * o2_demand(mech.species()[k]);
    }
    if (!(fuel_o2_ > 0))
      p.fail("fuel", "needs no oxygen to burn (no C or H beyond its own O)", "name a fuel such as H2 or CH4");
    if (!(oxidizer_o2_ < 0))
      p.fail("oxidizer", "brings no oxygen (its species have no O beyond their own C and H)", "e.g. {O2: 1, N2: 3.76}");
    return;
  }
  kind_ = p.is_set("mass_fractions") ? Kind::mass : Kind::mole;
  const std::string key = kind_ == Kind::mass ? "mass_fractions" : "mole_fractions";
  Schema s(key, key);
  for (const auto& sp : mech.species()) s.add_block(sp.name, "function", sp.name);
  const Params v = p.validate_entry(key, s);
  for (const auto& sp : mech.species())
    fractions_.push_back(v.has(sp.name) && v.is_set(sp.name) ? make_function(v, sp.name, constants) : nullptr);
}

void InitialMixture::at(double x, double y, double z, double* out) const {
  const int n = mech_.n_species();
  const auto& sp = mech_.species();
  const double T = (*T_)(x, y, z, 0.0);
  if (!(T > 0) || !std::isfinite(T))
    p_.fail("temperature", fmt::format("is {:g} K at ({:g}, {:g}, {:g})", T, x, y, z),
            "temperatures must be positive and finite");
  out[0] = T;
  double* Y = out + 1;
  std::vector<double> X(static_cast<size_t>(n), 0.0);
  bool mole = true;
  if (kind_ == Kind::equivalence_ratio) {
    const double phi = (*phi_)(x, y, z, 0.0);
    if (!(phi > 0) || !std::isfinite(phi))
      p_.fail("equivalence_ratio", fmt::format("is {:g} at ({:g}, {:g}, {:g})", phi, x, y, z),
              "equivalence ratios must be positive and finite (pure oxidiser: use mole_fractions)");
    // Moles of oxidiser per mole of fuel: the fuel's O2 demand over what the oxidiser
    // brings, divided by phi.
    const double m = fuel_o2_ / (phi * -oxidizer_o2_);
    for (int k = 0; k < n; ++k) X[k] = (fuel_[k] + m * oxidizer_[k]) / (1 + m);
  } else {
    mole = kind_ == Kind::mole;
    const std::string key = mole ? "mole_fractions" : "mass_fractions";
    double sum = 0;
    for (int k = 0; k < n; ++k) {
      X[k] = fractions_[k] ? (*fractions_[k])(x, y, z, 0.0) : 0.0;
      if (!(X[k] >= 0) || !std::isfinite(X[k]))
        p_.fail(key, fmt::format("{} is {:g} at ({:g}, {:g}, {:g})", sp[k].name, X[k], x, y, z),
                "fractions must be non-negative and finite");
      sum += X[k];
    }
    if (!(sum > 0)) p_.fail(key, fmt::format("are all zero at ({:g}, {:g}, {:g})", x, y, z), "give the mixture");
    if (std::abs(sum - 1) > 1e-6 && !normalize_)
      p_.fail(key, fmt::format("sum to {:.9g} at ({:g}, {:g}, {:g}), not 1 (off by {:+.3g})", sum, x, y, z, sum - 1),
              "correct the fractions, or add 'normalize: true' under initial to scale them to 1");
    for (int k = 0; k < n; ++k) X[k] /= sum;
  }
  if (mole) {
    double w = 0;
    for (int k = 0; k < n; ++k) w += X[k] * sp[k].molar_mass;
    for (int k = 0; k < n; ++k) Y[k] = X[k] * sp[k].molar_mass / w;
  } else {
    for (int k = 0; k < n; ++k) Y[k] = X[k];
  }
}

std::string InitialMixture::describe() const {
  switch (kind_) {
    case Kind::equivalence_ratio:
      return "equivalence ratio " + phi_->describe();
    case Kind::mass:
      return "mass fractions";
    case Kind::mole:
      break;
  }
  return "mole fractions";
}

ReactorKinetics::ReactorKinetics(Reactor& r) : r_(r) {
  names_.push_back("T");
  for (const auto& s : r.mechanism().species()) names_.push_back(s.name);
}

void ReactorKinetics::jacobian(const double* y, double* J) const {
  if (r_.mode() == Reactor::Mode::constant_pressure) return r_.jacobian(y, J);
  const int n = r_.size();
  std::vector<double> yp(y, y + n), f0(static_cast<size_t>(n)), f1(static_cast<size_t>(n));
  r_.rhs(y, f0.data());
  for (int j = 0; j < n; ++j) {
    const double d = 1e-7 * std::max(std::abs(y[j]), j == 0 ? 1.0 : 1e-10);
    yp[j] = y[j] + d;
    r_.rhs(yp.data(), f1.data());
    yp[j] = y[j];
    for (int i = 0; i < n; ++i) J[static_cast<size_t>(i) * n + j] = (f1[i] - f0[i]) / d;
  }
}

CellChemistry::CellChemistry(const Mechanism& mech, Reactor::Mode mode, double pressure, const Params& ip,
                             const Params& cp)
    : mech_(mech), reactor_(mech, mode, pressure) {
  type_ = ip.get<std::string>("type");
  cv_.rtol = ros_.rtol = ip.get<double>("rtol");
  cv_.atol = ros_.atol = ip.get<double>("atol");
  cv_.max_order = ip.get<int>("max_order");
  cv_.max_steps = ros_.max_steps = ip.get<int>("max_steps");
  for (const char* k : {"eta_max_first_step", "eta_max_early_step"})
    if (ip.is_set(k) && type_ != "cvode")
      ip.fail(k, fmt::format("{} is a CVODE setting; this integrator is {}", k, type_),
              fmt::format("remove {}, or use type: cvode", k));
  if (ip.is_set("eta_max_first_step")) cv_.eta_max_first_step = ip.get<double>("eta_max_first_step");
  if (ip.is_set("eta_max_early_step")) cv_.eta_max_early_step = ip.get<double>("eta_max_early_step");
  ros_.clip_negative = true;  // mass fractions within atol below 0 are 0 (see RosenbrockOptions)
  cv_.jacobian = ip.get<std::string>("jacobian");
  cv_.linear_solver = ip.get<std::string>("linear_solver");
  if (ip.is_set("atol_species")) {
    const auto a = species_reals(ip, "atol_species", mech, cv_.atol, true, 0.0, true);
    cv_.atols = ros_.atols = a;
  }
  cutoff_ = ip.get<double>("cutoff_temperature");
  step_memory_ = ip.get<bool>("step_memory");
  first_step_fraction_ = ip.get<double>("first_step_fraction");
  if (ip.is_set("first_step_fraction") && !(step_memory_ && type_ == "cvode"))
    ip.fail("first_step_fraction", "first_step_fraction is for cvode with step_memory: true",
            "add step_memory: true (with type: cvode), or remove first_step_fraction");
  if (type_ == "cvode") {
    if (mode == Reactor::Mode::constant_volume && cv_.jacobian == "analytic") {
      if (ip.is_set("jacobian"))
        ip.fail("jacobian", "the analytic Jacobian is for constant-pressure reactors",
                "use jacobian: fd at constant volume");
      cv_.jacobian = "fd";
    }
    if (cv_.linear_solver == "klu" && cv_.jacobian != "analytic")
      ip.fail("linear_solver", "klu needs the analytic Jacobian (CVODE's difference quotients are dense)",
              "use jacobian: analytic, or linear_solver: dense");
    cvode_ = std::make_unique<CvodeIntegrator>(reactor_, cv_);
  }
  kinetics_ = std::make_unique<ReactorKinetics>(reactor_);
  ref_.rtol = cp.get<double>("reference_rtol");
  ref_.max_steps = 5000;
  ref_.clip_negative = true;
  check_rtol_ = cp.get<double>("rtol");
  limits_.max_temperature_change = cp.get<double>("max_temperature_change");
  limits_.max_element_defect = cp.get<double>("max_element_defect");
  floors_.assign(static_cast<size_t>(reactor_.size()), cp.get<double>("floor"));
  floors_[0] = cp.get<double>("temperature_floor");
  if (cp.is_set("floors")) {
    const auto f = species_reals(cp, "floors", mech, cp.get<double>("floor"), false, 0.0, true);
    std::copy(f.begin(), f.end(), floors_.begin() + 1);
  }
  ref_.atols.resize(floors_.size());
  for (size_t c = 0; c < floors_.size(); ++c) ref_.atols[c] = 1e-3 * floors_[c];
  if (cvode_) {
    // With CVODE as the integrator the reference is CVODE too, loosely: a second memory
    // (the classical one is not disturbed), the same Jacobian, absolute tolerances 1/1000
    // of the floors. Rodas3 as the reference cost 170x the classical step on GRI-3.0 and
    // failed on most cells (bench_chemistry_guard).
    CvodeOptions rc = cv_;
    rc.rtol = ref_.rtol;
    rc.atols = ref_.atols;
    rc.max_steps = 5000;
    rc.linear_solver = "dense";
    ref_cvode_ = std::make_unique<CvodeIntegrator>(reactor_, rc);
  }
  T_lo_ = 0;
  T_hi_ = 1e300;
  for (const auto& s : mech.species()) {
    T_lo_ = std::max(T_lo_, s.thermo.t_min);
    T_hi_ = std::min(T_hi_, s.thermo.t_max);
  }
}

CellChemistry::~CellChemistry() = default;

const Kinetics& CellChemistry::kinetics() const {
  return *kinetics_;
}

void CellChemistry::set_cell(double pressure, double density) {
  reactor_.set_pressure(pressure);
  if (reactor_.mode() == Reactor::Mode::constant_volume) reactor_.set_density(density);
}

bool CellChemistry::advance(double* y, double dt, double* step) {
  if (!(y[0] > 0) || !std::isfinite(y[0]))
    throw RunFailure(fmt::format("the temperature is {:g} K before the chemistry step", y[0]),
                     "the state left the physical range: reduce time.dt or tighten the tolerances");
  if (cutoff_ > 0 && y[0] < cutoff_) {
    ++stats_.skipped;
    return false;
  }
  const double t0 = wall_time();
  ++stats_.cells;
  if (cvode_) {
    cvode_->advance(y, dt, step_memory_ ? step : nullptr, first_step_fraction_);
    stats_.cvode = cvode_->stats();
  } else {
    double h = step_memory_ && step ? *step : 0.0;
    const bool ok = type_ == "rodas4" ? Rodas4::integrate(*kinetics_, y, dt, h, ros_, stats_.rodas)
                                      : Rodas3::integrate(*kinetics_, y, dt, h, ros_, stats_.rodas);
    if (!ok)
      throw RunFailure(fmt::format("{} failed (too many steps, step underflow or a non-finite state) in a step "
                                   "of {:g} s",
                                   type_ == "rodas4" ? "Rodas4" : "Rodas3", dt),
                       "loosen the tolerances, raise max_steps or reduce time.dt");
    if (step_memory_ && step) *step = h;
  }
  stats_.seconds += wall_time() - t0;
  return true;
}

double CellChemistry::estimate(const double* before, const double* proposed, double dt, const double* source,
                               const double* h_end, double* reference) {
  const int n = reactor_.size();
  thread_local std::vector<double> ref;
  ref.assign(before, before + n);
  if (!(ref[0] > 0) || !std::isfinite(ref[0])) return std::numeric_limits<double>::infinity();
  if (cutoff_ > 0 && ref[0] < cutoff_) {
    // Below the cut-off the classical step leaves the cell unchanged (forced: the
    // transport alone): so must the proposal.
    if (source)
      for (int c = 0; c < n; ++c) ref[c] += dt * source[c];
  } else {
    // Error-controlled, loosely: a fixed step from a radical-free state goes negative in
    // the radicals (and then non-finite) long before the step reaches a microsecond.
    reactor_.set_source(source);
    bool ok = true;
    if (ref_cvode_) {
      try {
        ref_cvode_->advance(ref.data(), dt);
      } catch (const RunFailure&) {
        ok = false;
      }
    } else {
      double h = 0;
      ok = Rodas3::integrate(*kinetics_, ref.data(), dt, h, ref_, check_stats_);
    }
    reactor_.set_source(nullptr);
    if (!ok) return std::numeric_limits<double>::infinity();
  }
  if (h_end) {
    try {
      ref[0] = reactor_.temperature_from_enthalpy(*h_end, ref.data() + 1, ref[0]);
    } catch (const RunFailure&) {
      return std::numeric_limits<double>::infinity();
    }
  }
  double e = 0;
  for (int c = 0; c < n; ++c) {
    const double d = std::abs(proposed[c] - ref[c]) / (floors_[c] + check_rtol_ * std::abs(ref[c]));
    if (!std::isfinite(d)) return std::numeric_limits<double>::infinity();
    e = std::max(e, d);
  }
  if (reference) std::copy(ref.begin(), ref.end(), reference);
  return e;
}

std::string CellChemistry::estimate_description() const {
  return fmt::format(
      "max over T and species of |proposed - y_ref| / (floor + {:g} |y_ref|), floors {:g} K for T and per species "
      "(default {:g}), y_ref = {} at rtol {:g}",
      check_rtol_, floors_[0], floors_.size() > 1 ? floors_[1] : 0.0, ref_cvode_ ? "CVODE" : "Rodas3", ref_.rtol);
}

ChemistryStats CellChemistry::reduced(MPI_Comm comm) const {
  const CvodeStats& c = stats_.cvode;
  const RosenbrockStats& r = stats_.rodas;
  long in[] = {c.calls, c.steps,    c.rhs_evals, c.jac_evals, c.lin_rhs_evals, c.error_test_fails, c.nonlin_fails,
               r.steps, r.rejected, r.rhs,       r.jacobians, r.failures,      stats_.cells,       stats_.skipped};
  constexpr int kN = sizeof(in) / sizeof(in[0]);
  long out[kN];
  MPI_Allreduce(in, out, kN, MPI_LONG, MPI_SUM, comm);
  ChemistryStats s;
  s.cvode = {out[0], out[1], out[2], out[3], out[4], out[5], out[6]};
  s.rodas.steps = out[7];
  s.rodas.rejected = out[8];
  s.rodas.rhs = out[9];
  s.rodas.jacobians = out[10];
  s.rodas.failures = out[11];
  s.cells = out[12];
  s.skipped = out[13];
  MPI_Allreduce(&stats_.seconds, &s.seconds, 1, MPI_DOUBLE, MPI_SUM, comm);
  return s;
}

nlohmann::ordered_json CellChemistry::describe(const ChemistryStats& s) const {
  nlohmann::ordered_json d{{"type", type_}, {"rtol", cv_.rtol}, {"atol", cv_.atol}};
  if (!cv_.atols.empty()) d["atol_components"] = cv_.atols;
  d["max_steps"] = cv_.max_steps;
  d["cutoff_temperature"] = cutoff_;
  if (type_ == "cvode") {
    d["max_order"] = cv_.max_order;
    d["jacobian"] = cv_.jacobian;
    d["linear_solver"] = cv_.linear_solver;
    d["calls"] = s.cvode.calls;
    d["steps"] = s.cvode.steps;
    d["rhs_evals"] = s.cvode.rhs_evals;
    d["jacobian_evals"] = s.cvode.jac_evals;
    d["fd_jacobian_rhs_evals"] = s.cvode.lin_rhs_evals;
    d["error_test_failures"] = s.cvode.error_test_fails;
    d["nonlinear_failures"] = s.cvode.nonlin_fails;
  } else {
    d["steps"] = s.rodas.steps;
    d["rejected_steps"] = s.rodas.rejected;
    d["rhs_evals"] = s.rodas.rhs;
    d["jacobian_evals"] = s.rodas.jacobians;
    d["failures"] = s.rodas.failures;
  }
  d["cells_integrated"] = s.cells;
  d["cells_skipped"] = s.skipped;
  d["seconds_all_ranks"] = s.seconds;
  return d;
}

void CellChemistry::check_temperature_range(double T) {
  if (warned_ || (T >= T_lo_ && T <= T_hi_)) return;
  for (const auto& s : mech_.species())
    if (T < s.thermo.t_min || T > s.thermo.t_max) {
      spdlog::warn(
          "temperature {:g} K is outside the range [{:g}, {:g}] K of the thermo polynomials of {} (and perhaps "
          "others): extrapolated (warned once)",
          T, s.thermo.t_min, s.thermo.t_max, s.name);
      warned_ = true;
      return;
    }
}

void CellChemistry::check_initial_temperatures(const std::vector<double>& T, const Params& integrator, MPI_Comm comm) {
  double tmax = 0, all = 0;
  for (double t : T) {
    tmax = std::max(tmax, t);
    check_temperature_range(t);
  }
  MPI_Allreduce(&tmax, &all, 1, MPI_DOUBLE, MPI_MAX, comm);
  if (cutoff_ > 0 && all < cutoff_)
    integrator.fail("cutoff_temperature",
                    fmt::format("{:g} K is above the initial temperature everywhere (at most {:g} K): no cell would "
                                "ever react",
                                cutoff_, all),
                    "lower the cut-off below the temperatures where chemistry starts, or set 0 to switch it off");
}

void throw_if_any_failed(MPI_Comm comm, const std::string& message, const std::string& fix) {
  const int first = first_failing_rank(comm, !message.empty());
  if (first < 0) return;
  std::string text = message;
  bcast_string(comm, text, first);
  throw RunFailure(text, fix);
}

std::string what_of(const UserError& e) {
  return e.diagnostics().empty() ? std::string(e.what()) : e.diagnostics().front().what;
}

std::string describe_state(const Mechanism& mech, const double* y, int max_species) {
  const int n = mech.n_species();
  std::vector<int> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return y[a + 1] > y[b + 1]; });
  std::string s = fmt::format("T = {:.6g} K", y[0]);
  for (int i = 0; i < std::min(n, max_species); ++i)
    s += fmt::format(", Y_{} = {:.4g}", mech.species()[order[i]].name, y[order[i] + 1]);
  return s;
}

}  // namespace simfuse
