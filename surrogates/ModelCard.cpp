#include "simfuse/surrogates/ModelCard.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "simfuse/core/base/Paths.hpp"

namespace simfuse {

namespace fs = std::filesystem;

int ModelCard::in_channels() const {
  int n = 0;
  for (const auto& c : inputs) n += c.count();
  return n;
}

int ModelCard::out_channels() const {
  int n = 0;
  for (const auto& c : outputs) n += c.count();
  return n;
}

ModelCard::Transform ModelCard::input_transform(int c) const {
  return transform[c] == "log10" ? Transform::log10 : transform[c] == "boxcox" ? Transform::boxcox : Transform::none;
}

double ModelCard::transform_input(int c, double x) const {
  return transform_input(input_transform(c), x);
}

double ModelCard::untransform_input(int c, double z, bool upper) const {
  const double inf = std::numeric_limits<double>::infinity();
  if (transform[c] == "log10") return z <= std::log10(log_floor) ? (upper ? log_floor : -inf) : std::pow(10.0, z);
  if (transform[c] == "boxcox") {
    const double b = 1 + boxcox_lambda * z;
    return b <= 0 ? (upper ? 0.0 : -inf) : std::pow(b, 1 / boxcox_lambda);
  }
  return z;
}

std::vector<int> ModelCard::increment_source() const {
  std::vector<int> src;
  for (const auto& o : outputs)
    for (const auto& comp : o.components) {
      int idx = 0, found = -1;
      for (const auto& i : inputs) {
        for (const auto& ic : i.components) {
          if (i.field == (increment_of.empty() ? o.field : increment_of) && ic == comp) found = idx;
          ++idx;
        }
        if (!i.scalar.empty()) ++idx;
      }
      src.push_back(found);
    }
  return src;
}

std::optional<std::string> ModelCard::context_conflict(const std::map<std::string, std::string>& trained,
                                                       const std::map<std::string, std::string>& solver) {
  for (const auto& [key, value] : trained) {
    const auto it = solver.find(key);
    if (it == solver.end() || it->second != value) return key;
  }
  return std::nullopt;
}

std::map<std::string, std::pair<double, double>> ModelCard::read_regime(const Params& p, const std::string& key,
                                                                        bool reads_dt) {
  static const Schema rs = [] {
    Schema r("regime", "the physical regime a model is made for, each coordinate [low, high]");
    r.add("temperature", ParamType::RealList, "per point, K");
    r.add("equivalence_ratio", ParamType::RealList, "per point, of the element composition");
    r.add("pressure", ParamType::RealList, "the case's thermodynamic pressure, Pa");
    r.add("dt", ParamType::RealList, "the sub-step's time step, s (needs a model that reads dt)");
    return r;
  }();
  const YAML::Node n = p.node(key);
  if (!n.IsMap() || n.size() == 0)
    p.fail(key, "an empty regime states no range",
           "give at least one of temperature, equivalence_ratio, pressure, dt as [low, high], e.g. "
           "regime: {equivalence_ratio: [0.4, 1.2], temperature: [300, 2600]}");
  const Params r = p.validate_entry(key, rs);
  std::map<std::string, std::pair<double, double>> out;
  for (const std::string k : {"temperature", "equivalence_ratio", "pressure", "dt"}) {
    if (!r.is_set(k)) continue;
    const auto v = r.get<std::vector<double>>(k);
    if (v.size() != 2 || !std::isfinite(v[0]) || !std::isfinite(v[1]))
      r.fail(k, fmt::format("expected [low, high], two finite numbers; got {} values", v.size()),
             "e.g. " + k + ": [0.4, 1.2]");
    if (!(v[0] <= v[1]) || v[0] < 0)
      r.fail(k, fmt::format("[{:g}, {:g}] is empty or negative: the regime would hold nothing", v[0], v[1]),
             "give low <= high, both at least 0 (low = high: the model is made for that one value)");
    if (k == "dt" && !reads_dt)
      r.fail(k, "the model does not read dt (no {scalar: dt} input), so it is made for one dt",
             "state that dt in conditions.dt, or train a model that reads dt (model.scalars: [dt])");
    out[k] = {v[0], v[1]};
  }
  return out;
}

const Schema& ModelCard::schema() {
  static const Schema s = [] {
    Schema s("model card", "a surrogate's model card");
    s.add_string("name", "model name").required();
    s.add_string("kind", "pointwise (per grid point) or stencil (a neighbourhood)")
        .def("pointwise")
        .choices({"pointwise", "stencil"});
    s.add_int("radius", "receptive-field radius in grid points (stencil models)").def(0).range(0, 64);
    s.add_string("format", "builtin (a C++ architecture and its archive) or torchscript")
        .def("builtin")
        .choices({"builtin", "torchscript"});
    s.add_string("weights", "the weights file, relative to the card").required();
    s.add_map("architecture", "builtin models: {type: mlp | cnn, ...}");
    s.add_string("dtype", "the model's floating-point type").def("float32").choices({"float32", "float64"});
    s.add_string("substep", "the sub-step the model stands in for").required();
    s.add("inputs", ParamType::Any, "list of {field, components} or {scalar}").required();
    s.add("outputs", ParamType::Any, "list of {field, components}").required();
    s.add_map("conditions", "sub-step settings the model was trained for, e.g. {dt: 0.02}");
    s.add_map("context", "facts of the solver the data came from, e.g. {mechanism_hash: fnv1a64:..., reactor: ...}");
    s.add("regime", ParamType::Any,
          "the physical regime the model is made for, each coordinate as [low, high]: temperature (K) and "
          "equivalence_ratio (of the element composition) per point, pressure (Pa) and dt (s) of the case; a case "
          "that starts outside it is warned at set-up, a guard judges 'out of range' by it, and a dt range replaces "
          "conditions.dt");
    s.add_string("predicts", "increment (output = input + model) or state")
        .def("state")
        .choices({"increment", "state"});
    s.add_string("increment_of",
                 "increment models: the input field whose components the output adds to (default: the output's own "
                 "field; a forced chemistry model: transported, the state the transport leaves)");
    Schema& n = s.add_section("normalisation", "affine normalisation applied inside the wrapper");
    n.add("input_mean", ParamType::RealList, "per input channel").required();
    n.add("input_std", ParamType::RealList, "per input channel").required().positive();
    n.add("output_mean", ParamType::RealList, "per output channel").required();
    n.add("output_std", ParamType::RealList, "per output channel").required().positive();
    s.add("transform", ParamType::StringList, "per input channel: none, log10 or boxcox (before normalisation)")
        .choices({"none", "log10", "boxcox"});
    s.add("output_transform", ParamType::StringList,
          "per output channel: none or boxcox (the model predicts the transformed output, or its increment)")
        .choices({"none", "boxcox"});
    s.add_real("log_floor", "values are clamped to at least this before log10").def(1e-12).positive();
    s.add_real("boxcox_lambda", "boxcox: (max(x, 0)^lambda - 1) / lambda").def(0.1).range(1e-3, 1);
    Schema& r = s.add_section("training_ranges", "range of each input channel in the training data");
    r.add("min", ParamType::RealList, "per input channel").required();
    r.add("max", ParamType::RealList, "per input channel").required();
    Schema& v = s.add_section("validation", "error on held-out data");
    v.add_string("metric", "what was measured").def("max_abs");
    v.add_real("value", "the measured value").def(-1.0);
    v.add_int("samples", "number of held-out samples").def(0).min(0);
    Schema& pc = v.add_section("per_channel", "errors per output channel, physical units");
    pc.add("max_abs", ParamType::RealList, "largest absolute error");
    pc.add("rms", ParamType::RealList, "root mean square error");
    s.add_map("selection",
              "how the written parameters were chosen among the epochs: {by: held_out_loss | coupled_validation, "
              "epoch, value, ...} (simfuse train writes it)");
    Schema& sp = s.add_optional_section(
        "support",
        "where the training data are (simfuse train writes it): a sample of the training inputs, normalised, and the "
        "radius within which a point counts as near them; the guard judges a point farther than it from every "
        "sample as out of range");
    sp.add_string("file", "the sample: an .npy file of float32 rows (points x input channels), relative to the card")
        .required();
    sp.add_int("points", "rows of the sample").required().min(1);
    sp.add_real("radius", "distance in the normalised input space").required().positive();
    sp.add_real("quantile", "of the held-out inputs' nearest-sample distances that the radius is").range(0.0, 1.0);
    sp.add_real("floor",
                "log10 and Box-Cox channels' values below this count as this in the distance (0: none; the radius was "
                "measured so)")
        .def(0.0)
        .range(0.0, 1.0);
    s.add_map("provenance", "how the model was made");
    return s;
  }();
  return s;
}

namespace {

std::vector<CardChannel> channels(const ConfigDocument& doc, const YAML::Node& n, const std::string& path,
                                  bool allow_scalars) {
  std::vector<CardChannel> out;
  if (!n.IsDefined() || !n.IsSequence() || n.size() == 0)
    throw UserError(Diagnostic{doc.locate(n, path), path, "expected a non-empty list of {field, components}",
                               "e.g. [{field: c, components: [u, v]}, {scalar: dt}]"});
  for (size_t i = 0; i < n.size(); ++i) {
    const std::string ip = fmt::format("{}[{}]", path, i);
    const YAML::Node e = n[i];
    CardChannel c;
    if (e.IsMap() && e["scalar"] && allow_scalars) {
      c.scalar = e["scalar"].as<std::string>();
    } else if (e.IsMap() && e["field"] && e["components"] && e["components"].IsSequence()) {
      c.field = e["field"].as<std::string>();
      c.components = e["components"].as<std::vector<std::string>>();
    } else {
      throw UserError(
          Diagnostic{doc.locate(e, ip), ip,
                     "expected {field: name, components: [...]}" + std::string(allow_scalars ? " or {scalar: dt}" : ""),
                     "see simfuse config doc for the card format"});
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace

ModelCard ModelCard::load(const std::string& path) {
  const ConfigDocument doc = ConfigDocument::load_file(path, "model card");
  const Params p = schema().validate_or_throw(doc, doc.root(), "");
  ModelCard c;
  c.path = path;
  c.name = p.get<std::string>("name");
  c.kind = p.get<std::string>("kind");
  c.radius = p.get<int>("radius");
  c.format = p.get<std::string>("format");
  c.weights = resolve_path(p.get<std::string>("weights"), path);
  c.dtype = p.get<std::string>("dtype");
  c.substep = p.get<std::string>("substep");
  c.increment = p.get<std::string>("predicts") == "increment";
  if (p.is_set("increment_of")) {
    c.increment_of = p.get<std::string>("increment_of");
    if (!c.increment) p.fail("increment_of", "is for increment models; this one predicts its state", "remove it");
  }
  c.log_floor = p.get<double>("log_floor");
  c.boxcox_lambda = p.get<double>("boxcox_lambda");
  const YAML::Node& root = doc.root();
  c.inputs = channels(doc, root["inputs"], "inputs", true);
  c.outputs = channels(doc, root["outputs"], "outputs", false);
  if (p.is_set("architecture")) c.architecture = YAML::Clone(p.node("architecture"));
  // Maps of scalars: each value checked here (libFuzzer found `as<double>` throwing
  // yaml-cpp's own exception on a value that is not a number).
  auto scalar_map = [&](const char* key, auto&& put) {
    if (!p.is_set(key)) return;
    for (const auto& kv : p.node(key)) {
      const std::string k = kv.first.IsScalar() ? kv.first.Scalar() : std::string();
      const std::string kp = std::string(key) + "." + k;
      if (k.empty() || !kv.second.IsScalar())
        throw UserError(Diagnostic{doc.locate(kv.second, kp), kp, "expected a name and a single value", {}});
      put(k, kv.second, kp);
    }
  };
  scalar_map("conditions", [&](const std::string& k, const YAML::Node& v, const std::string& kp) {
    double x;
    if (!YAML::convert<double>::decode(v, x) || !std::isfinite(x))
      throw UserError(Diagnostic{doc.locate(v, kp), kp, fmt::format("expected a finite number, got '{}'", v.Scalar()),
                                 "a card's conditions are the numbers it was trained at, e.g. 'dt: 2.0e-6'"});
    c.conditions[k] = x;
  });
  scalar_map("context",
             [&](const std::string& k, const YAML::Node& v, const std::string&) { c.context[k] = v.Scalar(); });
  if (p.is_set("regime")) {
    const bool reads_dt =
        std::any_of(c.inputs.begin(), c.inputs.end(), [](const CardChannel& ch) { return ch.scalar == "dt"; });
    c.regime = ModelCard::read_regime(p, "regime", reads_dt);
  }
  if (p.is_set("selection")) c.selection = YAML::Clone(p.node("selection"));
  if (p.is_set("provenance")) c.provenance = YAML::Clone(p.node("provenance"));
  const Params& n = p.sub("normalisation");
  c.in_mean = n.get<std::vector<double>>("input_mean");
  c.in_std = n.get<std::vector<double>>("input_std");
  c.out_mean = n.get<std::vector<double>>("output_mean");
  c.out_std = n.get<std::vector<double>>("output_std");
  const Params& r = p.sub("training_ranges");
  c.range_min = r.get<std::vector<double>>("min");
  c.range_max = r.get<std::vector<double>>("max");
  c.transform = p.is_set("transform") ? p.get<std::vector<std::string>>("transform")
                                      : std::vector<std::string>(c.in_channels(), "none");
  const Params& v = p.sub("validation");
  c.validation_metric = v.get<std::string>("metric");
  c.validation_value = v.get<double>("value");
  c.validation_samples = v.get<int>("samples");
  if (v.sub("per_channel").is_set("max_abs"))
    c.validation_max_abs = v.sub("per_channel").get<std::vector<double>>("max_abs");
  if (v.sub("per_channel").is_set("rms")) c.validation_rms = v.sub("per_channel").get<std::vector<double>>("rms");
  c.output_transform = p.is_set("output_transform") ? p.get<std::vector<std::string>>("output_transform")
                                                    : std::vector<std::string>(c.out_channels(), "none");

  const int ni = c.in_channels(), no = c.out_channels();
  auto need = [&](const Params& pp, const std::string& key, size_t have, int want) {
    if (static_cast<int>(have) != want)
      pp.fail(key,
              fmt::format("has {} entries, the card has {} {} channels", have, want,
                          key.find("output") != std::string::npos ? "output" : "input"),
              "one entry per channel, in the order of inputs/outputs");
  };
  need(n, "input_mean", c.in_mean.size(), ni);
  need(n, "input_std", c.in_std.size(), ni);
  need(n, "output_mean", c.out_mean.size(), no);
  need(n, "output_std", c.out_std.size(), no);
  need(r, "min", c.range_min.size(), ni);
  need(r, "max", c.range_max.size(), ni);
  for (int i = 0; i < ni; ++i)
    if (c.range_min[i] > c.range_max[i])
      r.fail("min", fmt::format("channel {}: min {:g} is above max {:g}", i, c.range_min[i], c.range_max[i]),
             "the training ranges are the data's [min, max] per input channel");
  for (int i = 0; i < ni; ++i)
    if (!(c.in_std[i] > 0))
      n.fail("input_std", fmt::format("channel {}: {:g}; a scale must be positive", i, c.in_std[i]),
             "use the data's standard deviation (1 for a constant channel)");
  for (int o = 0; o < no; ++o)
    if (!(c.out_std[o] > 0))
      n.fail("output_std", fmt::format("channel {}: {:g}; a scale must be positive", o, c.out_std[o]),
             "use the data's standard deviation (a tiny positive value for a constant channel)");
  if (static_cast<int>(c.transform.size()) != ni) need(p, "transform", c.transform.size(), ni);
  if (static_cast<int>(c.output_transform.size()) != no) need(p, "output_transform", c.output_transform.size(), no);
  for (const auto& [key, vals] : {std::pair<std::string, const std::vector<double>*>{"max_abs", &c.validation_max_abs},
                                  {"rms", &c.validation_rms}})
    if (!vals->empty() && static_cast<int>(vals->size()) != no)
      v.sub("per_channel")
          .fail(key, fmt::format("has {} entries, the card has {} output channels", vals->size(), no),
                "one entry per output channel");
  // An increment in a transformed space is added to the transformed input: both sides
  // must use the same transform.
  if (c.increment)
    for (int o = 0; o < no; ++o) {
      const int s = c.increment_source()[o];
      if (s >= 0 && (c.output_transform[o] == "boxcox") != (c.transform[s] == "boxcox"))
        p.fail("output_transform",
               fmt::format("output channel {} is transformed '{}' but the input channel {} it increments is "
                           "transformed '{}'",
                           o, c.output_transform[o], s, c.transform[s]),
               "an increment model needs boxcox on both the output and its input channel, or on neither");
    }
  // A default YAML::Node is a defined null: test for a value.
  if (c.format == "builtin" && (!c.architecture.IsDefined() || c.architecture.IsNull()))
    p.fail("format", "a builtin model needs an 'architecture' block (the one its weights were trained with)",
           "add e.g. 'architecture: {type: mlp, hidden: [64, 64], activation: tanh}' as in the training spec, "
           "or give 'format: torchscript' for a TorchScript file");
  if (c.kind == "stencil" && c.radius < 1)
    p.fail("radius", "a stencil model needs a receptive-field radius of at least 1");
  if (c.increment)
    for (int s : c.increment_source())
      if (s < 0)
        p.fail(c.increment_of.empty() ? "predicts" : "increment_of",
               c.increment_of.empty()
                   ? std::string("an increment model needs every output component among its inputs")
                   : fmt::format("an increment model needs every output component among the inputs of field '{}'",
                                 c.increment_of),
               "add the output fields to inputs, or use predicts: state");
  std::error_code ec;
  if (p.has("support")) {
    const Params& sp = p.sub("support");
    CardSupport sup;
    sup.file = resolve_path(sp.get<std::string>("file"), path);
    sup.points = sp.get<int>("points");
    sup.radius = sp.get<double>("radius");
    sup.quantile = sp.is_set("quantile") ? sp.get<double>("quantile") : 0.0;
    sup.floor = sp.get<double>("floor");
    if (!fs::exists(sup.file, ec))
      sp.fail("file", fmt::format("support file '{}' does not exist", sup.file),
              "the path is relative to the card; copy the .support.npy written beside it, or remove the support entry "
              "(the guard then judges by the regime or the training ranges only)");
    c.support = sup;
  }
  if (!fs::exists(c.weights, ec))
    p.fail("weights", fmt::format("weights file '{}' does not exist", c.weights),
           "the path is relative to the card; regenerate the model or fix the path");
  return c;
}

void ModelCard::save(const std::string& out_path) const {
  YAML::Emitter e;
  auto seq = [&](const std::vector<double>& v) {
    e << YAML::Flow << YAML::BeginSeq;
    for (double x : v) e << x;
    e << YAML::EndSeq;
  };
  auto chans = [&](const std::vector<CardChannel>& cs) {
    e << YAML::BeginSeq;
    for (const auto& c : cs) {
      e << YAML::Flow << YAML::BeginMap;
      if (c.field.empty()) {
        e << YAML::Key << "scalar" << YAML::Value << c.scalar;
      } else {
        e << YAML::Key << "field" << YAML::Value << c.field << YAML::Key << "components" << YAML::Value << YAML::Flow
          << c.components;
      }
      e << YAML::EndMap;
    }
    e << YAML::EndSeq;
  };
  e.SetDoublePrecision(17);
  e << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << name;
  e << YAML::Key << "kind" << YAML::Value << kind;
  e << YAML::Key << "radius" << YAML::Value << radius;
  e << YAML::Key << "format" << YAML::Value << format;
  e << YAML::Key << "weights" << YAML::Value << fs::path(weights).filename().string();
  if (architecture.IsDefined()) e << YAML::Key << "architecture" << YAML::Value << YAML::Flow << architecture;
  e << YAML::Key << "dtype" << YAML::Value << dtype;
  e << YAML::Key << "substep" << YAML::Value << substep;
  e << YAML::Key << "inputs" << YAML::Value;
  chans(inputs);
  if (!conditions.empty()) {
    e << YAML::Key << "conditions" << YAML::Value << YAML::Flow << YAML::BeginMap;
    for (const auto& [k, v] : conditions) e << YAML::Key << k << YAML::Value << v;
    e << YAML::EndMap;
  }
  e << YAML::Key << "outputs" << YAML::Value;
  chans(outputs);
  if (!context.empty()) {
    e << YAML::Key << "context" << YAML::Value << YAML::Flow << YAML::BeginMap;
    for (const auto& [k, v] : context) e << YAML::Key << k << YAML::Value << v;
    e << YAML::EndMap;
  }
  if (!regime.empty()) {
    e << YAML::Key << "regime" << YAML::Value << YAML::Flow << YAML::BeginMap;
    for (const auto& [k, v] : regime)
      e << YAML::Key << k << YAML::Value << YAML::Flow << std::vector<double>{v.first, v.second};
    e << YAML::EndMap;
  }
  e << YAML::Key << "predicts" << YAML::Value << (increment ? "increment" : "state");
  if (!increment_of.empty()) e << YAML::Key << "increment_of" << YAML::Value << increment_of;
  e << YAML::Key << "normalisation" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "input_mean" << YAML::Value;
  seq(in_mean);
  e << YAML::Key << "input_std" << YAML::Value;
  seq(in_std);
  e << YAML::Key << "output_mean" << YAML::Value;
  seq(out_mean);
  e << YAML::Key << "output_std" << YAML::Value;
  seq(out_std);
  e << YAML::EndMap;
  e << YAML::Key << "transform" << YAML::Value << YAML::Flow << transform;
  e << YAML::Key << "output_transform" << YAML::Value << YAML::Flow << output_transform;
  e << YAML::Key << "log_floor" << YAML::Value << log_floor;
  e << YAML::Key << "boxcox_lambda" << YAML::Value << boxcox_lambda;
  e << YAML::Key << "training_ranges" << YAML::Value << YAML::BeginMap << YAML::Key << "min" << YAML::Value;
  seq(range_min);
  e << YAML::Key << "max" << YAML::Value;
  seq(range_max);
  e << YAML::EndMap;
  e << YAML::Key << "validation" << YAML::Value << YAML::BeginMap << YAML::Key << "metric" << YAML::Value
    << validation_metric << YAML::Key << "value" << YAML::Value << validation_value << YAML::Key << "samples"
    << YAML::Value << validation_samples;
  if (!validation_max_abs.empty()) {
    e << YAML::Key << "per_channel" << YAML::Value << YAML::BeginMap << YAML::Key << "max_abs" << YAML::Value;
    seq(validation_max_abs);
    e << YAML::Key << "rms" << YAML::Value;
    seq(validation_rms);
    e << YAML::EndMap;
  }
  e << YAML::EndMap;
  // A default YAML::Node is defined but null: written, it would leave `key:` with no value.
  if (selection.IsDefined() && !selection.IsNull()) e << YAML::Key << "selection" << YAML::Value << selection;
  if (support) {
    e << YAML::Key << "support" << YAML::Value << YAML::Flow << YAML::BeginMap;
    e << YAML::Key << "file" << YAML::Value << fs::path(support->file).filename().string();
    e << YAML::Key << "points" << YAML::Value << support->points;
    e << YAML::Key << "radius" << YAML::Value << support->radius;
    if (support->quantile > 0) e << YAML::Key << "quantile" << YAML::Value << support->quantile;
    if (support->floor > 0) e << YAML::Key << "floor" << YAML::Value << support->floor;
    e << YAML::EndMap;
  }
  if (provenance.IsDefined() && !provenance.IsNull()) e << YAML::Key << "provenance" << YAML::Value << provenance;
  e << YAML::EndMap;
  const std::string tmp = out_path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp);
    out << "# simfuse model card (see surrogates/ModelCard.hpp)\n" << e.c_str() << "\n";
    if (!out) throw UserError("cannot write model card '" + out_path + "'", "check the folder is writable");
  }
  fs::rename(tmp, out_path);
}

}  // namespace simfuse
