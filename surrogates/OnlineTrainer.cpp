#include "simfuse/surrogates/OnlineTrainer.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <random>
#include <sstream>
#include <tuple>

#include "simfuse/core/Version.hpp"
#include "simfuse/surrogates/Architectures.hpp"
#include "simfuse/surrogates/detail/FlatOptimizer.hpp"
#include "simfuse/surrogates/detail/ModelFiles.hpp"
#include "simfuse/surrogates/detail/Transforms.hpp"

namespace simfuse {

namespace fs = std::filesystem;

namespace {

std::vector<std::string> channel_names(const std::vector<CardChannel>& chs) {
  std::vector<std::string> n;
  for (const auto& c : chs) {
    if (c.field.empty()) {
      n.push_back(c.scalar);
      continue;
    }
    for (const auto& comp : c.components) n.push_back(c.field + "." + comp);
  }
  return n;
}

std::vector<double> to_vec(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

torch::Tensor from_vec(const std::vector<double>& v) {
  return torch::tensor(v, torch::TensorOptions().dtype(torch::kDouble));
}

}  // namespace

struct OnlineTrainer::Impl {
  ModelCard layout;
  OnlineSettings s;
  MPI_Comm comm;
  int rank = 0, size = 1;
  int cin = 0, cout = 0;
  torch::Dtype dtype = torch::kFloat;
  YAML::Node arch;
  torch::nn::Sequential model{nullptr};
  std::unique_ptr<FlatOptimizer> opt;
  std::vector<std::string> transform, output_transform;
  torch::Tensor inc_src, bc_out;  // int64
  std::vector<int> src;           // input channel of each output (-1: none)

  // Normalisation: xn = (T(x) - xm) / xs, yn = (target - ym) / ys.
  bool fitted = false;
  torch::Tensor xm, xs, ym, ys;
  // Error scales per output channel (validate()).
  std::vector<double> err_scale;

  // Training buffer (rows [0, n)), per-sample weight and stratum.
  torch::Tensor X, Y, W;
  std::vector<int> stratum;
  std::vector<std::vector<int64_t>> members;  // rows of each stratum
  std::vector<long> stratum_seen;
  int64_t n = 0;
  long seen = 0;
  std::vector<double> dmax;        // largest |change| seen per output channel
  std::vector<double> change2;     // sum of the squared changes seen per output channel
  std::vector<double> rmin, rmax;  // training ranges of the inputs seen
  // Validation window: a ring of the most recent held-out samples.
  torch::Tensor VX, VY;
  int64_t vn = 0, vnext = 0;
  long iterations = 0;
  std::mt19937_64 rng;
  // The training's own guard: the running level of the batch loss (an exponential mean of
  // its log10 over recent iterations), the parameters of the last healthy iteration, and
  // what happened at the last divergence.
  double level = 0, best = 0;  // log10 of the loss: running level, its lowest value
  long level_count = 0;
  torch::Tensor good;  // flat parameters, copy
  long good_iteration = 0;
  long diverged = 0;
  std::string last_divergence;
  long refits = 0, refit_checked = 0;
  std::string last_refit;
  static constexpr long kRefitEvery = 200;  // iterations between checks of the buffer's spread

  void init_buffers() {
    const auto o = torch::TensorOptions().dtype(torch::kDouble);
    X = torch::zeros({s.capacity, cin}, o);
    Y = torch::zeros({s.capacity, cout}, o);
    W = torch::ones({s.capacity}, o);
    stratum.assign(static_cast<size_t>(s.capacity), 0);
    members.assign(static_cast<size_t>(s.strata), {});
    stratum_seen.assign(static_cast<size_t>(s.strata), 0);
    VX = torch::zeros({s.validation_capacity, cin}, o);
    VY = torch::zeros({s.validation_capacity, cout}, o);
    dmax.assign(static_cast<size_t>(cout), 0.0);
    change2.assign(static_cast<size_t>(cout), 0.0);
    rmin.assign(static_cast<size_t>(cin), std::numeric_limits<double>::infinity());
    rmax.assign(static_cast<size_t>(cin), -std::numeric_limits<double>::infinity());
  }

  // The physical change of output o of sample (x, y): y - x (same-named input) or y.
  double change(const double* x, const double* y, int o) const { return src[o] >= 0 ? y[o] - x[src[o]] : y[o]; }

  int stratum_of(const double* x, const double* y) const {
    double a = 0;
    for (int o = 0; o < cout; ++o)
      if (dmax[o] > 0) a = std::max(a, std::abs(change(x, y, o)) / dmax[o]);
    if (!(a > 0)) return 0;
    const int k = s.strata - 1 + static_cast<int>(std::floor(std::log10(a)));
    return std::clamp(k, 0, s.strata - 1);
  }

