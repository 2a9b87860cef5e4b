#include "simfuse/coupling/ai/CoupledValidation.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <vector>

#include "simfuse/core/Grid.hpp"
#include "simfuse/core/Solver.hpp"
#include "simfuse/core/base/Config.hpp"
#include "simfuse/core/base/Paths.hpp"
#include "simfuse/coupling/Coupler.hpp"
#include "simfuse/coupling/Simulation.hpp"
#include "simfuse/postproc/Norms.hpp"
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

// What both metrics share: the case (loaded afresh for each run: a copy of a document
// would share its YAML nodes), its classical reference run, and a run with a candidate.
class CaseCheck : public CoupledValidator {
 protected:
  CaseCheck(const Params& section, const std::string& file, const CoupledTarget& target, MPI_Comm comm)
      : comm_(comm), substep_(target.substep), policy_(section.get<std::string>("policy")), file_(file) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file_, ec))
      section.fail("case", fmt::format("the reference case '{}' does not exist", file_),
                   "name a case whose sub-step the model stands in for, relative to the spec, e.g. case: "
                   "ignition_check.yaml");
    QuietLog quiet;
    // Every problem of the case names its own file, key and line, and this key as where it was asked for.
    try {
      ref_ = std::make_unique<Simulation>(comm_, document(), options());
    } catch (const RunFailure&) {
      throw;
    } catch (const UserError& e) {
      auto ds = e.diagnostics();
      ds.push_back(section.diag("case", "the reference case of the coupled validation was named here"));
      throw UserError(ds);
    }
  }

  // The data's sub-step, dt and solver facts against the case's.
  void check_target(const Params& section, const CoupledTarget& target) const {
    // ModelBinding's rule, applied now rather than at the first check N epochs in.
    const auto solver = ref_->solver().model_context();
    if (const auto key = ModelCard::context_conflict(target.context, solver)) {
      const auto it = solver.find(*key);
      section.fail("case",
                   fmt::format("the data come from a solver with {} = {}, the case '{}' has {}: the model would be "
                               "refused there",
                               *key, target.context.at(*key), file_,
                               it == solver.end() ? "no " + *key : *key + " = " + it->second),
                   "check the model on a case of the data's mechanism and reactor type");
    }
    const auto subs = ref_->coupler().substeps();
    if (std::find(subs.begin(), subs.end(), substep_) == subs.end())
      section.fail("case", fmt::format("the model is trained for sub-step '{}'; the case '{}' has sub-steps [{}]",
                                       substep_, file_, join(subs)));
    if (target.dt && std::abs(ref_->dt() - *target.dt) > 1e-9 * *target.dt)
      section.fail("case",
                   fmt::format("the model is trained at dt = {:g} s (its data's one step), the case '{}' steps "
                               "dt = {:g} s",
                               *target.dt, file_, ref_->dt()),
                   fmt::format("set the case's time.dt to {:g}", *target.dt));
  }

  // The case as written, classical (its own coupling: section left out).
  ConfigDocument document() const {
    ConfigDocument doc = ConfigDocument::load_file(file_, "reference case");
    if (doc.root()["coupling"]) doc.unset("coupling");
    return doc;
  }
  static RunOptions options() {
    RunOptions ro;
    ro.write_output = false;  // in memory: a check writes nothing
    ro.auto_checkpoint = false;
    return ro;
  }
  // The reference: the classical run, stepped to its end.
  void run_reference() {
    QuietLog quiet;
    while (!ref_->done()) ref_->step();
  }
  // The case with the candidate of `card_path` in the sub-step, stepped to its end; null
  // (and `why`) when the candidate made the run fail.
  std::unique_ptr<Simulation> run_candidate(const std::string& card_path, std::string& why) const {
    ConfigDocument doc = document();
    doc.set(fmt::format("coupling.{}={{type: {}, model: '{}'}}", substep_, policy_, card_path));
    QuietLog quiet;
    try {
      auto sim = std::make_unique<Simulation>(comm_, doc, options());
      while (!sim->done()) sim->step();
      return sim;
    } catch (const RunFailure& e) {  // every rank alike
      why = std::string("the run failed: ") + e.what();
      return nullptr;
    }
  }

  // Under the guarded policy, the fraction of the sub-step's points the guard accepted in
  // `sim`'s run (all ranks); -1 otherwise. Collective.
  double accepted(Simulation& sim) const {
    if (policy_ != "guarded") return -1;
    for (const auto& st : sim.coupler().reduced_stats(comm_))
      if (st.name == substep_ && st.points > 0)
        return static_cast<double>(st.accepted) / static_cast<double>(st.points);
    return -1;
  }
  static std::string accepted_text(double a) { return a >= 0 ? fmt::format("; guard accepted {:.1f}%", 100 * a) : ""; }

  MPI_Comm comm_;
  std::string substep_, policy_, file_;
  std::unique_ptr<Simulation> ref_;
};

