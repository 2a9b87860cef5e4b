#pragma once
/// \file OnlineTrainer.hpp
/// Training a pointwise surrogate while a simulation runs (the `online` policy's engine):
/// a bounded replay buffer of (input, output) pairs of the classical sub-step, a window
/// of held-out recent pairs for validation, and optimizer steps between time steps.
///
/// Every rank holds the same buffer (the caller hands every rank the same samples, in
/// global index order) and takes its share of each global mini-batch; gradients are
/// summed over ranks, as in `simfuse train`, so the model does not depend on the rank
/// count beyond rounding. The buffer is stratified by how much the sub-step changed a
/// sample (log10 bins of the largest change relative to the largest seen), so that rare
/// states such as reaction fronts keep their share when quiescent cells are the many.
/// Never includes PETSc.
#include <ATen/core/Tensor.h>
#include <mpi.h>
#include <yaml-cpp/yaml.h>

#include <memory>
#include <string>
#include <vector>

#include "simfuse/surrogates/ModelCard.hpp"
#include "simfuse/surrogates/Surrogate.hpp"

namespace simfuse {

struct OnlineSettings {
  YAML::Node architecture;             ///< e.g. {type: mlp, hidden: [32, 32], activation: tanh}
  std::string init_card;               ///< start from this trained model (fine-tuning); empty: fresh
  bool increment = true;               ///< output = input + model
  std::vector<std::string> transform;  ///< per input channel: none | log10 | boxcox (empty: none)
  double log_floor = 1e-12, boxcox_lambda = 0.1;
  std::string dtype = "float32";
  /// The training loss: "normalised" (the squared error of the normalised, transformed
  /// outputs, as simfuse train) or "physical" (the squared error in physical units over
  /// each channel's RMS change: the validation's own measure, blind to the label noise of
  /// trace species that a Box-Cox transform blows up).
  std::string loss = "normalised";
  double lr = 1e-3;
  std::string optimizer = "adam";  ///< adam | sgd
  double weight_decay = 0;
  int64_t batch = 256;                 ///< global mini-batch
  int64_t capacity = 100000;           ///< training buffer, samples
  int strata = 4;                      ///< buffer strata (log10 bins of the relative change)
  int64_t validation_capacity = 2048;  ///< held-out window, samples (the most recent)
  uint64_t seed = 1;
};

class OnlineTrainer {
 public:
  /// `layout`: name, substep, inputs, outputs, context and conditions of the model (the
  /// rest of the card is filled in by training). UserError if init_card does not fit it.
  OnlineTrainer(const ModelCard& layout, const OnlineSettings& settings, MPI_Comm comm);
  ~OnlineTrainer();

  /// Adds samples: x [n, C_in], y [n, C_out] (physical units, float64, the same on every
  /// rank); a sample with held_out[i] goes to the validation window, the others into the
  /// training buffer with weight weight[i] (a sample the model failed on weighs more).
  void add(const at::Tensor& x, const at::Tensor& y, const std::vector<char>& held_out,
           const std::vector<double>& weight);
  int64_t buffered() const;    ///< samples in the training buffer
  int64_t validating() const;  ///< samples in the validation window
  long seen() const;           ///< training samples offered so far
  /// Samples per stratum, lowest change first.
  std::vector<int64_t> strata() const;

  /// Runs up to `iterations` optimizer steps (collective). With wall_seconds > 0, stops
  /// earlier once that much time has passed (the ranks agree; not reproducible). The
  /// normalisation is fitted on the buffer at the first call (kept from init_card when
  /// fine-tuning). Returns the steps taken.
  ///
  /// A training that diverges is rolled back, never silently kept: a batch loss that is not
  /// finite (or a weight that is not), or one over 1000x the lowest running level of the
  /// loss (an exponential mean of its log), stops the call; the weights go back to the last
  /// healthy snapshot (taken every 50 iterations), the learning rate is halved and the
  /// optimizer restarted.
  /// divergences() counts these, last_divergence() says why and what was done.
  long train(long iterations, double wall_seconds = 0);
  ///
  /// The normalisation follows the data: every 200 iterations (and at the first call when
  /// fine-tuning), a channel whose spread in the buffer has grown past 4x its scale, or whose
  /// mean moved by more than 4 scales, takes the buffer's mean and spread, and the first or
  /// last layer is re-expressed so that the model's map is unchanged (a fine-tuned card's
  /// scale of 1e-12 on an inert species would otherwise make the classical solver's round-off
  /// dominate the loss; a medium that ignites leaves its induction period's scales).
  long refits() const;                  ///< normalisation refits so far
  std::string last_refit() const;       ///< the channels of the last one
  long divergences() const;             ///< training rollbacks so far
  std::string last_divergence() const;  ///< the last one's reason and remedy
  double learning_rate() const;         ///< now (halved at each divergence)
  long iterations() const;              ///< optimizer steps so far
  bool fitted() const;                  ///< normalisation fitted (training has started)

  /// The validation error on the window: per output channel the RMS of (model - classical)
  /// divided by the RMS of the classical change (output - input; the output for a channel
  /// without an input of the same name) over the window or over all samples seen, the
  /// larger (at least 1e-6 of the channel's RMS value, for a channel that does not change; a
  /// channel that is zero in every call seen counts only if its prediction is not finite);
  /// max over channels. About 1 is no better than predicting no change. Also sets the scales point_errors()
  /// uses. Infinite before training or with an empty window.
  double validate();
  /// Per sample, the largest over channels of |pred - y| / scale (the scales of the last
  /// validate()).
  std::vector<double> point_errors(const at::Tensor& pred, const at::Tensor& y) const;

  /// The card of the model as it is now (normalisation, training ranges of the samples
  /// seen, validation on the window).
  ModelCard card() const;
  /// The weights as a torch::save archive.
  std::string weights() const;
  /// The model as it is now, ready for inference (the same path as a loaded card).
  std::unique_ptr<Surrogate> surrogate(const SurrogateOptions& opt) const;
  /// Writes STEM.pt and STEM.card.yaml (each via a temporary file and a rename).
  void save(const std::string& stem) const;

  /// Everything the next steps depend on: model, optimizer, normalisation, buffer,
  /// window, random state.
  std::string save_state() const;
  void restore_state(const std::string& bytes);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace simfuse
