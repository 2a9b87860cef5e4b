#include "simfuse/coupling/ai/AiPolicies.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "simfuse/core/Paths.hpp"
#include "simfuse/core/Timer.hpp"
#include "simfuse/coupling/Policy.hpp"
#include "simfuse/coupling/ai/FieldBridge.hpp"
#include "simfuse/surrogates/Surrogate.hpp"

namespace simfuse::ai {

namespace {

void declare_model_keys(Schema& s) {
  s.add_string("model", "the model card (YAML beside the weights), relative to the case file").required();
  s.add_int("threads", "intra-op threads of the model (ranks x threads <= cores)").def(1).range(1, 256);
  s.add_int("chunk_points", "pointwise inference in chunks of at most this many points").def(65536).min(1);
  s.add_string("device", "where the model runs (this libtorch build is CPU-only)").def("cpu").choices({"cpu"});
  s.add_string("inference",
               "auto: float32 MLPs run through oneDNN (faster than the system BLAS), other models through libtorch; "
               "plain: always libtorch's default path. summary.json records the path taken")
      .def("auto")
      .choices({"auto", "plain"});
}

void declare_guard_keys(Schema& s) {
  s.add_real("tol", "accept when the sub-step's error estimate is at most this (1 = its own check tolerance)")
      .def(1.0)
      .positive();
  s.add_real("ood_margin",
             "inputs may exceed the training ranges by this fraction of the range (in the channel's transformed "
             "space for log10 and boxcox channels)")
      .def(0.0)
      .non_negative();
  s.add_bool("estimate", "use the sub-step's error estimate (if it has one)").def(true);
  s.add_bool("path_field",
             "add an output field '<sub-step>_path': per cell, what the last call kept: 0 the model, 1 NaN/Inf, 2 "
             "out of range, 3 error estimate, 5 not physically admissible (1-3, 5: the classical result), 4 the whole "
             "sub-step ran classically")
      .def(false);
}

// The card bound to a case: which fields the model reads and writes, and how.
class Binding {
 public:
  Binding(const Params& params, const std::string& case_file, std::map<std::string, std::string> context = {})
      : params_(params), context_(std::move(context)) {
    SurrogateOptions so;
    so.threads = params.get<int>("threads");
    so.chunk_points = params.get<int>("chunk_points");
    so.device = params.get<std::string>("device");
    so.inference = params.get<std::string>("inference");
    model_path_ = resolve_path(params.get<std::string>("model"), case_file);
    try {
      model_ = Surrogate::load(model_path_, so);
    } catch (const UserError& e) {
      // Keep the card's own locations; add where the case asked for it.
      auto ds = e.diagnostics();
      ds.push_back(params.diag("model", "the model above was requested here"));
      throw UserError(ds);
    }
  }

  Surrogate& model() { return *model_; }
  const ModelCard& card() const { return model_->card(); }

  // For summary.json: which model ran, and how.
  nlohmann::ordered_json describe() const {
    const InferencePath& p = model_->inference_path();
    return {{"model",
             {{"card", model_path_},
              {"name", card().name},
              {"weights", card().weights},
              {"inference_path", p.name},
              {"inference_path_reason", p.reason}}}};
  }