constexpr double kFailed = std::numeric_limits<double>::infinity();

// ignition_delay: a reactor sweep stepped through the model; the delays against the
// classical run's.
class IgnitionDelayValidator final : public CaseCheck {
 public:
  IgnitionDelayValidator(const Params& section, const std::string& file, const CoupledTarget& target, MPI_Comm comm)
      : CaseCheck(section, file, target, comm) {
    auto* sweep = dynamic_cast<ReactorSweep*>(&ref_->solver());
    if (!sweep || !sweep->runs_steps())
      section.fail("case",
                   fmt::format("the ignition_delay check steps reactors through the model, but '{}' {}", file_,
                               sweep ? "runs its reactors with run: ignition (CVODE alone, no sub-step to replace)"
                                     : "is not a reactor sweep"),
                   "use a case with solver: {type: reactors, params: {run: steps, ...}} at the model's dt, or "
                   "metric: final_field");
    check_target(section, target);
    reactors_ = static_cast<long>(ref_->grid().points());
    if (target.check_only) return;
    run_reference();
    ref_delay_ = sweep->ignition_delays();
    ref_T_ = final_temperatures(*ref_);
    long ignited = 0;
    for (double t : ref_delay_) ignited += t > 0;
    MPI_Allreduce(MPI_IN_PLACE, &ignited, 1, MPI_LONG, MPI_SUM, comm_);
    if (ignited == 0)
      section.fail("case",
                   fmt::format("no reactor of the reference case '{}' ignites within its {} steps: the check would "
                               "measure nothing",
                               file_, ref_->steps_total()),
                   "lengthen time.steps, or raise the initial temperatures");
    spdlog::info("coupled validation: {} of {} reactors of {} ignite in the classical reference run", ignited,
                 reactors_, file_);
  }

  std::string metric() const override { return "ignition_delay"; }

  CoupledScore score(const std::string& card_path) override {
    std::string why;
    const auto sim = run_candidate(card_path, why);
    if (!sim) return {kFailed, why};
    const std::vector<double>& delay = dynamic_cast<ReactorSweep&>(sim->solver()).ignition_delays();
    const std::vector<double> T = final_temperatures(*sim);
    // Relative delay error per reactor, 1 for one that ignites on one side only.
    double sums[4] = {0, 0, 0, 0};  // sum of errors, largest error, one-sided reactors, sum |dT_final|
    for (size_t q = 0; q < ref_delay_.size(); ++q) {
      const double r = ref_delay_[q], m = delay[q];
      double e = 0;
      if ((r > 0) != (m > 0))
        e = 1, sums[2] += 1;
      else if (r > 0)
        e = std::min(1.0, std::abs(m - r) / r);
      sums[0] += e;
      sums[1] = std::max(sums[1], e);
      const double dT = std::abs(T[q] - ref_T_[q]);
      sums[3] += std::isfinite(dT) ? dT : 1e300;
    }
    MPI_Allreduce(MPI_IN_PLACE, sums, 1, MPI_DOUBLE, MPI_SUM, comm_);
    MPI_Allreduce(MPI_IN_PLACE, sums + 1, 1, MPI_DOUBLE, MPI_MAX, comm_);
    MPI_Allreduce(MPI_IN_PLACE, sums + 2, 2, MPI_DOUBLE, MPI_SUM, comm_);
    const double n = static_cast<double>(reactors_);
    CoupledScore s;
    s.error = sums[0] / n;
    s.accepted = accepted(*sim);
    s.detail = fmt::format(
        "ignition delay error mean {:.3g}%, max {:.3g}%; {} of {} reactors ignite on one side "
        "only; final T mean |error| {:.3g} K{}",
        100 * s.error, 100 * sums[1], static_cast<long>(sums[2]), reactors_, sums[3] / n, accepted_text(s.accepted));
    return s;
  }

 private:
  // The final temperature of each owned reactor.
  static std::vector<double> final_temperatures(Simulation& sim) {
    const Field& gas = sim.solver().state().get("gas");
    const ArrayView v = gas.view_read();
    const size_t nc = gas.components().size();
    const size_t owned = dynamic_cast<ReactorSweep&>(sim.solver()).ignition_delays().size();
    std::vector<double> T;
    for (size_t q = 0; q < owned; ++q) T.push_back(v.data()[q * nc]);
    return T;
  }

