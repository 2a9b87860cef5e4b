#pragma once
/// \file Surrogate.hpp
/// A trained model standing in for a sub-step: maps input channels to output channels
/// in physical units, with the card's normalisation, transforms and increment applied
/// inside. Loaded from a model card (TorchScript or a built-in architecture). CPU now;
/// the device is kept a parameter. Never includes PETSc.
#include <ATen/core/Tensor.h>

#include <memory>
#include <string>

#include "simfuse/surrogates/ModelCard.hpp"

namespace simfuse {

struct SurrogateOptions {
  int threads = 1;               ///< intra-op threads (at::set_num_threads)
  std::string device = "cpu";    ///< only "cpu" in this build
  int64_t chunk_points = 65536;  ///< pointwise inference in chunks of this many points
  /// "auto": float32 MLPs (built-in, or a TorchScript nn.Sequential of Linear layers and
  /// activations) run through oneDNN with their weights converted once; everything else
  /// through libtorch's default path. "plain": always libtorch's default path (its CPU
  /// Linear goes through the system BLAS). The choice depends only on the model and this
  /// option, never on timings, so every rank makes the same one.
  std::string inference = "auto";
};

/// Which code runs a model, and why (recorded in summary.json).
struct InferencePath {
  std::string name;    ///< "onednn", "libtorch" (built-in modules on the BLAS) or "torchscript"
  std::string reason;  ///< why this path, e.g. "float64 model: oneDNN runs float32"
};

class Surrogate {
 public:
  /// Loads the card and its weights; checks the model maps card.in_channels() inputs to
  /// card.out_channels() outputs. UserError (naming the file) for a missing or corrupt
  /// file or a shape that does not match the card.
  static std::unique_ptr<Surrogate> load(const std::string& card_path, const SurrogateOptions& opt = {});
  /// A built-in architecture whose weights are `weights`, an archive as torch::save
  /// writes it (e.g. of a model trained in this process: the online policy). The same
  /// checks and inference path as load().
  static std::unique_ptr<Surrogate> from_memory(const ModelCard& card, const std::string& weights,
                                                const SurrogateOptions& opt = {});
  ~Surrogate();

  const ModelCard& card() const;
  const SurrogateOptions& options() const;
  /// The path chosen at load for predict() and predict_stencil().
  const InferencePath& inference_path() const;

  /// Pointwise: x [N, C_in] float64 (any strides) -> writes out [N, C_out] float64 (may be
  /// a view of a PETSc array; must not overlap x). Processes chunk_points rows at a time,
  /// so the extra memory is bounded whatever N is. `normalized`, if given, receives the
  /// inputs as the model saw them (the card's transforms and normalisation), [N, C_in]
  /// float32: what the data's support is measured in (DataSupport::near_normalized).
  void predict(const at::Tensor& x, const at::Tensor& out, at::Tensor* normalized = nullptr);
  /// Allocating variant.
  at::Tensor predict(const at::Tensor& x);
  /// Stencil: x [1, C_in, H + 2r, W + 2r] float64 -> [1, C_out, H, W] float64.
  at::Tensor predict_stencil(const at::Tensor& x);

  /// The bare model on already normalised inputs in the model's dtype (for measurements).
  at::Tensor forward_normalized(const at::Tensor& xn);

 private:
  struct Impl;
  explicit Surrogate(std::unique_ptr<Impl> impl);
  static std::unique_ptr<Surrogate> build(const ModelCard& card, const std::string& card_path,
                                          const std::string* weights, const SurrogateOptions& opt);
  at::Tensor normalize(const at::Tensor& x) const;                    // channel dim 1
  at::Tensor finish(const at::Tensor& y, const at::Tensor& x) const;  // denormalise (+ increment)
  std::unique_ptr<Impl> impl_;
};

}  // namespace simfuse
