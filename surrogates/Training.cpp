#include "surrogates/Training.hpp"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <random>
#include <sstream>

#include "core/Version.hpp"
#include "surrogates/Architectures.hpp"
#include "surrogates/Dataset.hpp"

namespace simfuse {

namespace fs = std::filesystem;

const Schema& train_schema() {
  static const Schema s = [] {
    register_architectures();
    Schema s("train", "a training spec");
    s.add("dataset", ParamType::StringList, "dataset file(s) (.pt), relative to the spec").required().broadcast();
    s.add_string("output", "stem of the model files to write (<stem>.pt, <stem>.card.yaml), relative to the spec")
        .required();
    Schema& m = s.add_section("model", "the model");
    m.add_string("name", "model name").required();
    m.add_block("architecture", "architecture", "built-in architecture").required();
    m.add_string("predicts", "increment (output = input + model) or state")
        .def("increment")
        .choices({"increment", "state"});
    m.add("transform", ParamType::StringList, "per input channel: none or log10 (default none)");
    m.add_real("log_floor", "floor applied before log10").def(1e-12).positive();
    m.add("inputs", ParamType::StringList, "input channels to use, by name (default: all of the dataset's)");
    m.add("scalars", ParamType::StringList, "extra scalar inputs per sample: dt").choices({"dt"});
    m.add_bool("center", "normalisation subtracts the training mean (false: scale only, so zero stays zero)").def(true);
    m.add_string("dtype", "floating-point type of the model").def("float32").choices({"float32", "float64"});
    Schema& t = s.add_section("training", "the optimisation");
    t.add_int("epochs", "maximum number of epochs").def(100).min(1);
    t.add_int("batch", "global mini-batch size (split over ranks)").def(256).min(1);
    t.add_string("optimizer", "optimiser").def("adam").choices({"adam", "sgd"});
    t.add_real("lr", "learning rate").def(1e-3).positive();
    t.add_real("momentum", "SGD momentum").def(0.9).range(0, 1);
    t.add_real("weight_decay", "L2 weight decay").def(0.0).non_negative();
    Schema& sch = t.add_section("schedule", "learning-rate schedule");
    sch.add_string("type", "none, cosine (to lr_min) or step (times gamma every step_every epochs)")
        .def("none")
        .choices({"none", "cosine", "step"});
    sch.add_real("lr_min", "final learning rate of the cosine schedule").def(0.0).non_negative();
    sch.add_int("step_every", "epochs between steps of the step schedule").def(50).min(1);
    sch.add_real("gamma", "factor of the step schedule").def(0.5).positive();
    t.add_real("validation_fraction", "fraction of samples held out for validation").def(0.1).range(0.01, 0.9);
    t.add_int("patience", "stop after this many epochs without a better validation loss (0: never)").def(0).min(0);
    t.add_int("seed", "random seed (initialisation, split, shuffling)").def(1).min(0);
    t.add_int("threads", "intra-op threads per rank").def(1).range(1, 256);
    Schema& c = s.add_section("checkpoint", "periodic checkpoints for --resume");
    c.add_int("every", "epochs between checkpoints (0: none)").def(10).min(0);
    c.add_string("file", "checkpoint file (default <output>.ckpt)");
    return s;
  }();
  return s;
}

namespace {

struct Channels {
  std::vector<int64_t> in_idx;  // dataset input columns used
  std::vector<std::string> in_names, out_names;
  bool with_dt = false;
};

// "c.u" -> (c, u); "u" -> (u, u)
std::pair<std::string, std::string> split_name(const std::string& n) {
  const auto p = n.find('.');
  return p == std::string::npos ? std::make_pair(n, n) : std::make_pair(n.substr(0, p), n.substr(p + 1));
}

std::vector<CardChannel> to_card(const std::vector<std::string>& names) {
  std::vector<CardChannel> out;
  for (const auto& n : names) {
    auto [f, c] = split_name(n);
    if (out.empty() || out.back().field != f) out.push_back(CardChannel{f, {}, {}});
    out.back().components.push_back(c);
  }
  return out;
}

void allreduce_sum(torch::Tensor& t, MPI_Comm comm) {
  MPI_Allreduce(MPI_IN_PLACE, t.data_ptr(), static_cast<int>(t.numel()),
                t.scalar_type() == torch::kDouble ? MPI_DOUBLE : MPI_FLOAT, MPI_SUM, comm);
}

std::string duration(double s) {
  if (s < 60) return fmt::format("{:.1f}s", s);
  return fmt::format("{}m{:02d}s", static_cast<int>(s / 60), static_cast<int>(s) % 60);
}

}  // namespace

TrainResult train(const ConfigDocument& doc, MPI_Comm comm, const TrainOptions& opt) {
  const auto t_start = std::chrono::steady_clock::now();
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const Params p = train_schema().validate_or_throw(doc, doc.root(), "");
  const fs::path base = fs::path(doc.origin()).parent_path();
  const Params& mp = p.sub("model");
  const Params& tp = p.sub("training");
  const std::string arch_type = mp.type_of("architecture");
  YAML::Node arch = YAML::Clone(mp.node("architecture"));
  if (!arch.IsMap()) {  // shorthand such as `architecture: mlp`
    YAML::Node m(YAML::NodeType::Map);
    m["type"] = arch_type;
    arch = m;
  }
  at::set_num_threads(tp.get<int>("threads"));

  // Data.
  std::vector<Dataset> parts;
  for (const auto& f : p.get<std::vector<std::string>>("dataset")) {
    const fs::path path = fs::path(f).is_absolute() ? fs::path(f) : base / f;
    parts.push_back(Dataset::load(path.string()));
  }
  Dataset data = parts.size() == 1 ? parts[0] : Dataset::concat(parts);
  const bool stencil = data.kind == "stencil";
  if (stencil != (arch_type == "cnn"))
    mp.fail("architecture",
            fmt::format("the dataset holds {} data but '{}' is a {} architecture", data.kind, arch_type,
                        arch_type == "cnn" ? "stencil" : "pointwise"),
            stencil ? "use {type: cnn, ...} for patches" : "use {type: mlp, ...} for pointwise data");
  const int radius = architecture_radius(arch);
  if (stencil && radius != data.radius)
    mp.fail("architecture",
            fmt::format("the architecture's receptive-field radius is {}, the dataset's patches have a margin of {}",
                        radius, data.radius),
            "match the CNN's layers and kernel to the capture radius (radius = layers * (kernel - 1) / 2)");

  Channels ch;
  if (mp.is_set("inputs")) {
    for (const auto& n : mp.get<std::vector<std::string>>("inputs")) {
      auto it = std::find(data.input_names.begin(), data.input_names.end(), n);
      if (it == data.input_names.end()) {
        auto near = nearest(n, data.input_names);
        mp.fail(
            "inputs", fmt::format("the dataset has no input channel '{}'", n),
            (near ? fmt::format("did you mean '{}'? ", *near) : std::string()) + "Channels: " + join(data.input_names));
      }
      ch.in_idx.push_back(it - data.input_names.begin());
      ch.in_names.push_back(n);
    }
  } else {
    for (size_t i = 0; i < data.input_names.size(); ++i) {
      ch.in_idx.push_back(static_cast<int64_t>(i));
      ch.in_names.push_back(data.input_names[i]);
    }
  }
  ch.out_names = data.output_names;
  ch.with_dt = mp.is_set("scalars");
  if (ch.with_dt && stencil) mp.fail("scalars", "scalar inputs are supported for pointwise models only");
  const bool increment = mp.get<std::string>("predicts") == "increment";
  std::vector<int64_t> inc_src;
  if (increment)
    for (const auto& o : ch.out_names) {
      auto it = std::find(ch.in_names.begin(), ch.in_names.end(), o);
      if (it == ch.in_names.end())
        mp.fail("predicts", fmt::format("an increment model needs output '{}' among its inputs", o),
                "add it to model.inputs, or use predicts: state");
      inc_src.push_back(it - ch.in_names.begin());
    }
  const int cin = static_cast<int>(ch.in_idx.size()) + (ch.with_dt ? 1 : 0);
  const int cout = static_cast<int>(ch.out_names.size());
  std::vector<std::string> transform =
      mp.is_set("transform") ? mp.get<std::vector<std::string>>("transform") : std::vector<std::string>(cin, "none");
  if (static_cast<int>(transform.size()) != cin)
    mp.fail("transform", fmt::format("has {} entries for {} input channels", transform.size(), cin),
            "one entry (none or log10) per input channel");
  for (const auto& t : transform)
    if (t != "none" && t != "log10")
      mp.fail("transform", fmt::format("unknown transform '{}'", t), "use none or log10");
  const double log_floor = mp.get<double>("log_floor");
  const bool center = mp.get<bool>("center");

  // Physical inputs [N, cin, ...] and targets (state or increment), float64.
  torch::Tensor X = data.inputs.index_select(1, torch::tensor(ch.in_idx, torch::kLong));
  if (ch.with_dt) X = torch::cat({X, data.dt.view({-1, 1})}, 1);
  torch::Tensor Y = data.outputs.clone();
  torch::Tensor Xc = X;  // the centre of the inputs, aligned with outputs
  if (stencil) Xc = X.narrow(2, radius, X.size(2) - 2 * radius).narrow(3, radius, X.size(3) - 2 * radius);
  if (increment) Y = Y - Xc.index_select(1, torch::tensor(inc_src, torch::kLong));
  const int64_t n = X.size(0);
  if (n < 10)
    throw UserError(fmt::format("the dataset has only {} samples; at least 10 are needed", n), "capture more");

  // Split (same permutation on every rank).
  const int64_t seed = tp.get<int>("seed");
  std::mt19937_64 split_rng(static_cast<uint64_t>(seed));
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), split_rng);
  const int64_t nval =
      std::max<int64_t>(1, static_cast<int64_t>(std::lround(tp.get<double>("validation_fraction") * n)));
  const torch::Tensor val_idx = torch::tensor(std::vector<int64_t>(order.begin(), order.begin() + nval), torch::kLong);
  const torch::Tensor train_idx = torch::tensor(std::vector<int64_t>(order.begin() + nval, order.end()), torch::kLong);
  const int64_t ntrain = train_idx.size(0);

  // Transforms and normalisation fitted on the training split only.
  torch::Tensor Xt = X.clone();
  for (int c = 0; c < cin; ++c)
    if (transform[c] == "log10") Xt.select(1, c).clamp_min_(log_floor).log10_();
  auto channel_stats = [&](const torch::Tensor& T) {
    const torch::Tensor tr = T.index_select(0, train_idx).transpose(0, 1).reshape({T.size(1), -1});
    torch::Tensor mean = tr.mean(1), std = tr.std(1, /*unbiased=*/false);
    if (!center) {  // scale only: the root mean square
      std = tr.pow(2).mean(1).sqrt();
      mean = torch::zeros_like(mean);
    }
    std = torch::where(std > 1e-12, std, torch::ones_like(std));
    return std::make_pair(mean, std);
  };
  auto [xm, xs] = channel_stats(Xt);
  auto [ym, ys] = channel_stats(Y);
  const auto dtype = mp.get<std::string>("dtype") == "float64" ? torch::kDouble : torch::kFloat;
  auto shape_c = [&](const torch::Tensor& v) { return stencil ? v.view({1, -1, 1, 1}) : v.view({1, -1}); };
  const torch::Tensor Xn = ((Xt - shape_c(xm)) / shape_c(xs)).to(dtype).contiguous();
  const torch::Tensor Yn = ((Y - shape_c(ym)) / shape_c(ys)).to(dtype).contiguous();
  // Training ranges in physical units (the OOD guard uses them).
  const torch::Tensor Xtr = X.index_select(0, train_idx).transpose(0, 1).reshape({cin, -1});
  const torch::Tensor rmin = std::get<0>(Xtr.min(1)), rmax = std::get<0>(Xtr.max(1));

  // Model: same initialisation everywhere, then broadcast from rank 0 anyway.
  torch::manual_seed(static_cast<uint64_t>(seed));
  torch::nn::Sequential model = build_architecture(arch, cin, cout);
  model->to(dtype);
  for (auto& prm : model->parameters())
    MPI_Bcast(prm.data_ptr(), static_cast<int>(prm.numel()), dtype == torch::kDouble ? MPI_DOUBLE : MPI_FLOAT, 0, comm);

  // Flat parameters and gradients: every parameter and its gradient are views into one
  // buffer each, so the optimizer updates a single tensor (a few kernels per step instead
  // of a few per parameter tensor) and the gradient all-reduce needs no packing. The last
  // slot of the gradient buffer carries the batch loss through the same all-reduce.
  int64_t nparams = 0;
  for (const auto& prm : model->parameters()) nparams += prm.numel();
  const auto fopts = torch::TensorOptions().dtype(dtype);
  torch::Tensor flat_param = torch::zeros({nparams}, fopts), flat_comm = torch::zeros({nparams + 1}, fopts);
  torch::Tensor flat_grad = flat_comm.narrow(0, 0, nparams);
  auto bind_flat = [&]() {  // (re)binds the parameters to the buffers, keeping their values
    torch::NoGradGuard ng;
    int64_t off = 0;
    for (auto& prm : model->parameters()) {
      const int64_t k = prm.numel();
      flat_param.narrow(0, off, k).copy_(prm.detach().reshape({-1}));
      prm.set_data(flat_param.narrow(0, off, k).view(prm.sizes()));
      prm.mutable_grad() = flat_grad.narrow(0, off, k).view(prm.sizes());
      off += k;
    }
  };
  bind_flat();
  flat_param.mutable_grad() = flat_grad;

  const std::string optimizer = tp.get<std::string>("optimizer");
  const double lr0 = tp.get<double>("lr");
  std::unique_ptr<torch::optim::Optimizer> optim;
  const std::vector<torch::Tensor> opt_params{flat_param};
  if (optimizer == "adam")
    optim = std::make_unique<torch::optim::Adam>(
        opt_params, torch::optim::AdamOptions(lr0).weight_decay(tp.get<double>("weight_decay")));
  else
    optim = std::make_unique<torch::optim::SGD>(opt_params, torch::optim::SGDOptions(lr0)
                                                                .momentum(tp.get<double>("momentum"))
                                                                .weight_decay(tp.get<double>("weight_decay")));
  auto set_lr = [&](double lr) {
    for (auto& g : optim->param_groups()) {
      if (optimizer == "adam")
        static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
      else
        static_cast<torch::optim::SGDOptions&>(g.options()).lr(lr);
    }
  };
  const Params& sp = tp.sub("schedule");
  const long epochs = tp.get<int>("epochs");
  auto lr_at = [&](long e) {
    const std::string type = sp.get<std::string>("type");
    if (type == "cosine")
      return sp.get<double>("lr_min") + 0.5 * (lr0 - sp.get<double>("lr_min")) * (1 + std::cos(M_PI * e / epochs));
    if (type == "step") return lr0 * std::pow(sp.get<double>("gamma"), e / sp.get<int>("step_every"));
    return lr0;
  };

  // Checkpoint state.
  const std::string out_stem =
      (fs::path(p.get<std::string>("output")).is_absolute() ? fs::path(p.get<std::string>("output"))
                                                            : base / p.get<std::string>("output"))
          .string();
  const Params& cp = p.sub("checkpoint");
  const std::string ckpt = cp.is_set("file") ? (base / cp.get<std::string>("file")).string() : out_stem + ".ckpt";
  const int ckpt_every = cp.get<int>("every");
  std::mt19937_64 shuffle_rng(static_cast<uint64_t>(seed) + 7);
  long epoch = 0, best_epoch = 0, since_best = 0;
  double best_val = std::numeric_limits<double>::infinity();
  std::vector<torch::Tensor> best_params;
  auto snapshot = [&]() {
    std::vector<torch::Tensor> v;
    for (const auto& prm : model->parameters()) v.push_back(prm.detach().clone());
    return v;
  };
  best_params = snapshot();

  std::error_code ec;
  if (opt.resume && fs::exists(ckpt, ec)) {
    torch::serialize::InputArchive a;
    a.load_from(ckpt);
    torch::serialize::InputArchive ma, oa, ba;
    a.read("model", ma);
    model->load(ma);  // replaces the parameters' storage: bind them to the buffers again
    bind_flat();
    a.read("optimizer", oa);
    optim->load(oa);
    // Read each entry into a fresh tensor: reading into a defined one resizes its storage.
    auto scalar = [&](const char* key) {
      torch::Tensor t;
      a.read(key, t);
      return t;
    };
    epoch = scalar("epoch").item<int64_t>();
    best_epoch = scalar("best_epoch").item<int64_t>();
    since_best = scalar("since_best").item<int64_t>();
    best_val = scalar("best_val").item<double>();
    const torch::Tensor rng = scalar("rng");
    std::istringstream(std::string(static_cast<const char*>(rng.data_ptr()), rng.numel())) >> shuffle_rng;
    a.read("best", ba);
    for (size_t i = 0; i < best_params.size(); ++i) {
      torch::Tensor t;
      ba.read(std::to_string(i), t);
      best_params[i] = t.clone();
    }
    if (rank == 0) spdlog::info("resumed from {} at epoch {}", ckpt, epoch);
  }
  auto save_checkpoint = [&]() {
    if (rank != 0) return;
    torch::serialize::OutputArchive a, ma, oa, ba;
    model->save(ma);
    optim->save(oa);
    a.write("model", ma);
    a.write("optimizer", oa);
    a.write("epoch", torch::tensor(static_cast<int64_t>(epoch)));
    a.write("best_epoch", torch::tensor(static_cast<int64_t>(best_epoch)));
    a.write("since_best", torch::tensor(static_cast<int64_t>(since_best)));
    a.write("best_val", torch::tensor(best_val, torch::kDouble));
    std::ostringstream rs;
    rs << shuffle_rng;
    const std::string r = rs.str();
    a.write("rng",
            torch::from_blob(const_cast<char*>(r.data()), {static_cast<int64_t>(r.size())}, torch::kUInt8).clone());
    for (size_t i = 0; i < best_params.size(); ++i) ba.write(std::to_string(i), best_params[i]);
    a.write("best", ba);
    const std::string tmp = ckpt + ".tmp";
    a.save_to(tmp);
    fs::rename(tmp, ckpt);
  };

  // Loss over a set of rows, this rank's share (sum of squared errors; counts on return).
  const int64_t per_sample = Yn.numel() / n;
  auto shard = [&](int64_t count) {
    const int64_t lo = count * rank / size, hi = count * (rank + 1) / size;
    return std::make_pair(lo, hi);
  };
  auto validation = [&]() {
    torch::NoGradGuard ng;
    model->eval();
    auto [lo, hi] = shard(nval);
    double sse = 0;
    if (hi > lo) {
      const torch::Tensor idx = val_idx.narrow(0, lo, hi - lo);
      sse = (model->forward(Xn.index_select(0, idx)) - Yn.index_select(0, idx)).pow(2).sum().item<double>();
    }
    MPI_Allreduce(MPI_IN_PLACE, &sse, 1, MPI_DOUBLE, MPI_SUM, comm);
    model->train();
    return sse / static_cast<double>(nval * per_sample);
  };

  const int64_t batch = std::min<int64_t>(tp.get<int>("batch"), ntrain);
  const long patience = tp.get<int>("patience");
  TrainResult res;
  const auto t_loop = std::chrono::steady_clock::now();
  long epochs_here = 0;
  model->train();
  while (epoch < epochs) {
    set_lr(lr_at(epoch));
    std::vector<int64_t> perm(ntrain);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), shuffle_rng);
    const torch::Tensor permt = train_idx.index_select(0, torch::tensor(perm, torch::kLong));
    double train_sse = 0;
    for (int64_t b0 = 0; b0 < ntrain; b0 += batch) {
      const int64_t bn = std::min(batch, ntrain - b0);
      auto [lo, hi] = shard(bn);
      flat_comm.zero_();  // not optim->zero_grad(): the gradients must stay views of the buffer
      double sse = 0;
      if (hi > lo) {
        const torch::Tensor idx = permt.narrow(0, b0 + lo, hi - lo);
        const torch::Tensor diff = model->forward(Xn.index_select(0, idx)) - Yn.index_select(0, idx);
        const torch::Tensor loss = diff.pow(2).sum() / static_cast<double>(bn * per_sample);
        loss.backward();
        sse = loss.item<double>() * static_cast<double>(bn * per_sample);
      }
      if (size > 1) {  // one all-reduce per batch: gradients and the batch loss
        flat_comm[nparams] = sse;
        allreduce_sum(flat_comm, comm);
        sse = flat_comm[nparams].item<double>();
      }
      optim->step();
      train_sse += sse;
    }
    ++epoch;
    ++epochs_here;
    const double val = validation();
    if (val < best_val * (1 - 1e-9)) {
      best_val = val;
      best_epoch = epoch;
      since_best = 0;
      best_params = snapshot();
    } else {
      ++since_best;
    }
    if (opt.progress && rank == 0) {
      const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_loop).count();
      const double eta = el / epochs_here * (epochs - epoch);
      spdlog::info("epoch {}/{}  train {:.3e}  val {:.3e}  best {:.3e} (epoch {})  lr {:.2e}  ETA {}", epoch, epochs,
                   train_sse / static_cast<double>(ntrain * per_sample), val, best_val, best_epoch, lr_at(epoch - 1),
                   duration(eta));
    }
    if (ckpt_every > 0 && epoch % ckpt_every == 0) save_checkpoint();
    if (patience > 0 && since_best >= patience) {
      res.stopped_early = true;
      break;
    }
    if (opt.stop_after_epochs > 0 && epochs_here >= opt.stop_after_epochs && epoch < epochs) {
      save_checkpoint();
      res.interrupted = true;
      res.epochs = epoch;
      return res;
    }
  }
  res.seconds_per_epoch =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_loop).count() / std::max<long>(1, epochs_here);

  // Best parameters; validation error in physical units.
  {
    torch::NoGradGuard ng;
    auto prms = model->parameters();
    for (size_t i = 0; i < prms.size(); ++i) prms[i].copy_(best_params[i]);
  }
  model->eval();
  double max_abs = 0, rms = 0;
  {
    torch::NoGradGuard ng;
    const torch::Tensor pred =
        model->forward(Xn.index_select(0, val_idx)).to(torch::kDouble) * shape_c(ys) + shape_c(ym);
    const torch::Tensor err = pred - Y.index_select(0, val_idx);  // the same in increment or state form
    max_abs = err.abs().max().item<double>();
    rms = std::sqrt(err.pow(2).mean().item<double>());
  }

  ModelCard card;
  card.name = mp.get<std::string>("name");
  card.kind = stencil ? "stencil" : "pointwise";
  card.radius = radius;
  card.format = "builtin";
  card.weights = out_stem + ".pt";
  card.architecture = arch;
  card.dtype = dtype == torch::kDouble ? "float64" : "float32";
  card.substep = data.substep;
  card.inputs = to_card(ch.in_names);
  if (ch.with_dt) card.inputs.push_back(CardChannel{{}, {}, "dt"});
  card.outputs = to_card(ch.out_names);
  if (!ch.with_dt) {
    const torch::Tensor dts = std::get<0>(at::_unique(data.dt));
    if (dts.size(0) == 1) card.conditions["dt"] = dts[0].item<double>();
  }
  card.increment = increment;
  auto tovec = [](const torch::Tensor& t) {
    std::vector<double> v(t.numel());
    for (int64_t i = 0; i < t.numel(); ++i) v[i] = t[i].item<double>();
    return v;
  };
  card.in_mean = tovec(xm);
  card.in_std = tovec(xs);
  card.out_mean = tovec(ym);
  card.out_std = tovec(ys);
  card.transform = transform;
  card.log_floor = log_floor;
  card.range_min = tovec(rmin);
  card.range_max = tovec(rmax);
  card.validation_metric = "max_abs";
  card.validation_value = max_abs;
  card.validation_samples = nval;
  const std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  card.provenance["tool"] = std::string("simfuse ") + SIMFUSE_VERSION + " train";
  card.provenance["spec"] = doc.origin();
  card.provenance["datasets"] = p.get<std::vector<std::string>>("dataset");
  card.provenance["samples"] = static_cast<long>(n);
  card.provenance["epochs"] = epoch;
  card.provenance["best_epoch"] = best_epoch;
  card.provenance["ranks"] = size;
  card.provenance["validation_rms"] = rms;
  card.provenance["validation_loss_normalised"] = best_val;
  card.provenance["created"] = date;
  const std::string card_path = out_stem + ".card.yaml";
  if (rank == 0) {
    fs::create_directories(fs::path(out_stem).parent_path(), ec);
    {  // standalone parameters in the file, not views of the training buffer
      torch::NoGradGuard ng;
      for (auto& prm : model->parameters()) prm.set_data(prm.detach().clone());
    }
    torch::save(model, out_stem + ".pt");
    card.save(card_path);
  }
  MPI_Barrier(comm);
  res.card = card;
  res.card_path = card_path;
  res.epochs = epoch;
  res.best_epoch = best_epoch;
  res.best_val_loss = best_val;
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  if (rank == 0)
    spdlog::info("model '{}': validation max error {:.3e}, rms {:.3e} ({} samples); wrote {}", card.name, max_abs, rms,
                 nval, card_path);
  return res;
}

}  // namespace simfuse