  // Card vs case: every mismatch names both sides, at set-up.
  void check(const SubStep& step, const State& state, double dt) {
    const ModelCard& c = card();
    const std::string who = fmt::format("model '{}' ({})", c.name, model_path_);
    if (c.substep != step.name())
      params_.fail("model",
                   fmt::format("{} was trained for sub-step '{}', this is sub-step '{}'", who, c.substep, step.name()),
                   "use a model made for this sub-step");
    auto check_field = [&](const CardChannel& ch, const char* side) {
      if (!state.has(ch.field))
        params_.fail("model", fmt::format("{} {} field '{}', the solver has fields: {}", who, side, ch.field,
                                          join(state.names())));
      const auto& comps = state.get(ch.field).components();
      for (const auto& comp : ch.components)
        if (std::find(comps.begin(), comps.end(), comp) == comps.end())
          params_.fail("model", fmt::format("{} {} component '{}' of field '{}', which has components [{}]", who, side,
                                            comp, ch.field, join(comps)));
    };
    for (const auto& in : c.inputs) {
      if (in.field.empty()) {
        if (in.scalar != "dt")
          params_.fail("model", fmt::format("{} reads scalar '{}'; only dt is available to models", who, in.scalar));
        continue;
      }
      check_field(in, "reads");
    }
    if (c.outputs.size() != 1)
      params_.fail("model", fmt::format("{} writes {} fields; a model writes one field", who, c.outputs.size()));
    const CardChannel& out = c.outputs.front();
    check_field(out, "writes");
    const auto writes = step.writes();
    if (std::find(writes.begin(), writes.end(), out.field) == writes.end())
      params_.fail("model", fmt::format("{} writes field '{}', but sub-step '{}' writes [{}]", who, out.field,
                                        step.name(), join(writes)));
    if (out.components != state.get(out.field).components())
      params_.fail("model", fmt::format("{} writes components [{}] of '{}'; it must write all of them in order: [{}]",
                                        who, join(out.components), out.field, join(state.get(out.field).components())));
    for (const auto& [key, value] : c.context) {
      auto it = context_.find(key);
      if (it == context_.end())
        params_.fail("model",
                     fmt::format("{} was trained with {} = {}; this case's solver has no {}", who, key, value, key),
                     "use a model trained on this solver");
      if (it->second != value)
        params_.fail(
            "model",
            fmt::format("{} was trained with {} = {}; this case has {} = {}", who, key, value, key, it->second),
            "use a model trained for this case's " + key + ", or train one (simfuse generate + train)");
    }
    for (const auto& [key, value] : c.conditions) {
      if (key != "dt") continue;
      if (std::abs(value - dt) > 1e-9 * std::max(std::abs(value), std::abs(dt)))
        params_.fail("model",
                     fmt::format("{} was trained for a '{}' step of dt = {:g}; this case gives dt = {:g}", who,
                                 step.name(), value, dt),
                     "set time.dt to match the model, or train a model for this dt");
    }
    if (!c.pointwise()) {
      const Grid& g = state.get(out.field).grid();
      if (g.dim() != 2)
        params_.fail("model", fmt::format("{} is a stencil model; stencil models need a 2D grid (this one is {}D)", who,
                                          g.dim()));
    }
    out_field_ = out.field;
    // Pointwise inputs are a zero-copy view when they are one field, all components, in order.
    zero_copy_ = c.inputs.size() == 1 && !c.inputs[0].field.empty() &&
                 c.inputs[0].components == state.get(c.inputs[0].field).components();
    const Field& of = state.get(out_field_);
    out_points_ = of.grid().owned().size();
  }

  const std::string& out_field() const { return out_field_; }
  PetscInt points() const { return out_points_; }

  // Pointwise inputs [points, C_in] (physical units) from `src` (the values before the step).
  at::Tensor pointwise_inputs(const State& state, const std::map<std::string, Vec>& src, double dt,
                              std::vector<std::unique_ptr<FieldTensor>>& hold) const {
    const ModelCard& c = card();
    std::vector<at::Tensor> cols;
    for (const auto& in : c.inputs) {
      if (in.field.empty()) {
        cols.push_back(at::full({out_points_, 1}, dt, at::TensorOptions().dtype(at::kDouble)));
        continue;
      }
      const Field& f = state.get(in.field);
      auto it = src.find(in.field);
      hold.push_back(std::make_unique<FieldTensor>(it != src.end() ? it->second : f.vec(), f.grid(), f.ncomp(), true));
      const at::Tensor& t = hold.back()->tensor();
      if (zero_copy_) return t;
      std::vector<int64_t> idx;
      for (const auto& comp : in.components)
        idx.push_back(std::find(f.components().begin(), f.components().end(), comp) - f.components().begin());
      cols.push_back(t.index_select(1, at::tensor(idx, at::TensorOptions().dtype(at::kLong))));
    }
    return at::cat(cols, 1);
  }

