#include "simfuse/coupling/ai/detail/OnlinePolicy.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <deque>
#include <filesystem>
#include <numeric>
#include <random>

#include "simfuse/core/Petsc.hpp"
#include "simfuse/core/Timer.hpp"
#include "simfuse/core/base/Paths.hpp"
#include "simfuse/coupling/PointGuard.hpp"
#include "simfuse/coupling/Policy.hpp"
#include "simfuse/coupling/ai/Capture.hpp"
#include "simfuse/coupling/ai/FieldBridge.hpp"
#include "simfuse/coupling/ai/ReplacePolicy.hpp"
#include "simfuse/coupling/ai/detail/OnlineStateMachine.hpp"
#include "simfuse/surrogates/OnlineTrainer.hpp"
#include "simfuse/surrogates/Surrogate.hpp"

namespace simfuse::ai {

namespace {

using detail::GuardedStepCounts;
using detail::OnlineRules;
using detail::OnlineStateMachine;

// ---- online: train while the run goes, switch in once validated, roll back on drift ----

// splitmix64: a well-mixed hash of (seed, step, global index), so a sample's fate (held
// out or not) depends on neither the rank count nor the order the ranks see it in.
uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
double unit(uint64_t seed, long step, int64_t g) {
  return static_cast<double>(mix(mix(mix(seed) ^ static_cast<uint64_t>(step)) ^ static_cast<uint64_t>(g)) >> 11) *
         0x1.0p-53;
}

// Samples of one call on every rank, gathered in global index order (the same on all ranks).
struct Samples {
  std::vector<int64_t> g;
  std::vector<double> x, y, w;
  int cin = 0, cout = 0;
  size_t size() const { return g.size(); }
  void push(int64_t gi, const double* xi, const double* yi, double wi) {
    g.push_back(gi);
    x.insert(x.end(), xi, xi + cin);
    y.insert(y.end(), yi, yi + cout);
    w.push_back(wi);
  }
  Samples gathered(MPI_Comm comm) const {
    int size = 1;
    MPI_Comm_size(comm, &size);
    const int stride = 2 + cin + cout;  // g, w, x, y as doubles (g < 2^53)
    std::vector<double> mine;
    for (size_t i = 0; i < g.size(); ++i) {
      mine.push_back(static_cast<double>(g[i]));
      mine.push_back(w[i]);
      mine.insert(mine.end(), x.begin() + static_cast<long>(i) * cin, x.begin() + static_cast<long>(i + 1) * cin);
      mine.insert(mine.end(), y.begin() + static_cast<long>(i) * cout, y.begin() + static_cast<long>(i + 1) * cout);
    }
    int n = static_cast<int>(mine.size());
    std::vector<int> counts(static_cast<size_t>(size)), displs(static_cast<size_t>(size), 0);
    MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, comm);
    for (int r = 1; r < size; ++r) displs[r] = displs[r - 1] + counts[r - 1];
    std::vector<double> all(static_cast<size_t>(displs.back() + counts.back()));
    MPI_Allgatherv(mine.data(), n, MPI_DOUBLE, all.data(), counts.data(), displs.data(), MPI_DOUBLE, comm);
    const size_t m = all.size() / static_cast<size_t>(stride);
    std::vector<size_t> order(m);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return all[a * stride] < all[b * stride]; });
    Samples out;
    out.cin = cin;
    out.cout = cout;
    for (size_t k : order) {
      const double* r = all.data() + k * stride;
      out.push(static_cast<int64_t>(r[0]), r + 2, r + 2 + cin, r[1]);
    }
    return out;
  }
};

// Everything the case says of an online policy, read once.
struct OnlineConfig {
  SurrogateOptions surrogate;  // threads, device of inference
  OnlineSettings trainer;      // architecture, optimiser, buffer layout (capacity set at attach)
  OnlineRules rules;           // switch-in, refresh, rollback
  double memory_mb = 8;        // buffer.memory_mb
  long points = 0;             // buffer.points: samples per recorded step
  int every = 1;               // buffer.every
  uint64_t seed = 1;           // buffer.seed
  long iterations = 0, guarded_iterations = 0, min_samples = 0;  // training.*
  double wall_seconds = 0;                                       // training.wall_seconds
  double fraction = 0.2;                                         // validation.fraction held out
  long shadow_points = 0;                                        // shadow.points
  double shadow_tol = 0.5, failed_weight = 4;                    // shadow.tol, shadow.failed_weight
  std::string model_name, save;

