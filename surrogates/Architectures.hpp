#pragma once
/// \file Architectures.hpp
/// Built-in model architectures defined in C++ and found by name (family
/// "architecture"): `{type: mlp, hidden: [64, 64], activation: tanh}` for pointwise
/// models (with `groups: [n1, n2, ...]`: one MLP of that shape per group of n_i
/// consecutive output channels, all reading every input, outputs concatenated), `{type: cnn, channels: [16, 16],
/// kernel: 3, activation: relu}` for stencil models (valid convolutions: the receptive-field radius is layers *
/// (kernel-1)/2). Includes torch/torch.h: only for the few files that build or train modules.
#include <torch/torch.h>
#include <yaml-cpp/yaml.h>

#include "simfuse/core/base/Registry.hpp"
#include "simfuse/core/base/Schema.hpp"

namespace simfuse {

/// Several MLPs side by side, each reading every input and producing its own block of
/// consecutive output channels; forward() concatenates their outputs. The `groups` form
/// of `mlp`: per-species-group chemistry networks behind one card.
class GroupedMlpImpl : public torch::nn::Module {
 public:
  explicit GroupedMlpImpl(std::vector<torch::nn::Sequential> nets);
  torch::Tensor forward(const torch::Tensor& x);
  const std::vector<torch::nn::Sequential>& nets() const { return nets_; }

 private:
  std::vector<torch::nn::Sequential> nets_;
};
TORCH_MODULE(GroupedMlp);

/// A built model and its receptive-field radius (0 for pointwise models).
struct Architecture {
  torch::nn::Sequential module;
  int radius = 0;
};

/// Architectures by name (family "architecture"): created from their validated block and
/// the numbers of input and output channels. `mlp` and `cnn` are registered on first use;
/// an extension adds its own with architecture_registry().add(...).
using ArchitectureRegistry = Registry<Architecture, const Params&, int, int>;
ArchitectureRegistry& architecture_registry();

/// Validates an architecture block (UserError naming `where`, e.g. the card's path).
Params validate_architecture(const YAML::Node& arch, const std::string& where);

/// Builds the module for `in` input and `out` output channels (via the registry); an
/// error names `where` (e.g. the card's path).
Architecture build_architecture(const YAML::Node& arch, int in, int out, const std::string& where = "<architecture>");

/// Receptive-field radius of an architecture (0 for pointwise ones), from a throwaway
/// one-channel build: when the module is built anyway, take build_architecture().radius.
int architecture_radius(const YAML::Node& arch);

}  // namespace simfuse
