#include "simfuse/coupling/ai/CoupledValidation.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "simfuse/core/Grid.hpp"
#include "simfuse/core/Solver.hpp"
#include "simfuse/core/base/Config.hpp"
#include "simfuse/core/base/Paths.hpp"
#include "simfuse/coupling/Coupler.hpp"
#include "simfuse/coupling/Simulation.hpp"
#include "simfuse/solvers/reacting/ReactorSweep.hpp"

namespace simfuse::ai {

namespace {

// Keeps the log to warnings while a check runs (a case's set-up lines, every few epochs,
// would bury the training's own).
class QuietLog {
 public:
  QuietLog() : level_(spdlog::get_level()) {
    if (level_ < spdlog::level::warn) spdlog::set_level(spdlog::level::warn);
  }
  ~QuietLog() { spdlog::set_level(level_); }

 private:
  spdlog::level::level_enum level_;
};

struct Outcome {
  std::vector<double> delay, T_final;  // owned reactors
};

// Steps the case to its end; the delays and final temperatures of the owned reactors.
Outcome run_sweep(Simulation& sim) {
  while (!sim.done()) sim.step();
  auto& sweep = dynamic_cast<ReactorSweep&>(sim.solver());
  Outcome o;
  o.delay = sweep.ignition_delays();
  const Field& gas = sim.solver().state().get("gas");
  const ArrayView v = gas.view_read();
  const size_t nc = gas.components().size();
  for (size_t q = 0; q < o.delay.size(); ++q) o.T_final.push_back(v.data()[q * nc]);
  return o;
}

class IgnitionDelayValidator final : public CoupledValidator {
 public:
  IgnitionDelayValidator(const Params& section, const ConfigDocument& spec, const CoupledTarget& target, MPI_Comm comm)
      : comm_(comm), substep_(target.substep), policy_(section.get<std::string>("policy")) {
    file_ = resolve_path(section.get<std::string>("case"), spec.origin());
    const std::string& file = file_;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec))
      section.fail("case", fmt::format("the reference case '{}' does not exist", file),
                   "name a reactors case with run: steps, relative to the spec, e.g. case: ignition_check.yaml");
    // Every problem of the case names its own key and line, and this key as where it was asked for.
    auto in_case = [&](auto&& build) {
      try {
        return build();
      } catch (const RunFailure&) {
        throw;
      } catch (const UserError& e) {
        auto ds = e.diagnostics();
        ds.push_back(section.diag("case", "the reference case of the coupled validation was named here"));
        throw UserError(ds);
      }
    };
    doc_ = in_case([&] { return ConfigDocument::load_file(file, "reference case"); });
    if (doc_.root()["coupling"]) doc_.unset("coupling");  // the reference is the classical run
    RunOptions ro;
    ro.write_output = false;
    ro.auto_checkpoint = false;
    QuietLog quiet;
    auto sim = in_case([&] { return std::make_unique<Simulation>(comm_, doc_, ro); });
    auto* sweep = dynamic_cast<ReactorSweep*>(&sim->solver());
    if (!sweep || !sweep->runs_steps())
      section.fail("case",
                   fmt::format("the ignition_delay check steps reactors through the model, but '{}' {}", file,
                               sweep ? "runs its reactors with run: ignition (CVODE alone, no sub-step to replace)"
                                     : "is not a reactor sweep"),
                   "use a case with solver: {type: reactors, params: {run: steps, ...}} at the model's dt");
    const auto subs = sim->coupler().substeps();
    if (std::find(subs.begin(), subs.end(), substep_) == subs.end())
      section.fail("case", fmt::format("the model is trained for sub-step '{}'; the case '{}' has sub-steps [{}]",
                                       substep_, file, join(subs)));
    if (target.dt && std::abs(sim->dt() - *target.dt) > 1e-9 * *target.dt)
      section.fail("case",
                   fmt::format("the model is trained at dt = {:g} s (its data's one step), the case '{}' steps "
                               "dt = {:g} s",
                               *target.dt, file, sim->dt()),
                   fmt::format("set the case's time.dt to {:g}", *target.dt));
    reactors_ = static_cast<long>(sim->grid().points());
    if (target.check_only) return;
    ref_ = run_sweep(*sim);
    long ignited = 0;
    for (double t : ref_.delay) ignited += t > 0;
    MPI_Allreduce(MPI_IN_PLACE, &ignited, 1, MPI_LONG, MPI_SUM, comm_);
    if (ignited == 0)
      section.fail("case",
                   fmt::format("no reactor of the reference case '{}' ignites within its {} steps: the check would "
                               "measure nothing",
                               file, sim->steps_total()),
                   "lengthen time.steps, or raise the initial temperatures");
    spdlog::info("coupled validation: {} of {} reactors of {} ignite in the classical reference run", ignited,
                 reactors_, file);
  }

