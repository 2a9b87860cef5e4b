#include "simfuse/surrogates/Training.hpp"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <sstream>

#include "simfuse/core/Version.hpp"
#include "simfuse/core/base/Paths.hpp"
#include "simfuse/surrogates/Architectures.hpp"
#include "simfuse/surrogates/DataSupport.hpp"
#include "simfuse/surrogates/Dataset.hpp"
#include "simfuse/surrogates/detail/FlatOptimizer.hpp"
#include "simfuse/surrogates/detail/ModelFiles.hpp"
#include "simfuse/surrogates/detail/Transforms.hpp"

namespace simfuse {

namespace fs = std::filesystem;

const Schema& train_schema() {
  static const Schema s = [] {
    architecture_registry();
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
    m.add_string("increment_of",
                 "increment models: the input field whose channels the outputs add to (default: the output's own; a "
                 "forced chemistry model: transported, the state the transport leaves, so that the model learns the "
                 "chemistry alone)");
    m.add("transform", ParamType::StringList,
          "per input channel: none, log10 or boxcox (default none). An output whose input channel is boxcox is "
          "predicted in Box-Cox space too (for species spanning many orders of magnitude)")
        .choices({"none", "log10", "boxcox"});
    m.add_real("log_floor", "floor applied before log10").def(1e-12).positive();
    m.add_real("boxcox_lambda", "boxcox: (max(x, 0)^lambda - 1) / lambda").def(0.1).range(1e-3, 1);
    m.add("inputs", ParamType::StringList, "input channels to use, by name (default: all of the dataset's)");
    m.add("scalars", ParamType::StringList, "extra scalar inputs per sample: dt").choices({"dt"});
    m.add_bool("center", "normalisation subtracts the training mean (false: scale only, so zero stays zero)").def(true);
    m.add("regime", ParamType::Any,
          "the physical regime the model is made for, written into its card: {temperature: [lo, hi], "
          "equivalence_ratio: [lo, hi], pressure: [lo, hi], dt: [lo, hi]} (see the card's regime)");
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
    Schema& cv = s.add_optional_section(
        "coupled_validation",
        "a coupled check of the model every `every` epochs, which chooses the parameters written instead of the "
        "held-out loss (the card's selection records every check)");
    cv.add("case", ParamType::StringList,
           "the reference case(s), relative to the spec, at the model's dt: each run once classically as the "
           "reference, then with each candidate in its sub-step (in memory: it writes nothing); with several, the "
           "error is the mean of theirs")
        .required()
        .broadcast();
    cv.add_int("every", "epochs between checks (the last epoch and the held-out loss's best are checked too)")
        .def(10)
        .min(1);
    cv.add_string("metric",
                  "ignition_delay: the case is a reactor sweep (solver reactors, run: steps); the mean over reactors "
                  "of |delay - reference| / reference (capped at 1; a reactor that ignites on one side only counts "
                  "1). final_field: any case; the relative L2 error of `field` at its end (simfuse compare's "
                  "rel_l2). A failed run counts +inf")
        .def("ignition_delay")
        .choices({"ignition_delay", "final_field"});
    cv.add_string("field", "final_field: the field and component compared, e.g. gas.T").def("gas.T");
    cv.add_string("policy", "how the candidate runs: surrogate (alone, unchecked) or guarded (the default guard)")
        .def("surrogate")
        .choices({"surrogate", "guarded"});
    cv.add_real("min_accepted",
                "policy guarded: a checked epoch whose run the guard accepted at fewer of the points than this is "
                "chosen only if no checked epoch reaches it (a run that is mostly the classical fallback scores "
                "the classical error whatever the model)")
        .def(0.9)
        .range(0.0, 1.0);
    Schema& sup = s.add_section(
        "support",
        "where the data are, written beside the model (<output>.support.npy) and into its card: a sample of the "
        "training inputs and a radius; the guard judges a point farther than the radius from every sample as out of "
        "range (pointwise models)");
    sup.add_int("points", "training inputs in the sample (0: no support)").def(20000).range(0, 2000000);
    sup.add_real("quantile",
                 "the radius is this quantile of the held-out inputs' distances to their nearest sample (the "
                 "fraction of data-like points that a guard still counts as near)")
        .def(0.99)
        .range(0.5, 1.0);
    sup.add_real("floor",
                 "log10 and Box-Cox input channels (mass fractions) count as this where they are below it, in the "
                 "distance and the radius: trace levels that no check resolves (e.g. below the chemistry estimate's "
                 "absolute tolerance, 1e-3 of check.floor) do not make a state far from the data; 0: none")
        .def(0.0)
        .range(0.0, 1.0);
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

std::string duration(double s) {
  if (s < 60) return fmt::format("{:.1f}s", s);
  return fmt::format("{}m{:02d}s", static_cast<int>(s / 60), static_cast<int>(s) % 60);
}

// ---- Data and normalisation --------------------------------------------------------------

// The training problem: physical inputs and targets, their transforms and normalisation
// (fitted on the training split only), the split, and the card's channel facts.
struct TrainingData {
  Dataset data;
  Channels ch;
  bool stencil = false, increment = false;
  std::string increment_of;  // increment models: the input field the outputs add to (empty: their own)
  int radius = 0, cin = 0, cout = 0;
  std::vector<std::string> transform, output_transform;
  double log_floor = 0, lambda = 0.1;
  torch::Tensor Yphys;            // physical outputs [N, cout, ...] (the validation error is measured on them)
  torch::Tensor Xc;               // the centre of the physical inputs, aligned with the outputs
  torch::Tensor inc_src, bc_out;  // int64: input channel of each output; outputs in Box-Cox space
  torch::Tensor X, Y;             // physical inputs [N, cin, ...], targets (state or increment), float64
  torch::Tensor Xn, Yn;           // normalised, in the model's dtype
  torch::Tensor xm, xs, ym, ys;   // normalisation: xn = (T(x) - xm) / xs, yn = (y - ym) / ys
  torch::Tensor rmin, rmax;       // training ranges of the physical inputs
  torch::Tensor train_idx, val_idx;
  std::optional<double> one_dt;                // the data's dt, when there is one (a model without a dt input)
  std::map<std::string, std::string> context;  // the data's solver facts (the card's context)
  int64_t n = 0, nval = 0, ntrain = 0, per_sample = 0;
  torch::Dtype dtype = torch::kFloat;

  torch::Tensor shape_c(const torch::Tensor& v) const { return stencil ? v.view({1, -1, 1, 1}) : v.view({1, -1}); }
};

// Loads the datasets and checks them against the model block; UserError naming the key.
TrainingData load_data(const Params& p, const ConfigDocument& doc, const YAML::Node& arch) {
  const Params& mp = p.sub("model");
  const std::string arch_type = mp.type_of("architecture");
  TrainingData d;
  std::vector<Dataset> parts;
  std::vector<std::string> files;
  const auto given = p.get<std::vector<std::string>>("dataset");
  if (given.empty())
    p.fail("dataset", "no dataset given",
           "name the .pt file(s) simfuse generate wrote, e.g. dataset: out/gen/react.pt");
  for (const auto& f : given) {
    files.push_back(resolve_path(f, doc.origin()));
    std::error_code ec;
    if (std::filesystem::is_directory(files.back(), ec))
      p.fail("dataset", fmt::format("'{}' is a directory", files.back()),
             "name the dataset file in it, e.g. " + (std::filesystem::path(files.back()) / "react.pt").string());
    parts.push_back(Dataset::load(files.back()));
  }
  // The solver facts (Dataset manifest `context`) must agree between the datasets: data
  // from another mechanism or reactor type does not belong in the same model.
  std::optional<Dataset::ContextConflict> conflict;
  const auto context = Dataset::common_context(parts, &conflict);
  if (conflict)
    p.fail("dataset",
           fmt::format("the datasets come from different solvers: {} = {} in {}, {} = {} in {}", conflict->key,
                       conflict->first_value, files[conflict->first], conflict->key, conflict->other_value,
                       files[conflict->other]),
           "train one model per mechanism and reactor type");
  d.data = parts.size() == 1 ? parts[0] : Dataset::concat(parts);
  if (parts.size() > 1)
    for (const auto& [key, value] : context) d.data.manifest["context"][key] = value;
  const Dataset& data = d.data;
  d.stencil = data.kind == "stencil";
  if (d.stencil != (arch_type == "cnn"))
    mp.fail("architecture",
            fmt::format("the dataset holds {} data but '{}' is a {} architecture", data.kind, arch_type,
                        arch_type == "cnn" ? "stencil" : "pointwise"),
            d.stencil ? "use {type: cnn, ...} for patches" : "use {type: mlp, ...} for pointwise data");
  d.radius = architecture_radius(arch);
  if (d.stencil && d.radius != data.radius)
    mp.fail("architecture",
            fmt::format("the architecture's receptive-field radius is {}, the dataset's patches have a margin of {}",
                        d.radius, data.radius),
            "match the CNN's layers and kernel to the capture radius (radius = layers * (kernel - 1) / 2)");

  Channels& ch = d.ch;
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
  if (ch.with_dt && d.stencil) mp.fail("scalars", "scalar inputs are supported for pointwise models only");
  if (mp.is_set("regime")) ModelCard::read_regime(mp, "regime", ch.with_dt);  // refused before any training
  if (!ch.with_dt) {
    const torch::Tensor dts = std::get<0>(at::_unique(data.dt));
    if (dts.size(0) == 1) d.one_dt = dts[0].item<double>();
  }
  const YAML::Node ctx = data.manifest["context"];
  if (ctx && ctx.IsMap())
    for (const auto& kv : ctx) d.context[kv.first.as<std::string>()] = kv.second.as<std::string>();
  d.increment = mp.get<std::string>("predicts") == "increment";
  if (mp.is_set("increment_of")) {
    d.increment_of = mp.get<std::string>("increment_of");
    if (!d.increment) mp.fail("increment_of", "is for increment models; this one predicts its state", "remove it");
  }
  // The input channel an output adds to (and whose transform it shares): of increment_of's
  // field when given, else the output's own name.
  auto base_name = [&](const std::string& o) {
    if (d.increment_of.empty()) return o;
    const auto dot = o.find('.');
    return d.increment_of + (dot == std::string::npos ? std::string() : o.substr(dot));
  };
  std::vector<int64_t> inc_src;
  if (d.increment)
    for (const auto& o : ch.out_names) {
      auto it = std::find(ch.in_names.begin(), ch.in_names.end(), base_name(o));
      if (it == ch.in_names.end())
        mp.fail(d.increment_of.empty() ? "predicts" : "increment_of",
                fmt::format("an increment model needs input '{}' (for output '{}') among its inputs", base_name(o), o),
                "add it to model.inputs, or use predicts: state");
      inc_src.push_back(it - ch.in_names.begin());
    }
  d.cin = static_cast<int>(ch.in_idx.size()) + (ch.with_dt ? 1 : 0);
  d.cout = static_cast<int>(ch.out_names.size());
  if (arch["groups"] && arch["groups"].IsSequence()) {  // one network per group of outputs
    int sum = 0;
    for (const auto& g : arch["groups"]) sum += g.as<int>(0);
    if (sum != d.cout)
      mp.fail("architecture",
              fmt::format("groups hold {} output channel(s), the model has {} ({})", sum, d.cout,
                          fmt::join(ch.out_names, ", ")),
              "give group sizes (consecutive outputs, in this order) that add up to the outputs");
  }
  d.transform =
      mp.is_set("transform") ? mp.get<std::vector<std::string>>("transform") : std::vector<std::string>(d.cin, "none");
  if (static_cast<int>(d.transform.size()) != d.cin)
    mp.fail("transform", fmt::format("has {} entries for {} input channels", d.transform.size(), d.cin),
            "one entry (none or log10) per input channel");
  d.log_floor = mp.get<double>("log_floor");
  d.lambda = mp.get<double>("boxcox_lambda");
  // An output is predicted in Box-Cox space when the input channel of the same name is.
  std::vector<int64_t> bc_out;
  for (int o = 0; o < d.cout; ++o) {
    auto it = std::find(ch.in_names.begin(), ch.in_names.end(), base_name(ch.out_names[o]));
    const bool bc = it != ch.in_names.end() && d.transform[it - ch.in_names.begin()] == "boxcox";
    d.output_transform.push_back(bc ? "boxcox" : "none");
    if (bc) bc_out.push_back(o);
  }
  d.bc_out = torch::tensor(bc_out, torch::kLong);
  d.inc_src = torch::tensor(inc_src, torch::kLong);
  d.dtype = mp.get<std::string>("dtype") == "float64" ? torch::kDouble : torch::kFloat;

  // Physical inputs and targets, float64.
  d.X = data.inputs.index_select(1, torch::tensor(ch.in_idx, torch::kLong));
  if (ch.with_dt) d.X = torch::cat({d.X, data.dt.view({-1, 1})}, 1);
  d.Y = data.outputs.clone();
  torch::Tensor Xc = d.X;  // the centre of the inputs, aligned with outputs
  if (d.stencil)
    Xc = d.X.narrow(2, d.radius, d.X.size(2) - 2 * d.radius).narrow(3, d.radius, d.X.size(3) - 2 * d.radius);
  d.Xc = Xc;
  d.Yphys = data.outputs;
  // Targets: Box-Cox outputs in that space, then the increment over the (same-space) input.
  if (!bc_out.empty()) d.Y.index_copy_(1, d.bc_out, transforms::boxcox(d.Y.index_select(1, d.bc_out), d.lambda));
  if (d.increment) d.Y = d.Y - transforms::increment_base(Xc, d.inc_src, d.bc_out, d.lambda);
  d.n = d.X.size(0);
  if (d.n < 10)
    throw UserError(fmt::format("the dataset has only {} samples; at least 10 are needed", d.n), "capture more");
  return d;
}

// The split (the same permutation on every rank), then transforms and normalisation
// fitted on the training split only.
void split_and_normalise(TrainingData& d, const Params& mp, const Params& tp) {
  const int64_t seed = tp.get<int>("seed");
  std::mt19937_64 split_rng(static_cast<uint64_t>(seed));
  std::vector<int64_t> order(d.n);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), split_rng);
  d.nval = std::max<int64_t>(1, static_cast<int64_t>(std::lround(tp.get<double>("validation_fraction") * d.n)));
  d.val_idx = torch::tensor(std::vector<int64_t>(order.begin(), order.begin() + d.nval), torch::kLong);
  d.train_idx = torch::tensor(std::vector<int64_t>(order.begin() + d.nval, order.end()), torch::kLong);
  d.ntrain = d.train_idx.size(0);

  const bool center = mp.get<bool>("center");
  torch::Tensor Xt = d.X.clone();
  for (int c = 0; c < d.cin; ++c)
    if (d.transform[c] == "log10")
      Xt.select(1, c).clamp_min_(d.log_floor).log10_();
    else if (d.transform[c] == "boxcox")
      Xt.select(1, c).copy_(transforms::boxcox(Xt.select(1, c), d.lambda));
  auto channel_stats = [&](const torch::Tensor& T, bool output) {
    const torch::Tensor tr = T.index_select(0, d.train_idx).transpose(0, 1).reshape({T.size(1), -1});
    torch::Tensor mean = tr.mean(1), std = tr.std(1, /*unbiased=*/false);
    if (!center) {  // scale only: the root mean square
      std = tr.pow(2).mean(1).sqrt();
      mean = torch::zeros_like(mean);
    }
    // A constant channel: an input is only centred; an output (an inert species' zero
    // increment) gets a scale so small that the network's residual on it, O(1e-3) in
    // normalised units, vanishes: the model reproduces the constant instead of adding noise.
    std = torch::where(std > 1e-12, std, output ? torch::full_like(std, 1e-12) : torch::ones_like(std));
    return std::make_pair(mean, std);
  };
  std::tie(d.xm, d.xs) = channel_stats(Xt, false);
  std::tie(d.ym, d.ys) = channel_stats(d.Y, true);
  d.Xn = ((Xt - d.shape_c(d.xm)) / d.shape_c(d.xs)).to(d.dtype).contiguous();
  d.Yn = ((d.Y - d.shape_c(d.ym)) / d.shape_c(d.ys)).to(d.dtype).contiguous();
  d.per_sample = d.Yn.numel() / d.n;
  // Training ranges in physical units (the OOD guard uses them).
  const torch::Tensor Xtr = d.X.index_select(0, d.train_idx).transpose(0, 1).reshape({d.cin, -1});
  d.rmin = std::get<0>(Xtr.min(1));
  d.rmax = std::get<0>(Xtr.max(1));
}

// ---- Checkpoint -----------------------------------------------------------------------------

// Everything a resumed run needs to continue exactly as the uninterrupted one.
struct TrainState {
  long epoch = 0, best_epoch = 0, since_best = 0;
  double best_val = std::numeric_limits<double>::infinity();
  std::vector<torch::Tensor> best_params;
  std::mt19937_64 shuffle_rng;
  // coupled_validation: every check so far, and the parameters of the best one
  std::vector<CoupledCheck> checks;
  long coupled_epoch = -1;  // the best check's epoch (-1: none with a finite error yet)
  std::vector<torch::Tensor> coupled_params;
};

std::vector<torch::Tensor> snapshot(torch::nn::Sequential& model) {
  std::vector<torch::Tensor> v;
  for (const auto& prm : model->parameters()) v.push_back(prm.detach().clone());
  return v;
}

// The spec as `key.path = value` lines (lists as key[i]), in key order: what a resumed run
// compares with the spec that wrote its checkpoint.
void flatten(const YAML::Node& n, const std::string& path, std::map<std::string, std::string>& out) {
  if (n.IsMap()) {
    for (const auto& kv : n) flatten(kv.second, path.empty() ? kv.first.Scalar() : path + "." + kv.first.Scalar(), out);
  } else if (n.IsSequence()) {
    for (size_t i = 0; i < n.size(); ++i) flatten(n[i], fmt::format("{}[{}]", path, i), out);
  } else {
    out[path] = n.IsScalar() ? n.Scalar() : "";
  }
}

std::string spec_fingerprint(const YAML::Node& root) {
  std::map<std::string, std::string> flat;
  flatten(root, "", flat);
  std::string s;
  for (const auto& [k, v] : flat) s += k + " = " + v + "\n";
  return s;
}

// Keys a resumed run may change: how long it goes on, how often it checkpoints, threads.
bool may_change_on_resume(const std::string& key) {
  return key == "training.epochs" || key == "training.patience" || key == "training.threads" ||
         key.rfind("checkpoint.", 0) == 0;
}

// What differs between two fingerprints (keys a resume may change left out), "" if nothing.
std::string spec_changes(const std::string& was, const std::string& now) {
  auto parse = [](const std::string& text) {
    std::map<std::string, std::string> m;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      const auto eq = line.find(" = ");
      if (eq != std::string::npos) m[line.substr(0, eq)] = line.substr(eq + 3);
    }
    return m;
  };
  const auto a = parse(was), b = parse(now);
  std::vector<std::string> diff;
  for (const auto& [k, v] : a)
    if (!may_change_on_resume(k)) {
      const auto it = b.find(k);
      if (it == b.end())
        diff.push_back(fmt::format("{} ({} -> removed)", k, v));
      else if (it->second != v)
        diff.push_back(fmt::format("{} ({} -> {})", k, v, it->second));
    }
  for (const auto& [k, v] : b)
    if (!may_change_on_resume(k) && !a.count(k)) diff.push_back(fmt::format("{} (added: {})", k, v));
  std::string out;
  for (size_t i = 0; i < diff.size() && i < 8; ++i) out += (i ? ", " : "") + diff[i];
  if (diff.size() > 8) out += fmt::format(" and {} more", diff.size() - 8);
  return out;
}

