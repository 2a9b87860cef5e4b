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

#include "simfuse/core/Paths.hpp"
#include "simfuse/core/Petsc.hpp"
#include "simfuse/core/Timer.hpp"
#include "simfuse/coupling/PointGuard.hpp"
#include "simfuse/coupling/Policy.hpp"
#include "simfuse/coupling/ai/Capture.hpp"
#include "simfuse/coupling/ai/FieldBridge.hpp"
#include "simfuse/coupling/ai/ReplacePolicy.hpp"
#include "simfuse/surrogates/OnlineTrainer.hpp"
#include "simfuse/surrogates/Surrogate.hpp"

namespace simfuse::ai {

namespace {

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

class OnlinePolicy final : public ReplacePolicy, public Checkpointable {
 public:
  explicit OnlinePolicy(const PolicyContext& ctx)
      : ReplacePolicy(ctx, "online", true, ModelBinding(ctx.params, ctx.model_context)), context_(ctx.model_context) {
    const Params& p = ctx.params;
    const Params &bp = p.sub("buffer"), &tp = p.sub("training"), &vp = p.sub("validation"), &sp = p.sub("shadow"),
                 &rp = p.sub("rollback");
    so_ = ModelBinding::options(p);
    at::set_num_threads(so_.threads);  // training too: a fixed thread count keeps runs reproducible
    if (p.is_set("model")) {
      if (p.is_set("architecture"))
        p.fail("architecture", "both a model to start from and an architecture are given",
               "remove architecture: (the model's card says it), or remove model: to start from scratch");
      for (const char* k : {"predicts", "transform", "dtype"})
        if (p.is_set(k))
          p.fail(k, fmt::format("'{}' comes from the model's card when fine-tuning (model: is given)", k), "remove it");
      settings_.init_card = resolve_path(p.get<std::string>("model"), ctx.case_file);
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
    settings_.architecture = arch;
    settings_.increment = p.get<std::string>("predicts") == "increment";
    if (p.is_set("transform")) settings_.transform = p.get<std::vector<std::string>>("transform");
    settings_.dtype = p.get<std::string>("dtype");
    settings_.lr = tp.get<double>("lr");
    settings_.optimizer = tp.get<std::string>("optimizer");
    settings_.weight_decay = tp.get<double>("weight_decay");
    settings_.batch = tp.get<int>("batch");
    settings_.strata = bp.get<int>("strata");
    settings_.validation_capacity = vp.get<int>("window");
    settings_.seed = static_cast<uint64_t>(tp.get<int>("seed"));
    memory_mb_ = bp.get<double>("memory_mb");
    points_ = bp.get<int>("points");
    every_ = bp.get<int>("every");
    seed_ = static_cast<uint64_t>(bp.get<int>("seed"));
    iterations_ = tp.get<int>("iterations");
    guarded_iterations_ = tp.get<int>("iterations_guarded");
    refresh_gain_ = vp.get<double>("refresh_gain");
    min_samples_ = tp.get<int>("min_samples");
    wall_seconds_ = tp.get<double>("wall_seconds");
    fraction_ = vp.get<double>("fraction");
    validate_every_ = vp.get<int>("every");
    target_ = vp.get<double>("target");
    consecutive_needed_ = vp.get<int>("consecutive");
    shadow_points_ = sp.get<int>("points");
    shadow_tol_ = sp.get<double>("tol");
    failed_weight_ = sp.get<double>("failed_weight");
    rb_shadow_ = rp.get<double>("shadow_error");
    rb_fallback_ = rp.get<double>("fallback_rate");
    rb_window_ = rp.get<int>("window");
    model_name_ = p.is_set("name") ? p.get<std::string>("name") : std::string();
    save_ = p.is_set("save") ? p.get<std::string>("save") : std::string();
    if (p.is_set("save"))
      if (const std::string why = plain_name_problem(save_); !why.empty())
        p.fail(
            "save",
            fmt::format("'{}' is not a plain file name ({}): the model is saved inside the output folder", save_, why),
            "give a name without '/', e.g. save: react_online; choose the folder with -o");
  }

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
    layout.name = model_name_.empty() ? step.name() + "_online" : model_name_;
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
    const int64_t window = settings_.validation_capacity;
    settings_.capacity = static_cast<int64_t>(memory_mb_ * 1e6 / per_sample) - window;
    if (settings_.capacity < min_samples_)
      p.sub("buffer").fail(
          "memory_mb",
          fmt::format("{:g} MB hold {} samples of {} values (with the validation window of {}), fewer than "
                      "training.min_samples = {}",
                      memory_mb_, std::max<int64_t>(0, settings_.capacity), cin_ + cout_, window, min_samples_),
          fmt::format("give at least {:.2f} MB, or lower training.min_samples",
                      (min_samples_ + window) * per_sample / 1e6));
    try {
      trainer_ = std::make_unique<OnlineTrainer>(layout, settings_, comm_);
    } catch (const UserError& e) {  // about the model to start from, the transforms or predicts: say where
      const Diagnostic& d = e.diagnostics().front();
      p.fail(p.is_set("model") ? "model" : p.is_set("transform") ? "transform" : "predicts", d.what, d.fix);
    } catch (const std::bad_alloc&) {  // the buffer itself (c10 reports it as an Error too)
      p.sub("buffer").fail("memory_mb", fmt::format("cannot allocate the replay buffer of {:g} MB", memory_mb_),
                           "give a buffer that fits in memory (buffer.memory_mb)");
    } catch (const c10::Error& e) {
      std::string what = e.what_without_backtrace();
      p.sub("buffer").fail(
          "memory_mb",
          fmt::format("cannot allocate the replay buffer of {:g} MB: {}", memory_mb_, what.substr(0, what.find('\n'))),
          "give a buffer that fits in memory (buffer.memory_mb)");
    }
    prepare(step, state);
    // The model switches in at the validation target and is rolled back at the shadow limit,
    // on the same scale (RMS error / RMS change): a target at or above the limit lets in
    // models the shadow checks then refuse, and the run goes back and forth.
    int rank = 0;
    MPI_Comm_rank(comm_, &rank);
    if (rank == 0 && target_ >= rb_shadow_)
      spdlog::warn(
          "online {}: validation.target {:g} is not below rollback.shadow_error {:g} (the same measure): a "
          "model that just validates may be rolled back at once; set the target well below the limit, "
          "e.g. --set coupling.{}.validation.target={:g}",
          step.name(), target_, rb_shadow_, step.name(), rb_shadow_ / 4);
  }