  std::string metric() const override { return "ignition_delay"; }

  CoupledScore score(const std::string& card_path) override {
    ConfigDocument doc = ConfigDocument::load_file(file_, "reference case");  // (a copy would share doc_'s nodes)
    if (doc.root()["coupling"]) doc.unset("coupling");
    doc.set(fmt::format("coupling.{}={{type: {}, model: '{}'}}", substep_, policy_, card_path));
    RunOptions ro;
    ro.write_output = false;
    ro.auto_checkpoint = false;
    Outcome o;
    try {
      QuietLog quiet;
      Simulation sim(comm_, doc, ro);
      o = run_sweep(sim);
    } catch (const RunFailure& e) {  // the candidate broke the run (every rank alike)
      return {std::numeric_limits<double>::infinity(), std::string("the run failed: ") + e.what()};
    }
    // Relative delay error per reactor, 1 for one that ignites on one side only.
    double sums[4] = {0, 0, 0, 0};  // sum of errors, largest error, one-sided reactors, sum |dT_final|
    for (size_t q = 0; q < ref_.delay.size(); ++q) {
      const double r = ref_.delay[q], m = o.delay[q];
      double e = 0;
      if ((r > 0) != (m > 0))
        e = 1, sums[2] += 1;
      else if (r > 0)
        e = std::min(1.0, std::abs(m - r) / r);
      sums[0] += e;
      sums[1] = std::max(sums[1], e);
      const double dT = std::abs(o.T_final[q] - ref_.T_final[q]);
      sums[3] += std::isfinite(dT) ? dT : 1e300;
    }
    MPI_Allreduce(MPI_IN_PLACE, sums, 1, MPI_DOUBLE, MPI_SUM, comm_);
    MPI_Allreduce(MPI_IN_PLACE, sums + 1, 1, MPI_DOUBLE, MPI_MAX, comm_);
    MPI_Allreduce(MPI_IN_PLACE, sums + 2, 2, MPI_DOUBLE, MPI_SUM, comm_);
    const double n = static_cast<double>(reactors_);
    CoupledScore s;
    s.error = sums[0] / n;
    s.detail = fmt::format(
        "ignition delay error mean {:.3g}%, max {:.3g}%; {} of {} reactors ignite on one side "
        "only; final T mean |error| {:.3g} K",
        100 * s.error, 100 * sums[1], static_cast<long>(sums[2]), reactors_, sums[3] / n);
    return s;
  }

 private:
  MPI_Comm comm_;
  std::string substep_, policy_, file_;
  ConfigDocument doc_ = ConfigDocument::from_string("{}");
  long reactors_ = 0;
  Outcome ref_;
};

}  // namespace

std::unique_ptr<CoupledValidator> make_coupled_validator(const Params& section, const ConfigDocument& spec,
                                                         const CoupledTarget& target, MPI_Comm comm) {
  // One metric so far (the schema's choices): the 1D-flame consumption-speed drift is not built.
  return std::make_unique<IgnitionDelayValidator>(section, spec, target, comm);
}

}  // namespace simfuse::ai