  // Stencil inputs [1, C_in, ny + 2r, nx + 2r] from the state. Collective.
  at::Tensor stencil_inputs(const State& state) const {
    std::vector<at::Tensor> parts;
    for (const auto& in : card().inputs) {
      const Field& f = state.get(in.field);
      at::Tensor all = stencil_input(f, card().radius);
      std::vector<int64_t> idx;
      for (const auto& comp : in.components)
        idx.push_back(std::find(f.components().begin(), f.components().end(), comp) - f.components().begin());
      parts.push_back(all.index_select(1, at::tensor(idx, at::TensorOptions().dtype(at::kLong))));
    }
    return parts.size() == 1 ? parts[0] : at::cat(parts, 1);
  }

  // Runs the model and writes its prediction into `out` (a vector of the output field's
  // layout). Returns the pointwise inputs used (for range checks), undefined for stencils.
  at::Tensor predict_into(const State& state, const std::map<std::string, Vec>& src, double dt, Vec out,
                          std::vector<std::unique_ptr<FieldTensor>>& hold) {
    const Field& of = state.get(out_field_);
    if (card().pointwise()) {
      at::Tensor x = pointwise_inputs(state, src, dt, hold);
      FieldTensor y(out, of.grid(), of.ncomp());
      model_->predict(x, y.tensor());
      return x;
    }
    const at::Tensor x = stencil_inputs(state);
    const at::Tensor y = model_->predict_stencil(x);
    FieldTensor ft(out, of.grid(), of.ncomp());
    ft.nchw().copy_(y);
    return at::Tensor();
  }

  const Params& params() const { return params_; }

 private:
  Params params_;
  std::map<std::string, std::string> context_;  // the solver's model context
  std::string model_path_;
  std::unique_ptr<Surrogate> model_;
  std::string out_field_;
  bool zero_copy_ = false;
  PetscInt out_points_ = 0;
};

// Shared by the policies that replace the sub-step's result.
class ReplacePolicy : public Policy {
 public:
  ReplacePolicy(const PolicyContext& ctx, std::string name, bool guarded)
      : name_(std::move(name)),
        binding_(ctx.params, ctx.case_file, ctx.model_context),
        guarded_(guarded),
        comm_(ctx.comm) {
    if (guarded_) {
      tol_ = ctx.params.get<double>("tol");
      margin_ = ctx.params.get<double>("ood_margin");
      use_estimate_ = ctx.params.get<bool>("estimate");
    }
    path_field_ = ctx.params.has("path_field") && ctx.params.get<bool>("path_field");
  }
  const std::string& name() const override { return name_; }

  void attach(SubStep& step, State& state, double dt) override {
    binding_.check(step, state, dt);
    for (const auto& f : step.writes()) {
      PetscHandle<Vec> v;
      SIMFUSE_PETSC(VecDuplicate(state.get(f).vec(), v.out()));
      before_[f] = std::move(v);
    }
    if (path_field_) {
      const Field& of = state.get(binding_.out_field());
      const std::string name = step.name() + "_path";
      if (state.has(name))
        binding_.params().fail("path_field", fmt::format("the state already has a field '{}'", name));
      path_ = &state.add_diagnostic(of.grid(), name);
    }
    const ModelCard& c = binding_.card();
    lo_.clear();
    hi_.clear();
    // The margin is a fraction of the range in the space the model sees the channel in
    // (log10, Box-Cox): 10% of a mass fraction's raw range [0, 1e-5] would say nothing about
    // a value of 1e-9. The transforms are monotone, so the bounds map back to physical values.
    for (int i = 0; i < c.in_channels(); ++i) {
      const double a = c.transform_input(i, c.range_min[i]), b = c.transform_input(i, c.range_max[i]);
      lo_.push_back(c.untransform_input(i, a - margin_ * (b - a), false));
      hi_.push_back(c.untransform_input(i, b + margin_ * (b - a), true));
    }
  }