torch::Tensor string_tensor(const std::string& s) {
  return torch::from_blob(const_cast<char*>(s.data()), {static_cast<int64_t>(s.size())}, torch::kUInt8).clone();
}

std::string tensor_string(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kUInt8).contiguous();
  return std::string(reinterpret_cast<const char*>(c.data_ptr<uint8_t>()), static_cast<size_t>(c.numel()));
}

// Written atomically (a temporary, then a rename) by rank 0.
void save_checkpoint(const std::string& file, torch::nn::Sequential& model, FlatOptimizer& opt, const TrainState& st,
                     const std::string& spec) {
  torch::serialize::OutputArchive a, ma, oa, ba;
  a.write("spec", string_tensor(spec));
  model->save(ma);
  opt.optimizer().save(oa);
  a.write("model", ma);
  a.write("optimizer", oa);
  a.write("epoch", torch::tensor(static_cast<int64_t>(st.epoch)));
  a.write("best_epoch", torch::tensor(static_cast<int64_t>(st.best_epoch)));
  a.write("since_best", torch::tensor(static_cast<int64_t>(st.since_best)));
  a.write("best_val", torch::tensor(st.best_val, torch::kDouble));
  a.write("rng", model_files::rng_state(st.shuffle_rng));
  for (size_t i = 0; i < st.best_params.size(); ++i) ba.write(std::to_string(i), st.best_params[i]);
  a.write("best", ba);
  if (!st.checks.empty()) {  // coupled_validation
    std::vector<double> rows;
    for (const auto& c : st.checks)
      rows.insert(rows.end(), {static_cast<double>(c.epoch), c.error, c.held_out_loss, c.accepted});
    a.write("coupled_checks", torch::tensor(rows, torch::kDouble).view({static_cast<int64_t>(st.checks.size()), 4}));
    a.write("coupled_epoch", torch::tensor(static_cast<int64_t>(st.coupled_epoch)));
    torch::serialize::OutputArchive ca;
    for (size_t i = 0; i < st.coupled_params.size(); ++i) ca.write(std::to_string(i), st.coupled_params[i]);
    a.write("coupled_best", ca);
  }
  const std::string tmp = file + ".tmp";
  a.save_to(tmp);
  fs::rename(tmp, file);
}