  explicit OnlineConfig(const PolicyContext& ctx) {
    const Params& p = ctx.params;
    const Params &bp = p.sub("buffer"), &tp = p.sub("training"), &vp = p.sub("validation"), &sp = p.sub("shadow"),
                 &rp = p.sub("rollback");
    surrogate = ModelBinding::options(p);
    if (p.is_set("model")) {
      if (p.is_set("architecture"))
        p.fail("architecture", "both a model to start from and an architecture are given",
               "remove architecture: (the model's card says it), or remove model: to start from scratch");
      for (const char* k : {"predicts", "transform", "dtype"})
        if (p.is_set(k))
          p.fail(k, fmt::format("'{}' comes from the model's card when fine-tuning (model: is given)", k), "remove it");
      trainer.init_card = resolve_path(p.get<std::string>("model"), ctx.case_file);
    }
    YAML::Node arch = YAML::Clone(p.node("architecture"));
    if (!arch.IsMap()) {
      YAML::Node m(YAML::NodeType::Map);
      m["type"] = p.type_of("architecture");
      arch = m;
    }
    if (p.type_of("architecture") != "mlp")
      p.fail(
          "architecture",
          fmt::format("'{}' is not a pointwise architecture; online training is pointwise", p.type_of("architecture")),
          "use {type: mlp, hidden: [32, 32]}");
    trainer.architecture = arch;
    trainer.increment = p.get<std::string>("predicts") == "increment";
    if (p.is_set("transform")) trainer.transform = p.get<std::vector<std::string>>("transform");
    trainer.dtype = p.get<std::string>("dtype");
    trainer.lr = tp.get<double>("lr");
    trainer.loss = tp.get<std::string>("loss");
    trainer.optimizer = tp.get<std::string>("optimizer");
    trainer.weight_decay = tp.get<double>("weight_decay");
    trainer.batch = tp.get<int>("batch");
    trainer.strata = bp.get<int>("strata");
    trainer.validation_capacity = vp.get<int>("window");
    trainer.seed = static_cast<uint64_t>(tp.get<int>("seed"));
    memory_mb = bp.get<double>("memory_mb");
    points = bp.get<int>("points");
    every = bp.get<int>("every");
    seed = static_cast<uint64_t>(bp.get<int>("seed"));
    iterations = tp.get<int>("iterations");
    guarded_iterations = tp.get<int>("iterations_guarded");
    min_samples = tp.get<int>("min_samples");
    wall_seconds = tp.get<double>("wall_seconds");
    fraction = vp.get<double>("fraction");
    rules.refresh_gain = vp.get<double>("refresh_gain");
    rules.refresh = guarded_iterations > 0;
    rules.validate_every = vp.get<int>("every");
    rules.target = vp.get<double>("target");
    rules.consecutive = vp.get<int>("consecutive");
    rules.shadow_error = rp.get<double>("shadow_error");
    rules.fallback_rate = rp.get<double>("fallback_rate");
    rules.window = rp.get<int>("window");
    shadow_points = sp.get<int>("points");
    shadow_tol = sp.get<double>("tol");
    failed_weight = sp.get<double>("failed_weight");
    model_name = p.is_set("name") ? p.get<std::string>("name") : std::string();
    save = p.is_set("save") ? p.get<std::string>("save") : std::string();
    if (p.is_set("save"))
      if (const std::string why = plain_name_problem(save); !why.empty())
        p.fail(
            "save",
            fmt::format("'{}' is not a plain file name ({}): the model is saved inside the output folder", save, why),
            "give a name without '/', e.g. save: react_online; choose the folder with -o");
  }
};