  void apply(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats) override {
    replace(step, state, info, stats);
  }
  nlohmann::ordered_json describe() const override {
    nlohmann::ordered_json d = binding_.describe();
    if (guarded_) {  // what the out-of-range check compares with (the report's hint names them)
      const ModelCard& c = binding_.card();
      nlohmann::ordered_json ranges = nlohmann::ordered_json::object();
      size_t k = 0;
      for (const auto& ch : c.inputs)
        for (int i = 0; i < ch.count() && k < c.range_min.size(); ++i, ++k)
          ranges[ch.field.empty() ? ch.scalar : ch.field + "." + ch.components[i]] = {c.range_min[k], c.range_max[k]};
      d["model"]["ood_margin"] = margin_;
      d["model"]["training_ranges"] = ranges;
    }
    return d;
  }

 protected:
  void replace(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats) {
    std::map<std::string, Vec> src;
    for (auto& [f, v] : before_) {
      SIMFUSE_PETSC(VecCopy(state.get(f).vec(), v));
      src[f] = v;
    }
    Field& out = state.get(binding_.out_field());
    double t0 = wall_time();
    std::vector<std::unique_ptr<FieldTensor>> hold;
    const at::Tensor x = binding_.predict_into(state, src, info.dt, out.vec(), hold);
    stats.inference_seconds += wall_time() - t0;
    ++stats.surrogate_calls;
    stats.points += binding_.points();
    if (!guarded_) {
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
      mark_path(0.0);
      return;
    }
    t0 = wall_time();
    if (binding_.card().pointwise()) {
      check_points(step, state, info, stats, x, out, t0);
    } else {
      hold.clear();
      check_whole(step, state, info, stats, out, t0);
    }
  }

  // Every cell of the path field (if any) took path `code`.
  void mark_path(double code) {
    if (path_) SIMFUSE_PETSC(VecSet(path_->vec(), code));
  }

 private:
  // Per-point guards; rejected points of a Pointwise sub-step rerun classically.
  void check_points(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats, const at::Tensor& x,
                    Field& out, double t0) {
    const PetscInt np = binding_.points();
    const int cin = static_cast<int>(x.size(1));
    std::vector<char> reason(static_cast<size_t>(np), 0);  // 0 ok, 1 nan, 2 ood, 3 estimate, 5 inadmissible
    {
      const ArrayView y = out.view_read();
      const double* ya = const_cast<ArrayView&>(y).data();
      const int nc = out.ncomp();
      const at::Tensor xc = x.contiguous();
      const double* xa = xc.data_ptr<double>();
      for (PetscInt p = 0; p < np; ++p) {
        for (int c = 0; c < nc && !reason[p]; ++c)
          if (!std::isfinite(ya[p * nc + c])) reason[p] = 1;
        for (int c = 0; c < cin && !reason[p]; ++c) {
          const double v = xa[p * cin + c];
          if (!(v >= lo_[c] && v <= hi_[c])) reason[p] = 2;
        }
      }
    }
    // A sub-step with an admissible set maps the proposal onto it first (in place); the
    // estimate then judges the admissible result.
    if (auto* adm = dynamic_cast<Admissible*>(&step)) {
      std::vector<Vec> before;
      for (const auto& f : step.writes()) before.push_back(before_.at(f));
      std::vector<char> ok;
      adm->make_admissible(state, before, info, ok);
      for (PetscInt p = 0; p < np && p < static_cast<PetscInt>(ok.size()); ++p)
        if (!reason[p] && !ok[p]) reason[p] = 5;
    }
    // One estimate per point (Pointwise sub-steps) or one for the whole sub-step.
    const std::vector<double> est = estimate(step, state, info);
    if (!est.empty()) {
      const bool whole = est.size() == 1 && np != 1;
      for (PetscInt p = 0; p < np; ++p)
        if (!reason[p] && !(est[whole ? 0 : p] <= tol_)) reason[p] = 3;
    }
    if (path_) {
      ArrayView pv = path_->view();
      double* pa = pv.data();
      for (PetscInt p = 0; p < np; ++p) pa[p] = reason[p];
    }
    std::vector<PetscInt> rejected;
    for (PetscInt p = 0; p < np; ++p)
      if (reason[p]) {
        rejected.push_back(p);
        (reason[p] == 1   ? stats.fallback_nan
         : reason[p] == 2 ? stats.fallback_ood
         : reason[p] == 5 ? stats.fallback_inadmissible
                          : stats.fallback_estimate)++;
      }
    stats.check_seconds += wall_time() - t0;
    stats.accepted += np - static_cast<PetscInt>(rejected.size());
    auto* pw = dynamic_cast<Pointwise*>(&step);
    if (pw) {
      // Restore the inputs of the rejected points, rerun them classically (on every rank,
      // possibly with no points: the sub-step may communicate).
      for (const auto& f : step.writes()) {
        Field& fld = state.get(f);
        ArrayView now = fld.view();
        const ArrayView was(before_.at(f), fld.grid().owned(), fld.ncomp(), true);
        double* na = now.data();
        const double* wa = const_cast<ArrayView&>(was).data();
        for (PetscInt p : rejected)
          for (int c = 0; c < fld.ncomp(); ++c) na[p * fld.ncomp() + c] = wa[p * fld.ncomp() + c];
      }
      const double tc = wall_time();
      pw->apply_points(state, info, rejected);
      stats.classical_seconds += wall_time() - tc;
    } else {
      long any = rejected.empty() ? 0 : 1;
      MPI_Allreduce(MPI_IN_PLACE, &any, 1, MPI_LONG, MPI_MAX, comm_);
      if (any) {
        mark_path(4.0);
        whole_fallback(step, state, info, stats);
      }
    }
  }