void read_checkpoint(torch::serialize::InputArchive& a, torch::nn::Sequential& model, FlatOptimizer& opt,
                     TrainState& st) {
  torch::serialize::InputArchive ma, oa, ba;
  a.read("model", ma);
  std::vector<std::vector<int64_t>> shapes;
  for (const auto& prm : model->parameters()) shapes.push_back(prm.sizes().vec());
  model->load(ma);  // replaces the parameters' storage: bind them to the buffers again
  const auto loaded = model->parameters();
  if (loaded.size() != shapes.size())
    throw std::runtime_error(
        fmt::format("it holds a model of {} parameter tensors, this spec's has {}", loaded.size(), shapes.size()));
  for (size_t i = 0; i < shapes.size(); ++i)
    if (loaded[i].sizes().vec() != shapes[i])
      throw std::runtime_error(fmt::format("it holds another model (parameter {} is {}, this spec's is {})", i,
                                           fmt::join(loaded[i].sizes().vec(), "x"), fmt::join(shapes[i], "x")));
  opt.bind();
  a.read("optimizer", oa);
  opt.optimizer().load(oa);
  // Read each entry into a fresh tensor: reading into a defined one resizes its storage.
  auto scalar = [&](const char* key) {
    torch::Tensor t;
    a.read(key, t);
    return t;
  };
  st.epoch = scalar("epoch").item<int64_t>();
  st.best_epoch = scalar("best_epoch").item<int64_t>();
  st.since_best = scalar("since_best").item<int64_t>();
  st.best_val = scalar("best_val").item<double>();
  model_files::set_rng_state(scalar("rng"), st.shuffle_rng);
  a.read("best", ba);
  for (size_t i = 0; i < st.best_params.size(); ++i) {
    torch::Tensor t;
    ba.read(std::to_string(i), t);
    st.best_params[i] = t.clone();
  }
  torch::Tensor rows;
  if (a.try_read("coupled_checks", rows)) {
    const torch::Tensor r = rows.to(torch::kDouble).contiguous();
    for (int64_t i = 0; i < r.size(0); ++i)
      st.checks.push_back({static_cast<long>(r[i][0].item<double>()), r[i][1].item<double>(), r[i][2].item<double>(),
                           r.size(1) > 3 ? r[i][3].item<double>() : -1.0});  // older checkpoints: 3 columns
    st.coupled_epoch = scalar("coupled_epoch").item<int64_t>();
    torch::serialize::InputArchive ca;
    a.read("coupled_best", ca);
    st.coupled_params.assign(st.best_params.size(), torch::Tensor());
    for (size_t i = 0; i < st.coupled_params.size(); ++i) {
      torch::Tensor t;
      if (ca.try_read(std::to_string(i), t)) st.coupled_params[i] = t.clone();
    }
    if (st.coupled_epoch < 0) st.coupled_params.clear();
  }
}

