#pragma once
/// \file ReplacePolicy.hpp
/// The replace family's base (extension tier): a policy whose model's prediction replaces
/// the sub-step's result, unchecked or under the stock guard (coupling/PointGuard: NaN/Inf,
/// training ranges, the admissible set, the error estimate; rejected points rerun
/// classically). `guarded`, `surrogate`, `every_n` and `online` derive from it; so can a
/// plugin's policy (examples/ex6_policy_with_model).
#include <ATen/ATen.h>

#include "simfuse/core/Timer.hpp"
#include "simfuse/coupling/Policy.hpp"
#include "simfuse/coupling/ai/ModelBinding.hpp"
#include "simfuse/surrogates/DataSupport.hpp"

namespace simfuse::ai {

/// Shared by the policies that replace the sub-step's result by the model's: the model
/// binding here, the guard (saved inputs, per-point checks, classical reruns, path field,
/// counters) in coupling/PointGuard, which has no libtorch.
class ReplacePolicy : public Policy {
 public:
  ReplacePolicy(const PolicyContext& ctx, std::string name, bool guarded)
      : ReplacePolicy(ctx, std::move(name), guarded, ModelBinding(ctx.params, ctx.case_file, ctx.model_context)) {}
  ReplacePolicy(const PolicyContext& ctx, std::string name, bool guarded, ModelBinding binding)
      : name_(std::move(name)), binding_(std::move(binding)), comm_(ctx.comm), guard_(ctx.params, guarded) {}
  const std::string& name() const override { return name_; }
  bool has_counters(Show s) const override {
    return (s == Show::balance && guard_.balanced()) || Policy::has_counters(s);
  }

  /// The model must read the sub-step's required inputs (ModelBinding::check).
  bool takes_required_inputs() const override { return true; }
  void attach(SubStep& step, State& state, double dt) override {
    binding_.check(step, state, dt);
    prepare(step, state);
    set_ranges();
    set_regime(step);
    set_support();
    configure_guard(step);
  }

 protected:
  // Which checks run (the estimate's scope, what it measures): at attach, or when a model
  // is first served (online).
  void configure_guard(const SubStep& step) { guard_.configure(step, binding_.card().pointwise()); }

  // The training ranges of the card, widened by the margin (the out-of-range guard).
  void set_ranges() {
    const ModelCard& c = binding_.card();
    const double margin = guard_.margin();
    std::vector<double> lo, hi;
    // The margin is a fraction of the range in the space the model sees the channel in
    // (log10, Box-Cox): 10% of a mass fraction's raw range [0, 1e-5] would say nothing about
    // a value of 1e-9. The transforms are monotone, so the bounds map back to physical values.
    for (int i = 0; i < c.in_channels(); ++i) {
      const double a = c.transform_input(i, c.range_min[i]), b = c.transform_input(i, c.range_max[i]);
      lo.push_back(c.untransform_input(i, a - margin * (b - a), false));
      hi.push_back(c.untransform_input(i, b + margin * (b - a), true));
    }
    guard_.set_ranges(std::move(lo), std::move(hi));
  }

  // The card's regime (its per-point coordinates that the sub-step knows), widened by the
  // margin as a fraction of each range, in place of the training ranges.
  void set_regime(const SubStep& step) {
    const ModelCard& c = binding_.card();
    const auto* ra = dynamic_cast<const RegimeAware*>(&step);
    if (!ra || c.regime.empty()) return;
    const auto names = ra->regime_coordinates();
    std::vector<int> idx;
    std::vector<double> lo, hi;
    for (size_t i = 0; i < names.size(); ++i) {
      const auto it = c.regime.find(names[i]);
      if (it == c.regime.end()) continue;
      const auto [a, b] = it->second;
      idx.push_back(static_cast<int>(i));
      lo.push_back(a - guard_.margin() * (b - a));
      hi.push_back(b + guard_.margin() * (b - a));
    }
    if (!idx.empty()) guard_.set_regime(ra, step.writes().front(), std::move(idx), std::move(lo), std::move(hi));
  }

  // The data's support of the card (pointwise models), when the policy wants it.
  void set_support() {
    const ModelCard& c = binding_.card();
    if (!guard_.guarded() || !guard_.wants_support() || !c.support || !c.pointwise()) return;
    try {
      support_ = DataSupport::load(c);
    } catch (const UserError& e) {
      auto ds = e.diagnostics();
      ds.push_back(binding_.params().diag("model", "the model above was requested here"));
      throw UserError(ds);
    }
    // Queried in the normalised space the model's inference has just computed (z_): the
    // transforms are not evaluated a second time per point.
    const DataSupport* s = support_.get();
    guard_.set_support([this, s](PetscInt p) { return s->near_normalized(z_.data_ptr<float>() + p * z_.size(1)); },
                       {{"what",
                         "points inside the ranges or regime but farther than the radius (normalised inputs) from "
                         "every sampled training input are out of range"},
                        {"file", c.support->file},
                        {"points", s->points()},
                        {"radius", s->radius()}});
  }

  // Work vectors for the sub-step's inputs and the path field (once, at attach): the path
  // field takes the model's output field, or (online: no model yet) the field the sub-step writes.
  void prepare(SubStep& step, State& state) {
    guard_.prepare(step, state, binding_.out_field().empty() ? step.writes().front() : binding_.out_field());
  }

  // The inputs of the last call (the values before the sub-step) of written field `f`.
  Vec before(const std::string& f) const { return guard_.before(f); }