class OnlinePolicy final : public ReplacePolicy, public Checkpointable {
 public:
  explicit OnlinePolicy(const PolicyContext& ctx)
      : ReplacePolicy(ctx, "online", true, ModelBinding(ctx.params, ctx.model_context)),
        context_(ctx.model_context),
        cfg_(ctx),
        machine_(cfg_.rules) {
    at::set_num_threads(cfg_.surrogate.threads);  // training too: a fixed thread count keeps runs reproducible
  }
  /// Its model learns the sub-step's own field only.
  bool takes_required_inputs() const override { return false; }

  bool learns() const override { return true; }

  void attach(SubStep& step, State& state, double dt) override {
    const Params& p = binding_.params();
    step_ = &step;
    state_ = &state;
    dt_ = dt;
    pointwise_ = dynamic_cast<Pointwise*>(&step);
    if (!pointwise_)
      p.fail("type",
             fmt::format("the online policy needs a pointwise sub-step (one whose points can run alone); '{}' is not",
                         step.name()),
             "use it for a sub-step such as react; train a stencil model offline (simfuse generate + train)");
    if (step.writes().size() != 1)
      p.fail("type", fmt::format("sub-step '{}' writes {} fields; an online model writes one", step.name(),
                                 step.writes().size()));
    in_fields_ = step.reads();
    out_field_ = step.writes().front();
    ModelCard layout;
    layout.name = cfg_.model_name.empty() ? step.name() + "_online" : cfg_.model_name;
    layout.substep = step.name();
    for (const auto& f : in_fields_) layout.inputs.push_back(CardChannel{f, state.get(f).components(), {}});
    layout.outputs.push_back(CardChannel{out_field_, state.get(out_field_).components(), {}});
    layout.context = context_;
    layout.conditions["dt"] = dt;
    cin_ = layout.in_channels();
    cout_ = layout.out_channels();
    // The memory budget: training buffer and validation window, float64 inputs, outputs,
    // weight and stratum per sample.
    const double per_sample = 8.0 * (cin_ + cout_ + 2);
    const int64_t window = cfg_.trainer.validation_capacity;
    cfg_.trainer.capacity = static_cast<int64_t>(cfg_.memory_mb * 1e6 / per_sample) - window;
    if (cfg_.trainer.capacity < cfg_.min_samples)
      p.sub("buffer").fail(
          "memory_mb",
          fmt::format("{:g} MB hold {} samples of {} values (with the validation window of {}), fewer than "
                      "training.min_samples = {}",
                      cfg_.memory_mb, std::max<int64_t>(0, cfg_.trainer.capacity), cin_ + cout_, window,
                      cfg_.min_samples),
          fmt::format("give at least {:.2f} MB, or lower training.min_samples",
                      (cfg_.min_samples + window) * per_sample / 1e6));
    try {
      trainer_ = std::make_unique<OnlineTrainer>(layout, cfg_.trainer, comm_);
    } catch (const UserError& e) {  // about the model to start from, the transforms or predicts: say where
      const Diagnostic& d = e.diagnostics().front();
      p.fail(p.is_set("model") ? "model" : p.is_set("transform") ? "transform" : "predicts", d.what, d.fix);
    } catch (const std::bad_alloc&) {  // the buffer itself (c10 reports it as an Error too)
      p.sub("buffer").fail("memory_mb", fmt::format("cannot allocate the replay buffer of {:g} MB", cfg_.memory_mb),
                           "give a buffer that fits in memory (buffer.memory_mb)");
    } catch (const c10::Error& e) {
      std::string what = e.what_without_backtrace();
      p.sub("buffer").fail("memory_mb",
                           fmt::format("cannot allocate the replay buffer of {:g} MB: {}", cfg_.memory_mb,
                                       what.substr(0, what.find('\n'))),
                           "give a buffer that fits in memory (buffer.memory_mb)");
    }
    prepare(step, state);
    // The model switches in at the validation target and is rolled back at the shadow limit,
    // on the same scale (RMS error / RMS change): a target at or above the limit lets in
    // models the shadow checks then refuse, and the run goes back and forth.
    int rank = 0;
    MPI_Comm_rank(comm_, &rank);
    if (rank == 0 && cfg_.rules.target >= cfg_.rules.shadow_error)
      spdlog::warn(
          "online {}: validation.target {:g} is not below rollback.shadow_error {:g} (the same measure): a "
          "model that just validates may be rolled back at once; set the target well below the limit, "
          "e.g. --set coupling.{}.validation.target={:g}",
          step.name(), cfg_.rules.target, cfg_.rules.shadow_error, step.name(), cfg_.rules.shadow_error / 4);
  }

