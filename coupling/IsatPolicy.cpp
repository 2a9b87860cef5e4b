#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "simfuse/core/Checkpoint.hpp"
#include "simfuse/core/Petsc.hpp"
#include "simfuse/core/Timer.hpp"
#include "simfuse/core/base/Error.hpp"
#include "simfuse/core/base/Log.hpp"
#include "simfuse/coupling/Isat.hpp"
#include "simfuse/coupling/detail/Balance.hpp"
#include "simfuse/coupling/detail/IsatTable.hpp"

namespace simfuse {

namespace {

using detail::IsatOutcome;
using detail::IsatTable;

const char* outcome_doc() {
  return "0 retrieved from the table, 1 computed and grew an entry, 2 computed and added an entry, 3 computed, not "
         "tabulated";
}

class IsatPolicy final : public Policy, public Checkpointable {
 public:
  explicit IsatPolicy(const PolicyContext& c) : params_(c.params), comm_(c.comm) {
    balance_ = params_.get<bool>("balance");
    tol_ = params_.get<double>("tolerance");
    verify_ = params_.get<double>("verify");
    grow_fraction_ = params_.get<double>("grow_fraction");
    differences_ = params_.get<std::string>("sensitivity") == "differences";
  }
  const std::string& name() const override { return name_; }

  void attach(SubStep& step, State& state, double /*dt*/) override {
    pw_ = dynamic_cast<Pointwise*>(&step);
    rel_ = dynamic_cast<Relocatable*>(&step);
    if (!pw_ || !rel_)
      params_.fail("type",
                   fmt::format("isat tabulates a pointwise sub-step whose points can be computed from a record "
                               "(Pointwise and Relocatable); '{}' is not",
                               step.name()),
                   "use isat on a pointwise sub-step such as the chemistry's react, and classical here");
    layout_ = rel_->point_layout();
    const int n = layout_.components;
    diff_ = differences_ ? nullptr : dynamic_cast<Differentiable*>(&step);
    adm_ = dynamic_cast<Admissible*>(&step);
    // Created here, on every rank (collective): make_admissible runs only on the ranks
    // that retrieved an inadmissible result.
    if (adm_) SIMFUSE_PETSC(VecDuplicate(state.get(step.writes().front()).vec(), before_.out()));
    if (!diff_)
      spdlog::warn(
          "isat on '{}': sensitivities by one-sided differences, {} more computations of a point per added entry{}",
          step.name(), n, differences_ ? " (sensitivity: differences)" : " (the sub-step is not Differentiable)");
    const Field& f = state.get(step.writes().front());
    names_ = f.components();
    if (static_cast<int>(names_.size()) != n) {
      names_.clear();
      for (int c = 0; c < n; ++c) names_.push_back(std::to_string(c));
    }
    detail::IsatSettings s;
    s.tolerance = tol_;
    s.recent = params_.get<int>("recent");
    s.grow_fraction = grow_fraction_;
    s.max_bytes = static_cast<size_t>(params_.get<double>("max_megabytes") * 1e6);
    s.scale.resize(static_cast<size_t>(n));
    auto* d = dynamic_cast<Differentiable*>(&step);
    const bool other = params_.has("other_scale");
    for (int c = 0; c < n; ++c)
      s.scale[c] = other ? params_.get<double>("other_scale") : d ? d->component_scale(c) : 1.0;
    if (params_.has("scale")) {
      Schema sc("scale", "per component");
      for (const auto& nm : names_) sc.add_real(nm, "the scale of component " + nm).positive();
      const Params given = params_.validate_entry("scale", sc);
      for (int c = 0; c < n; ++c)
        if (given.has(names_[c])) s.scale[c] = given.get<double>(names_[c]);
    }
    scale_ = s.scale;
    table_ = std::make_unique<IsatTable>(n, layout_.n_conditions(), s);
    if (table_->entry_bytes() > s.max_bytes)
      params_.fail("max_megabytes",
                   fmt::format("{:g} MB holds no entry of the table: one entry of '{}' ({} components) takes {:.1f} kB",
                               params_.get<double>("max_megabytes"), step.name(), n, table_->entry_bytes() / 1e3),
                   fmt::format("raise max_megabytes to at least {:.3g} (a useful table holds thousands of entries)",
                               table_->entry_bytes() / 1e6));
    if (params_.get<bool>("path_field")) {
      const std::string pname = step.name() + "_isat";
      if (state.has(pname)) params_.fail("path_field", fmt::format("the state already has a field '{}'", pname));
      path_ = &state.add_diagnostic(f.grid(), pname);
    }
    step_name_ = step.name();
  }

