#pragma once
/// \file ModelBinding.hpp
/// The extension tier of the AI policies (docs/plugins.md, "A policy of your own that runs a
/// model"): a model card bound to a case (ModelBinding), the keys every model policy takes,
/// and, in ReplacePolicy.hpp, the replace family with the stock guard (coupling/PointGuard).
/// A policy plugin that runs a model builds on these instead of copying them.
#include <ATen/ATen.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "simfuse/core/Petsc.hpp"
#include "simfuse/core/SubStep.hpp"
#include "simfuse/core/base/Paths.hpp"
#include "simfuse/core/base/Schema.hpp"
#include "simfuse/coupling/PointGuard.hpp"
#include "simfuse/coupling/Policy.hpp"
#include "simfuse/coupling/ai/FieldBridge.hpp"
#include "simfuse/surrogates/Surrogate.hpp"

namespace simfuse::ai {

/// model (the card, relative to the case file), and declare_inference_keys.
void declare_model_keys(Schema& s);
/// threads, chunk_points, device, inference: how the model runs.
void declare_inference_keys(Schema& s);
/// The guard's keys: tol, ood_margin, estimate, path_field (PointGuard::declare_keys).
inline void declare_guard_keys(Schema& s, double default_margin = 0.0) {
  PointGuard::declare_keys(s, default_margin);
}

/// A model card bound to a case: which fields the model reads and writes, and how; checks
/// card against case at set-up (every mismatch names both sides); runs the model on the
/// sub-step's inputs into a field's vector. What every policy that runs a model starts from.
class ModelBinding {
 public:
  ModelBinding(const Params& params, const std::string& case_file, std::map<std::string, std::string> context = {})
      : params_(params), context_(std::move(context)) {
    const SurrogateOptions so = options(params);
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

  // A binding whose model comes later (set_model): the online policy's.
  ModelBinding(const Params& params, std::map<std::string, std::string> context)
      : params_(params), context_(std::move(context)) {}
  void set_model(std::unique_ptr<Surrogate> model, std::string label) {
    model_ = std::move(model);
    model_path_ = std::move(label);
  }
  bool has_model() const { return model_ != nullptr; }
  static SurrogateOptions options(const Params& params) {
    SurrogateOptions so;
    so.threads = params.get<int>("threads");
    so.chunk_points = params.get<int>("chunk_points");
    so.device = params.get<std::string>("device");
    so.inference = params.get<std::string>("inference");
    return so;
  }

  Surrogate& model() { return *model_; }
  const Surrogate& model() const { return *model_; }
  const ModelCard& card() const { return model_->card(); }

  /// The card and the weights it read (empty before a model is set).
  std::vector<PolicyFile> files() const {
    if (!model_) return {};
    return {{"card", model_path_}, {"weights", card().weights}};
  }

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
    for (const auto& req : step.required_inputs()) {
      const bool reads = std::any_of(c.inputs.begin(), c.inputs.end(), [&](const CardChannel& in) {
        return in.field == req && in.components == state.get(req).components();
      });
      if (!reads)
        params_.fail("model",
                     fmt::format("{} does not read field '{}' (all its components), on which sub-step '{}' also "
                                 "depends here (e.g. forced chemistry: the state the transport leaves)",
                                 who, req, step.name()),
                     "use a model trained on this sub-step with those inputs (a forced model such as "
                     "cases/models/h2_forced.card.yaml), or for a model of the chemistry alone set "
                     "solver.params.reacting.splitting: forced_split");
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
    if (const auto key = ModelCard::context_conflict(c.context, context_)) {
      const std::string& value = c.context.at(*key);
      const auto it = context_.find(*key);
      if (it == context_.end())
        params_.fail("model",
                     fmt::format("{} was trained with {} = {}; this case's solver has no {}", who, *key, value, *key),
                     "use a model trained on this solver");
      params_.fail(
          "model",
          fmt::format("{} was trained with {} = {}; this case has {} = {}", who, *key, value, *key, it->second),
          "use a model trained for this case's " + *key + ", or train one (simfuse generate + train)");
    }
    const auto regime_dt = c.regime.find("dt");
    if (regime_dt != c.regime.end()) {
      const auto [lo, hi] = regime_dt->second;
      if (!(dt >= lo * (1 - 1e-9) && dt <= hi * (1 + 1e-9)))
        params_.fail("model",
                     fmt::format("{} is made for a '{}' step of dt in [{:g}, {:g}] (its regime); this case gives "
                                 "dt = {:g}",
                                 who, step.name(), lo, hi, dt),
                     "set time.dt inside the model's regime, or train a model for this dt");
    }
    for (const auto& [key, value] : c.conditions) {
      if (key != "dt" || regime_dt != c.regime.end()) continue;
      if (std::abs(value - dt) > 1e-9 * std::max(std::abs(value), std::abs(dt)))
        params_.fail("model",
                     fmt::format("{} was trained for a '{}' step of dt = {:g}; this case gives dt = {:g}", who,
                                 step.name(), value, dt),
                     "set time.dt to match the model, or train a model for this dt");
    }
    check_regime(step, state, who);
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

  // The card's regime against the case at set-up: a per-point coordinate the sub-step does
  // not know is refused; the case's pressure, and the initial state's cells, outside the
  // regime are warned about (the guard then sends such points to its fallback). Collective.
  void check_regime(const SubStep& step, const State& state, const std::string& who) const {
    const ModelCard& c = card();
    if (c.regime.empty()) return;
    const Field& f = state.get(step.writes().front());
    const bool root = f.grid().rank() == 0;
    if (const auto r = c.regime.find("pressure"); r != c.regime.end()) {
      // (A solver without one pressure, such as reactors whose sweep sets each its own,
      // reports none: nothing to compare then.)
      const auto it = context_.find("pressure");
      const double p = it == context_.end() ? r->second.first : std::strtod(it->second.c_str(), nullptr);
      if (root && !(p >= r->second.first && p <= r->second.second))
        spdlog::warn(
            "{} is made for pressures in [{:g}, {:g}] Pa; this case runs at {}: expect its points to fall "
            "back (the guard) or its results to be outside what was validated",
            who, r->second.first, r->second.second, it->second);
    }
    const auto* ra = dynamic_cast<const RegimeAware*>(&step);
    const std::vector<std::string> names = ra ? ra->regime_coordinates() : std::vector<std::string>{};
    for (const auto& [k, range] : c.regime) {
      if (k == "pressure" || k == "dt") continue;
      if (std::find(names.begin(), names.end(), k) == names.end())
        params_.fail("model",
                     fmt::format("{} states a regime in {}, which sub-step '{}' does not know (it knows: {})", who, k,
                                 step.name(), names.empty() ? std::string("none") : join(names)),
                     "use a model made for this sub-step");
    }
    if (!ra) return;
    // The initial state's points per coordinate: how many lie outside, and the extremes.
    const size_t nk = names.size();
    std::vector<double> coords(nk), lo(nk, std::numeric_limits<double>::infinity()), hi(nk, -lo[0]);
    std::vector<long> outside(nk, 0);
    long total = f.grid().owned().size();
    {
      const ArrayView v = f.view_read();
      const double* a = v.data();
      const int nc = f.ncomp();
      for (PetscInt p = 0; p < total; ++p) {
        ra->regime_point(a + p * nc, coords.data());
        for (size_t i = 0; i < nk; ++i) {
          const auto r = c.regime.find(names[i]);
          lo[i] = std::min(lo[i], coords[i]);
          hi[i] = std::max(hi[i], coords[i]);
          if (r != c.regime.end() && !(coords[i] >= r->second.first && coords[i] <= r->second.second)) ++outside[i];
        }
      }
    }
    MPI_Comm comm = f.grid().comm();
    MPI_Allreduce(MPI_IN_PLACE, lo.data(), static_cast<int>(nk), MPI_DOUBLE, MPI_MIN, comm);
    MPI_Allreduce(MPI_IN_PLACE, hi.data(), static_cast<int>(nk), MPI_DOUBLE, MPI_MAX, comm);
    MPI_Allreduce(MPI_IN_PLACE, outside.data(), static_cast<int>(nk), MPI_LONG, MPI_SUM, comm);
    MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_LONG, MPI_SUM, comm);
    for (size_t i = 0; i < nk; ++i) {
      const auto r = c.regime.find(names[i]);
      if (r == c.regime.end() || outside[i] == 0 || !root) continue;
      spdlog::warn(
          "{} is made for {} in [{:g}, {:g}]; {} of the {} points start outside it (from {:.4g} to {:.4g}): "
          "the guard sends them to the classical code (or its estimate), so expect less speedup there",
          who, names[i], r->second.first, r->second.second, outside[i], total, lo[i], hi[i]);
    }
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
  // layout). Returns the pointwise inputs used (for range checks), undefined for stencils;
  // `normalized` (pointwise) receives them as the model saw them (Surrogate::predict).
  at::Tensor predict_into(const State& state, const std::map<std::string, Vec>& src, double dt, Vec out,
                          std::vector<std::unique_ptr<FieldTensor>>& hold, at::Tensor* normalized = nullptr) {
    const Field& of = state.get(out_field_);
    if (card().pointwise()) {
      at::Tensor x = pointwise_inputs(state, src, dt, hold);
      FieldTensor y(out, of.grid(), of.ncomp());
      model_->predict(x, y.tensor(), normalized);
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

}  // namespace simfuse::ai