  void put(int64_t row, const double* x, const double* y, double w, int st) {
    std::copy(x, x + cin, X[row].data_ptr<double>());
    std::copy(y, y + cout, Y[row].data_ptr<double>());
    W[row] = w;
    stratum[static_cast<size_t>(row)] = st;
  }

  // Balanced reservoir: while there is room, every sample is kept. Then a sample of a
  // stratum below its share (capacity / strata) replaces one of the largest stratum; a
  // sample of a stratum at its share replaces one of its own with the reservoir
  // probability, so each stratum keeps a uniform sample of its own history.
  void insert(const double* x, const double* y, double w) {
    for (int c = 0; c < cin; ++c) {
      rmin[c] = std::min(rmin[c], x[c]);
      rmax[c] = std::max(rmax[c], x[c]);
    }
    for (int o = 0; o < cout; ++o) {
      const double ch = change(x, y, o);
      dmax[o] = std::max(dmax[o], std::abs(ch));
      change2[o] += ch * ch;
    }
    const int st = stratum_of(x, y);
    ++seen;
    ++stratum_seen[st];
    auto& mine = members[st];
    if (n < s.capacity) {
      put(n, x, y, w, st);
      mine.push_back(n++);
      return;
    }
    const int64_t share = s.capacity / s.strata;
    if (static_cast<int64_t>(mine.size()) < share) {
      size_t big = 0;
      for (size_t k = 1; k < members.size(); ++k)
        if (members[k].size() > members[big].size()) big = k;
      auto& theirs = members[big];
      const size_t j = std::uniform_int_distribution<size_t>(0, theirs.size() - 1)(rng);
      const int64_t row = theirs[j];
      theirs[j] = theirs.back();
      theirs.pop_back();
      put(row, x, y, w, st);
      mine.push_back(row);
      return;
    }
    const long j = std::uniform_int_distribution<long>(0, stratum_seen[st] - 1)(rng);
    if (j < static_cast<long>(mine.size())) put(mine[static_cast<size_t>(j)], x, y, w, st);
  }

  torch::Tensor transform_inputs(const torch::Tensor& x) const {
    torch::Tensor t = x.clone();
    for (int c = 0; c < cin; ++c)
      if (transform[c] == "log10")
        t.select(1, c).clamp_min_(s.log_floor).log10_();
      else if (transform[c] == "boxcox")
        t.select(1, c).copy_(transforms::boxcox(t.select(1, c), s.boxcox_lambda));
    return t;
  }
  torch::Tensor targets(const torch::Tensor& x, const torch::Tensor& y) const {
    torch::Tensor t = y.clone();
    if (bc_out.numel() > 0) t.index_copy_(1, bc_out, transforms::boxcox(t.index_select(1, bc_out), s.boxcox_lambda));
    if (s.increment) t = t - transforms::increment_base(x, inc_src, bc_out, s.boxcox_lambda);
    return t;
  }
  torch::Tensor norm_x(const torch::Tensor& x) const { return ((transform_inputs(x) - xm) / xs).to(dtype); }
  torch::Tensor norm_y(const torch::Tensor& x, const torch::Tensor& y) const {
    return ((targets(x, y) - ym) / ys).to(dtype);
  }
  // The model's outputs in physical units (differentiable: the physical loss trains on it).
  torch::Tensor physical(const torch::Tensor& x) {
    torch::Tensor out = model->forward(norm_x(x)).to(torch::kDouble) * ys + ym;
    return transforms::to_physical(out, x, s.increment ? inc_src : torch::Tensor(), bc_out, s.boxcox_lambda);
  }
  torch::Tensor predict(const torch::Tensor& x) {
    torch::NoGradGuard ng;
    model->eval();
    torch::Tensor out = physical(x);
    model->train();
    return out;
  }

  // Mean and spread of the buffer's transformed inputs and targets, per channel:
  // {input mean, input std, target mean, target std}.
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor, torch::Tensor> buffer_moments() const {
    const torch::Tensor x = X.narrow(0, 0, n), y = Y.narrow(0, 0, n);
    const torch::Tensor xt = transform_inputs(x), yt = targets(x, y);
    return {xt.mean(0), xt.std(0, /*unbiased=*/false), yt.mean(0), yt.std(0, false)};
  }

