#pragma once
/// \file Architectures.hpp
/// Built-in model architectures defined in C++ and found by name (family
/// "architecture"): `{type: mlp, hidden: [64, 64], activation: tanh}` for pointwise
/// models, `{type: cnn, channels: [16, 16], kernel: 3, activation: relu}` for stencil
/// models (valid convolutions: the receptive-field radius is layers * (kernel-1)/2).
/// Includes torch/torch.h: only for the few files that build or train modules.
#include <torch/torch.h>
#include <yaml-cpp/yaml.h>

#include "core/Schema.hpp"

namespace simfuse {

/// Declares the architecture family in the Catalog (idempotent).
void register_architectures();

/// Validates an architecture block (UserError naming `where`, e.g. the card's path).
Params validate_architecture(const YAML::Node& arch, const std::string& where);

/// Builds the module for `in` input and `out` output channels.
torch::nn::Sequential build_architecture(const YAML::Node& arch, int in, int out);

/// Receptive-field radius of an architecture (0 for pointwise ones).
int architecture_radius(const YAML::Node& arch);

}  // namespace simfuse
