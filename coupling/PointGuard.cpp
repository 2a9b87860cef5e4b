#include "simfuse/coupling/PointGuard.hpp"

#include <fmt/format.h>

#include <cmath>

#include "simfuse/core/Timer.hpp"
#include "simfuse/core/base/Error.hpp"
#include "simfuse/coupling/detail/Balance.hpp"

namespace simfuse {

namespace {

struct FallbackInfo {
  Fallback code;
  const char* doc;  // for the path field's documentation
};

// The one table of what each path code means.
constexpr FallbackInfo kFallbacks[] = {
    {Fallback::kept, "the model"},
    {Fallback::non_finite, "NaN/Inf"},
    {Fallback::out_of_range, "out of range"},
    {Fallback::estimate, "error estimate"},
    {Fallback::inadmissible, "not physically admissible"},
    {Fallback::whole_substep, "the whole sub-step ran classically"},
};

}  // namespace

std::string fallback_codes_doc() {
  // "0 the model, 1 NaN/Inf, 2 out of range, 3 error estimate, 5 not physically admissible
  // (1-3, 5: the classical result), 4 the whole sub-step ran classically"
  std::string s;
  for (const auto& f : kFallbacks) {
    if (f.code == Fallback::whole_substep) s += " (1-3, 5: the classical result)";
    if (!s.empty()) s += ", ";
    s += fmt::format("{} {}", static_cast<int>(f.code), f.doc);
  }
  return s;
}

long& fallback_counter(SubStepStats& stats, Fallback why) {
  switch (why) {
    case Fallback::non_finite:
      return stats.fallback_nan;
    case Fallback::out_of_range:
      return stats.fallback_ood;
    case Fallback::inadmissible:
      return stats.fallback_inadmissible;
    case Fallback::estimate:
      return stats.fallback_estimate;
    default:
      throw InternalError("fallback_counter: no counter for this path", __FILE__, __LINE__);
  }
}

void PointGuard::declare_keys(Schema& s, double default_margin) {
  s.add_real("tol", "accept when the sub-step's error estimate is at most this (1 = its own check tolerance)")
      .def(1.0)
      .positive();
  s.add_real("ood_margin",
             "inputs may exceed the training ranges by this fraction of the range (in the channel's transformed "
             "space for log10 and boxcox channels)")
      .def(default_margin)
      .non_negative();
  s.add_string("estimate",
               "the sub-step's error estimate (if it has one): auto runs it on every point when it is cheap, and only "
               "on the points outside the training ranges (which it then accepts when it passes, instead of "
               "rejecting them) when it costs a sizeable share of the sub-step (chemistry's loose CVODE); always: on "
               "every point (true); never: not at all (false), points outside the ranges are rejected")
      .def("auto")
      .choices({"auto", "always", "never", "true", "false"});
  s.add_bool("support",
             "with a model whose card states its data's support (simfuse train writes it): a point inside the ranges "
             "or regime but farther than the card's radius from every sampled training input is out of range (judged "
             "as such: by the estimate, or rejected); false: the ranges or regime only")
      .def(true);
  s.add_bool("reuse_estimate",
             "a point the error estimate rejects gets the estimate's own classical integration of its step (at the "
             "sub-step's looser check tolerance, e.g. the chemistry's check.reference_rtol) instead of the sub-step "
             "run on it again; false: run again (at the sub-step's own tolerance). Sub-steps whose estimate is an "
             "integration only (the chemistry)")
      .def(true);
  s.add_bool("path_field",
             "add an output field '<sub-step>_path': per cell, what the last call kept: " + fallback_codes_doc())
      .def(false);
  s.add_bool("balance",
             "share the rejected points' classical reruns among the ranks by their cost (each point's last rerun), as "
             "the balanced policy does; "
             "a Relocatable sub-step only (the chemistry's react); the results are bitwise those computed at home")
      .def(false);
}

PointGuard::PointGuard(const Params& params, bool guarded) : guarded_(guarded), params_(params) {
  if (guarded_) {
    tol_ = params.get<double>("tol");
    margin_ = params.get<double>("ood_margin");
    const std::string e = params.get<std::string>("estimate");
    estimate_ = e == "auto" ? Estimate::automatic : e == "always" || e == "true" ? Estimate::always : Estimate::never;
  }
  path_field_ = params.has("path_field") && params.get<bool>("path_field");
  support_ = guarded_ && params.has("support") && params.get<bool>("support");
  balance_ = guarded_ && params.has("balance") && params.get<bool>("balance");
  reuse_ = guarded_ && params.has("reuse_estimate") && params.get<bool>("reuse_estimate");
}

void PointGuard::prepare(SubStep& step, State& state, const std::string& path_of) {
  if (balance_ && !(dynamic_cast<Relocatable*>(&step) && dynamic_cast<Pointwise*>(&step)))
    params_.fail(
        "balance",
        fmt::format("'{}' cannot move its points to another rank (it is not Pointwise and Relocatable)", step.name()),
        "remove balance, or use it on a pointwise sub-step such as the chemistry's react");
  // reuse_estimate applies to a pointwise sub-step whose estimate leaves its results; on
  // another it is refused when asked for explicitly and off otherwise.
  const auto* chk = dynamic_cast<const Checkable*>(&step);
  const bool reusable = dynamic_cast<Pointwise*>(&step) && chk && chk->estimate_leaves_results();
  if (reuse_ && params_.is_set("reuse_estimate") && !reusable)
    params_.fail(
        "reuse_estimate",
        fmt::format("'{}' has no integration of its own in its error estimate to give a rejected point", step.name()),
        "remove reuse_estimate (its rejected points run the sub-step again), or use it on the chemistry's "
        "react");
  reuse_ = reuse_ && reusable;
  for (const auto& f : step.writes()) {
    PetscHandle<Vec> v;
    SIMFUSE_PETSC(VecDuplicate(state.get(f).vec(), v.out()));
    before_[f] = std::move(v);
  }
  if (path_field_) {
    const Field& of = state.get(path_of);
    const std::string name = step.name() + "_path";
    if (state.has(name)) params_.fail("path_field", fmt::format("the state already has a field '{}'", name));
    path_ = &state.add_diagnostic(of.grid(), name);
  }
}

void PointGuard::configure(const SubStep& step, bool pointwise) {
  scope_ = Scope::none;
  if (!guarded_) return;
  if (const auto* chk = dynamic_cast<const Checkable*>(&step)) {
    estimate_what_ = chk->estimate_description();
    const bool per_point = pointwise && dynamic_cast<const Pointwise*>(&step);
    if (estimate_ == Estimate::always ||
        (estimate_ == Estimate::automatic && (!chk->estimate_is_costly() || !per_point)))
      scope_ = Scope::all;
    else if (estimate_ == Estimate::automatic)
      scope_ = Scope::out_of_range;
  }
  if (const auto* adm = dynamic_cast<const Admissible*>(&step)) admissible_what_ = adm->admissible_description();
}

void PointGuard::save_inputs(const State& state) {
  for (auto& [f, v] : before_) SIMFUSE_PETSC(VecCopy(state.get(f).vec(), v));
}

std::map<std::string, Vec> PointGuard::inputs() const {
  std::map<std::string, Vec> src;
  for (const auto& [f, v] : before_) src[f] = v;
  return src;
}

void PointGuard::restore_inputs(const SubStep& step, State& state, const std::vector<PetscInt>& points) const {
  for (const auto& f : step.writes()) {
    Field& fld = state.get(f);
    ArrayView now = fld.view();
    const ArrayView was(before_.at(f), fld.grid().owned(), fld.ncomp(), true);
    double* na = now.data();
    const double* wa = was.data();
    for (PetscInt p : points)
      for (int c = 0; c < fld.ncomp(); ++c) na[p * fld.ncomp() + c] = wa[p * fld.ncomp() + c];
  }
}

void PointGuard::rerun_classically(const SubStep& step, Pointwise& pw, State& state, const StepInfo& info,
                                   const std::vector<PetscInt>& points, SubStepStats& stats) {
  // On every rank, possibly with no points: the sub-step may communicate.
  restore_inputs(step, state, points);
  const BusyClock busy;
  pw.apply_points(state, info, points);
  stats.classical_seconds += busy.seconds();
}

// The rejected points' records shared among the ranks by their predicted cost, computed
// where they land and returned; a record that failed reruns at home, on every rank, so
// the failure is reported as the sub-step reports it.
void PointGuard::rerun_balanced(const SubStep& step, Relocatable& rel, Pointwise& pw, State& state,
                                const StepInfo& info, const std::vector<PetscInt>& points, SubStepStats& stats,
                                MPI_Comm comm) {
  restore_inputs(step, state, points);
  const BusyClock busy;
  PointStates rec(rel.point_layout());
  rel.take_points(state, points, rec);
  // Each point is predicted to cost what its last rerun cost; one never rerun, the mean of
  // those that were (a cell entering the front costs what the front's cells do).
  if (cost_.size() != reason_.size()) cost_.assign(reason_.size(), 0.0);
  double known = 0;
  long nknown = 0;
  for (PetscInt p : points)
    if (cost_[static_cast<size_t>(p)] > 0) {
      known += cost_[static_cast<size_t>(p)];
      ++nknown;
    }
  const double guess = nknown ? known / static_cast<double>(nknown) : 0.0;
  std::vector<double> predicted(points.size()), measured;
  for (size_t i = 0; i < points.size(); ++i) {
    const double c = cost_[static_cast<size_t>(points[i])];
    predicted[i] = c > 0 ? c : guess;
  }
  std::vector<char> ok;
  const detail::BalanceReport rep = detail::balanced_apply(rel, info, rec, predicted, measured, ok, comm);
  for (size_t i = 0; i < points.size(); ++i) cost_[static_cast<size_t>(points[i])] = measured[i];
  detail::return_or_rerun(rel, pw, state, info, rec, ok, &points);
  stats.classical_seconds += busy.seconds();
  detail::record_balance(rep, stats, comm);
}

void PointGuard::check_points(SubStep& step, State& state, const StepInfo& info, Field& out, const double* xa, int cin,
                              SubStepStats& stats, MPI_Comm comm) {
  const BusyClock checks;
  reason_.assign(static_cast<size_t>(out.grid().owned().size()), Fallback::kept);
  screen(out, xa, cin, stats);
  map_admissible(step, state, info);
  judge_by_estimate(step, state, info, stats);
  fall_back(step, state, info, stats, comm, checks);
}

// Non-finite outputs; inputs outside the model's training ranges or regime; then far from
// its data (the card's support).
void PointGuard::screen(const Field& out, const double* xa, int cin, SubStepStats& stats) {
  std::vector<Fallback>& reason = reason_;
  const PetscInt np = static_cast<PetscInt>(reason.size());
  const ArrayView y = out.view_read();
  const double* ya = y.data();
  const int nc = out.ncomp();
  const bool ranges = xa && !lo_.empty();
  for (PetscInt p = 0; p < np; ++p) {
    for (int c = 0; c < nc && reason[p] == Fallback::kept; ++c)
      if (!std::isfinite(ya[p * nc + c])) reason[p] = Fallback::non_finite;
    for (int c = 0; ranges && c < cin && reason[p] == Fallback::kept; ++c) {
      const double v = xa[p * cin + c];
      if (!(v >= lo_[c] && v <= hi_[c])) reason[p] = Fallback::out_of_range;
    }
  }
  screen_regime();
  // The data's support, last (the costliest): only points every other check let through.
  if (near_ && xa)
    for (PetscInt p = 0; p < np; ++p)
      if (reason[p] == Fallback::kept && !near_(p)) {
        reason[p] = Fallback::out_of_range;
        ++stats.outside_support;
      }
}

// The regime: each point's coordinates from its inputs (the state before the sub-step).
void PointGuard::screen_regime() {
  if (!regime_) return;
  std::vector<Fallback>& reason = reason_;
  const PetscInt np = static_cast<PetscInt>(reason.size());
  const Vec in = before_.at(regime_field_);
  PetscInt len = 0;
  SIMFUSE_PETSC(VecGetLocalSize(in, &len));
  const PetscInt ncin = np > 0 ? len / np : 0;
  const PetscScalar* a = nullptr;
  SIMFUSE_PETSC(VecGetArrayRead(in, &a));
  std::vector<double> coords(regime_->regime_coordinates().size());
  for (PetscInt p = 0; p < np; ++p) {
    if (reason[p] != Fallback::kept) continue;
    regime_->regime_point(a + p * ncin, coords.data());
    for (size_t i = 0; i < regime_coords_.size(); ++i) {
      const double v = coords[static_cast<size_t>(regime_coords_[i])];
      if (!(v >= regime_lo_[i] && v <= regime_hi_[i])) reason[p] = Fallback::out_of_range;
    }
  }
  SIMFUSE_PETSC(VecRestoreArrayRead(in, &a));
}

// A sub-step with an admissible set maps the proposal onto it first (in place); the
// estimate then judges the admissible result.
void PointGuard::map_admissible(SubStep& step, State& state, const StepInfo& info) {
  admissible_ok_.clear();
  auto* adm = dynamic_cast<Admissible*>(&step);
  if (!adm) return;
  std::vector<Vec> before;
  for (const auto& f : step.writes()) before.push_back(before_.at(f));
  std::vector<char> ok;
  adm->make_admissible(state, before, info, ok);
  const PetscInt np = static_cast<PetscInt>(reason_.size());
  for (PetscInt p = 0; p < np && p < static_cast<PetscInt>(ok.size()); ++p)
    if (reason_[p] == Fallback::kept && !ok[p]) reason_[p] = Fallback::inadmissible;
  admissible_ok_ = std::move(ok);
}

// One estimate per point (Pointwise sub-steps) or one for the whole sub-step.
void PointGuard::judge_by_estimate(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats) {
  std::vector<Fallback>& reason = reason_;
  const PetscInt np = static_cast<PetscInt>(reason.size());
  reused_.clear();
  auto reject = [&](PetscInt p, double e) {
    reason[p] = Fallback::estimate;
    if (reuse_ && std::isfinite(e)) reused_.push_back(p);
  };
  if (scope_ == Scope::all) {
    const std::vector<double> est = estimate_all(step, state, info);
    if (est.empty()) return;
    const bool whole = est.size() == 1 && np != 1;
    stats.estimated += np;
    for (PetscInt p = 0; p < np; ++p)
      if (reason[p] == Fallback::kept && !(est[whole ? 0 : p] <= tol_)) {
        if (whole)
          reason[p] = Fallback::estimate;
        else
          reject(p, est[p]);
      }
  } else if (scope_ == Scope::out_of_range) {
    // A costly estimate only where the proposal is outside its ranges: those points are
    // kept when the estimate passes (they would otherwise all run classically).
    std::vector<PetscInt> ood;
    for (PetscInt p = 0; p < np; ++p)
      if (reason[p] == Fallback::out_of_range && admissible_ok(p)) ood.push_back(p);
    if (ood.empty()) return;
    auto& chk = dynamic_cast<Checkable&>(step);
    std::vector<Vec> before;
    for (const auto& f : step.writes()) before.push_back(before_.at(f));
    std::vector<double> est;
    chk.estimate_points(state, before, info, ood, est);
    stats.estimated += static_cast<long>(ood.size());
    for (size_t i = 0; i < ood.size(); ++i) {
      if (est[i] <= tol_) {
        reason[ood[i]] = Fallback::kept;
        ++stats.accepted_out_of_range;
      } else {
        reject(ood[i], est[i]);
      }
    }
  }
}

// The path field and the counters; the rejected points rerun classically (the whole
// sub-step, on every rank, if it is not pointwise and any point anywhere was rejected).
void PointGuard::fall_back(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats, MPI_Comm comm,
                           const BusyClock& checks) {
  const std::vector<Fallback>& reason = reason_;
  const PetscInt np = static_cast<PetscInt>(reason.size());
  if (path_) {
    ArrayView pv = path_->view();
    double* pa = pv.data();
    for (PetscInt p = 0; p < np; ++p) pa[p] = static_cast<double>(reason[p]);
  }
  // Points the estimate rejected with a reference result of their own keep it (reuse_ is
  // only set where the sub-step leaves one: prepare); the others rerun.
  std::vector<char> reused(reused_.empty() ? 0 : static_cast<size_t>(np), 0);
  for (PetscInt p : reused_) reused[static_cast<size_t>(p)] = 1;
  std::vector<PetscInt> rejected;
  for (PetscInt p = 0; p < np; ++p)
    if (reason[p] != Fallback::kept) {
      ++fallback_counter(stats, reason[p]);
      if (reused.empty() || !reused[static_cast<size_t>(p)]) rejected.push_back(p);
    }
  if (!reused_.empty()) {
    dynamic_cast<Checkable&>(step).keep_estimated(state, reused_);
    stats.reused_estimate += static_cast<long>(reused_.size());
  }
  stats.check_seconds += checks.seconds();
  stats.accepted += np - static_cast<PetscInt>(rejected.size() + reused_.size());
  auto* pw = dynamic_cast<Pointwise*>(&step);
  auto* rel = balance_ ? dynamic_cast<Relocatable*>(&step) : nullptr;
  if (pw && rel) {
    rerun_balanced(step, *rel, *pw, state, info, rejected, stats, comm);
  } else if (pw) {
    rerun_classically(step, *pw, state, info, rejected, stats);
  } else {
    long any = rejected.empty() ? 0 : 1;
    {
      const CollectiveWait wait;
      MPI_Allreduce(MPI_IN_PLACE, &any, 1, MPI_LONG, MPI_MAX, comm);
    }
    if (any) {
      mark_path(Fallback::whole_substep);
      whole_fallback(step, state, info, stats);
    }
  }
}

std::vector<double> PointGuard::estimate_all(SubStep& step, const State& state, const StepInfo& info) const {
  std::vector<double> est;
  auto* chk = dynamic_cast<Checkable*>(&step);
  if (scope_ != Scope::all || !chk) return est;
  std::vector<Vec> before;
  for (const auto& f : step.writes()) before.push_back(before_.at(f));
  chk->estimate(state, before, info, est);
  return est;
}

void PointGuard::whole_fallback(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats, Vec proposal) {
  auto* iterative = dynamic_cast<Iterative*>(&step);
  if (proposal && iterative) {
    if (!proposal_) SIMFUSE_PETSC(VecDuplicate(proposal, proposal_.out()));
    SIMFUSE_PETSC(VecCopy(proposal, proposal_));
  }
  for (auto& [f, v] : before_) SIMFUSE_PETSC(VecCopy(v, state.get(f).vec()));
  ++stats.whole_fallbacks;
  if (proposal && iterative) iterative->set_initial_guess(proposal_);
  run_classical(step, state, info, stats);
}

void PointGuard::mark_path(Fallback why) {
  if (path_) SIMFUSE_PETSC(VecSet(path_->vec(), static_cast<double>(why)));
}

nlohmann::ordered_json PointGuard::describe() const {
  // Exactly the checks that run on each point, in order.
  nlohmann::ordered_json g;
  g["finite"] = "every output finite";
  const std::string what = regime_ ? "points outside the model's regime" : "inputs outside the ranges";
  g[regime_ ? "regime" : "training_ranges"] =
      what + (scope_ == Scope::out_of_range ? " (+ ood_margin) are judged by the error estimate"
                                            : " (+ ood_margin) are rejected");
  if (regime_) {
    const auto names = regime_->regime_coordinates();
    for (size_t i = 0; i < regime_coords_.size(); ++i)
      g["regime_bounds"][names[static_cast<size_t>(regime_coords_[i])]] = {regime_lo_[i], regime_hi_[i]};
  }
  if (near_) g["support"] = support_what_;
  if (!admissible_what_.empty()) g["admissible"] = admissible_what_;
  const char* mode = estimate_ == Estimate::automatic ? "auto" : estimate_ == Estimate::always ? "always" : "never";
  g["error_estimate"] = {{"setting", mode},
                         {"runs_on", scope_ == Scope::all            ? "every point"
                                     : scope_ == Scope::out_of_range ? "the points outside the training ranges"
                                                                     : "no point"}};
  if (scope_ != Scope::none) {
    g["error_estimate"]["what"] = estimate_what_;
    g["error_estimate"]["tol"] = tol_;
  }
  return g;
}

}  // namespace simfuse