  void apply(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats) override {
    stats.tabulated = true;
    if (info.dt != dt_) {
      // The map is over dt: another dt, another table.
      stats.isat_evicted += static_cast<long>(table_->entries());
      table_->clear();
      dt_ = info.dt;
    }
    const Field& f = state.get(step.writes().front());
    const PetscInt np = f.grid().owned().size();
    PointStates rec = detail::take_owned(*rel_, state, np);
    const PointStates in = rec;
    std::vector<IsatOutcome> what(static_cast<size_t>(np), IsatOutcome::retrieved);

    // Retrieve; the misses and the verified retrievals are computed in one batch.
    std::vector<size_t> miss, verify, retrieved;
    {
      const BusyClock t;
      for (size_t q = 0; q < rec.size(); ++q) {
        if (table_->retrieve(in.conditions(q), in.state(q), rec.state(q)) && finite(rec.state(q))) {
          retrieved.push_back(q);
        } else {
          std::copy_n(in.state(q), layout_.components, rec.state(q));
          miss.push_back(q);
        }
      }
      stats.table_seconds += t.seconds();
    }
    if (adm_) {
      std::vector<PetscInt> bad;
      for (size_t q : retrieved)
        if (!adm_->point_admissible(rec.state(q))) bad.push_back(static_cast<PetscInt>(q));
      if (!bad.empty()) make_admissible(step, state, info, in, rec, bad, retrieved, miss, stats);
    }
    for (size_t q : retrieved) {
      ++stats.isat_retrieved;
      const long k = retrievals_++;
      if (verify_ > 0 && std::floor((k + 1) * verify_) > std::floor(k * verify_)) verify.push_back(q);
    }
    PointStates work(layout_);
    for (size_t q : miss) work.append(in, q);
    for (size_t q : verify) work.append(in, q);
    std::vector<char> ok;
    {
      const BusyClock c;
      if (balance_) {
        // Retrieved locally; what missed is shared among the ranks by each cell's cost the
        // last time it was computed.
        if (cost_.size() != rec.size()) cost_.assign(rec.size(), 0.0);
        std::vector<double> predicted, measured;
        for (size_t q : miss) predicted.push_back(cost_[q]);
        for (size_t q : verify) predicted.push_back(cost_[q]);
        const detail::BalanceReport rep =
            detail::balanced_apply(*rel_, info, work, predicted, measured, ok, comm_, 1.02);
        for (size_t i = 0; i < miss.size(); ++i) cost_[miss[i]] = measured[i];
        detail::record_balance(rep, stats, comm_);
      } else {
        rel_->apply_states(info, work, ok);
      }
      stats.classical_seconds += c.seconds();
    }

    std::vector<PetscInt> failed;
    {
      const BusyClock t;
      const long evicted0 = table_->evicted();
      for (size_t i = 0; i < miss.size(); ++i) {
        const size_t q = miss[i];
        if (!ok[i]) {
          failed.push_back(static_cast<PetscInt>(q));
          continue;
        }
        std::copy_n(work.state(i), layout_.components, rec.state(q));
        std::copy_n(work.memory(i), layout_.n_memory(), rec.memory(q));
        const IsatOutcome o = table_->learn(in.conditions(q), in.state(q), work.state(i),
                                            [&](double* A) { return sensitivity(info, in, q, work.state(i), A); });
        what[q] = o;
        ++(o == IsatOutcome::grown ? stats.isat_grown : o == IsatOutcome::added ? stats.isat_added : stats.isat_direct);
      }
      stats.isat_evicted += table_->evicted() - evicted0;
      for (size_t j = 0; j < verify.size(); ++j) {
        const size_t i = miss.size() + j;
        if (!ok[i]) continue;
        const double e = scaled_distance(rec.state(verify[j]), work.state(i)) / tol_;
        ++stats.isat_verified;
        if (e <= 1.0) ++stats.isat_verified_within;
        stats.isat_worst_verified = std::max(stats.isat_worst_verified, e);
      }
      stats.table_seconds += t.seconds();
    }

    // Back into the field, but the points whose computation failed: those run through the
    // sub-step's own code, on every rank, which reports the failure as it would.
    std::vector<char> done(rec.size(), 1);
    for (PetscInt q : failed) done[static_cast<size_t>(q)] = 0;
    {
      const BusyClock c;
      detail::return_or_rerun(*rel_, *pw_, state, info, rec, done);
      stats.classical_seconds += c.seconds();
    }
    for (PetscInt q : failed) what[static_cast<size_t>(q)] = IsatOutcome::direct;
    stats.isat_direct += static_cast<long>(failed.size());
    stats.isat_entries = static_cast<long>(table_->entries());
    stats.isat_megabytes = static_cast<double>(table_->bytes()) / 1e6;
    if (path_) {
      ArrayView pv = path_->view();
      for (PetscInt p = 0; p < np; ++p) pv.data()[p] = static_cast<double>(what[static_cast<size_t>(p)]);
    }
  }