// Reads a checkpoint for --resume. A file that is not one of simfuse train's checkpoints,
// or one written for another model, is a UserError naming it (never libtorch's dump); one
// written by another spec is refused with what changed, unless `force`.
void load_checkpoint(const std::string& file, torch::nn::Sequential& model, FlatOptimizer& opt, TrainState& st,
                     const std::string& spec, bool force, const Params& where) {
  const auto unreadable = [&](const std::string& why) {
    where.fail("file", fmt::format("--resume: cannot use the checkpoint '{}': {}", file, why),
               "remove it to start afresh, or resume with the spec and model that wrote it");
  };
  try {
    torch::serialize::InputArchive a;
    a.load_from(file);
    torch::Tensor written;
    if (!a.try_read("spec", written)) unreadable("it does not record the spec that wrote it (not simfuse train's)");
    const std::string changed = spec_changes(tensor_string(written), spec);
    if (!changed.empty() && !force)
      where.fail("file", fmt::format("--resume: the spec differs from the one that wrote '{}': {}", file, changed),
                 "resume with the spec that wrote it, pass --force to continue with this one, or remove the "
                 "checkpoint to start afresh");
    read_checkpoint(a, model, opt, st);
  } catch (const c10::Error& e) {
    std::string what = e.what_without_backtrace();
    unreadable(what.substr(0, what.find('\n')));
  } catch (const std::runtime_error& e) {
    if (dynamic_cast<const UserError*>(&e)) throw;
    unreadable(e.what());
  }
}

// ---- The card -------------------------------------------------------------------------------

ModelCard make_card(const Params& p, const ConfigDocument& doc, const TrainingData& d, const YAML::Node& arch,
                    const std::string& out_stem, const TrainState& st, int ranks, double max_abs, double rms) {
  const Params& mp = p.sub("model");
  ModelCard card;
  card.name = mp.get<std::string>("name");
  card.kind = d.stencil ? "stencil" : "pointwise";
  card.radius = d.radius;
  card.format = "builtin";
  card.weights = out_stem + ".pt";
  card.architecture = arch;
  card.dtype = d.dtype == torch::kDouble ? "float64" : "float32";
  card.substep = d.data.substep;
  card.inputs = to_card(d.ch.in_names);
  if (d.ch.with_dt) card.inputs.push_back(CardChannel{{}, {}, "dt"});
  card.outputs = to_card(d.ch.out_names);
  if (d.one_dt) card.conditions["dt"] = *d.one_dt;
  if (mp.is_set("regime")) card.regime = ModelCard::read_regime(mp, "regime", d.ch.with_dt);
  card.context = d.context;
  card.increment = d.increment;
  card.increment_of = d.increment_of;
  auto tovec = [](const torch::Tensor& t) {
    std::vector<double> v(t.numel());
    for (int64_t i = 0; i < t.numel(); ++i) v[i] = t[i].item<double>();
    return v;
  };
  card.in_mean = tovec(d.xm);
  card.in_std = tovec(d.xs);
  card.out_mean = tovec(d.ym);
  card.out_std = tovec(d.ys);
  card.transform = d.transform;
  card.output_transform = d.output_transform;
  card.log_floor = d.log_floor;
  card.boxcox_lambda = d.lambda;
  card.range_min = tovec(d.rmin);
  card.range_max = tovec(d.rmax);
  card.validation_metric = "max_abs";
  card.validation_value = max_abs;
  card.validation_samples = d.nval;
  card.provenance["tool"] = std::string("simfuse ") + SIMFUSE_VERSION + " train";
  card.provenance["spec"] = doc.origin();
  card.provenance["datasets"] = p.get<std::vector<std::string>>("dataset");
  card.provenance["samples"] = static_cast<long>(d.n);
  card.provenance["epochs"] = st.epoch;
  card.provenance["best_epoch"] = st.best_epoch;
  card.provenance["ranks"] = ranks;
  card.provenance["validation_rms"] = rms;
  card.provenance["validation_loss_normalised"] = st.best_val;
  card.provenance["created"] = model_files::created_now();
  return card;
}

}  // namespace