  void apply(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats) override {
    stats.online = true;
    machine_.count_call();
    if (machine_.guarded()) {
      ++stats.guarded_steps;
      guarded_step(step, state, info, stats);
    } else {
      classical_step(step, state, info, stats);
    }
    stats.buffer_samples = trainer_->buffered();
  }

  // Its model is trained by the run (a card it fine-tunes from is the trainer's start, not a
  // file the run keeps reading): nothing for the provenance's model checksums.
  std::vector<PolicyFile> files_read() const override { return {}; }

  nlohmann::ordered_json describe() const override {
    nlohmann::ordered_json d;
    nlohmann::ordered_json o;
    const OnlineStateMachine& m = machine_;
    o["phase"] = m.guarded() ? "guarded" : "classical";
    o["calls"] = m.calls();
    o["calls_served_by_model"] = m.guarded_calls();
    o["served_fraction"] = m.calls() ? static_cast<double>(m.guarded_calls()) / static_cast<double>(m.calls()) : 0.0;
    if (m.first_switch_step() >= 0) {
      o["first_switch_in"] = {{"step", m.first_switch_step()}, {"t", m.first_switch_t()}};
    } else {
      o["first_switch_in"] = nullptr;
    }
    o["events"] = m.events();
    o["validation_history"] = m.history();
    o["training"] = {{"iterations", trainer_ ? trainer_->iterations() : 0},
                     {"samples_seen", trainer_ ? trainer_->seen() : 0},
                     {"buffered", trainer_ ? trainer_->buffered() : 0},
                     {"buffer_capacity", cfg_.trainer.capacity},
                     {"strata", trainer_ ? trainer_->strata() : std::vector<int64_t>{}},
                     {"validation_window", trainer_ ? trainer_->validating() : 0},
                     {"architecture", YAML::Dump(cfg_.trainer.architecture)},
                     {"fine_tuned_from", cfg_.trainer.init_card},
                     {"divergences_rolled_back", trainer_ ? trainer_->divergences() : 0},
                     {"normalisation_refits", trainer_ ? trainer_->refits() : 0},
                     {"last_refit", trainer_ ? trainer_->last_refit() : std::string()},
                     {"learning_rate", trainer_ ? trainer_->learning_rate() : cfg_.trainer.lr}};
    o["settings"] = {{"target", cfg_.rules.target},
                     {"consecutive", cfg_.rules.consecutive},
                     {"validate_every", cfg_.rules.validate_every},
                     {"iterations_per_step", cfg_.iterations},
                     {"iterations_per_step_guarded", cfg_.guarded_iterations},
                     {"samples_per_step", cfg_.points},
                     {"shadow_points", cfg_.shadow_points},
                     {"shadow_tol", cfg_.shadow_tol},
                     {"rollback_shadow_error", cfg_.rules.shadow_error},
                     {"rollback_fallback_rate", cfg_.rules.fallback_rate},
                     {"rollback_window", cfg_.rules.window}};
    o["validation_metric"] =
        "per output channel, RMS of (model - classical) over the held-out recent calls divided by the RMS of the "
        "classical change; max over channels";
    o["serving_model_refreshes"] = m.refreshes();
    if (m.guarded()) o["serving_model_validation_error"] = m.serving_error();
    if (!saved_.empty()) o["saved"] = saved_;
    d["online"] = o;
    if (binding_.has_model()) {
      const InferencePath& ip = binding_.model().inference_path();
      d["online"]["inference_path"] = ip.name;
    }
    return d;
  }