  bool has_counters(Show s) const override {
    return s == Show::table || (s == Show::balance && balance_) || Policy::has_counters(s);
  }

  nlohmann::ordered_json describe() const override {
    nlohmann::ordered_json d;
    d["tolerance"] = tol_;
    nlohmann::ordered_json sc = nlohmann::ordered_json::object();
    for (size_t c = 0; c < names_.size(); ++c)
      if (scale_[c] != 1.0) sc[names_[c]] = scale_[c];
    d["scale"] = sc;  // components not listed: 1
    d["error_measure"] = "2-norm over the components of (error / scale)";
    d["sensitivity"] = diff_ ? diff_->sensitivity_description() : "one-sided differences (n + 1 computations)";
    d["keyed_on"] = layout_.conditions;
    d["flushed_when"] = "dt changes";
    d["max_megabytes_per_rank"] = params_.get<double>("max_megabytes");
    d["entry_kilobytes"] = table_ ? table_->entry_bytes() / 1e3 : 0.0;
    d["rank0_depth"] = table_ ? table_->depth() : 0;
    d["rank0_rebuilds"] = table_ ? table_->rebuilds() : 0;
    if (verify_ > 0) d["verify"] = verify_;
    if (path_) d["path_field"] = {{"name", path_->name()}, {"codes", outcome_doc()}};
    return d;
  }

  void save_state(CheckpointData& out) const override {
    out.put("table", table_->serialize());
    out.put("dt", dt_);
    out.put("retrievals", retrievals_);
  }
  void restore_state(const CheckpointData& in) override {
    try {
      table_->restore(in.get<std::vector<double>>("table"));
    } catch (const CheckpointError&) {
      throw;
    } catch (const UserError& e) {
      throw CheckpointError(fmt::format("policy isat of '{}': {}", step_name_, e.what()));
    }
    dt_ = in.get<double>("dt");
    retrievals_ = in.get<long>("retrievals");
  }

 private:
  // A retrieval is a linear extrapolation: near zero it goes negative (a trace species,
  // -4.5e-8 on n-dodecane), within the tolerance but outside what the sub-step may be
  // given next step; integrated, negative concentrations grow (x3 a step there) until
  // the integrator fails. Retrieved results are therefore mapped onto the sub-step's
  // admissible set, as a guarded surrogate's are; those that cannot be are computed.
  // The true result is admissible, so the bound Y >= 0 alone can only move a retrieval
  // towards it; the element and energy constraints move it by about its own error. Only
  // the retrievals that fail the sub-step's cheap test (chemistry: a Y_k below -atol_k)
  // are mapped, and only those points: on methane at tolerance 0.1 the mapping still
  // costs 0.5 s of the table's 0.57 s (react 2.66 s against 2.13 s unmapped).
  void make_admissible(SubStep& step, State& state, const StepInfo& info, const PointStates& in, PointStates& rec,
                       const std::vector<PetscInt>& bad, std::vector<size_t>& retrieved, std::vector<size_t>& miss,
                       SubStepStats& stats) {
    const BusyClock t;
    const Field& f = state.get(step.writes().front());
    SIMFUSE_PETSC(VecCopy(f.vec(), before_));  // not collective, as all of this function
    PointStates proposals(layout_);
    for (PetscInt p : bad) proposals.append(rec, static_cast<size_t>(p));
    rel_->return_points(state, bad, proposals);
    std::vector<char> ok;
    adm_->make_points_admissible(state, {before_}, info, bad, ok);
    PointStates back(layout_);
    rel_->take_points(state, bad, back);
    SIMFUSE_PETSC(VecCopy(before_, f.vec()));
    std::vector<char> rejected(rec.size(), 0);
    for (size_t i = 0; i < bad.size(); ++i) {
      const size_t q = static_cast<size_t>(bad[i]);
      if (ok[q]) {
        std::copy_n(back.state(i), layout_.components, rec.state(q));
      } else {
        std::copy_n(in.state(q), layout_.components, rec.state(q));
        rejected[q] = 1;
        miss.push_back(q);
        ++stats.isat_inadmissible;
      }
    }
    std::vector<size_t> kept;
    for (size_t q : retrieved)
      if (!rejected[q]) kept.push_back(q);
    if (kept.size() != retrieved.size()) std::sort(miss.begin(), miss.end());
    retrieved = std::move(kept);
    stats.table_seconds += t.seconds();
  }