// ---- The loop -------------------------------------------------------------------------------

namespace {

// The model of `arch` for d's channels: the same initialisation everywhere (`seed`), then
// broadcast from rank 0 anyway.
torch::nn::Sequential build_model(const YAML::Node& arch, const TrainingData& d, int64_t seed, const Params& p,
                                  MPI_Comm comm) {
  torch::manual_seed(static_cast<uint64_t>(seed));
  torch::nn::Sequential model{nullptr};
  try {
    model = build_architecture(arch, d.cin, d.cout).module;
    model->to(d.dtype);
  } catch (const c10::Error& e) {  // e.g. layers too wide to allocate
    std::string what = e.what_without_backtrace();
    what = what.substr(0, what.find('\n'));
    p.sub("model").fail("architecture", "cannot build the model: " + what, "use narrower or fewer hidden layers");
  }
  for (auto& prm : model->parameters())
    MPI_Bcast(prm.data_ptr(), static_cast<int>(prm.numel()), d.dtype == torch::kDouble ? MPI_DOUBLE : MPI_FLOAT, 0,
              comm);
  return model;
}

// A model this tool did not write (an exported TorchScript file, a hand-made card) is not
// overwritten without --force. Every rank reads the same files: all refuse alike.
void refuse_foreign_output(const Params& p, const std::string& out_stem) {
  std::error_code fe;
  const std::string card_file = out_stem + ".card.yaml", weights_file = out_stem + ".pt";
  std::string foreign;
  if (fs::exists(card_file, fe)) {
    try {
      const YAML::Node tool = YAML::LoadFile(card_file)["provenance"]["tool"];
      if (!tool || !tool.IsScalar() || tool.Scalar().rfind("simfuse", 0) != 0 ||
          tool.Scalar().find("train") == std::string::npos)
        foreign = card_file + " (its provenance does not say simfuse train)";
    } catch (const YAML::Exception&) {
      foreign = card_file + " (not a model card)";
    }
  } else if (fs::exists(weights_file, fe)) {
    foreign = weights_file + " (no card beside it)";
  }
  if (!foreign.empty())
    p.fail("output", "would overwrite " + foreign + ", which simfuse train did not write",
           "choose another output, or pass --force to overwrite it");
}

// The files a training writes: every one is checked now, not at the first checkpoint ten
// epochs in: folders that do not exist yet are created later, one that is a file is refused.
struct TrainFiles {
  std::string out_stem, checkpoint;
  int checkpoint_every = 0;
};
TrainFiles train_files(const Params& p, const ConfigDocument& doc, bool force) {
  TrainFiles f;
  f.out_stem = resolve_path(p.get<std::string>("output"), doc.origin(), PathUse::output);
  if (!force) refuse_foreign_output(p, f.out_stem);
  const Params& cp = p.sub("checkpoint");
  f.checkpoint = cp.is_set("file") ? resolve_path(cp.get<std::string>("file"), doc.origin(), PathUse::output)
                                   : f.out_stem + ".ckpt";
  f.checkpoint_every = cp.get<int>("every");
  for (const auto& [key, file, where] :
       {std::tuple{"output", f.out_stem + ".pt", &p}, std::tuple{"file", f.checkpoint, &cp}})
    if (const std::string why = output_file_problem(file); !why.empty())
      where->fail(key, fmt::format("cannot write '{}': {}", file, why), "choose a path in a writable folder");
  return f;
}

// Data-parallel training over the ranks of `comm`: each rank holds all the data and
// works on its share of every batch.
struct DataParallel {
  torch::nn::Sequential& model;
  const TrainingData& d;
  MPI_Comm comm;
  int rank = 0, size = 1;

  // This rank's share [lo, hi) of `count` rows.
  std::pair<int64_t, int64_t> shard(int64_t count) const {
    return std::make_pair(count * rank / size, count * (rank + 1) / size);
  }
  // Validation loss (normalised MSE) over all ranks.
  double validation() {
    torch::NoGradGuard ng;
    model->eval();
    auto [lo, hi] = shard(d.nval);
    double sse = 0;
    if (hi > lo) {
      const torch::Tensor idx = d.val_idx.narrow(0, lo, hi - lo);
      sse = (model->forward(d.Xn.index_select(0, idx)) - d.Yn.index_select(0, idx)).pow(2).sum().item<double>();
    }
    MPI_Allreduce(MPI_IN_PLACE, &sse, 1, MPI_DOUBLE, MPI_SUM, comm);
    model->train();
    return sse / static_cast<double>(d.nval * d.per_sample);
  }
  // One epoch in batches of `batch` (shuffled by st's generator); returns the summed
  // squared error of the training samples and adds the time spent to `res`.
  double epoch(FlatOptimizer& optim, TrainState& st, int64_t batch, TrainResult& res) {
    using clock = std::chrono::steady_clock;
    const auto seconds = [](clock::time_point a, clock::time_point b) {
      return std::chrono::duration<double>(b - a).count();
    };
    optim.set_epoch(st.epoch);
    std::vector<int64_t> perm(d.ntrain);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), st.shuffle_rng);
    const torch::Tensor permt = d.train_idx.index_select(0, torch::tensor(perm, torch::kLong));
    double train_sse = 0;
    for (int64_t b0 = 0; b0 < d.ntrain; b0 += batch) {
      const int64_t bn = std::min(batch, d.ntrain - b0);
      auto [lo, hi] = shard(bn);
      const auto t0 = clock::now();
      optim.zero();
      double sse = 0;
      if (hi > lo) {
        const torch::Tensor idx = permt.narrow(0, b0 + lo, hi - lo);
        const torch::Tensor diff = model->forward(d.Xn.index_select(0, idx)) - d.Yn.index_select(0, idx);
        const torch::Tensor loss = diff.pow(2).sum() / static_cast<double>(bn * d.per_sample);
        loss.backward();
        sse = loss.item<double>() * static_cast<double>(bn * d.per_sample);
      }
      const auto t1 = clock::now();
      train_sse += optim.allreduce(sse, comm, size);  // one all-reduce per batch: gradients and loss
      const auto t2 = clock::now();
      optim.step();
      res.compute_seconds += seconds(t0, t1);
      res.allreduce_seconds += seconds(t1, t2);
      res.optimizer_seconds += seconds(t2, clock::now());
    }
    return train_sse;
  }
};

// Keeps the parameters of the best validation loss so far.
void track_best(torch::nn::Sequential& model, double val, TrainState& st) {
  if (val < st.best_val * (1 - 1e-9)) {
    st.best_val = val;
    st.best_epoch = st.epoch;
    st.since_best = 0;
    st.best_params = snapshot(model);
  } else {
    ++st.since_best;
  }
}

