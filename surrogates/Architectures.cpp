#include "simfuse/surrogates/Architectures.hpp"

#include <fmt/format.h>

namespace simfuse {

Params validate_architecture(const YAML::Node& arch, const std::string& where) {
  architecture_registry();
  Schema s("architecture", "");
  s.add_block("architecture", "architecture", "model architecture").required();
  YAML::Node root(YAML::NodeType::Map);
  root["architecture"] = arch;
  auto doc = ConfigDocument::from_string(YAML::Dump(root), where);
  Params p = s.validate_or_throw(doc, doc.root(), "");
  if (p.type_of("architecture") == "cnn" && p.sub("architecture").get<int>("kernel") % 2 == 0)
    p.sub("architecture").fail("kernel", "the kernel size must be odd", "use 3, 5, 7 or 9");
  return p;
}

GroupedMlpImpl::GroupedMlpImpl(std::vector<torch::nn::Sequential> nets) : nets_(std::move(nets)) {
  for (size_t i = 0; i < nets_.size(); ++i) register_module("group" + std::to_string(i), nets_[i]);
}

torch::Tensor GroupedMlpImpl::forward(const torch::Tensor& x) {
  std::vector<torch::Tensor> parts;
  parts.reserve(nets_.size());
  for (auto& n : nets_) parts.push_back(n->forward(x));
  return torch::cat(parts, 1);
}

namespace {

void add_activation(torch::nn::Sequential& seq, const std::string& a) {
  if (a == "tanh")
    seq->push_back(torch::nn::Tanh());
  else if (a == "relu")
    seq->push_back(torch::nn::ReLU());
  else if (a == "gelu")
    seq->push_back(torch::nn::GELU());
  else if (a == "silu")
    seq->push_back(torch::nn::SiLU());
  // "none": a linear layer stack (e.g. a learned linear stencil for a linear operator)
}

torch::nn::Sequential mlp_stack(const Params& p, int in, int out) {
  torch::nn::Sequential seq;
  int prev = in;
  for (int h : p.get<std::vector<int>>("hidden")) {
    seq->push_back(torch::nn::Linear(prev, h));
    add_activation(seq, p.get<std::string>("activation"));
    prev = h;
  }
  seq->push_back(torch::nn::Linear(prev, out));
  return seq;
}

std::unique_ptr<Architecture> make_mlp(const Params& p, int in, int out) {
  auto a = std::make_unique<Architecture>();
  const auto groups = p.get<std::vector<int>>("groups");
  if (groups.empty()) {
    a->module = mlp_stack(p, in, out);
    return a;
  }
  int sum = 0;
  for (int g : groups) sum += g;
  if (sum != out)
    p.fail(
        "groups",
        fmt::format("the groups [{}] hold {} output channel(s), the model has {}", fmt::join(groups, ", "), sum, out),
        "give group sizes (consecutive output channels, in the card's order) that add up to the outputs");
  std::vector<torch::nn::Sequential> nets;
  for (int g : groups) nets.push_back(mlp_stack(p, in, g));
  a->module->push_back(GroupedMlp(std::move(nets)));
  return a;
}

std::unique_ptr<Architecture> make_cnn(const Params& p, int in, int out) {
  auto a = std::make_unique<Architecture>();
  const int k = p.get<int>("kernel");
  const bool bias = p.get<bool>("bias");
  int prev = in;
  const auto channels = p.get<std::vector<int>>("channels");
  for (int c : channels) {
    a->module->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(prev, c, k).bias(bias)));
    add_activation(a->module, p.get<std::string>("activation"));
    prev = c;
  }
  a->module->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(prev, out, 1).bias(bias)));
  a->radius = static_cast<int>(channels.size()) * (k - 1) / 2;
  return a;
}

}  // namespace

ArchitectureRegistry& architecture_registry() {
  static ArchitectureRegistry* r = [] {
    auto* reg = new ArchitectureRegistry("architecture");
    const std::vector<std::string> acts{"tanh", "relu", "gelu", "silu", "none"};
    reg->add(
        "mlp", "multilayer perceptron, one grid point at a time",
        [&](Schema& mlp) {
          mlp.add("hidden", ParamType::IntList, "width of each hidden layer").def("[64, 64]").size(1, 16).min(1);
          mlp.add_string("activation", "activation after each hidden layer").def("tanh").choices(acts);
          mlp.add("groups", ParamType::IntList,
                  "one MLP per group of this many consecutive output channels (empty: one MLP for all)")
              .def("[]")
              .size(0, 64)
              .min(1);
        },
        make_mlp);
    reg->add(
        "cnn", "stack of valid 2D convolutions (a stencil model)",
        [&](Schema& cnn) {
          cnn.add("channels", ParamType::IntList, "channels of each convolution layer")
              .def("[16, 16]")
              .size(1, 16)
              .min(1);
          cnn.add_int("kernel", "odd kernel size").def(3).range(3, 9);
          cnn.add_string("activation", "activation after each convolution").def("relu").choices(acts);
          cnn.add_bool("bias",
                       "convolutions with a bias (false with activation none: a linear, zero-preserving stencil)")
              .def(true);
        },
        make_cnn);
    Catalog::instance().set_shorthand("architecture", Catalog::type_name_shorthand,
                                      "a name means {type: name} with default parameters");
    return reg;
  }();
  return *r;
}

namespace {

std::unique_ptr<Architecture> build(const YAML::Node& arch, int in, int out, const std::string& where) {
  const Params top = validate_architecture(arch, where);
  return architecture_registry().create(top.type_of("architecture"), top.sub("architecture"), in, out);
}

}  // namespace

Architecture build_architecture(const YAML::Node& arch, int in, int out, const std::string& where) {
  return *build(arch, in, out, where);
}

int architecture_radius(const YAML::Node& arch) {
  if (validate_architecture(arch, "<architecture>").type_of("architecture") == "mlp") return 0;  // pointwise
  try {
    return build(arch, 1, 1, "<architecture>")->radius;
  } catch (const c10::Error& e) {  // e.g. layers too wide to allocate
    std::string what = e.what_without_backtrace();
    throw UserError("cannot build the architecture: " + what.substr(0, what.find('\n')),
                    "use narrower or fewer layers");
  }
}

}  // namespace simfuse
