#include "simfuse/surrogates/Surrogate.hpp"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/script.h>

#include <map>
#include <sstream>

#include "simfuse/surrogates/Architectures.hpp"
#include "simfuse/surrogates/detail/Transforms.hpp"

namespace simfuse {

namespace {
// Whether `path` is a TorchScript module (what torch.jit.save writes: it has a forward).
bool holds_torchscript(const std::string& path) {
  try {
    torch::jit::Module m = torch::jit::load(path);
    return m.find_method("forward").has_value();
  } catch (...) {
    return false;
  }
}
}  // namespace

namespace {

// A pointwise MLP run by oneDNN (libtorch's MKL-DNN tensors). Debian's OpenBLAS does not
// know this CPU and runs its oldest kernels; oneDNN picks its own (2.6-5.4x faster for
// the MLPs here, ../shared/STACK.md). The weights are converted to oneDNN's layout once.
struct OnednnMlp {
  struct Layer {
    at::Tensor weight, bias;  // oneDNN tensors; bias undefined when the layer has none
    std::string activation;   // after the layer: tanh, relu, gelu, silu, or empty
  };
  std::vector<Layer> layers;

  void add_linear(const at::Tensor& w, const at::Tensor& b) {
    Layer l;
    l.weight = w.detach().to(at::kFloat).contiguous().to_mkldnn();
    if (b.defined()) l.bias = b.detach().to(at::kFloat).contiguous().to_mkldnn();
    layers.push_back(std::move(l));
  }
  // False when the activation has no oneDNN kernel here (the model then runs plain).
  bool add_activation(const std::string& a) {
    if (layers.empty() || !layers.back().activation.empty()) return false;
    if (a != "tanh" && a != "relu" && a != "gelu" && a != "silu") return false;
    layers.back().activation = a;
    return true;
  }

  at::Tensor forward(const at::Tensor& xn) const {
    at::Tensor h = xn.to(at::kFloat).contiguous().to_mkldnn();
    for (const Layer& l : layers) {
      h = l.bias.defined() ? at::mkldnn_linear(h, l.weight, l.bias) : at::mkldnn_linear(h, l.weight);
      if (l.activation == "tanh")
        h = at::tanh(h);
      else if (l.activation == "relu")
        h = at::relu(h);
      else if (l.activation == "gelu")
        h = at::gelu(h);
      else if (l.activation == "silu")
        h = at::mul(h, at::sigmoid(h));
    }
    return h.to_dense();
  }
};

// One oneDNN MLP, or several side by side (a grouped MLP) whose outputs are concatenated.
struct OnednnNet {
  std::vector<OnednnMlp> branches;
  at::Tensor forward(const at::Tensor& xn) const {
    if (branches.size() == 1) return branches.front().forward(xn);
    std::vector<at::Tensor> parts;
    parts.reserve(branches.size());
    for (const OnednnMlp& b : branches) parts.push_back(b.forward(xn));
    return at::cat(parts, 1);
  }
};

// The activation a module stands for ("tanh" for torch::nn::Tanh or TorchScript's
// __torch__.torch.nn.modules.activation.Tanh), empty if it is not one.
// The class of a module type name: "torch::nn::TanhImpl" or
// "__torch__.torch.nn.modules.activation.Tanh" -> "Tanh".
std::string class_name(const std::string& type_name) {
  const auto dot = type_name.find_last_of(".:");
  std::string t = dot == std::string::npos ? type_name : type_name.substr(dot + 1);
  if (t.size() > 4 && t.compare(t.size() - 4, 4, "Impl") == 0) t.resize(t.size() - 4);
  return t;
}

std::string activation_of(const std::string& type_name) {
  static const std::map<std::string, std::string> acts{
      {"Tanh", "tanh"}, {"ReLU", "relu"}, {"GELU", "gelu"}, {"SiLU", "silu"}};
  const auto it = acts.find(class_name(type_name));
  return it == acts.end() ? std::string() : it->second;
}

// A TorchScript class name without the "___torch_mangle_N." parts TorchScript adds when
// one Python class is compiled more than once.
std::string unmangled(std::string name) {
  for (auto p = name.find("___torch_mangle_"); p != std::string::npos; p = name.find("___torch_mangle_")) {
    const auto dot = name.find('.', p);
    name.erase(p, dot == std::string::npos ? std::string::npos : dot - p + 1);
  }
  return name;
}

bool is_linear(const std::string& type_name) {
  return class_name(type_name) == "Linear";
}

}  // namespace

struct Surrogate::Impl {
  ModelCard card;
  SurrogateOptions opt;
  InferencePath path;
  std::unique_ptr<OnednnNet> onednn;
  bool script = false;
  torch::jit::Module jit;
  torch::nn::Sequential seq{nullptr};
  at::ScalarType dtype = at::kFloat;
  at::Tensor in_scale, in_shift;  // model dtype, xn = x * scale + shift
  at::Tensor out_std, out_mean;   // float64
  std::vector<int64_t> log_channels, boxcox_in;
  at::Tensor boxcox_out;  // int64, output channels predicted in Box-Cox space (may be empty)
  at::Tensor inc_index;   // int64, input channel of each output (increment models)