  // Guards for a stencil model: NaN anywhere, or the sub-step's scalar estimate.
  void check_whole(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats, Field& out, double t0) {
    double bad = 0;
    {
      const ArrayView y = out.view_read();
      const double* ya = const_cast<ArrayView&>(y).data();
      const PetscInt n = binding_.points() * out.ncomp();
      for (PetscInt i = 0; i < n; ++i)
        if (!std::isfinite(ya[i])) {
          bad = 1;
          break;
        }
    }
    MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_DOUBLE, MPI_MAX, comm_);
    int why = bad > 0 ? 1 : 0;
    if (!why) {
      const std::vector<double> est = estimate(step, state, info);
      if (!est.empty() && !(est[0] <= tol_)) why = 3;
    }
    stats.check_seconds += wall_time() - t0;
    mark_path(why ? 4.0 : 0.0);
    if (why) {
      (why == 1 ? stats.fallback_nan : stats.fallback_estimate) += binding_.points();
      // An iterative sub-step continues from a finite prediction instead of starting over.
      whole_fallback(step, state, info, stats, why == 3 ? out.vec() : nullptr);
    } else {
      stats.accepted += binding_.points();
    }
  }

  // The sub-step's error estimate of the proposed result (empty when it has none or the
  // policy does not use it). Collective for non-pointwise sub-steps.
  std::vector<double> estimate(SubStep& step, const State& state, const StepInfo& info) {
    std::vector<double> est;
    auto* chk = dynamic_cast<Checkable*>(&step);
    if (!use_estimate_ || !chk) return est;
    std::vector<Vec> before;
    for (const auto& f : step.writes()) before.push_back(before_.at(f));
    chk->estimate(state, before, info, est);
    return est;
  }