// The best model's validation errors in physical units, overall and per output channel.
struct PhysicalErrors {
  double max_abs = 0, rms = 0;
  std::vector<double> per_max, per_rms;
};
PhysicalErrors physical_errors(torch::nn::Sequential& model, const TrainingData& d) {
  torch::NoGradGuard ng;
  PhysicalErrors e;
  // Back to physical outputs, as Surrogate::finish does.
  const torch::Tensor pred = transforms::to_physical(
      model->forward(d.Xn.index_select(0, d.val_idx)).to(torch::kDouble) * d.shape_c(d.ys) + d.shape_c(d.ym),
      d.Xc.index_select(0, d.val_idx), d.increment ? d.inc_src : torch::Tensor(), d.bc_out, d.lambda);
  const torch::Tensor err = pred - d.Yphys.index_select(0, d.val_idx);
  e.max_abs = err.abs().max().item<double>();
  e.rms = std::sqrt(err.pow(2).mean().item<double>());
  const torch::Tensor per = err.transpose(0, 1).reshape({d.cout, -1});
  const torch::Tensor per_max = std::get<0>(per.abs().max(1)), per_rms = per.pow(2).mean(1).sqrt();
  for (int o = 0; o < d.cout; ++o) {
    e.per_max.push_back(per_max[o].item<double>());
    e.per_rms.push_back(per_rms[o].item<double>());
  }
  return e;
}

// coupled_validation: each candidate is written beside the model (<output>.candidate.pt,
// .card.yaml and .support.npy, removed at the end), run by the validator, and the best kept
// in the state.
class CoupledSelection {
 public:
  CoupledSelection(std::unique_ptr<CoupledValidator> v, const Params& section, std::string stem, int rank,
                   MPI_Comm comm)
      : v_(std::move(v)),
        every_(section.get<int>("every")),
        cases_(section.get<std::vector<std::string>>("case")),
        policy_(section.get<std::string>("policy")),
        min_accepted_(policy_ == "guarded" ? section.get<double>("min_accepted") : 0.0),
        field_(section.get<std::string>("metric") == "final_field" ? section.get<std::string>("field") : ""),
        stem_(std::move(stem)),
        rank_(rank),
        comm_(comm) {}
  ~CoupledSelection() {
    if (rank_ != 0) return;
    std::error_code ec;
    fs::remove(stem_ + ".pt", ec);
    fs::remove(stem_ + ".card.yaml", ec);
    fs::remove(stem_ + ".support.npy", ec);
  }
  CoupledSelection(const CoupledSelection&) = delete;
  CoupledSelection& operator=(const CoupledSelection&) = delete;

  bool due(long epoch) const { return epoch % every_ == 0; }
  static bool checked(const TrainState& st, long epoch) {
    return std::any_of(st.checks.begin(), st.checks.end(), [&](const CoupledCheck& c) { return c.epoch == epoch; });
  }
  // Scores `params` (of `model`'s architecture) as the parameters of `epoch`; keeps them in
  // st if they are the best so far (lower error; at equal error, lower held-out loss).
  void check(torch::nn::Sequential& model, const std::vector<torch::Tensor>& params, long epoch, double loss,
             TrainState& st, const std::function<ModelCard(const std::string&, long)>& card_for) {
    const auto t0 = std::chrono::steady_clock::now();
    auto candidate = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(model->clone());
    {
      torch::NoGradGuard ng;
      auto prms = candidate->parameters();
      for (size_t i = 0; i < prms.size(); ++i) prms[i].copy_(params[i]);
    }
    int failed = 0;
    if (rank_ == 0)
      failed = model_files::write(torch::nn::Sequential(candidate), card_for(stem_, epoch), stem_) ? 0 : 1;
    MPI_Bcast(&failed, 1, MPI_INT, 0, comm_);
    if (failed)
      throw UserError(fmt::format("cannot write the candidate model {}.pt for the coupled validation", stem_),
                      "check that the output folder is writable and the disk is not full");
    const CoupledScore sc = v_->score(stem_ + ".card.yaml");
    const CoupledCheck made{epoch, sc.error, loss, sc.accepted};
    st.checks.push_back(made);
    std::sort(st.checks.begin(), st.checks.end(),
              [](const CoupledCheck& a, const CoupledCheck& b) { return a.epoch < b.epoch; });
    bool best = false;
    if (std::isfinite(sc.error)) {
      const CoupledCheck* now = nullptr;
      for (const auto& c : st.checks)
        if (c.epoch == st.coupled_epoch) now = &c;
      // An epoch whose guarded run reached min_accepted beats one that did not; among
      // equals, the lower error (at equal error, the lower held-out loss).
      best =
          !now || (qualifies(made) && !qualifies(*now)) ||
          (qualifies(made) == qualifies(*now) && (sc.error < now->error * (1 - 1e-12) ||
                                                  (sc.error <= now->error * (1 + 1e-12) && loss < now->held_out_loss)));
    }
    if (best) {
      st.coupled_epoch = epoch;
      st.coupled_params.clear();
      for (const auto& t : params) st.coupled_params.push_back(t.detach().clone());
    }
    seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rank_ == 0)
      spdlog::info("coupled check, epoch {}: {} (held-out loss {:.3e}){}", epoch, sc.detail, loss,
                   best ? "; best so far" : "");
  }
  double seconds() const { return seconds_; }  // spent in checks by this process
  bool qualifies(const CoupledCheck& c) const { return c.accepted < 0 || c.accepted >= min_accepted_; }
  // The written epoch's check did not reach min_accepted (no checked epoch did).
  bool below_min_accepted(const TrainState& st) const {
    for (const auto& c : st.checks)
      if (c.epoch == st.coupled_epoch) return !qualifies(c);
    return false;
  }
  double min_accepted() const { return min_accepted_; }

  // The card's `selection` for the parameters written.
  YAML::Node record(const TrainState& st) const {
    YAML::Node sel;
    sel["by"] = "coupled_validation";
    sel["metric"] = v_->metric();
    if (cases_.size() == 1)
      sel["case"] = cases_[0];
    else
      for (const auto& c : cases_) sel["case"].push_back(c);
    if (!field_.empty()) sel["field"] = field_;
    sel["policy"] = policy_;
    if (policy_ == "guarded") sel["min_accepted"] = min_accepted_;
    sel["every"] = every_;
    sel["epoch"] = st.coupled_epoch;
    for (const auto& c : st.checks)
      if (c.epoch == st.coupled_epoch) {
        sel["value"] = c.error;
        sel["held_out_loss"] = c.held_out_loss;
        if (c.accepted >= 0) sel["accepted"] = c.accepted;
        if (!qualifies(c)) sel["min_accepted_met"] = false;
      }
    sel["held_out_best_epoch"] = st.best_epoch;
    for (const auto& c : st.checks) {
      YAML::Node row;
      row["epoch"] = c.epoch;
      row["error"] = c.error;
      row["held_out_loss"] = c.held_out_loss;
      if (c.accepted >= 0) row["accepted"] = c.accepted;
      sel["checks"].push_back(row);
    }
    return sel;
  }

 private:
  std::unique_ptr<CoupledValidator> v_;
  long every_;
  std::vector<std::string> cases_;
  std::string policy_;
  double min_accepted_;
  std::string field_, stem_;
  double seconds_ = 0;
  int rank_;
  MPI_Comm comm_;
};

