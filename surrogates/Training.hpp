#pragma once
/// \file Training.hpp
/// `simfuse train SPEC.yaml`: trains a built-in architecture on captured data in C++.
///
///     dataset: ../data/bz_react/dataset.pt         # one file or a list
///     output: ../cases/models/bz_react             # writes <stem>.pt and <stem>.card.yaml
///     model:
///       name: bz_react
///       architecture: {type: mlp, hidden: [32, 32], activation: tanh}
///       predicts: increment
///       transform: [log10, none]
///     training: {epochs: 200, batch: 512, optimizer: adam, lr: 2e-3,
///                schedule: {type: cosine}, validation_fraction: 0.1, patience: 30, seed: 1}
///     checkpoint: {every: 10}
///
/// Data-parallel over MPI: every rank holds the data and takes its share of each global
/// batch; parameters start equal (broadcast from rank 0) and gradients are summed over
/// ranks, so N ranks compute the gradient of the same global batch as one rank.
/// Checkpoints hold model, optimizer, epoch and random state; resuming reproduces the
/// uninterrupted run. Never includes PETSc.
#include <mpi.h>

#include <functional>
#include <string>

#include "simfuse/core/base/Config.hpp"
#include "simfuse/surrogates/ModelCard.hpp"

namespace simfuse {

struct TrainOptions {
  bool resume = false;          ///< continue from the checkpoint if there is one
  bool force = false;           ///< overwrite a model file that simfuse train did not write
  bool progress = true;         ///< log a line per epoch (rank 0)
  long stop_after_epochs = -1;  ///< testing: stop after this many epochs in this call, as if interrupted
  bool check_only = false;      ///< `config validate`: check the spec, data and paths; write nothing
};

struct TrainResult {
  ModelCard card;  ///< as written
  std::string card_path;
  long epochs = 0;  ///< epochs run in total
  long best_epoch = 0;
  double best_val_loss = 0;  ///< normalised MSE
  double seconds = 0;
  double seconds_per_epoch = 0;
  /// Of this run's epochs on this rank: forward + backward, the gradient all-reduce (with
  /// waiting for the slowest rank), the optimizer step.
  double compute_seconds = 0, allreduce_seconds = 0, optimizer_seconds = 0;
  bool stopped_early = false;
  /// The best normalised validation loss is >= 1: no better than predicting the targets'
  /// mean (a diverged or useless training; warned about in the log).
  bool learned_nothing = false;
  bool interrupted = false;  ///< stop_after_epochs reached (checkpoint written)
};

/// The schema of training spec files (`simfuse config doc train`).
const Schema& train_schema();

/// Trains as `doc` says (paths relative to the spec file). Collective on `comm`.
/// UserError for a bad spec, a missing/empty dataset, or data that does not fit the model.
TrainResult train(const ConfigDocument& doc, MPI_Comm comm, const TrainOptions& opt = {});

}  // namespace simfuse