  at::Tensor forward(const at::Tensor& xn) {
    if (onednn) return onednn->forward(xn);
    if (script) {
      const c10::IValue out = jit.forward({xn});
      if (!out.isTensor())
        throw UserError(fmt::format("the TorchScript model's forward returns a {}, not one tensor", out.tagKind()),
                        "make forward return a single tensor [N, C] (e.g. the first element of the tuple), then "
                        "save it again with torch.jit.script or torch.jit.trace");
      return out.toTensor();
    }
    return seq->forward(xn);
  }

  // Chooses the path from the card, the modules and the option alone (deterministic).
  void choose_path() {
    path.name = script ? "torchscript" : "libtorch";
    if (opt.inference == "plain") {
      path.reason = "inference: plain was asked for";
      return;
    }
    if (!card.pointwise()) {
      path.reason = "a stencil model: convolutions already run through oneDNN in libtorch";
      return;
    }
    if (dtype != at::kFloat) {
      path.reason = "a float64 model: the oneDNN path runs float32";
      return;
    }
    if (!at::hasMKLDNN()) {
      path.reason = "this libtorch has no oneDNN";
      return;
    }
    auto net = std::make_unique<OnednnNet>();
    net->branches.emplace_back();
    OnednnMlp* mlp = &net->branches.back();
    bool ok = true;
    if (script) {
      const auto type = jit.type()->name();
      if (!type || unmangled(type->qualifiedName()) != "__torch__.torch.nn.modules.container.Sequential") {
        path.reason = "the TorchScript module is not an nn.Sequential of Linear layers and activations";
        return;
      }
      for (const auto& child : jit.named_children()) {
        const auto ct = child.value.type()->name();
        const std::string tn = ct ? unmangled(ct->qualifiedName()) : std::string();
        if (is_linear(tn)) {
          const auto b = child.value.attr("bias");
          mlp->add_linear(child.value.attr("weight").toTensor(), b.isTensor() ? b.toTensor() : at::Tensor());
        } else if (activation_of(tn) == "gelu" && child.value.hasattr("approximate") &&
                   child.value.attr("approximate").toStringRef() != "none") {
          ok = false;
        } else {
          ok = ok && mlp->add_activation(activation_of(tn));
        }
      }
    } else {
      const auto convert = [&](const torch::nn::Sequential& s, OnednnMlp& m) {
        for (const auto& child : s->children()) {
          if (auto* lin = child->as<torch::nn::Linear>()) {
            m.add_linear(lin->weight, lin->options.bias() ? lin->bias : at::Tensor());
          } else {
            ok = ok && m.add_activation(activation_of(child->name()));
          }
        }
        ok = ok && !m.layers.empty();
      };
      const auto children = seq->children();
      if (children.size() == 1 && children.front()->as<GroupedMlp>()) {
        const auto& nets = children.front()->as<GroupedMlp>()->nets();
        net->branches.resize(nets.size());
        for (size_t i = 0; i < nets.size(); ++i) convert(nets[i], net->branches[i]);
      } else {
        convert(seq, *mlp);
      }
    }
    if (!ok || net->branches.front().layers.empty()) {
      path.reason = "a layer or activation without a oneDNN kernel here";
      return;
    }
    const size_t groups = net->branches.size();
    onednn = std::move(net);
    path = {"onednn",
            groups == 1 ? std::string("a float32 MLP: oneDNN's kernels, weights converted once")
                        : fmt::format("a float32 MLP of {} groups: oneDNN's kernels, weights converted once", groups)};
  }
};

namespace {

std::string first_line(const std::string& s) {
  const auto p = s.find('\n');
  return p == std::string::npos ? s : s.substr(0, p);
}

// The interpreter's message ends with the Python-level error, e.g. "RuntimeError: mat1
// and mat2 shapes cannot be multiplied (2x2 and 3x16)"; c10 errors start with it.
std::string last_line(const std::string& s) {
  std::string t = s;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  const auto p = t.rfind('\n');
  std::string line = p == std::string::npos ? t : t.substr(p + 1);
  if (line.find("Exception raised from") != std::string::npos || line.empty()) return first_line(s);
  return line;
}

// A YAML node on one line, as written in a card ({type: mlp, hidden: [64]}).
std::string flow(const YAML::Node& n) {
  YAML::Emitter e;
  e << YAML::Flow << n;
  return e.c_str();
}

at::Tensor per_channel(const at::Tensor& v, int64_t dim) {
  // [C] -> [1, C] or [1, C, 1, 1]
  return dim == 2 ? v.view({1, -1}) : v.view({1, -1, 1, 1});
}

}  // namespace

Surrogate::Surrogate(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Surrogate::~Surrogate() = default;
const ModelCard& Surrogate::card() const {
  return impl_->card;
}
const SurrogateOptions& Surrogate::options() const {
  return impl_->opt;
}
const InferencePath& Surrogate::inference_path() const {
  return impl_->path;
}

std::unique_ptr<Surrogate> Surrogate::load(const std::string& card_path, const SurrogateOptions& opt) {
  return build(ModelCard::load(card_path), card_path, nullptr, opt);
}

std::unique_ptr<Surrogate> Surrogate::from_memory(const ModelCard& card, const std::string& weights,
                                                  const SurrogateOptions& opt) {
  SIMFUSE_REQUIRE(card.format == "builtin", "from_memory needs a built-in architecture");
  return build(card, card.name, &weights, opt);
}

std::unique_ptr<Surrogate> Surrogate::build(const ModelCard& card, const std::string& card_path,
                                            const std::string* weights, const SurrogateOptions& opt) {
  auto impl = std::make_unique<Impl>();
  impl->card = card;
  impl->opt = opt;
  const ModelCard& c = impl->card;
  if (opt.inference != "auto" && opt.inference != "plain")
    throw UserError(fmt::format("inference path '{}' is not known", opt.inference), "use auto or plain");
  if (opt.device != "cpu")
    throw UserError(fmt::format("device '{}' is not available: this build of libtorch is CPU-only", opt.device),
                    "use device: cpu");
  at::set_num_threads(std::max(1, opt.threads));
  impl->dtype = c.dtype == "float64" ? at::kDouble : at::kFloat;
  const int cin = c.in_channels(), cout = c.out_channels();
  const std::string what = fmt::format("model '{}' ({})", c.name, c.weights);
  try {
    if (c.format == "torchscript") {
      impl->script = true;
      impl->jit = torch::jit::load(c.weights);
      impl->jit.eval();
      impl->jit.to(impl->dtype);
    } else {
      const Architecture built = build_architecture(c.architecture, cin, cout, card_path + " (architecture)");
      if (built.radius != c.radius)
        throw UserError(fmt::format("{}: the card says radius {} but the architecture has radius {}", card_path,
                                    c.radius, built.radius),
                        "fix the card's radius");
      impl->seq = built.module;
      // In the archive's dtype before loading: loading float64 tensors into float32
      // parameters leaves garbage (libtorch 1.13 copies the bytes).
      impl->seq->to(impl->dtype);
      // libtorch loads a parameter of any shape over the built one: the card's architecture
      // (e.g. hidden: [64]) and the file's weights (32 wide) must be compared by hand.
      std::vector<std::pair<std::string, std::vector<int64_t>>> built_shapes;
      for (const auto& prm : impl->seq->named_parameters())
        built_shapes.emplace_back(prm.key(), prm.value().sizes().vec());
      if (weights) {
        std::istringstream in(*weights);
        torch::load(impl->seq, in);
      } else {
        torch::load(impl->seq, c.weights);
      }
      const auto loaded = impl->seq->named_parameters();
      for (const auto& [name, shape] : built_shapes) {
        const auto* prm = loaded.find(name);
        if (prm && prm->sizes().vec() != shape)
          throw UserError(fmt::format("{}: the weights do not fit the card's architecture {}: parameter '{}' is [{}] "
                                      "in {}, the architecture makes it [{}]",
                                      card_path, flow(c.architecture), name, fmt::join(prm->sizes().vec(), ", "),
                                      c.weights, fmt::join(shape, ", ")),
                          "the card must describe the network its weights file holds (regenerate the card with "
                          "simfuse train, or fix its architecture block)");
      }
      impl->seq->eval();
    }
  } catch (const UserError&) {
    throw;
  } catch (const c10::Error& e) {
    // A TorchScript file behind a built-in card: libtorch says "No such serialized submodule".
    if (c.format != "torchscript" && !weights && holds_torchscript(c.weights))
      throw UserError(fmt::format("cannot load {}: the weights file is a TorchScript model (it has a forward "
                                  "method), and the card says format: {}",
                                  what, c.format),
                      "set 'format: torchscript' in the card (and drop its architecture block); a built-in card's "
                      "weights are the archive simfuse train writes");
    throw UserError(fmt::format("cannot load {}: {}", what, first_line(e.what_without_backtrace())),
                    "the file is missing, corrupt, or not a model of this architecture; regenerate it or check "
                    "the card");
  } catch (const std::exception& e) {
    throw UserError(fmt::format("cannot load {}: {}", what, last_line(e.what())),
                    "the file is missing, corrupt, or not a model of this architecture; regenerate it or check "
                    "the card");
  }
  auto opts = at::TensorOptions().dtype(at::kDouble);
  auto vec = [&](const std::vector<double>& v) { return torch::tensor(v, opts); };
  impl->in_scale = (1.0 / vec(c.in_std)).to(impl->dtype);
  impl->in_shift = (-vec(c.in_mean) / vec(c.in_std)).to(impl->dtype);
  impl->out_std = vec(c.out_std);
  impl->out_mean = vec(c.out_mean);
  for (int i = 0; i < cin; ++i)
    if (c.transform[i] == "log10")
      impl->log_channels.push_back(i);
    else if (c.transform[i] == "boxcox")
      impl->boxcox_in.push_back(i);
  std::vector<int64_t> bo;
  for (int o = 0; o < cout; ++o)
    if (c.output_transform[o] == "boxcox") bo.push_back(o);
  impl->boxcox_out = torch::tensor(bo, at::TensorOptions().dtype(at::kLong));
  if (c.increment) {
    std::vector<int64_t> src;
    for (int s : c.increment_source()) src.push_back(s);
    impl->inc_index = torch::tensor(src, at::TensorOptions().dtype(at::kLong));
  }
  // The model must map the card's channels: try it once now, not mid-run (on the plain
  // path first, so a shape error names the model, not the oneDNN conversion).
  auto s = std::unique_ptr<Surrogate>(new Surrogate(std::move(impl)));
  const int r = c.radius;
  const auto probe = c.pointwise()
                         ? torch::zeros({2, cin}, at::TensorOptions().dtype(s->impl_->dtype))
                         : torch::zeros({1, cin, 2 * r + 3, 2 * r + 3}, at::TensorOptions().dtype(s->impl_->dtype));
  at::Tensor y;
  try {
    y = s->forward_normalized(probe);
  } catch (const UserError& e) {
    const Diagnostic& d = e.diagnostics().front();
    throw UserError(fmt::format("{}: {}", what, d.what), d.fix);
  } catch (const std::exception& e) {  // c10::Error, or the TorchScript interpreter's error
    throw UserError(
        fmt::format("{} does not accept the card's {} input channel(s): {}", what, cin, last_line(e.what())),
        "the card's inputs must match what the model was trained on");
  }
  const std::vector<int64_t> want = c.pointwise() ? std::vector<int64_t>{2, cout} : std::vector<int64_t>{1, cout, 3, 3};
  if (y.sizes().vec() != want)
    throw UserError(fmt::format("{} maps {} inputs to shape [{}], the card expects [{}]", what, cin,
                                fmt::join(y.sizes().vec(), ", "), fmt::join(want, ", ")),
                    "the card's outputs (and radius for stencil models) must match the model");
  s->impl_->choose_path();
  return s;
}

at::Tensor Surrogate::forward_normalized(const at::Tensor& xn) {
  c10::InferenceMode guard;
  return impl_->forward(xn);
}

at::Tensor Surrogate::normalize(const at::Tensor& x) const {
  at::Tensor t = x.to(impl_->dtype, /*non_blocking=*/false, /*copy=*/true);
  for (int64_t c : impl_->log_channels) t.select(1, c).clamp_min_(impl_->card.log_floor).log10_();
  const double lambda = impl_->card.boxcox_lambda;
  for (int64_t c : impl_->boxcox_in) t.select(1, c).copy_(transforms::boxcox(t.select(1, c), lambda));
  t.mul_(per_channel(impl_->in_scale, t.dim())).add_(per_channel(impl_->in_shift, t.dim()));
  return t;
}

at::Tensor Surrogate::finish(const at::Tensor& y, const at::Tensor& x) const {
  at::Tensor out =
      y.to(at::kDouble).mul_(per_channel(impl_->out_std, y.dim())).add_(per_channel(impl_->out_mean, y.dim()));
  // Increment models add to their inputs (in Box-Cox space for those outputs); Box-Cox
  // outputs come back never negative.
  transforms::to_physical(out, x, impl_->card.increment ? impl_->inc_index : at::Tensor(), impl_->boxcox_out,
                          impl_->card.boxcox_lambda);
  return out;
}

void Surrogate::predict(const at::Tensor& x, const at::Tensor& out, at::Tensor* normalized) {
  SIMFUSE_REQUIRE(x.dim() == 2 && x.size(1) == impl_->card.in_channels(), "pointwise input of the wrong shape");
  SIMFUSE_REQUIRE(out.dim() == 2 && out.size(0) == x.size(0) && out.size(1) == impl_->card.out_channels(),
                  "pointwise output of the wrong shape");
  c10::InferenceMode guard;
  const int64_t n = x.size(0), chunk = std::max<int64_t>(1, impl_->opt.chunk_points);
  if (normalized) *normalized = at::empty({n, x.size(1)}, at::TensorOptions().dtype(at::kFloat));
  for (int64_t start = 0; start < n; start += chunk) {
    const int64_t len = std::min(chunk, n - start);
    const at::Tensor xs = x.narrow(0, start, len);
    const at::Tensor xn = normalize(xs);
    if (normalized) normalized->narrow(0, start, len).copy_(xn);
    out.narrow(0, start, len).copy_(finish(impl_->forward(xn), xs));
  }
}

at::Tensor Surrogate::predict(const at::Tensor& x) {
  at::Tensor out = torch::empty({x.size(0), impl_->card.out_channels()}, at::TensorOptions().dtype(at::kDouble));
  predict(x, out);
  return out;
}

at::Tensor Surrogate::predict_stencil(const at::Tensor& x) {
  const int64_t r = impl_->card.radius;
  SIMFUSE_REQUIRE(x.dim() == 4 && x.size(1) == impl_->card.in_channels(), "stencil input of the wrong shape");
  c10::InferenceMode guard;
  const at::Tensor y = impl_->forward(normalize(x));
  const at::Tensor centre = x.narrow(2, r, x.size(2) - 2 * r).narrow(3, r, x.size(3) - 2 * r);
  return finish(y, centre);
}

}  // namespace simfuse