  void finish(const std::string& output_dir) override {
    // Back and forth: say why, once, at the end (each rollback was logged with its reason).
    long ins = 0, backs = 0;
    for (const auto& e : machine_.events()) {
      if (e["event"] == "switch_in") ++ins;
      if (e["event"] == "rollback") ++backs;
    }
    int rank0 = 0;
    MPI_Comm_rank(comm_, &rank0);
    if (rank0 == 0 && backs >= 3)
      spdlog::warn(
          "online {}: the model switched in {} times and was rolled back {} times: the validation target "
          "({:g}) lets in models that the run's own checks then refuse (rollback.shadow_error {:g}, "
          "fallback_rate {:g}); lower validation.target (e.g. {:g}) or raise validation.consecutive",
          step_ ? step_->name() : "", ins, backs, cfg_.rules.target, cfg_.rules.shadow_error, cfg_.rules.fallback_rate,
          std::min(cfg_.rules.target, cfg_.rules.shadow_error) / 4);
    if (cfg_.save.empty() || output_dir.empty()) return;
    int rank = 0;
    MPI_Comm_rank(comm_, &rank);
    const std::string stem = (std::filesystem::path(output_dir) / cfg_.save).string();
    std::string err;
    if (rank == 0 && trainer_->fitted()) {
      try {
        trainer_->save(stem);
      } catch (const std::exception& e) {
        err = e.what();
      }
    }
    bcast_string(comm_, err, 0);
    if (!err.empty()) throw UserError(err, "check that the output folder is writable");
    if (!trainer_->fitted()) {
      saved_ = {{"card", nullptr}, {"why_not", "the model never trained (too few samples)"}};
      return;
    }
    saved_ = {{"card", stem + ".card.yaml"}, {"weights", stem + ".pt"}};
  }

  void save_state(CheckpointData& out) const override {
    out.put("trainer", trainer_->save_state());
    machine_.save(out);
    out.put("serving_weights", serving_weights_);
    out.put("serving_min", serving_min_);
    out.put("serving_max", serving_max_);
  }
  void restore_state(const CheckpointData& in) override {
    trainer_->restore_state(in.get<std::string>("trainer"));
    machine_.restore(in);
    if (machine_.guarded()) {  // the model that served at the checkpoint, not the one trained since
      ModelCard card = trainer_->card();
      card.range_min = in.get<std::vector<double>>("serving_min");
      card.range_max = in.get<std::vector<double>>("serving_max");
      serve(card, in.get<std::string>("serving_weights"));
    }
  }

 private:
  // Adds gathered samples to the trainer; some are held out for validation.
  void add(const Samples& local, long step) {
    const Samples all = local.gathered(comm_);
    if (all.size() == 0) return;
    std::vector<char> held(all.size());
    for (size_t i = 0; i < all.size(); ++i) held[i] = unit(cfg_.seed + 101, step, all.g[i]) < cfg_.fraction;
    const auto n = static_cast<int64_t>(all.size());
    const auto o = at::TensorOptions().dtype(at::kDouble);
    trainer_->add(at::from_blob(const_cast<double*>(all.x.data()), {n, cin_}, o),
                  at::from_blob(const_cast<double*>(all.y.data()), {n, cout_}, o), held, all.w);
  }

  Samples empty() const {
    Samples s;
    s.cin = cin_;
    s.cout = cout_;
    return s;
  }

  // Phase 1: the classical code runs; some of its calls are recorded, the model trains,
  // and is switched in once it has passed validation enough times in a row.
  void classical_step(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats) {
    const bool sample = info.step % cfg_.every == 0;
    std::vector<SampledPoint> sites;
    std::vector<PetscInt> local;
    std::vector<double> xin, yout;
    if (sample) {
      std::mt19937_64 gen(cfg_.seed * 1000003ULL + static_cast<uint64_t>(info.step));
      sites = sample_points(state.get(out_field_).grid(), cfg_.points, gen);
      for (const auto& s : sites) local.push_back(s.local);
      read_points(state, in_fields_, local, xin);
    }
    run_classical(step, state, info, stats);
    const double t0 = wall_time();
    if (sample) {
      read_points(state, {out_field_}, local, yout);
      Samples s = empty();
      for (size_t i = 0; i < sites.size(); ++i)
        s.push(sites[i].global, xin.data() + i * cin_, yout.data() + i * cout_, 1.0);
      add(s, info.step);
    }
    if (trainer_->buffered() >= cfg_.min_samples) {
      stats.train_iterations += train(cfg_.iterations, info);
      if (info.step % cfg_.rules.validate_every == 0) {
        const double err = trainer_->validate();
        stats.validation_error = err;
        if (machine_.validated_classical(info.step, info.t + info.dt, err, trainer_->seen(), trainer_->iterations()))
          switch_in(info, err, stats);
      }
    }
    stats.train_seconds += wall_time() - t0;
  }