// Where rank 0's training time went (log line).
void report_time_split(const TrainResult& res, double loop_seconds) {
  if (!(loop_seconds > 0)) return;
  const double rest =
      loop_seconds - res.compute_seconds - res.allreduce_seconds - res.optimizer_seconds - res.coupled_seconds;
  spdlog::info(
      "training time on rank 0: forward + backward {:.0f}%, gradient all-reduce {:.0f}% (with waiting "
      "for the other ranks), optimizer {:.0f}%, {}shuffling and validation {:.0f}%",
      100 * res.compute_seconds / loop_seconds, 100 * res.allreduce_seconds / loop_seconds,
      100 * res.optimizer_seconds / loop_seconds,
      res.coupled_seconds > 0 ? fmt::format("coupled checks {:.0f}%, ", 100 * res.coupled_seconds / loop_seconds)
                              : std::string(),
      100 * rest / loop_seconds);
}

// Writes the model and its card on rank 0; every rank throws alike if that failed.
void write_model(torch::nn::Sequential& model, const ModelCard& card, const std::string& out_stem, int rank,
                 MPI_Comm comm) {
  int write_failed = 0;
  if (rank == 0) {
    {  // standalone parameters in the file, not views of the training buffer
      torch::NoGradGuard ng;
      for (auto& prm : model->parameters()) prm.set_data(prm.detach().clone());
    }
    write_failed = model_files::write(model, card, out_stem) ? 0 : 1;
  }
  MPI_Bcast(&write_failed, 1, MPI_INT, 0, comm);  // every rank fails alike
  if (write_failed)
    throw UserError(fmt::format("cannot write the model {}.pt and its card", out_stem),
                    "check that the output folder is writable and the disk is not full");
}

// The data's support (DataSupport.hpp): a random sample of the training inputs, normalised,
// and the radius that `quantile` of the held-out inputs lie within of it. It depends on the
// data only, so it is measured once, before the epochs: the coupled validation's candidates
// are guarded with the support the written model will have. Rank 0 measures (every rank
// has all the data) and broadcasts the radius.
struct SupportSample {
  std::vector<float> rows;  // ns x cin, normalised
  long n = 0;               // 0: none
  int dim = 0;
  double radius = 0, quantile = 0, floor = 0;
};

SupportSample measure_support(const TrainingData& d, const Params& sp, const std::string& name, int rank,
                              MPI_Comm comm) {
  SupportSample s;
  const long want = sp.get<int>("points");
  if (want == 0 || d.stencil) return s;
  const long ns = std::min<long>(want, d.ntrain), nh = std::min<long>(20000, d.nval);
  const torch::Tensor idx = torch::cat({d.train_idx.narrow(0, 0, ns), d.val_idx.narrow(0, 0, nh)});
  const torch::Tensor z = d.Xn.index_select(0, idx).to(torch::kFloat).contiguous();
  const std::vector<float> rows(z.data_ptr<float>(), z.data_ptr<float>() + z.numel());
  s.quantile = sp.get<double>("quantile");
  s.floor = sp.get<double>("floor");
  // The floor in the normalised space: the card's transforms and normalisation, as the
  // guard will apply them.
  ModelCard space;
  space.transform = d.transform;
  space.log_floor = d.log_floor;
  space.boxcox_lambda = d.lambda;
  for (int64_t i = 0; i < d.xm.numel(); ++i) {
    space.in_mean.push_back(d.xm[i].item<double>());
    space.in_std.push_back(d.xs[i].item<double>());
  }
  const std::vector<float> floors = DataSupport::normalised_floors(space, s.floor);
  if (rank == 0) s.radius = DataSupport::measure_radius(rows, d.cin, ns, nh, s.quantile, floors);
  MPI_Bcast(&s.radius, 1, MPI_DOUBLE, 0, comm);
  // Identical samples make a zero radius (a constant dataset): nothing would count as near.
  if (!(s.radius > 0)) {
    if (rank == 0)
      spdlog::warn("model '{}': the held-out inputs coincide with the training inputs (radius 0); no support written",
                   name);
    return s;
  }
  s.rows.assign(rows.begin(), rows.begin() + ns * d.cin);
  s.n = ns;
  s.dim = d.cin;
  if (rank == 0)
    spdlog::info("model '{}': support of {} training inputs, radius {:.3g} ({} of {} held-out inputs within it)", name,
                 ns, s.radius, s.quantile, nh);
  return s;
}

// Writes the sample as <stem>.support.npy (rank 0; every rank fails alike).
void write_support(const SupportSample& s, const std::string& stem, int rank, MPI_Comm comm) {
  if (s.n == 0) return;
  int failed = 0;
  if (rank == 0) {
    try {
      DataSupport::write_npy(stem + ".support.npy", s.rows, s.n, s.dim);
    } catch (const UserError&) {
      failed = 1;
    }
  }
  MPI_Bcast(&failed, 1, MPI_INT, 0, comm);
  if (failed)
    throw UserError(fmt::format("cannot write the model's support {}.support.npy", stem),
                    "check that the output folder is writable and the disk is not full");
}

// The card's support entry for the sample written at `stem`.
void set_support(ModelCard& card, const SupportSample& s, const std::string& stem) {
  if (s.n > 0) card.support = CardSupport{stem + ".support.npy", s.n, s.radius, s.quantile, s.floor};
}

}  // namespace