  void apply(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats) override {
    stats.online = true;
    ++calls_;
    if (guarded_phase_) {
      ++guarded_calls_;
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
    o["phase"] = guarded_phase_ ? "guarded" : "classical";
    o["calls"] = calls_;
    o["calls_served_by_model"] = guarded_calls_;
    o["served_fraction"] = calls_ ? static_cast<double>(guarded_calls_) / static_cast<double>(calls_) : 0.0;
    if (first_switch_step_ >= 0) {
      o["first_switch_in"] = {{"step", first_switch_step_}, {"t", first_switch_t_}};
    } else {
      o["first_switch_in"] = nullptr;
    }
    o["events"] = events_;
    o["validation_history"] = history_;
    o["training"] = {{"iterations", trainer_ ? trainer_->iterations() : 0},
                     {"samples_seen", trainer_ ? trainer_->seen() : 0},
                     {"buffered", trainer_ ? trainer_->buffered() : 0},
                     {"buffer_capacity", settings_.capacity},
                     {"strata", trainer_ ? trainer_->strata() : std::vector<int64_t>{}},
                     {"validation_window", trainer_ ? trainer_->validating() : 0},
                     {"architecture", YAML::Dump(settings_.architecture)},
                     {"fine_tuned_from", settings_.init_card}};
    o["settings"] = {{"target", target_},
                     {"consecutive", consecutive_needed_},
                     {"validate_every", validate_every_},
                     {"iterations_per_step", iterations_},
                     {"iterations_per_step_guarded", guarded_iterations_},
                     {"samples_per_step", points_},
                     {"shadow_points", shadow_points_},
                     {"shadow_tol", shadow_tol_},
                     {"rollback_shadow_error", rb_shadow_},
                     {"rollback_fallback_rate", rb_fallback_},
                     {"rollback_window", rb_window_}};
    o["validation_metric"] =
        "per output channel, RMS of (model - classical) over the held-out recent calls divided by the RMS of the "
        "classical change; max over channels";
    o["serving_model_refreshes"] = refreshes_;
    if (guarded_phase_) o["serving_model_validation_error"] = serving_error_;
    if (!saved_.empty()) o["saved"] = saved_;
    d["online"] = o;
    if (binding_.has_model()) {
      const InferencePath& ip = const_cast<ModelBinding&>(binding_).model().inference_path();
      d["online"]["inference_path"] = ip.name;
    }
    return d;
  }

  void finish(const std::string& output_dir) override {
    // Back and forth: say why, once, at the end (each rollback was logged with its reason).
    long ins = 0, backs = 0;
    for (const auto& e : events_) (e["event"] == "switch_in" ? ins : backs) += 1;
    int rank0 = 0;
    MPI_Comm_rank(comm_, &rank0);
    if (rank0 == 0 && backs >= 3)
      spdlog::warn(
          "online {}: the model switched in {} times and was rolled back {} times: the validation target "
          "({:g}) lets in models that the run's own checks then refuse (rollback.shadow_error {:g}, "
          "fallback_rate {:g}); lower validation.target (e.g. {:g}) or raise validation.consecutive",
          step_ ? step_->name() : "", ins, backs, target_, rb_shadow_, rb_fallback_, std::min(target_, rb_shadow_) / 4);
    if (save_.empty() || output_dir.empty()) return;
    int rank = 0;
    MPI_Comm_rank(comm_, &rank);
    const std::string stem = (std::filesystem::path(output_dir) / save_).string();
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
    out.put("phase", static_cast<int>(guarded_phase_));
    out.put("consecutive", consecutive_);
    out.put("counts", std::vector<long>{calls_, guarded_calls_, first_switch_step_, refreshes_});
    out.put("serving_error", serving_error_);
    out.put("serving_weights", serving_weights_);
    out.put("serving_min", serving_min_);
    out.put("serving_max", serving_max_);
    out.put("first_switch_t", first_switch_t_);
    out.put("events", events_.dump());
    out.put("history", history_.dump());
    std::vector<double> w;
    for (const auto& s : window_) w.insert(w.end(), s.begin(), s.end());
    out.put("window", w);
  }
  void restore_state(const CheckpointData& in) override {
    trainer_->restore_state(in.get<std::string>("trainer"));
    consecutive_ = in.get<int>("consecutive");
    const auto counts = in.get<std::vector<long>>("counts");
    calls_ = counts.at(0);
    guarded_calls_ = counts.at(1);
    first_switch_step_ = counts.at(2);
    refreshes_ = counts.at(3);
    serving_error_ = in.get<double>("serving_error");
    first_switch_t_ = in.get<double>("first_switch_t");
    events_ = nlohmann::ordered_json::parse(in.get<std::string>("events"));
    history_ = nlohmann::ordered_json::parse(in.get<std::string>("history"));
    const auto w = in.get<std::vector<double>>("window");
    window_.clear();
    for (size_t i = 0; i + 4 <= w.size(); i += 4) window_.push_back({w[i], w[i + 1], w[i + 2], w[i + 3]});
    guarded_phase_ = in.get<int>("phase") != 0;
    if (guarded_phase_) {  // the model that served at the checkpoint, not the one trained since
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
    for (size_t i = 0; i < all.size(); ++i) held[i] = unit(seed_ + 101, step, all.g[i]) < fraction_;
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
    const bool sample = info.step % every_ == 0;
    std::vector<SampledPoint> sites;
    std::vector<PetscInt> local;
    std::vector<double> xin, yout;
    if (sample) {
      std::mt19937_64 gen(seed_ * 1000003ULL + static_cast<uint64_t>(info.step));
      sites = sample_points(state.get(out_field_).grid(), points_, gen);
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
    if (trainer_->buffered() >= min_samples_) {
      stats.train_iterations += trainer_->train(iterations_, wall_seconds_);
      if (info.step % validate_every_ == 0) {
        const double err = trainer_->validate();
        stats.validation_error = err;
        history_.push_back({info.step, err});
        consecutive_ = err <= target_ ? consecutive_ + 1 : 0;
        if (consecutive_ >= consecutive_needed_) switch_in(info, err, stats);
      }
    }
    stats.train_seconds += wall_time() - t0;
  }

  // The trained model as it is now serves the sub-step (under the guard).
  void serve() { serve(trainer_->card(), trainer_->weights()); }
  void serve(const ModelCard& card, std::string weights) {
    binding_.set_model(Surrogate::from_memory(card, weights, so_), fmt::format("online model of '{}'", step_->name()));
    binding_.check(*step_, *state_, dt_);
    set_ranges();
    configure_guard(*step_);
    serving_weights_ = std::move(weights);
    serving_min_ = card.range_min;
    serving_max_ = card.range_max;
  }

  void switch_in(const StepInfo& info, double err, SubStepStats& stats) {
    serve();
    serving_error_ = err;
    guarded_phase_ = true;
    consecutive_ = 0;
    window_.clear();
    ++stats.switch_ins;
    if (first_switch_step_ < 0) {
      first_switch_step_ = info.step;
      first_switch_t_ = info.t + info.dt;
    }
    events_.push_back({{"step", info.step},
                       {"t", info.t + info.dt},
                       {"event", "switch_in"},
                       {"reason", fmt::format("validation error {:.3g} <= target {:g} in {} checks in a row", err,
                                              target_, consecutive_needed_)},
                       {"validation_error", err},
                       {"samples_seen", trainer_->seen()},
                       {"iterations", trainer_->iterations()}});
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
    std::mt19937_64 gen((seed_ + 7) * 1000003ULL + static_cast<uint64_t>(info.step) + 0x5bd1e995ULL);
    const auto sites = sample_points(state.get(out_field_).grid(), shadow_points_, gen);
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
      const bool failed = !(err[i] <= shadow_tol_);
      failures += failed;
      sse += std::isfinite(err[i]) ? err[i] * err[i] : 1e300;
      s.push(acc_g[i], x_acc.data() + i * cin_, y_class.data() + i * cout_, failed ? failed_weight_ : 1.0);
    }
    for (size_t i = 0; i < rej.size(); ++i)  // the guard caught these: their classical results weigh more
      s.push(rej_g[i], x_rej.data() + i * cin_, y_rej.data() + i * cout_, failed_weight_);
    add(s, info.step);
    double sums[5] = {static_cast<double>(acc.size()), static_cast<double>(failures), sse,
                      static_cast<double>(stats.points - points0), static_cast<double>(stats.accepted - accepted0)};
    MPI_Allreduce(MPI_IN_PLACE, sums, 5, MPI_DOUBLE, MPI_SUM, comm_);
    // Training goes on at its own budget; a model that validates clearly better than the
    // serving one replaces it (the guard and the shadow checks watch it as before).
    if (guarded_iterations_ > 0) stats.train_iterations += trainer_->train(guarded_iterations_, wall_seconds_);
    if (info.step % validate_every_ == 0) {
      const double err = trainer_->validate();
      stats.validation_error = err;
      history_.push_back({info.step, err});
      if (guarded_iterations_ > 0 && err < serving_error_ * (1 - refresh_gain_)) {
        serve();
        serving_error_ = err;
        ++refreshes_;
      }
    }
    stats.shadow_points += static_cast<long>(acc.size());
    stats.shadow_failures += failures;
    window_.push_back({sums[0], sums[2], sums[3], sums[4]});
    while (static_cast<int>(window_.size()) > rb_window_) window_.pop_front();
    double n = 0, e2 = 0, pts = 0, ok = 0;
    for (const auto& w : window_) {
      n += w[0];
      e2 += w[1];
      pts += w[2];
      ok += w[3];
    }
    const double shadow_rms = n > 0 ? std::sqrt(e2 / n) : 0.0, fallback = pts > 0 ? 1 - ok / pts : 0.0;
    stats.train_seconds += wall_time() - t0;
    std::string why_back;
    if (shadow_rms > rb_shadow_)
      why_back =
          fmt::format("shadow error {:.3g} > {:g} over the last {} step(s)", shadow_rms, rb_shadow_, window_.size());
    else if (fallback > rb_fallback_)
      why_back =
          fmt::format("fallback rate {:.3g} > {:g} over the last {} step(s)", fallback, rb_fallback_, window_.size());
    if (why_back.empty()) return;
    guarded_phase_ = false;
    consecutive_ = 0;
    window_.clear();
    ++stats.rollbacks;
    events_.push_back({{"step", info.step},
                       {"t", info.t + info.dt},
                       {"event", "rollback"},
                       {"reason", why_back},
                       {"shadow_error", shadow_rms},
                       {"fallback_rate", fallback}});
    int rank = 0;
    MPI_Comm_rank(comm_, &rank);
    if (rank == 0)
      spdlog::warn("online {}: back to the classical code after step {}: {}; training goes on", step_->name(),
                   info.step, why_back);
  }

  std::map<std::string, std::string> context_;
  SurrogateOptions so_;
  OnlineSettings settings_;
  std::unique_ptr<OnlineTrainer> trainer_;
  SubStep* step_ = nullptr;
  State* state_ = nullptr;
  Pointwise* pointwise_ = nullptr;
  double dt_ = 0;
  std::vector<std::string> in_fields_;
  std::string out_field_;
  int cin_ = 0, cout_ = 0;
  double memory_mb_ = 8;
  long points_ = 0;
  int every_ = 1;
  uint64_t seed_ = 1;
  long iterations_ = 0, guarded_iterations_ = 0, min_samples_ = 0;
  double refresh_gain_ = 0.1;
  double wall_seconds_ = 0, fraction_ = 0.2, target_ = 0.05;
  int validate_every_ = 10, consecutive_needed_ = 3;
  long shadow_points_ = 0;
  double shadow_tol_ = 0.5, failed_weight_ = 4, rb_shadow_ = 0.2, rb_fallback_ = 0.2;
  int rb_window_ = 10;
  std::string model_name_, save_;
  // State (checkpointed).
  bool guarded_phase_ = false;
  int consecutive_ = 0;
  long calls_ = 0, guarded_calls_ = 0, first_switch_step_ = -1, refreshes_ = 0;
  double serving_error_ = 0;
  std::string serving_weights_;  // the serving model (it may lag the trained one)
  std::vector<double> serving_min_, serving_max_;
  double first_switch_t_ = 0;
  nlohmann::ordered_json events_ = nlohmann::ordered_json::array();
  nlohmann::ordered_json history_ = nlohmann::ordered_json::array();
  std::deque<std::array<double, 4>> window_;  // per guarded step: shadow points, their squared errors, points, accepted
  nlohmann::ordered_json saved_;
};

}  // namespace

namespace detail {

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