  // Training between steps; a divergence the trainer rolled back is an event and a warning.
  long train(long iterations, const StepInfo& info) {
    const long diverged = trainer_->divergences(), refits = trainer_->refits();
    const long done = trainer_->train(iterations, cfg_.wall_seconds);
    int rank = 0;
    MPI_Comm_rank(comm_, &rank);
    if (trainer_->refits() != refits && rank == 0)
      spdlog::info("online {}: after step {}, {}", step_->name(), info.step, trainer_->last_refit());
    if (trainer_->divergences() == diverged) return done;
    const std::string why = trainer_->last_divergence();
    machine_.training_rolled_back(info.step, info.t + info.dt, why);
    if (rank == 0)
      spdlog::warn("online {}: the training diverged after step {}: {}{}", step_->name(), info.step, why,
                   machine_.guarded() ? " (the serving model serves on)" : "");
    return done;
  }

  // The trained model as it is now serves the sub-step (under the guard).
  void serve() { serve(trainer_->card(), trainer_->weights()); }
  void serve(const ModelCard& card, std::string weights) {
    binding_.set_model(Surrogate::from_memory(card, weights, cfg_.surrogate),
                       fmt::format("online model of '{}'", step_->name()));
    binding_.check(*step_, *state_, dt_);
    set_ranges();
    configure_guard(*step_);
    serving_weights_ = std::move(weights);
    serving_min_ = card.range_min;
    serving_max_ = card.range_max;
  }

  // The state machine has switched to the guarded phase: the model serves.
  void switch_in(const StepInfo& info, double err, SubStepStats& stats) {
    serve();
    ++stats.switch_ins;
    int rank = 0;
    MPI_Comm_rank(comm_, &rank);
    if (rank == 0)
      spdlog::info("online {}: the model serves from step {} (validation error {:.3g}, {} samples, {} iterations)",
                   step_->name(), info.step + 1, err, trainer_->seen(), trainer_->iterations());
  }