// The driver, in its sections (spec and data, model, files, state, epochs, result); ~120
// lines because the epoch loop's stopping rules (patience, --stop-after-epochs) read best
// beside the loop they stop.
TrainResult train(const ConfigDocument& doc, MPI_Comm comm, const TrainOptions& opt) {
  const auto t_start = std::chrono::steady_clock::now();
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const Params p = train_schema().validate_or_throw(doc, doc.root(), "");
  const Params& mp = p.sub("model");
  const Params& tp = p.sub("training");
  YAML::Node arch = YAML::Clone(mp.node("architecture"));
  if (!arch.IsMap()) {  // shorthand such as `architecture: mlp`
    YAML::Node m(YAML::NodeType::Map);
    m["type"] = mp.type_of("architecture");
    arch = m;
  }
  at::set_num_threads(tp.get<int>("threads"));
  TrainingData d = load_data(p, doc, arch);
  split_and_normalise(d, mp, tp);
  const int64_t seed = tp.get<int>("seed");
  torch::nn::Sequential model = build_model(arch, d, seed, p, comm);
  FlatOptimizer optim(model, d.dtype, FlatOptimizer::Settings::from(tp));
  const long epochs = tp.get<int>("epochs");

  const TrainFiles files = train_files(p, doc, opt.force);
  const std::string &out_stem = files.out_stem, &ckpt = files.checkpoint;
  const Params& cp = p.sub("checkpoint");
  std::unique_ptr<CoupledSelection> coupled;
  if (p.has("coupled_validation")) {
    if (!opt.coupled_validator)
      p.fail("coupled_validation", "this program cannot run the reference case (it does not link the solvers)",
             "run the spec with simfuse train, or leave coupled_validation out");
    const CoupledTarget target{d.data.substep, d.one_dt, opt.check_only, d.context};
    const Params& cvp = p.sub("coupled_validation");
    coupled = std::make_unique<CoupledSelection>(opt.coupled_validator(cvp, doc, target, comm), cvp,
                                                 out_stem + ".candidate", rank, comm);
  }
  if (opt.check_only) {  // config validate: the spec, the data and the paths are fine
    TrainResult r;
    r.card_path = out_stem + ".card.yaml";
    return r;
  }

  // The training state, from a checkpoint with --resume.
  TrainState st;
  st.shuffle_rng.seed(static_cast<uint64_t>(seed) + 7);
  st.best_params = snapshot(model);
  const std::string spec = spec_fingerprint(doc.root());
  std::error_code ec;
  if (opt.resume && fs::exists(ckpt, ec)) {
    if (!fs::is_regular_file(ckpt, ec))
      cp.fail("file", fmt::format("--resume: '{}' is not a regular file", ckpt), "remove it to start afresh");
    load_checkpoint(ckpt, model, optim, st, spec, opt.force, cp);
    if (rank == 0) spdlog::info("resumed from {} at epoch {}", ckpt, st.epoch);
  }
  if (rank == 0) {
    make_parent_folders(out_stem + ".pt");
    make_parent_folders(ckpt);
  }
  MPI_Barrier(comm);
  const SupportSample support = measure_support(d, p.sub("support"), mp.get<std::string>("name"), rank, comm);
  if (coupled) write_support(support, out_stem + ".candidate", rank, comm);
  auto checkpoint = [&]() {
    if (rank == 0) save_checkpoint(ckpt, model, optim, st, spec);
  };

  // The epochs, until the last, early stopping (patience) or --stop-after-epochs.
  DataParallel dp{model, d, comm, rank, size};
  const int64_t batch = std::min<int64_t>(tp.get<int>("batch"), d.ntrain);
  const long patience = tp.get<int>("patience");
  const auto card_for = [&](const std::string& stem, long epoch) {  // a candidate's card
    ModelCard c = make_card(p, doc, d, arch, stem, st, size, 0, 0);
    set_support(c, support, stem);
    c.provenance["candidate_epoch"] = epoch;
    return c;
  };
  TrainResult res;
  const auto t_loop = std::chrono::steady_clock::now();
  long epochs_here = 0;
  model->train();
  while (st.epoch < epochs) {
    const double train_sse = dp.epoch(optim, st, batch, res);
    ++st.epoch;
    ++epochs_here;
    const double val = dp.validation();
    track_best(model, val, st);
    if (opt.progress && rank == 0) {
      const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_loop).count();
      const double eta = el / epochs_here * (epochs - st.epoch);
      spdlog::info("epoch {}/{}  train {:.3e}  val {:.3e}  best {:.3e} (epoch {})  lr {:.2e}  ETA {}", st.epoch, epochs,
                   train_sse / static_cast<double>(d.ntrain * d.per_sample), val, st.best_val, st.best_epoch,
                   optim.lr_at(st.epoch - 1), duration(eta));
    }
    if (coupled && coupled->due(st.epoch)) coupled->check(model, snapshot(model), st.epoch, val, st, card_for);
    if (files.checkpoint_every > 0 && st.epoch % files.checkpoint_every == 0) checkpoint();
    if (patience > 0 && st.since_best >= patience) {
      res.stopped_early = true;
      break;
    }
    if (opt.stop_after_epochs > 0 && epochs_here >= opt.stop_after_epochs && st.epoch < epochs) {
      checkpoint();
      res.interrupted = true;
      res.epochs = st.epoch;
      return res;
    }
  }
  const double loop_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_loop).count();
  res.seconds_per_epoch = loop_seconds / std::max<long>(1, epochs_here);
  if (coupled) res.coupled_seconds = coupled->seconds();
  if (rank == 0) report_time_split(res, loop_seconds);

  // coupled_validation: the last epoch and the held-out loss's best are candidates too.
  if (coupled) {
    if (!CoupledSelection::checked(st, st.epoch))
      coupled->check(model, snapshot(model), st.epoch, dp.validation(), st, card_for);
    if (st.best_epoch > 0 && !CoupledSelection::checked(st, st.best_epoch))
      coupled->check(model, st.best_params, st.best_epoch, st.best_val, st, card_for);
    if (st.coupled_epoch < 0 && rank == 0)
      spdlog::warn("every coupled check failed ({} checks): writing the parameters of the best held-out loss",
                   st.checks.size());
    if (st.coupled_epoch >= 0 && coupled->below_min_accepted(st) && rank == 0)
      spdlog::warn(
          "no checked epoch's guarded run reached min_accepted = {}: writing the lowest error's (epoch "
          "{}), a model the guard mostly refuses; its card says min_accepted_met: false",
          coupled->min_accepted(), st.coupled_epoch);
  }
  const bool by_coupled = coupled && st.coupled_epoch >= 0;
  res.selected_by = by_coupled ? "coupled_validation" : "held_out_loss";
  res.selected_epoch = by_coupled ? st.coupled_epoch : st.best_epoch;
  res.checks = st.checks;

  // The chosen parameters, their errors in physical units, the model and its card.
  {
    torch::NoGradGuard ng;
    const auto& chosen = by_coupled ? st.coupled_params : st.best_params;
    auto prms = model->parameters();
    for (size_t i = 0; i < prms.size(); ++i) prms[i].copy_(chosen[i]);
  }
  model->eval();
  const PhysicalErrors err = physical_errors(model, d);
  ModelCard card = make_card(p, doc, d, arch, out_stem, st, size, err.max_abs, err.rms);
  card.validation_max_abs = err.per_max;
  card.validation_rms = err.per_rms;
  if (by_coupled) {
    card.selection = coupled->record(st);
    card.provenance["best_epoch"] = st.coupled_epoch;
    card.provenance["validation_loss_normalised"] = card.selection["held_out_loss"].as<double>();
  } else {
    card.selection["by"] = "held_out_loss";
    card.selection["epoch"] = st.best_epoch;
    card.selection["value"] = st.best_val;
  }
  write_support(support, out_stem, rank, comm);
  set_support(card, support, out_stem);
  write_model(model, card, out_stem, rank, comm);
  res.card = card;
  res.card_path = out_stem + ".card.yaml";
  res.epochs = st.epoch;
  res.best_epoch = st.best_epoch;
  res.best_val_loss = st.best_val;
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  if (rank == 0)
    spdlog::info("model '{}': validation max error {:.3e}, rms {:.3e} ({} samples); wrote {}", card.name, err.max_abs,
                 err.rms, d.nval, res.card_path);
  // Targets are normalised: predicting their mean scores a loss of about 1.
  res.learned_nothing = !(st.best_val < 1.0);
  if (rank == 0 && res.learned_nothing)
    spdlog::warn(
        "model '{}' is no better than predicting the mean of its targets (normalised validation loss {:.3g} "
        ">= 1): the training diverged or learned nothing; lower training.lr (it is {:g}), or check the data",
        card.name, st.best_val, tp.get<double>("lr"));
  return res;
}

}  // namespace simfuse