  bool finite(const double* y) const {
    for (int c = 0; c < layout_.components; ++c)
      if (!std::isfinite(y[c])) return false;
    return true;
  }
  double scaled_distance(const double* a, const double* b) const {
    double s = 0;
    for (int c = 0; c < layout_.components; ++c) {
      const double e = (a[c] - b[c]) / scale_[c];
      s += e * e;
    }
    return std::sqrt(s);
  }
  // A = d(result)/d(state) at record q of `in`, whose result is `out`.
  bool sensitivity(const StepInfo& info, const PointStates& in, size_t q, const double* out, double* A) {
    const int n = layout_.components;
    if (diff_) {
      diff_->sensitivity(info, in, q, out, A);
      return true;
    }
    // One-sided differences, a step of 1e-4 of the component (or 1e-7 of its scale): well
    // above the computation's own tolerance, well below the tabulation's.
    PointStates p(layout_);
    std::vector<double> h(static_cast<size_t>(n));
    for (int j = 0; j < n; ++j) {
      p.append(in, q);
      h[j] = 1e-4 * std::abs(in.state(q)[j]) + 1e-7 * scale_[j];
      p.state(static_cast<size_t>(j))[j] += h[j];
    }
    std::vector<char> ok;
    rel_->apply_states(info, p, ok);
    for (char k : ok)
      if (!k) return false;
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < n; ++i) A[i * n + j] = (p.state(static_cast<size_t>(j))[i] - out[i]) / h[j];
    return true;
  }

  std::string name_ = "isat", step_name_;
  Params params_;
  double tol_ = 1e-3, verify_ = 0, dt_ = -1, grow_fraction_ = 0.5;
  bool differences_ = false, balance_ = false;
  MPI_Comm comm_;
  std::vector<double> cost_;  // per owned point: its last direct computation's seconds (balance)
  Pointwise* pw_ = nullptr;
  Relocatable* rel_ = nullptr;
  Differentiable* diff_ = nullptr;
  Admissible* adm_ = nullptr;
  PetscHandle<Vec> before_;  // the field at the start of the call (make_admissible)
  PointLayout layout_;
  std::vector<std::string> names_;
  std::vector<double> scale_;
  std::unique_ptr<IsatTable> table_;
  Field* path_ = nullptr;
  long retrievals_ = 0;
};

}  // namespace

void declare_isat(Schema& s) {
  s.add_real("tolerance",
             "the table's error bound: the 2-norm over the components of (error / scale) of a retrieved result")
      .def(1e-3)
      .positive();
  s.add_map("scale",
            "per component name, the size of one unit in the error test (default: the sub-step's own, e.g. 1000 K "
            "for the chemistry's T and 1e-3 for a mass fraction; else 1)");
  s.add_real("other_scale",
             "the scale of every component not named in scale, instead of the sub-step's own (e.g. scale: {T: 1000}, "
             "other_scale: 1e-4 for the chemistry's mass fractions: radicals weigh more than with the default 1e-3)")
      .positive();
  s.add_real("max_megabytes",
             "the table's memory bound per rank; when full, the least recently used tenth of the entries is evicted")
      .def(256.0)
      .positive();
  s.add_real(
       "grow_fraction",
       "an entry grows to hold a computed point only if its linear error there is within this share of the "
       "tolerance (growth stretches the region over points it never checked; 0.5 kept every verified retrieval of "
       "the methane case within the tolerance where 1 left 5% outside, and ran faster: docs/benchmarks.md)")
      .def(0.5)
      .min(0.0, true)
      .max(1.0);
  s.add_int("recent", "most recently used entries searched after the tree's").def(10).min(0);
  s.add_string("sensitivity",
               "auto: the sub-step's own (chemistry: (I - dt J)^-1, one LU, as OpenFOAM's TDAC), differences where it "
               "has none; differences: one-sided differences always (n + 1 computations per added entry)")
      .def("auto")
      .choices({"auto", "differences"});
  s.add_real("verify",
             "the share of retrievals also computed directly, to measure the table's error (isat.verified_within, "
             "isat.worst_verified); costs that share of direct computations")
      .def(0.0)
      .range(0.0, 1.0);
  s.add_bool("balance",
             "share the misses among the ranks by each cell's last computing time (retrieval stays local; the "
             "tables stay per rank)")
      .def(false);
  s.add_bool("path_field", std::string("add an output field '<sub-step>_isat': per cell, ") + outcome_doc()).def(false);
}

std::unique_ptr<Policy> make_isat_policy(const PolicyContext& c) {
  return std::make_unique<IsatPolicy>(c);
}

}  // namespace simfuse