  // Phase 2: the model under the guard; a random sample of accepted points is also run
  // classically (shadow checks), and the classical results feed the buffer.
  void guarded_step(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats) {
    const long points0 = stats.points, accepted0 = stats.accepted;
    replace(step, state, info, stats);
    const double t0 = wall_time();
    std::mt19937_64 gen((cfg_.seed + 7) * 1000003ULL + static_cast<uint64_t>(info.step) + 0x5bd1e995ULL);
    const auto sites = sample_points(state.get(out_field_).grid(), cfg_.shadow_points, gen);
    const std::vector<Fallback>& why = reasons();
    std::vector<PetscInt> acc, rej;
    std::vector<int64_t> acc_g, rej_g;
    for (const auto& s : sites) {
      if (why.at(static_cast<size_t>(s.local)) == Fallback::kept) {
        acc.push_back(s.local);
        acc_g.push_back(s.global);
      } else {
        rej.push_back(s.local);
        rej_g.push_back(s.global);
      }
    }
    std::map<std::string, Vec> was{{out_field_, before(out_field_)}};
    std::vector<double> x_acc, x_rej, y_model, y_class, y_rej;
    read_points(state, in_fields_, acc, x_acc, was);
    read_points(state, in_fields_, rej, x_rej, was);
    read_points(state, {out_field_}, acc, y_model);
    read_points(state, {out_field_}, rej, y_rej);
    rerun_classically(step, *pointwise_, state, info, acc, stats);  // the accepted shadow points, classically
    read_points(state, {out_field_}, acc, y_class);
    const auto o = at::TensorOptions().dtype(at::kDouble);
    const auto na = static_cast<int64_t>(acc.size());
    const std::vector<double> err = na ? trainer_->point_errors(at::from_blob(y_model.data(), {na, cout_}, o),
                                                                at::from_blob(y_class.data(), {na, cout_}, o))
                                       : std::vector<double>{};
    Samples s = empty();
    double sse = 0;
    long failures = 0;
    for (size_t i = 0; i < acc.size(); ++i) {
      const bool failed = !(err[i] <= cfg_.shadow_tol);
      failures += failed;
      sse += std::isfinite(err[i]) ? err[i] * err[i] : 1e300;
      s.push(acc_g[i], x_acc.data() + i * cin_, y_class.data() + i * cout_, failed ? cfg_.failed_weight : 1.0);
    }
    for (size_t i = 0; i < rej.size(); ++i)  // the guard caught these: their classical results weigh more
      s.push(rej_g[i], x_rej.data() + i * cin_, y_rej.data() + i * cout_, cfg_.failed_weight);
    add(s, info.step);
    double sums[5] = {static_cast<double>(acc.size()), static_cast<double>(failures), sse,
                      static_cast<double>(stats.points - points0), static_cast<double>(stats.accepted - accepted0)};
    MPI_Allreduce(MPI_IN_PLACE, sums, 5, MPI_DOUBLE, MPI_SUM, comm_);
    // Training goes on at its own budget; a model that validates clearly better than the
    // serving one replaces it (the guard and the shadow checks watch it as before).
    if (cfg_.guarded_iterations > 0) stats.train_iterations += train(cfg_.guarded_iterations, info);
    if (info.step % cfg_.rules.validate_every == 0) {
      const double err = trainer_->validate();
      stats.validation_error = err;
      if (machine_.validated_guarded(info.step, err)) serve();
    }
    stats.shadow_points += static_cast<long>(acc.size());
    stats.shadow_failures += failures;
    stats.train_seconds += wall_time() - t0;
    const std::string why_back =
        machine_.checked(info.step, info.t + info.dt, GuardedStepCounts{sums[0], sums[2], sums[3], sums[4]});
    if (why_back.empty()) return;
    ++stats.rollbacks;
    int rank = 0;
    MPI_Comm_rank(comm_, &rank);
    if (rank == 0)
      spdlog::warn("online {}: back to the classical code after step {}: {}; training goes on", step_->name(),
                   info.step, why_back);
  }

  std::map<std::string, std::string> context_;
  OnlineConfig cfg_;
  OnlineStateMachine machine_;
  std::unique_ptr<OnlineTrainer> trainer_;
  SubStep* step_ = nullptr;
  State* state_ = nullptr;
  Pointwise* pointwise_ = nullptr;
  double dt_ = 0;
  std::vector<std::string> in_fields_;
  std::string out_field_;
  int cin_ = 0, cout_ = 0;
  // The serving model (checkpointed; it may lag the trained one).
  std::string serving_weights_;
  std::vector<double> serving_min_, serving_max_;
  nlohmann::ordered_json saved_;
};

}  // namespace