  // Restores the inputs of `points` and reruns them classically, timed as classical work.
  void rerun_classically(const SubStep& step, Pointwise& pw, State& state, const StepInfo& info,
                         const std::vector<PetscInt>& points, SubStepStats& stats) {
    guard_.rerun_classically(step, pw, state, info, points, stats);
  }
  // Of the last guarded call of a pointwise model, per point: kept, or why not.
  const std::vector<Fallback>& reasons() const { return guard_.reasons(); }

 public:
  void apply(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats) override {
    replace(step, state, info, stats);
  }
  std::vector<PolicyFile> files_read() const override {
    std::vector<PolicyFile> f = binding_.files();
    if (support_) f.push_back({"support", binding_.card().support->file});
    return f;
  }
  nlohmann::ordered_json describe() const override {
    nlohmann::ordered_json d = binding_.describe();
    if (guard_.guarded()) {  // what the out-of-range check compares with (the report's hint names them)
      const ModelCard& c = binding_.card();
      nlohmann::ordered_json ranges = nlohmann::ordered_json::object();
      size_t k = 0;
      for (const auto& ch : c.inputs)
        for (int i = 0; i < ch.count() && k < c.range_min.size(); ++i, ++k)
          ranges[ch.field.empty() ? ch.scalar : ch.field + "." + ch.components[i]] = {c.range_min[k], c.range_max[k]};
      d["model"]["ood_margin"] = guard_.margin();
      d["guard"] = guard_.describe();
      // With a regime the guard judges by it; the per-channel ranges are then only a record.
      if (d["guard"].contains("regime_bounds")) {
        nlohmann::ordered_json regime = nlohmann::ordered_json::object();
        for (const auto& [k, r] : c.regime) regime[k] = {r.first, r.second};
        d["model"]["regime"] = regime;
      } else {
        d["model"]["training_ranges"] = ranges;
      }
    }
    return d;
  }

 protected:
  void replace(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats) {
    guard_.save_inputs(state);
    Field& out = state.get(binding_.out_field());
    BusyClock busy;
    std::vector<std::unique_ptr<FieldTensor>> hold;
    const at::Tensor x =
        binding_.predict_into(state, guard_.inputs(), info.dt, out.vec(), hold, support_ ? &z_ : nullptr);
    stats.inference_seconds += busy.seconds();
    ++stats.surrogate_calls;
    stats.points += binding_.points();
    if (!guard_.guarded()) {
      // Unchecked, but never silent garbage: a NaN or inf anywhere ends the run (exit 3)
      // naming this sub-step. The 1-norm is NaN or inf if any entry is (one pass, global).
      PetscReal norm = 0;
      SIMFUSE_PETSC(VecNorm(out.vec(), NORM_1, &norm));
      if (!std::isfinite(norm))
        throw RunFailure(fmt::format("the model '{}' of sub-step '{}' returned NaN or inf at step {} (t = {:g}); the "
                                     "'surrogate' policy checks nothing and has no fallback",
                                     binding_.card().name, step.name(), info.step, info.t),
                         "use `type: guarded` (the classical code takes over where the model fails), or retrain the "
                         "model");
      stats.accepted += binding_.points();
      mark_path(Fallback::kept);
      return;
    }
    if (binding_.card().pointwise()) {
      const at::Tensor xc = x.contiguous();
      guard_.check_points(step, state, info, out, xc.data_ptr<double>(), static_cast<int>(x.size(1)), stats, comm_);
    } else {
      hold.clear();
      check_whole(step, state, info, stats, out);
    }
  }

  // Every cell of the path field (if any) took path `why`.
  void mark_path(Fallback why) { guard_.mark_path(why); }

 private:
  // Guards for a stencil model: NaN anywhere, or the sub-step's scalar estimate.
  void check_whole(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats, Field& out) {
    const BusyClock t0;  // the checks
    double bad = 0;
    {
      const ArrayView y = out.view_read();
      const double* ya = y.data();
      const PetscInt n = binding_.points() * out.ncomp();
      for (PetscInt i = 0; i < n; ++i)
        if (!std::isfinite(ya[i])) {
          bad = 1;
          break;
        }
    }
    {
      const CollectiveWait wait;
      MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_DOUBLE, MPI_MAX, comm_);
    }
    Fallback why = bad > 0 ? Fallback::non_finite : Fallback::kept;
    if (why == Fallback::kept) {
      const std::vector<double> est = guard_.estimate_all(step, state, info);
      if (!est.empty() && !(est[0] <= guard_.tol())) why = Fallback::estimate;
    }
    stats.check_seconds += t0.seconds();
    mark_path(why == Fallback::kept ? Fallback::kept : Fallback::whole_substep);
    if (why != Fallback::kept) {
      fallback_counter(stats, why) += binding_.points();
      // An iterative sub-step continues from a finite prediction instead of starting over.
      guard_.whole_fallback(step, state, info, stats, why == Fallback::estimate ? out.vec() : nullptr);
    } else {
      stats.accepted += binding_.points();
    }
  }

  std::string name_;

 protected:
  ModelBinding binding_;
  MPI_Comm comm_;
  PointGuard guard_;
  std::unique_ptr<DataSupport> support_;  // the card's, when the guard checks it
  at::Tensor z_;                          // with it: the last call's inputs as the model saw them
};

}  // namespace simfuse::ai
