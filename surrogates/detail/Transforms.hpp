#pragma once
/// \file Transforms.hpp
/// The Box-Cox transform of a model card's channels and the mapping of a model's
/// denormalised outputs back to physical outputs: one definition for inference
/// (Surrogate) and for training's targets and validation (Training), which must agree.
/// Internal to simfuse_surrogates.
#include <ATen/ATen.h>

namespace simfuse::transforms {

/// (max(x, 0)^lambda - 1) / lambda.
inline at::Tensor boxcox(const at::Tensor& x, double lambda) {
  return (x.clamp_min(0).pow(lambda) - 1) / lambda;
}

/// (1 + lambda z)^(1/lambda); 0 below the transform's lower limit, so never negative.
inline at::Tensor inverse_boxcox(const at::Tensor& z, double lambda) {
  return (z * lambda + 1).clamp_min(0).pow(1 / lambda);
}

/// What an increment model's outputs add to: the input channel `source[o]` of each output
/// o (channel dim 1), taken in Box-Cox space for the outputs listed in `boxcox_out`.
inline at::Tensor increment_base(const at::Tensor& x, const at::Tensor& source, const at::Tensor& boxcox_out,
                                 double lambda) {
  at::Tensor base = x.index_select(1, source);
  if (boxcox_out.numel() > 0) base.index_copy_(1, boxcox_out, boxcox(base.index_select(1, boxcox_out), lambda));
  return base;
}

/// Denormalised model outputs `y` (modified in place) to physical outputs: plus the
/// increment base of `x` when `source` is defined (increment models), then the outputs in
/// `boxcox_out` mapped back from Box-Cox space.
inline at::Tensor to_physical(at::Tensor y, const at::Tensor& x, const at::Tensor& source, const at::Tensor& boxcox_out,
                              double lambda) {
  if (source.defined()) y.add_(increment_base(x, source, boxcox_out, lambda));
  if (boxcox_out.numel() > 0) y.index_copy_(1, boxcox_out, inverse_boxcox(y.index_select(1, boxcox_out), lambda));
  return y;
}

}  // namespace simfuse::transforms