  // Per output channel, the scale errors are measured against: the typical change (of the
  // recent calls or of all seen, the larger), at least `still` (1e-6 of the channel's RMS
  // value, for a channel that does not change); infinite for a channel that is zero in
  // every call seen, whose errors then do not count (its output scale is 1e-12, see fit).
  double overall_change(int o) const {
    return std::sqrt(change2[o] / std::max<double>(1.0, static_cast<double>(seen)));
  }
  static double error_scale(double recent, double overall, double still) {
    const double scale = std::max({recent, overall, still});
    return scale > 0 ? scale : std::numeric_limits<double>::infinity();
  }

  void fit() {
    std::tie(xm, xs, ym, ys) = buffer_moments();
    xs = torch::where(xs > 1e-12, xs, torch::ones_like(xs));
    // A constant output (an inert species): a scale so small that the network's residual
    // on it vanishes, as simfuse train does.
    ys = torch::where(ys > 1e-12, ys, torch::full_like(ys, 1e-12));
    fitted = true;
  }

  // The normalisation follows the data without changing the model's function: where the
  // buffer's spread of a channel (transformed inputs, targets) has grown past kRefit times
  // the scale in use, or its mean moved by more than kRefit scales, that channel takes the
  // buffer's mean and spread, and the first layer (inputs) or the last (outputs) is
  // re-expressed so that the network computes exactly the same map in physical units:
  //   inputs  h = W (x - m)/s + b = W' (x - m')/s' + b'  with W' = W s'/s, b' = b + W (m' - m)/s
  //   outputs y = s (W h + b) + m = s' (W' h + b') + m'  with W' = W s/s', b' = (s b + m - m')/s'.
  // Scales only grow: a channel whose scale came from elsewhere (a card fine-tuned from, the
  // first steps of a run) and is far below what the run now sees would otherwise dominate the
  // loss (a solver's round-off on an inert species, divided by a scale of 1e-12) or leave the
  // range where tanh units respond (a medium that ignites after its induction period).
  // Returns the channels rescaled (names), empty if none; the optimizer restarts if any.
  static constexpr double kRefit = 4;  // a channel at 4x its scale weighs 16x in the loss
  std::vector<std::string> refit() {
    const auto [bxm, bxs, bym, bys] = buffer_moments();
    auto drifted = [](const torch::Tensor& m, const torch::Tensor& sd, const torch::Tensor& bm,
                      const torch::Tensor& bsd) {
      return ((bsd > kRefit * sd) | ((bm - m).abs() > kRefit * sd)).to(torch::kBool);
    };
    const torch::Tensor din = drifted(xm, xs, bxm, bxs), dout = drifted(ym, ys, bym, bys);
    std::vector<std::string> names;
    const auto in_names = channel_names(layout.inputs), out_names = channel_names(layout.outputs);
    if (!din.any().item<bool>() && !dout.any().item<bool>()) return names;
    torch::NoGradGuard ng;
    auto params = model->parameters();
    torch::Tensor W1 = params.front(), W2 = params[params.size() - 2], b2 = params.back();
    torch::Tensor b1 = params[1];
    for (int c = 0; c < cin; ++c) {
      if (!din[c].item<bool>()) continue;
      const double m = xm[c].item<double>(), sd = xs[c].item<double>();
      const double m2 = bxm[c].item<double>(), sd2 = std::max(bxs[c].item<double>(), sd);
      const torch::Tensor col = W1.select(1, c).to(torch::kDouble);
      b1.add_((col * ((m2 - m) / sd)).to(b1.scalar_type()));
      W1.select(1, c).mul_(sd2 / sd);
      xm[c] = m2;
      xs[c] = sd2;
      names.push_back(in_names[static_cast<size_t>(c)] + " (in)");
    }
    for (int o = 0; o < cout; ++o) {
      if (!dout[o].item<bool>()) continue;
      const double m = ym[o].item<double>(), sd = ys[o].item<double>();
      const double m2 = bym[o].item<double>(), sd2 = std::max(bys[o].item<double>(), sd);
      W2.select(0, o).mul_(sd / sd2);
      b2[o] = (b2[o].item<double>() * sd + m - m2) / sd2;
      ym[o] = m2;
      ys[o] = sd2;
      names.push_back(out_names[static_cast<size_t>(o)] + " (out)");
    }
    make_optimizer();  // its moments were of the old parametrisation
    level_count = 0;   // and the loss is on another scale
    ++refits;
    return names;
  }

  // The physical loss's scales: error_scale over all calls seen (the buffer's values for
  // `still`), as a row.
  torch::Tensor change_scale() const {
    std::vector<double> sc(static_cast<size_t>(cout));
    const torch::Tensor rms = Y.narrow(0, 0, n).pow(2).mean(0).sqrt();
    for (int o = 0; o < cout; ++o)
      sc[static_cast<size_t>(o)] = error_scale(0, overall_change(o), 1e-6 * rms[o].item<double>());
    return from_vec(sc).view({1, -1});
  }

