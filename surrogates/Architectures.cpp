#include "surrogates/Architectures.hpp"

#include <fmt/format.h>

namespace simfuse {

void register_architectures() {
  static const bool done = [] {
    auto& cat = Catalog::instance();
    const std::vector<std::string> acts{"tanh", "relu", "gelu", "silu", "none"};
    Schema& mlp = cat.add_type("architecture", "mlp", "multilayer perceptron, one grid point at a time");
    mlp.add("hidden", ParamType::IntList, "width of each hidden layer").def("[64, 64]").size(1, 16).min(1);
    mlp.add_string("activation", "activation after each hidden layer").def("tanh").choices(acts);
    Schema& cnn = cat.add_type("architecture", "cnn", "stack of valid 2D convolutions (a stencil model)");
    cnn.add("channels", ParamType::IntList, "channels of each convolution layer").def("[16, 16]").size(1, 16).min(1);
    cnn.add_int("kernel", "odd kernel size").def(3).range(3, 9);
    cnn.add_string("activation", "activation after each convolution").def("relu").choices(acts);
    cat.set_shorthand("architecture", Catalog::type_name_shorthand,
                      "a name means {type: name} with default parameters");
    cnn.add_bool("bias", "convolutions with a bias (false with activation none: a linear, zero-preserving stencil)")
        .def(true);
    return true;
  }();
  (void)done;
}

Params validate_architecture(const YAML::Node& arch, const std::string& where) {
  register_architectures();
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

}  // namespace

torch::nn::Sequential build_architecture(const YAML::Node& arch, int in, int out) {
  const Params top = validate_architecture(arch, "<architecture>");
  const Params& p = top.sub("architecture");
  const std::string type = top.type_of("architecture");
  torch::nn::Sequential seq;
  if (type == "mlp") {
    int prev = in;
    for (int h : p.get<std::vector<int>>("hidden")) {
      seq->push_back(torch::nn::Linear(prev, h));
      add_activation(seq, p.get<std::string>("activation"));
      prev = h;
    }
    seq->push_back(torch::nn::Linear(prev, out));
  } else {
    const int k = p.get<int>("kernel");
    const bool bias = p.get<bool>("bias");
    int prev = in;
    for (int c : p.get<std::vector<int>>("channels")) {
      seq->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(prev, c, k).bias(bias)));
      add_activation(seq, p.get<std::string>("activation"));
      prev = c;
    }
    seq->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(prev, out, 1).bias(bias)));
  }
  return seq;
}

int architecture_radius(const YAML::Node& arch) {
  const Params top = validate_architecture(arch, "<architecture>");
  if (top.type_of("architecture") != "cnn") return 0;
  const Params& p = top.sub("architecture");
  return static_cast<int>(p.get<std::vector<int>>("channels").size()) * (p.get<int>("kernel") - 1) / 2;
}

}  // namespace simfuse