  // Restores the sub-step's inputs and runs it classically; an Iterative sub-step starts
  // from `proposal` (the rejected prediction, if finite) as its initial guess.
  void whole_fallback(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats, Vec proposal = nullptr) {
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

  std::string name_;

 protected:
  Binding binding_;

 private:
  bool guarded_;
  MPI_Comm comm_;
  double tol_ = 1, margin_ = 0;
  bool use_estimate_ = true;
  bool path_field_ = false;
  Field* path_ = nullptr;  // the <sub-step>_path diagnostic, if asked for
  std::map<std::string, PetscHandle<Vec>> before_;
  PetscHandle<Vec> proposal_;  // a rejected prediction, the initial guess of the fallback
  std::vector<double> lo_, hi_;
};

class WarmStartPolicy final : public Policy {
 public:
  explicit WarmStartPolicy(const PolicyContext& ctx) : binding_(ctx.params, ctx.case_file, ctx.model_context) {}
  const std::string& name() const override { return name_; }
  void attach(SubStep& step, State& state, double dt) override {
    iterative_ = dynamic_cast<Iterative*>(&step);
    if (!iterative_)
      binding_.params().fail("model", fmt::format("warm_start needs an iterative sub-step; '{}' is not", step.name()),
                             "use guarded or surrogate for this sub-step");
    binding_.check(step, state, dt);
    SIMFUSE_PETSC(VecDuplicate(state.get(binding_.out_field()).vec(), guess_.out()));
  }
  nlohmann::ordered_json describe() const override { return binding_.describe(); }
  void apply(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats) override {
    const double t0 = wall_time();
    {
      std::vector<std::unique_ptr<FieldTensor>> hold;
      binding_.predict_into(state, {}, info.dt, guess_, hold);
    }
    stats.inference_seconds += wall_time() - t0;
    ++stats.surrogate_calls;
    // A guess with NaN or Inf would poison the solve: use the solver's own guess instead.
    const double tc = wall_time();
    PetscReal norm = 0;
    SIMFUSE_PETSC(VecNorm(guess_, NORM_INFINITY, &norm));  // collective: the same decision on all ranks
    stats.check_seconds += wall_time() - tc;
    stats.points += binding_.points();
    if (std::isfinite(norm)) {
      stats.accepted += binding_.points();
      iterative_->set_initial_guess(guess_);
    } else {
      stats.fallback_nan += binding_.points();
      ++stats.whole_fallbacks;
    }
    run_classical(step, state, info, stats);
  }

 private:
  std::string name_ = "warm_start";
  Binding binding_;
  Iterative* iterative_ = nullptr;
  PetscHandle<Vec> guess_;
};

class EveryNPolicy final : public ReplacePolicy {
 public:
  explicit EveryNPolicy(const PolicyContext& ctx)
      : ReplacePolicy(ctx, "every_n", ctx.params.get<bool>("guard")), n_(ctx.params.get<int>("n")) {}
  void apply(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats) override {
    if (info.step % n_ == 0) {
      mark_path(4.0);
      run_classical(step, state, info, stats);
    } else {
      replace(step, state, info, stats);
    }
  }

 private:
  int n_;
};

}  // namespace

void register_policies() {
  static const bool done = [] {
    auto& r = policy_registry();
    r.add(
        "surrogate", "the model's prediction replaces the sub-step, unchecked (for measurements)",
        [](Schema& s) { declare_model_keys(s); },
        [](const PolicyContext& c) { return std::make_unique<ReplacePolicy>(c, "surrogate", false); });
    r.add(
        "guarded",
        "the model's prediction, checked (NaN/Inf, training ranges, the sub-step's error estimate); rejected points "
        "(or the whole sub-step) fall back to the classical code; an iterative sub-step continues from the rejected "
        "prediction",
        [](Schema& s) {
          declare_model_keys(s);
          declare_guard_keys(s);
        },
        [](const PolicyContext& c) { return std::make_unique<ReplacePolicy>(c, "guarded", true); });
    r.add(
        "warm_start", "the model's prediction is the initial guess of the iterative solver (accuracy unchanged)",
        [](Schema& s) { declare_model_keys(s); },
        [](const PolicyContext& c) { return std::make_unique<WarmStartPolicy>(c); });
    r.add(
        "every_n", "the model, with a classical step every n steps (step numbers divisible by n)",
        [](Schema& s) {
          declare_model_keys(s);
          declare_guard_keys(s);
          s.add_int("n", "a classical step every n steps").required().min(2);
          s.add_bool("guard", "check the model's steps like the guarded policy").def(false);
        },
        [](const PolicyContext& c) { return std::make_unique<EveryNPolicy>(c); });
    return true;
  }();
  (void)done;
}

}  // namespace simfuse::ai