  void build_model() {
    model = build_architecture(arch, cin, cout, "online architecture").module;
    model->to(dtype);
    // Every rank starts from rank 0's parameters.
    for (auto& prm : model->parameters())
      MPI_Bcast(prm.data_ptr(), static_cast<int>(prm.numel()), dtype == torch::kDouble ? MPI_DOUBLE : MPI_FLOAT, 0,
                comm);
  }

  // The loss of one iteration (global, weighted mean over the batch) against the lowest
  // running level so far (an exponential mean of log10 of the loss, so one lucky batch does
  // not set it): a non-finite loss or weight, or a loss kDivergence times that level, is a
  // divergence. A healthy training never climbs 1000-fold above its best level; a batch's
  // loss varies by ~10x (rare front samples weigh more). Returns the description, or empty.
  static constexpr double kDivergence = 1e3;
  static constexpr long kSnapshotEvery = 50;
  std::string check_loss(double loss) {
    const bool finite = std::isfinite(loss) && opt->parameters().isfinite().all().item<bool>();
    if (!finite)
      return fmt::format("the training loss at iteration {} is not finite ({:g}) or a weight is", iterations, loss);
    const double l = std::log10(std::max(loss, 1e-300));
    if (level_count > 0 && l > best + std::log10(kDivergence))
      return fmt::format("the training loss {:.3g} at iteration {} is over {:g}x its lowest running level {:.3g}", loss,
                         iterations, kDivergence, std::pow(10.0, best));
    level = level_count == 0 ? l : 0.9 * level + 0.1 * l;
    best = level_count == 0 ? level : std::min(best, level);
    ++level_count;
    return {};
  }
  // Back to the parameters of the last healthy iteration, with half the learning rate and a
  // fresh optimizer (its moments saw the divergence).
  void roll_back(const std::string& what) {
    if (good.defined()) {  // else it diverged before its first healthy iteration: the weights stay
      torch::NoGradGuard ng;
      const_cast<torch::Tensor&>(opt->parameters()).copy_(good);
    }
    s.lr *= 0.5;
    make_optimizer();
    ++diverged;
    last_divergence = fmt::format("{}: back to the weights of iteration {}, learning rate halved to {:g}", what,
                                  good_iteration, s.lr);
    level_count = 0;  // the levels are re-learned from the restored model's losses
  }

  void make_optimizer() {
    FlatOptimizer::Settings fs;
    fs.lr = s.lr;
    fs.adam = s.optimizer == "adam";
    fs.weight_decay = s.weight_decay;
    opt = std::make_unique<FlatOptimizer>(model, dtype, fs);
  }