namespace detail {

// The policy's keys, one declaration each (over 80 lines: a list, read as the schema it
// declares; splitting it would scatter the schema).
void declare_online(Schema& s) {
  // A margin by default: the ranges are those of a run's first steps, and a state that
  // keeps relaxing (a medium settling after a drift) would otherwise always be out of range.
  declare_guard_keys(s, 0.05);
  declare_inference_keys(s);
  s.add_string("model",
               "start from this trained model (a card simfuse train wrote), relative to the case file: "
               "fine-tuning. Default: a new model");
  s.add_block("architecture", "architecture", "the new model's architecture (pointwise: mlp)")
      .def("{type: mlp, hidden: [32, 32], activation: tanh}");
  s.add_string("predicts", "increment (output = input + model) or state")
      .def("increment")
      .choices({"increment", "state"});
  s.add("transform", ParamType::StringList, "per input channel: none, log10 or boxcox (default none)")
      .choices({"none", "log10", "boxcox"});
  s.add_string("dtype", "floating-point type of the model").def("float32").choices({"float32", "float64"});
  s.add_string("name", "the model's name in its card (default <sub-step>_online)");
  s.add_string("save",
               "at the end of the run, write the model as <save>.pt and <save>.card.yaml in the output "
               "folder (usable by guarded later)");
  Schema& b = s.add_section("buffer", "the replay buffer of classical calls");
  b.add_int("points", "points recorded per sampled call, drawn over the whole grid").def(1024).min(1);
  b.add_int("every", "record the calls of steps divisible by this").def(1).min(1);
  b.add_real("memory_mb", "memory for the buffer and the validation window (each rank holds all of it)")
      .def(16.0)
      .positive();
  b.add_int("strata",
            "strata of the buffer: log10 bins of a sample's change relative to the largest seen, each "
            "keeping its share so that rare states such as fronts are not drowned")
      .def(4)
      .range(1, 16);
  b.add_int("seed", "random seed of the recorded points").def(1).min(0);
  Schema& t = s.add_section("training", "training between steps");
  t.add_int("iterations", "optimizer steps per time step (the budget) while the classical code runs").def(20).min(0);
  t.add_int("iterations_guarded",
            "optimizer steps per time step while the model serves (0: the model is frozen once switched in)")
      .def(5)
      .min(0);
  t.add_int("batch", "global mini-batch (split over ranks)").def(256).min(1);
  t.add_real("lr", "learning rate").def(2e-3).positive();
  t.add_string("loss",
               "normalised: squared error of the normalised, transformed outputs (as simfuse train); "
               "physical: squared error in physical units over each channel's RMS change (the validation's "
               "measure; blind to the label noise of trace species that a Box-Cox transform amplifies)")
      .def("normalised")
      .choices({"normalised", "physical"});
  t.add_string("optimizer", "optimiser").def("adam").choices({"adam", "sgd"});
  t.add_real("weight_decay", "L2 weight decay").def(0.0).non_negative();
  t.add_int("min_samples", "start training once the buffer holds this many samples").def(2000).min(1);
  t.add_real("wall_seconds",
             "also stop a step's training after this many seconds (0: off; on, runs are not "
             "reproducible)")
      .def(0.0)
      .non_negative();
  t.add_int("seed", "random seed of the initial weights and the mini-batches").def(1).min(0);
  Schema& v = s.add_section("validation", "when the model may serve");
  v.add_real("fraction", "share of recorded points held out for validation (never trained on)")
      .def(0.2)
      .range(0.01, 0.9);
  v.add_int("window", "validation uses the most recent this many held-out samples").def(2048).min(16);
  v.add_int("every", "validate every this many steps").def(10).min(1);
  v.add_real("target",
             "switch in when the validation error (RMS error / RMS classical change, worst channel) is "
             "at most this")
      .def(0.05)
      .positive();
  v.add_int("consecutive", "... in this many validations in a row").def(3).min(1);
  v.add_real("refresh_gain",
             "while the model serves and trains on: the trained model replaces the serving one when its validation "
             "error is lower by this fraction")
      .def(0.1)
      .range(0, 1);
  Schema& sh = s.add_section("shadow", "while the model serves: accepted points also computed classically");
  sh.add_int("points", "shadow points per step, drawn over the whole grid").def(64).min(0);
  sh.add_real("tol",
              "a shadow point fails when its error (|model - classical| / the validation's RMS change, "
              "worst channel) is above this")
      .def(0.5)
      .positive();
  sh.add_real("failed_weight", "training weight of a failed or rejected point's classical result").def(4.0).min(1);
  Schema& r = s.add_section("rollback", "when the model stops serving");
  r.add_real("shadow_error", "RMS of the shadow points' errors over the window above which it rolls back")
      .def(0.2)
      .positive();
  r.add_real("fallback_rate", "share of points the guard rejected over the window above which it rolls back")
      .def(0.2)
      .range(0, 1);
  r.add_int("window", "steps the two rates are measured over").def(10).min(1);
}

std::unique_ptr<Policy> make_online_policy(const PolicyContext& ctx) {
  return std::make_unique<OnlinePolicy>(ctx);
}

}  // namespace detail

}  // namespace simfuse::ai