  long reactors_ = 0;
  std::vector<double> ref_delay_, ref_T_;  // owned reactors
};

// final_field: the relative L2 error of one field component at the end of the case,
// against the classical run of the same case (what `simfuse compare` reports as rel_l2).
class FinalFieldValidator final : public CaseCheck {
 public:
  FinalFieldValidator(const Params& section, const std::string& file, const CoupledTarget& target, MPI_Comm comm)
      : CaseCheck(section, file, target, comm) {
    check_target(section, target);
    const std::string what = section.get<std::string>("field");
    const auto dot = what.find('.');
    field_ = what.substr(0, dot);
    component_ = dot == std::string::npos ? std::string() : what.substr(dot + 1);
    const State& state = ref_->solver().state();
    if (!state.has(field_))
      section.fail("field", fmt::format("the case '{}' has no field '{}'", file_, field_),
                   "fields: " + join(state.names()));
    const auto& comps = state.get(field_).components();
    const auto it = std::find(comps.begin(), comps.end(), component_);
    if (comps.size() > 1 && it == comps.end())
      section.fail("field", fmt::format("field '{}' has no component '{}'", field_, component_),
                   fmt::format("write field: {}.<component>, one of [{}]", field_, join(comps)));
    c_ = comps.size() > 1 ? static_cast<int>(it - comps.begin()) : 0;
    if (!target.check_only) run_reference();
  }

  std::string metric() const override { return "final_field"; }

  CoupledScore score(const std::string& card_path) override {
    std::string why;
    const auto sim = run_candidate(card_path, why);
    if (!sim) return {kFailed, why};
    const Field& a = sim->solver().state().get(field_);
    const ErrorNorms n = error_norms(sim->grid(), a.vec(), ref_->solver().state().get(field_).vec(), a.ncomp(), c_);
    const double rel = n.rel_l2();
    const double acc = accepted(*sim);
    return {std::isfinite(rel) ? rel : kFailed,
            fmt::format("{}{} at the end: rel L2 {:.3e}, max |error| {:.3g}{}", field_,
                        component_.empty() ? "" : "." + component_, rel, n.linf, accepted_text(acc)),
            acc};
  }

 private:
  std::string field_, component_;
  int c_ = 0;
};

// Several cases: the mean of their errors (one noisy case decides less), +inf if any failed.
class MeanOfCases final : public CoupledValidator {
 public:
  explicit MeanOfCases(std::vector<std::unique_ptr<CoupledValidator>> checks) : checks_(std::move(checks)) {}
  std::string metric() const override { return checks_.front()->metric(); }
  CoupledScore score(const std::string& card_path) override {
    CoupledScore s;
    double accepted = 0;  // the mean acceptance over the cases (-1 if one did not measure it)
    for (size_t i = 0; i < checks_.size(); ++i) {
      const CoupledScore one = checks_[i]->score(card_path);
      s.error += one.error / static_cast<double>(checks_.size());
      accepted =
          accepted >= 0 && one.accepted >= 0 ? accepted + one.accepted / static_cast<double>(checks_.size()) : -1;
      s.detail += fmt::format("{}case {}: {}", i ? "; " : "", i + 1, one.detail);
    }
    s.accepted = accepted;
    s.detail = fmt::format("mean {:.4g} over {} cases ({})", s.error, checks_.size(), s.detail);
    return s;
  }

 private:
  std::vector<std::unique_ptr<CoupledValidator>> checks_;
};

}  // namespace

std::unique_ptr<CoupledValidator> make_coupled_validator(const Params& section, const ConfigDocument& spec,
                                                         const CoupledTarget& target, MPI_Comm comm) {
  const bool field = section.get<std::string>("metric") == "final_field";
  std::vector<std::unique_ptr<CoupledValidator>> checks;
  for (const auto& c : section.get<std::vector<std::string>>("case")) {
    const std::string file = resolve_path(c, spec.origin());
    if (field)
      checks.push_back(std::make_unique<FinalFieldValidator>(section, file, target, comm));
    else
      checks.push_back(std::make_unique<IgnitionDelayValidator>(section, file, target, comm));
  }
  if (checks.empty())
    section.fail("case", "no reference case given", "name one or more cases, e.g. case: [check_a.yaml, check_b.yaml]");
  if (checks.size() == 1) return std::move(checks[0]);
  return std::make_unique<MeanOfCases>(std::move(checks));
}

}  // namespace simfuse::ai
