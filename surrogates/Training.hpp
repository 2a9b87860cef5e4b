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
///
/// With `coupled_validation: {case: check.yaml, every: 10}` the held-out loss no longer
/// picks the parameters written: every `every` epochs the candidate runs in the case's
/// sub-step and is compared with the same case run classically (ignition delays of a
/// reactor sweep, or a field at the end); the checked epoch of the lowest coupled error is
/// written, and the card's `selection` records every check.
#include <mpi.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "simfuse/core/base/Config.hpp"
#include "simfuse/surrogates/ModelCard.hpp"

namespace simfuse {

/// One coupled check of a candidate model.
struct CoupledScore {
  double error = 0;    ///< lower is better; +inf when the run with the model failed
  std::string detail;  ///< what was seen, one line (logged)
  /// Under the guarded policy: the fraction of the sub-step's points the guard accepted in
  /// the check's run (-1: not measured, the candidate ran alone). A run that is mostly the
  /// classical fallback scores the classical error whatever the model.
  double accepted = -1;
};

/// The coupled check of a spec's `coupled_validation`: runs a case with a candidate model in
/// one of its sub-steps and compares it with the same case run classically. Made by the
/// caller through TrainOptions::coupled_validator, because it runs solvers, which
/// surrogates/ never links.
class CoupledValidator {
 public:
  virtual ~CoupledValidator() = default;
  /// The metric's name (recorded in the card), e.g. "ignition_delay".
  virtual std::string metric() const = 0;
  /// Runs the case with the model whose card is `card_path`. Collective.
  virtual CoupledScore score(const std::string& card_path) = 0;
};

/// What the model will be, for a factory to check the case against before any epoch.
struct CoupledTarget {
  std::string substep;       ///< the sub-step the data came from
  std::optional<double> dt;  ///< the one dt of the data (a model without a dt input)
  bool check_only = false;   ///< config validate: check the case, do not run it
  /// The data's solver facts (the card's context: mechanism_hash, reactor, ...); a case
  /// whose solver states another value for one of them would refuse the model.
  std::map<std::string, std::string> context;
};

/// Makes the validator of the `coupled_validation` section `section` (paths relative to
/// `spec`); UserError naming the key for a case it cannot serve. Collective on `comm`.
using CoupledValidatorFactory = std::function<std::unique_ptr<CoupledValidator>(
    const Params& section, const ConfigDocument& spec, const CoupledTarget& target, MPI_Comm comm)>;

struct TrainOptions {
  bool resume = false;          ///< continue from the checkpoint if there is one
  bool force = false;           ///< overwrite a model file that simfuse train did not write
  bool progress = true;         ///< log a line per epoch (rank 0)
  long stop_after_epochs = -1;  ///< testing: stop after this many epochs in this call, as if interrupted
  bool check_only = false;      ///< `config validate`: check the spec, data and paths; write nothing
  /// Serves a spec's `coupled_validation` (the simfuse command sets it; a spec with the
  /// section is refused without it).
  CoupledValidatorFactory coupled_validator;
};

/// A coupled check made during training.
struct CoupledCheck {
  long epoch = 0;
  double error = 0, held_out_loss = 0;
  double accepted = -1;  ///< CoupledScore::accepted
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
  double coupled_seconds = 0;  ///< in coupled_validation checks (their runs of the case)
  bool stopped_early = false;
  /// The best normalised validation loss is >= 1: no better than predicting the targets'
  /// mean (a diverged or useless training; warned about in the log).
  bool learned_nothing = false;
  bool interrupted = false;  ///< stop_after_epochs reached (checkpoint written)
  /// Which epoch's parameters were written, and by what: "held_out_loss" or
  /// "coupled_validation" (then `checks` lists every coupled check, in epoch order).
  std::string selected_by = "held_out_loss";
  long selected_epoch = 0;
  std::vector<CoupledCheck> checks;
};

/// The schema of training spec files (`simfuse config doc train`).
const Schema& train_schema();

/// Trains as `doc` says (paths relative to the spec file). Collective on `comm`.
/// UserError for a bad spec, a missing/empty dataset, or data that does not fit the model.
TrainResult train(const ConfigDocument& doc, MPI_Comm comm, const TrainOptions& opt = {});

}  // namespace simfuse