  // A standalone copy of the model (not views of the optimizer's flat buffer).
  torch::nn::Sequential copy() const {
    torch::nn::Sequential m = build_architecture(arch, cin, cout, "online architecture").module;
    m->to(dtype);
    torch::NoGradGuard ng;
    auto dst = m->parameters();
    const auto from = model->parameters();
    for (size_t i = 0; i < dst.size(); ++i) dst[i].copy_(from[i]);
    m->eval();
    return m;
  }
};

OnlineTrainer::OnlineTrainer(const ModelCard& layout, const OnlineSettings& settings, MPI_Comm comm)
    : impl_(std::make_unique<Impl>()) {
  Impl& d = *impl_;
  d.layout = layout;
  d.s = settings;
  d.comm = comm;
  MPI_Comm_rank(comm, &d.rank);
  MPI_Comm_size(comm, &d.size);
  d.cin = layout.in_channels();
  d.cout = layout.out_channels();
  d.rng.seed(settings.seed * 7919ULL + 17);
  torch::manual_seed(settings.seed);
  ModelCard init;
  if (!settings.init_card.empty()) {
    init = ModelCard::load(settings.init_card);
    if (init.format != "builtin")
      throw UserError(fmt::format("{}: a {} model cannot be trained here", settings.init_card, init.format),
                      "start from a model simfuse train wrote (format: builtin), or from scratch (no model:)");
    if (!init.pointwise())
      throw UserError(fmt::format("{} is a stencil model; online training is pointwise", settings.init_card),
                      "start from a pointwise model");
    if (channel_names(init.inputs) != channel_names(layout.inputs) ||
        channel_names(init.outputs) != channel_names(layout.outputs))
      throw UserError(
          fmt::format("{} maps [{}] to [{}]; the sub-step's samples are [{}] to [{}]", settings.init_card,
                      fmt::join(channel_names(init.inputs), ", "), fmt::join(channel_names(init.outputs), ", "),
                      fmt::join(channel_names(layout.inputs), ", "), fmt::join(channel_names(layout.outputs), ", ")),
          "start from a model of this sub-step's fields, or from scratch");
    d.s.increment = init.increment;
    d.s.transform = init.transform;
    d.s.log_floor = init.log_floor;
    d.s.boxcox_lambda = init.boxcox_lambda;
    d.s.dtype = init.dtype;
    d.arch = YAML::Clone(init.architecture);
  } else {
    d.arch = YAML::Clone(settings.architecture);
  }
  if (d.s.transform.empty()) d.s.transform.assign(static_cast<size_t>(d.cin), "none");
  if (static_cast<int>(d.s.transform.size()) != d.cin)
    throw UserError(fmt::format("transform has {} entries for {} input channels ({})", d.s.transform.size(), d.cin,
                                fmt::join(channel_names(layout.inputs), ", ")),
                    "one entry (none, log10 or boxcox) per input channel");
  d.transform = d.s.transform;
  d.dtype = d.s.dtype == "float64" ? torch::kDouble : torch::kFloat;
  d.src = layout.increment_source();
  const auto in_names = channel_names(layout.inputs);
  std::vector<int64_t> inc, bo;
  for (int o = 0; o < d.cout; ++o) {
    const int i = d.src[o];
    if (d.s.increment && i < 0)
      throw UserError(fmt::format("an increment model needs output '{}' among its inputs ({})",
                                  channel_names(layout.outputs)[o], fmt::join(in_names, ", ")),
                      "use predicts: state");
    inc.push_back(i);
    const bool bc = i >= 0 && d.transform[i] == "boxcox";
    d.output_transform.push_back(bc ? "boxcox" : "none");
    if (bc) bo.push_back(o);
  }
  d.inc_src = torch::tensor(inc, torch::kLong);
  d.bc_out = torch::tensor(bo, torch::kLong);
  d.build_model();
  if (!settings.init_card.empty()) {
    torch::load(d.model, init.weights);
    d.model->to(d.dtype);
    auto vec = [](const std::vector<double>& v) { return from_vec(v); };
    d.xm = vec(init.in_mean);
    d.xs = vec(init.in_std);
    d.ym = vec(init.out_mean);
    d.ys = vec(init.out_std);
    d.fitted = true;
  }
  d.make_optimizer();
  d.init_buffers();
  d.err_scale.assign(static_cast<size_t>(d.cout), 1.0);
}

OnlineTrainer::~OnlineTrainer() = default;

void OnlineTrainer::add(const at::Tensor& x, const at::Tensor& y, const std::vector<char>& held_out,
                        const std::vector<double>& weight) {
  Impl& d = *impl_;
  const torch::Tensor xc = x.to(torch::kDouble).contiguous(), yc = y.to(torch::kDouble).contiguous();
  const int64_t m = xc.size(0);
  const double* xa = xc.data_ptr<double>();
  const double* ya = yc.data_ptr<double>();
  for (int64_t i = 0; i < m; ++i) {
    const double* xi = xa + i * d.cin;
    const double* yi = ya + i * d.cout;
    if (held_out[static_cast<size_t>(i)]) {
      std::copy(xi, xi + d.cin, d.VX[d.vnext].data_ptr<double>());
      std::copy(yi, yi + d.cout, d.VY[d.vnext].data_ptr<double>());
      d.vnext = (d.vnext + 1) % d.s.validation_capacity;
      d.vn = std::min(d.vn + 1, d.s.validation_capacity);
    } else {
      d.insert(xi, yi, weight[static_cast<size_t>(i)]);
    }
  }
}

int64_t OnlineTrainer::buffered() const {
  return impl_->n;
}
int64_t OnlineTrainer::validating() const {
  return impl_->vn;
}
long OnlineTrainer::seen() const {
  return impl_->seen;
}
long OnlineTrainer::iterations() const {
  return impl_->iterations;
}
long OnlineTrainer::refits() const {
  return impl_->refits;
}
std::string OnlineTrainer::last_refit() const {
  return impl_->last_refit;
}
long OnlineTrainer::divergences() const {
  return impl_->diverged;
}
std::string OnlineTrainer::last_divergence() const {
  return impl_->last_divergence;
}
double OnlineTrainer::learning_rate() const {
  return impl_->s.lr;
}
bool OnlineTrainer::fitted() const {
  return impl_->fitted;
}

std::vector<int64_t> OnlineTrainer::strata() const {
  std::vector<int64_t> c;
  for (const auto& m : impl_->members) c.push_back(static_cast<int64_t>(m.size()));
  return c;
}

long OnlineTrainer::train(long iterations, double wall_seconds) {
  Impl& d = *impl_;
  if (d.n == 0 || iterations <= 0) return 0;
  if (!d.fitted) {
    d.fit();
  } else if (d.iterations - d.refit_checked >= Impl::kRefitEvery || d.iterations == 0) {
    d.refit_checked = d.iterations;
    if (const auto names = d.refit(); !names.empty())
      d.last_refit = fmt::format(
          "at iteration {}, the normalisation of {} follows the data (the model's map "
          "kept)",
          d.iterations, fmt::join(names, ", "));
  }
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t batch = std::min<int64_t>(d.s.batch, d.n);
  const bool physical_loss = d.s.loss == "physical";
  const torch::Tensor scale = physical_loss ? d.change_scale() : torch::Tensor();
  const int64_t lo = batch * d.rank / d.size, hi = batch * (d.rank + 1) / d.size;
  d.model->train();
  long done = 0;
  for (; done < iterations; ++done) {
    if (wall_seconds > 0 && done > 0) {
      int stop = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > wall_seconds;
      MPI_Allreduce(MPI_IN_PLACE, &stop, 1, MPI_INT, MPI_MAX, d.comm);  // the ranks agree
      if (stop) break;
    }
    // The same global batch on every rank (the same random state); each takes its share.
    std::vector<int64_t> idx(static_cast<size_t>(batch));
    std::uniform_int_distribution<int64_t> pick(0, d.n - 1);
    for (auto& i : idx) i = pick(d.rng);
    const torch::Tensor all = torch::tensor(idx, torch::kLong);
    const double wsum = d.W.index_select(0, all).sum().item<double>() * d.cout;
    d.opt->zero();
    double sse = 0;
    if (hi > lo) {
      const torch::Tensor mine = all.narrow(0, lo, hi - lo);
      const torch::Tensor x = d.X.index_select(0, mine), y = d.Y.index_select(0, mine);
      const torch::Tensor w = d.W.index_select(0, mine).to(d.dtype).view({-1, 1});
      const torch::Tensor diff =
          physical_loss ? ((d.physical(x) - y) / scale).to(d.dtype) : d.model->forward(d.norm_x(x)) - d.norm_y(x, y);
      const torch::Tensor loss = (diff.pow(2) * w).sum() / wsum;
      loss.backward();
      sse = loss.item<double>() * wsum;
    }
    const double total = d.opt->allreduce(sse, d.comm, d.size);
    // The same sum on every rank, the same decision.
    if (const std::string what = d.check_loss(total / wsum); !what.empty()) {
      d.roll_back(what);
      return done;
    }
    if (!d.good.defined() || d.iterations - d.good_iteration >= Impl::kSnapshotEvery) {
      d.good = d.opt->parameters().clone();  // healthy: their loss was just checked
      d.good_iteration = d.iterations;
    }
    d.opt->step();
    ++d.iterations;
  }
  return done;
}

double OnlineTrainer::validate() {
  Impl& d = *impl_;
  if (!d.fitted || d.vn == 0) return std::numeric_limits<double>::infinity();
  const torch::Tensor x = d.VX.narrow(0, 0, d.vn), y = d.VY.narrow(0, 0, d.vn);
  const torch::Tensor pred = d.predict(x);
  double worst = 0;
  std::vector<double> per_channel;
  for (int o = 0; o < d.cout; ++o) {
    const torch::Tensor yo = y.select(1, o);
    const torch::Tensor ch = d.src[o] >= 0 ? yo - x.select(1, d.src[o]) : yo;
    // The typical change: of the recent held-out calls, or of all calls seen, the larger
    // (a medium that has come to rest must not make every error look large).
    // A channel that does not change (an inert species): its errors are measured against
    // a millionth of its value instead of a zero change; one that is zero in every call
    // seen (a species absent from the mixture) counts only if its prediction is not finite.
    d.err_scale[o] = Impl::error_scale(std::sqrt(ch.pow(2).mean().item<double>()), d.overall_change(o),
                                       1e-6 * std::sqrt(yo.pow(2).mean().item<double>()));
    const double err = std::sqrt((pred.select(1, o) - yo).pow(2).mean().item<double>());
    per_channel.push_back(std::isfinite(err) ? err / d.err_scale[o] : std::numeric_limits<double>::infinity());
    worst = std::max(worst, per_channel.back());
  }
  if (d.rank == 0) spdlog::debug("online validation per output channel: {:.3g}", fmt::join(per_channel, " "));
  return worst;
}

std::vector<double> OnlineTrainer::point_errors(const at::Tensor& pred, const at::Tensor& y) const {
  const Impl& d = *impl_;
  const torch::Tensor scale = from_vec(d.err_scale).view({1, -1});
  const torch::Tensor e = std::get<0>(((pred - y).abs() / scale).max(1)).contiguous();
  std::vector<double> v(e.data_ptr<double>(), e.data_ptr<double>() + e.numel());
  for (auto& x : v)
    if (!std::isfinite(x)) x = std::numeric_limits<double>::infinity();
  return v;
}

ModelCard OnlineTrainer::card() const {
  const Impl& d = *impl_;
  ModelCard c = d.layout;
  c.kind = "pointwise";
  c.radius = 0;
  c.format = "builtin";
  c.architecture = YAML::Clone(d.arch);
  c.dtype = d.dtype == torch::kDouble ? "float64" : "float32";
  c.increment = d.s.increment;
  if (d.fitted) {
    c.in_mean = to_vec(d.xm);
    c.in_std = to_vec(d.xs);
    c.out_mean = to_vec(d.ym);
    c.out_std = to_vec(d.ys);
  } else {
    c.in_mean.assign(static_cast<size_t>(d.cin), 0.0);
    c.in_std.assign(static_cast<size_t>(d.cin), 1.0);
    c.out_mean.assign(static_cast<size_t>(d.cout), 0.0);
    c.out_std.assign(static_cast<size_t>(d.cout), 1.0);
  }
  c.transform = d.transform;
  c.output_transform = d.output_transform;
  c.log_floor = d.s.log_floor;
  c.boxcox_lambda = d.s.boxcox_lambda;
  c.range_min = d.rmin;
  c.range_max = d.rmax;
  for (int i = 0; i < d.cin; ++i)
    if (!(c.range_min[i] <= c.range_max[i])) c.range_min[i] = c.range_max[i] = 0;  // nothing seen yet
  c.validation_metric = "max_abs";
  c.validation_value = -1;
  c.validation_samples = d.vn;
  c.validation_max_abs.clear();
  c.validation_rms.clear();
  if (d.fitted && d.vn > 0) {
    const torch::Tensor x = d.VX.narrow(0, 0, d.vn), y = d.VY.narrow(0, 0, d.vn);
    const torch::Tensor err = const_cast<Impl&>(d).predict(x) - y;
    c.validation_value = err.abs().max().item<double>();
    c.validation_max_abs = to_vec(std::get<0>(err.abs().max(0)));
    c.validation_rms = to_vec(err.pow(2).mean(0).sqrt());
  }
  c.provenance = YAML::Node(YAML::NodeType::Map);
  c.provenance["tool"] = std::string("simfuse ") + SIMFUSE_VERSION + " online";
  c.provenance["samples_seen"] = d.seen;
  c.provenance["samples_buffered"] = static_cast<long>(d.n);
  c.provenance["iterations"] = d.iterations;
  c.provenance["ranks"] = d.size;
  if (!d.s.init_card.empty()) c.provenance["fine_tuned_from"] = d.s.init_card;
  c.provenance["created"] = model_files::created_now();
  return c;
}

std::string OnlineTrainer::weights() const {
  std::ostringstream out;
  torch::save(impl_->copy(), out);
  return out.str();
}

std::unique_ptr<Surrogate> OnlineTrainer::surrogate(const SurrogateOptions& opt) const {
  return Surrogate::from_memory(card(), weights(), opt);
}

void OnlineTrainer::save(const std::string& stem) const {
  ModelCard c = card();
  c.weights = stem + ".pt";
  if (!model_files::write(impl_->copy(), c, stem))
    throw UserError(fmt::format("cannot write the online model {}.pt and its card", stem),
                    "check that the folder is writable and the disk is not full");
}

std::string OnlineTrainer::save_state() const {
  const Impl& d = *impl_;
  torch::serialize::OutputArchive a, ma, oa;
  d.model->save(ma);
  d.opt->optimizer().save(oa);
  a.write("model", ma);
  a.write("optimizer", oa);
  auto i64 = [](int64_t v) { return torch::tensor(v); };
  a.write("fitted", i64(d.fitted ? 1 : 0));
  if (d.fitted) {
    a.write("xm", d.xm);
    a.write("xs", d.xs);
    a.write("ym", d.ym);
    a.write("ys", d.ys);
  }
  a.write("err_scale", from_vec(d.err_scale));
  a.write("X", d.X.narrow(0, 0, d.n).clone());
  a.write("Y", d.Y.narrow(0, 0, d.n).clone());
  a.write("W", d.W.narrow(0, 0, d.n).clone());
  a.write("stratum", torch::tensor(std::vector<int64_t>(d.stratum.begin(), d.stratum.begin() + d.n), torch::kLong));
  a.write("stratum_seen",
          torch::tensor(std::vector<int64_t>(d.stratum_seen.begin(), d.stratum_seen.end()), torch::kLong));
  std::vector<int64_t> order;  // member order matters to the reservoir's next choices
  for (const auto& m : d.members) {
    order.push_back(static_cast<int64_t>(m.size()));
    order.insert(order.end(), m.begin(), m.end());
  }
  a.write("members", torch::tensor(order, torch::kLong));
  a.write("seen", i64(d.seen));
  a.write("dmax", from_vec(d.dmax));
  a.write("change2", from_vec(d.change2));
  a.write("rmin", from_vec(d.rmin));
  a.write("rmax", from_vec(d.rmax));
  a.write("VX", d.VX.clone());
  a.write("VY", d.VY.clone());
  a.write("vn", i64(d.vn));
  a.write("vnext", i64(d.vnext));
  a.write("iterations", i64(d.iterations));
  a.write("rng", model_files::rng_state(d.rng));
  a.write("guard",
          torch::tensor(std::vector<double>{d.s.lr, d.level, d.best, static_cast<double>(d.level_count),
                                            static_cast<double>(d.good_iteration), static_cast<double>(d.diverged),
                                            static_cast<double>(d.refits), static_cast<double>(d.refit_checked)},
                        torch::kDouble));
  if (d.good.defined()) a.write("good", d.good);
  std::ostringstream out;
  a.save_to(out);
  return out.str();
}

void OnlineTrainer::restore_state(const std::string& bytes) {
  Impl& d = *impl_;
  std::istringstream in(bytes);
  torch::serialize::InputArchive a, ma, oa;
  a.load_from(in);
  a.read("model", ma);
  d.model->load(ma);
  torch::Tensor guard;  // the training guard's state (absent from checkpoints of before it)
  if (a.try_read("guard", guard)) {
    const std::vector<double> g = to_vec(guard);
    d.s.lr = g[0];
    d.level = g[1];
    d.best = g[2];
    d.level_count = static_cast<long>(g[3]);
    d.good_iteration = static_cast<long>(g[4]);
    d.diverged = static_cast<long>(g[5]);
    d.refits = static_cast<long>(g[6]);
    d.refit_checked = static_cast<long>(g[7]);
    d.make_optimizer();  // at the restored learning rate; binds the loaded weights
  } else {
    d.opt->bind();
  }
  torch::Tensor good;
  if (a.try_read("good", good)) d.good = good;
  a.read("optimizer", oa);
  d.opt->optimizer().load(oa);
  auto get = [&](const char* key) {
    torch::Tensor t;
    a.read(key, t);
    return t;
  };
  d.fitted = get("fitted").item<int64_t>() != 0;
  if (d.fitted) {
    d.xm = get("xm");
    d.xs = get("xs");
    d.ym = get("ym");
    d.ys = get("ys");
  }
  d.err_scale = to_vec(get("err_scale"));
  const torch::Tensor X = get("X"), Y = get("Y"), W = get("W"), S = get("stratum");
  d.n = X.size(0);
  d.X.narrow(0, 0, d.n).copy_(X);
  d.Y.narrow(0, 0, d.n).copy_(Y);
  d.W.narrow(0, 0, d.n).copy_(W);
  for (int64_t i = 0; i < d.n; ++i) d.stratum[static_cast<size_t>(i)] = static_cast<int>(S[i].item<int64_t>());
  const torch::Tensor ss = get("stratum_seen");
  for (int k = 0; k < d.s.strata; ++k) d.stratum_seen[k] = ss[k].item<int64_t>();
  const torch::Tensor mem = get("members").contiguous();
  const int64_t* m = mem.data_ptr<int64_t>();
  int64_t p = 0;
  for (auto& mine : d.members) {
    const int64_t k = m[p++];
    mine.assign(m + p, m + p + k);
    p += k;
  }
  d.seen = get("seen").item<int64_t>();
  d.dmax = to_vec(get("dmax"));
  d.change2 = to_vec(get("change2"));
  d.rmin = to_vec(get("rmin"));
  d.rmax = to_vec(get("rmax"));
  d.VX.copy_(get("VX"));
  d.VY.copy_(get("VY"));
  d.vn = get("vn").item<int64_t>();
  d.vnext = get("vnext").item<int64_t>();
  d.iterations = get("iterations").item<int64_t>();
  model_files::set_rng_state(get("rng"), d.rng);
}

}  // namespace simfuse
