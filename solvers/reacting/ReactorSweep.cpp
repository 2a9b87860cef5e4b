#include "simfuse/solvers/reacting/ReactorSweep.hpp"

#include <fmt/format.h>

#include <cmath>
#include <sstream>

#include "simfuse/core/Files.hpp"
#include "simfuse/core/Timer.hpp"
#include "simfuse/core/base/Error.hpp"
#include "simfuse/core/detail/Gather.hpp"

namespace simfuse {

void ReactorSweep::declare(Schema& s) {
  declare_chemistry(s);
  s.add_string("reactor", "constant_pressure or constant_volume (adiabatic)")
      .def("constant_pressure")
      .choices({"constant_pressure", "constant_volume"});
  s.add_block("pressure", "function", "initial pressure of each reactor, Pa (an expression of x)").def("101325.0");
  s.add_string("run",
               "ignition: follow each reactor adaptively over one step of time.dt; steps: advance in steps of "
               "time.dt through the react sub-step")
      .def("ignition")
      .choices({"ignition", "steps"});
  Schema& g = s.add_section("ignition", "when a reactor counts as ignited");
  g.add_string("criterion", "temperature_rise, max_dTdt, max_dXdt (of species) or threshold (mole fraction of species)")
      .def("temperature_rise")
      .choices(IgnitionCriterion::names());
  g.add_real("delta_T", "temperature_rise: the rise in K").def(400.0).positive();
  g.add_string("species", "max_dXdt and threshold: the species, e.g. OH");
  g.add_real("value", "threshold: the mole fraction").positive();
  g.add("history", ParamType::StringList,
        "ignition runs: write reactor_histories.csv with T and the mole fractions of these species at every CVODE "
        "step");
  g.add_check([](const Params& p, Diagnostics& d) {
    const std::string c = p.get<std::string>("criterion");
    if ((c == "max_dXdt" || c == "threshold") && !p.is_set("species"))
      d.push_back(p.diag("criterion", "criterion " + c + " needs a species", "add species: OH (for example)"));
    if (c == "threshold" && !p.is_set("value"))
      d.push_back(p.diag("criterion", "criterion threshold needs the mole fraction value", "add value: 1e-3"));
  });
}

ReactorSweep::ReactorSweep(const SolverContext& ctx) : grid_(ctx.grid) {
  const Params& p = ctx.params;
  if (grid_.dim() != 1)
    throw UserError(fmt::format("the reactors solver puts one reactor on each point of a 1D grid, but the grid is {}D",
                                grid_.dim()),
                    "use grid: {n: [<number of reactors>], upper: [...]} and write the initial state as an "
                    "expression of x");
  mech_ = load_mechanism(p.sub("kinetics"));
  mode_ = p.get<std::string>("reactor") == "constant_volume" ? Reactor::Mode::constant_volume
                                                             : Reactor::Mode::constant_pressure;
  ignition_mode_ = p.get<std::string>("run") == "ignition";
  const Params& gp = p.sub("ignition");
  criterion_name_ = gp.get<std::string>("criterion");
  criterion_.kind = IgnitionCriterion::parse(criterion_name_);
  criterion_.delta_T = gp.get<double>("delta_T");
  if (gp.is_set("species")) {
    const std::string sp = gp.get<std::string>("species");
    criterion_.species = mech_->species_index(sp);
    if (criterion_.species < 0) gp.fail("species", fmt::format("the mechanism has no species '{}'", sp));
  }
  if (gp.is_set("value")) criterion_.value = gp.get<double>("value");
  if (gp.is_set("history")) {
    history_species_ = gp.get<std::vector<std::string>>("history");
    for (const auto& s : history_species_)
      if (mech_->species_index(s) < 0) gp.fail("history", fmt::format("the mechanism has no species '{}'", s));
  }
  const int n = mech_->n_species() + 1;
  Field& gas = state_.add(grid_, "gas", gas_components(*mech_));
  const InitialMixture init(p.sub("initial"), *mech_, ctx.constants);
  auto pressure = make_function(p, "pressure", ctx.constants);
  // Every rank checks every reactor (the same error everywhere), then keeps its own.
  std::vector<double> y(static_cast<size_t>(n));
  for (PetscInt i = 0; i < grid_.n(0); ++i) {
    init.at(grid_.x(0, i), 0, 0, y.data());
    const double pr = (*pressure)(grid_.x(0, i), 0, 0, 0);
    if (!(pr >= 1.0 && pr <= 1e9))
      p.fail("pressure", fmt::format("is {:g} Pa at x = {:g}", pr, grid_.x(0, i)),
             "pressures must lie between 1 Pa and 1e9 Pa (an ideal gas in the continuum)");
  }
  chem_ = std::make_unique<CellChemistry>(*mech_, mode_, 101325.0, p.sub("integrator"), p.sub("check"));
  if (ignition_mode_ && chem_->integrator() != "cvode")
    p.sub("integrator")
        .fail("type", "ignition runs locate ignition inside CVODE's steps",
              "use integrator: {type: cvode}, or run: steps for Rodas3");
  const Box& b = grid_.owned();
  {
    ArrayView v = gas.view();
    Reactor ideal_gas(*mech_, Reactor::Mode::constant_pressure, 101325.0);  // p W / (R T) at each reactor's p
    for (PetscInt i = b.lo[0]; i < b.lo[0] + b.n[0]; ++i) {
      init.at(grid_.x(0, i), 0, 0, y.data());
      for (int c = 0; c < n; ++c) v(i, 0, 0, c) = y[c];
      T0_.push_back(y[0]);
      p_.push_back((*pressure)(grid_.x(0, i), 0, 0, 0));
      ideal_gas.set_pressure(p_.back());
      rho_.push_back(ideal_gas.density(y.data()));
    }
  }
  chem_->check_initial_temperatures(T0_, p.sub("integrator"), grid_.comm());
  delay_.assign(T0_.size(), -1.0);
  t0_ = prev_t_ = ctx.t0;
  auto conditions = [this](PetscInt q) { return ChemistryStep::CellConditions{p_[q], rho_[q]}; };
  Field& hrr = state_.add_diagnostic(grid_, "heat_release");
  react_ = std::make_unique<ChemistryStep>(grid_, *chem_, "gas", &hrr, nullptr, conditions);
  react_->update_heat_release(state_);
  if (!ignition_mode_) end_of_step(ctx.t0);  // the monitored quantity at the start
}

std::vector<PlanEntry> ReactorSweep::plan() {
  if (ignition_mode_) return {{&ignite_, 1.0, 0.0}};
  return {{react_.get(), 1.0, 0.0}};
}

void ReactorSweep::Ignite::apply(State& state, const StepInfo& info) {
  ReactorSweep& s = s_;
  Field& gas = state.get("gas");
  const int n = s.mech_->n_species() + 1;
  CvodeIntegrator& cv = *s.chem_->cvode();
  std::string failure;
  const double t0 = wall_time();
  long cells = 0;
  std::vector<int> hist;
  for (const auto& h : s.history_species_) hist.push_back(s.mech_->species_index(h));
  {
    ArrayView v = gas.view();
    double* a = v.data();
    for (PetscInt q = 0; q < s.grid_.owned().size(); ++q) {
      s.chem_->set_cell(s.p_[q], s.rho_[q]);
      double* y = a + q * n;
      std::function<void(double, const double*)> record;
      const PetscInt reactor = s.grid_.owned().lo[0] + q;
      if (!hist.empty())
        record = [&](double t, const double* yy) {
          std::string row = fmt::format("{},{:.9g},{:.9g}", reactor, info.t + t, yy[0]);
          for (int k : hist) row += fmt::format(",{:.6g}", s.chem_->reactor().mole_fraction(yy, k));
          s.history_rows_.push_back(std::move(row));
        };
      try {
        ++cells;
        const double d = cv.ignite(y, s.criterion_, info.dt, record);
        s.delay_[q] = d;
      } catch (const RunFailure& e) {
        failure = fmt::format("reactor {} ({}, p = {:g} Pa): {}", reactor, s.react_->cell_name(q), s.p_[q], what_of(e));
        break;
      }
    }
  }
  const double seconds = wall_time() - t0;
  s.chem_->add_direct_work(cells, seconds);
  throw_if_any_failed(s.grid_.comm(), failure, "tighten solver.params.integrator.rtol/atol or raise max_steps");
  s.react_->record_work(seconds);
  s.ignited_run_ = true;
  s.react_->update_heat_release(state);
}

void ReactorSweep::prepare_output() {
  react_->update_heat_release(state_);
}

void ReactorSweep::end_of_step(double t) {
  if (ignition_mode_) return;
  // Steps mode: the ignition time between two steps, at resolution dt.
  const int n = mech_->n_species() + 1;
  const ArrayView v = state_.get("gas").view_read();
  const double* a = v.data();
  const size_t np = T0_.size();
  using Kind = IgnitionCriterion::Kind;
  std::vector<double> now(np);
  Reactor& r = chem_->reactor();
  for (size_t q = 0; q < np; ++q) {
    const double* y = a + q * n;
    chem_->set_cell(p_[q], rho_[q]);
    switch (criterion_.kind) {
      case Kind::temperature_rise:
        now[q] = y[0] - (T0_[q] + criterion_.delta_T);
        break;
      case Kind::threshold:
        now[q] = r.mole_fraction(y, criterion_.species) - criterion_.value;
        break;
      case Kind::max_dTdt:
        now[q] = y[0];
        break;
      case Kind::max_dXdt: {
        now[q] = r.density(y) * y[criterion_.species + 1] / mech_->species()[criterion_.species].molar_mass;
        break;
      }
    }
  }
  if (!prev_.empty() && t > prev_t_) {
    const double dt = t - prev_t_;
    if (prev_rate_.empty()) prev_rate_.assign(np, -HUGE_VAL);
    for (size_t q = 0; q < np; ++q) {
      if (criterion_.kind == Kind::temperature_rise || criterion_.kind == Kind::threshold) {
        if (delay_[q] < 0 && prev_[q] < 0 && now[q] >= 0)
          delay_[q] = prev_t_ - t0_ + dt * (-prev_[q]) / (now[q] - prev_[q]);
      } else {
        const double rate = (now[q] - prev_[q]) / dt;
        if (rate > prev_rate_[q]) {
          prev_rate_[q] = rate;
          delay_[q] = prev_t_ - t0_ + 0.5 * dt;
        }
      }
    }
  }
  prev_ = std::move(now);
  prev_t_ = t;
}

std::map<std::string, std::string> ReactorSweep::model_context() const {
  return chemistry_context(*mech_, mode_);
}

nlohmann::ordered_json ReactorSweep::describe() const {
  return {{"mechanism", describe_mechanism(*mech_)},
          {"reactor", Reactor::mode_name(mode_)},
          {"run", ignition_mode_ ? "ignition" : "steps"},
          {"ignition_criterion", criterion_name_},
          {"react_integrator", react_->describe()}};
}

namespace {
// The rows of all ranks on rank 0, in rank order (the reactors' order), one per line.
std::string gather_rows(MPI_Comm comm, const std::vector<std::string>& rows) {
  std::vector<char> mine;
  for (const auto& r : rows) {
    mine.insert(mine.end(), r.begin(), r.end());
    mine.push_back('\n');
  }
  const std::vector<char> all = gather_to_root(mine, MPI_CHAR, comm);
  return std::string(all.begin(), all.end());
}
}  // namespace

std::vector<std::string> ReactorSweep::write_results(const std::string& dir) {
  const int n = mech_->n_species() + 1;
  std::vector<std::string> rows;
  {
    const ArrayView v = state_.get("gas").view_read();
    const double* a = v.data();
    for (size_t q = 0; q < T0_.size(); ++q) {
      const PetscInt i = grid_.owned().lo[0] + static_cast<PetscInt>(q);
      rows.push_back(fmt::format("{},{:.9g},{:.9g},{:.9g},{},{:.9g}", i, grid_.x(0, i), T0_[q], p_[q],
                                 delay_[q] >= 0 ? fmt::format("{:.9g}", delay_[q]) : std::string("nan"),
                                 a[q * static_cast<size_t>(n)]));
    }
  }
  const std::string body = gather_rows(grid_.comm(), rows);
  std::vector<std::string> files{"reactors.csv"};
  if (grid_.rank() == 0) write_file_atomic(dir + "/reactors.csv", "reactor,x,T0,p,ignition_delay,T_final\n" + body);
  if (!history_species_.empty()) {
    const auto h = gather_rows(grid_.comm(), history_rows_);
    std::string header = "reactor,t,T";
    for (const auto& s : history_species_) header += ",X_" + s;
    if (grid_.rank() == 0) write_file_atomic(dir + "/reactor_histories.csv", header + "\n" + h);
    files.push_back("reactor_histories.csv");
  }
  return files;
}

void ReactorSweep::save_state(CheckpointData& out) const {
  out.put("delay", delay_);
  out.put("prev", prev_);
  out.put("prev_rate", prev_rate_);
  out.put("prev_t", prev_t_);
  out.put("ignited_run", ignited_run_);
  std::string rows;
  for (const auto& r : history_rows_) rows += r + '\n';
  out.put("history_rows", rows);
}

void ReactorSweep::restore_state(const CheckpointData& in) {
  delay_ = in.get<std::vector<double>>("delay");
  prev_ = in.get<std::vector<double>>("prev");
  prev_rate_ = in.get<std::vector<double>>("prev_rate");
  prev_t_ = in.get<double>("prev_t");
  ignited_run_ = in.get<bool>("ignited_run");
  history_rows_.clear();
  std::istringstream rows(in.get<std::string>("history_rows"));
  for (std::string r; std::getline(rows, r);) history_rows_.push_back(r);
}

}  // namespace simfuse
