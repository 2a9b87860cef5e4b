#pragma once
/// \file ModelCard.hpp
/// The model card: a YAML file beside a surrogate's weights that says what the model
/// maps to what, how inputs and outputs are normalised, the grid stencil it needs, the
/// ranges of its training data, its validation error and where it came from. simfuse
/// refuses a model whose card does not fit the case at start-up, never mid-run.
///
///     name: oregonator_react
///     kind: pointwise                  # pointwise | stencil
///     radius: 0                        # stencil: receptive-field radius in grid points
///     format: builtin                  # builtin (C++ architecture + archive) | torchscript
///     weights: oregonator_react.pt     # relative to the card
///     architecture: {type: mlp, hidden: [64, 64], activation: tanh}
///     dtype: float32
///     substep: react
///     inputs:  [{field: c, components: [u, v]}]
///     conditions: {dt: 0.02}           # sub-step settings the model was trained for
///     regime: {equivalence_ratio: [0.4, 1.2], temperature: [300, 2600],
///              pressure: [9.0e4, 1.2e5], dt: [1.0e-6, 4.0e-6]}   # what it is made for
///                                      #   (optional; each coordinate optional)
///     outputs: [{field: c, components: [u, v]}]
///     predicts: increment              # increment (output = input + model) | state
///     increment_of: transported        # increment models: the input field the output adds
///                                      #   to (default: the output's own field)
///     normalisation: {input_mean: [...], input_std: [...], output_mean: [...], output_std: [...]}
///     transform: [log10, none]         # per input channel, applied before normalisation:
///                                      #   none | log10 (of max(x, log_floor)) | boxcox
///     boxcox_lambda: 0.1               # boxcox: (max(x, 0)^lambda - 1) / lambda
///     output_transform: [none, none]   # per output channel: none | boxcox; an increment
///                                      #   model then predicts boxcox(out) - boxcox(in)
///     training_ranges: {min: [...], max: [...]}   # per input channel, physical units (the
///                                      #   guard's margin is measured in the transformed space)
///     validation: {metric: max_abs, value: 1.2e-3, samples: 20000,
///                  per_channel: {max_abs: [...], rms: [...]}}   # physical units, per output
///     support: {file: m.support.npy, points: 20000, radius: 0.76, quantile: 0.999}
///                                      # a sample of the training inputs (normalised) and
///                                      #   the radius of "near the data" (DataSupport.hpp)
///     provenance: {tool: simfuse train, dataset: ..., created: ...}
/// The header includes neither torch nor PETSc; the reader is compiled into
/// simfuse_surrogates, so what links that (coupling/ai, the simfuse command) reads cards.
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "simfuse/core/base/Config.hpp"
#include "simfuse/core/base/Schema.hpp"

namespace simfuse {

/// One input or output entry: some components of a field, or a scalar (e.g. dt).
struct CardChannel {
  std::string field;                    ///< empty for a scalar
  std::vector<std::string> components;  ///< of the field
  std::string scalar;                   ///< "dt" or a case parameter name
  int count() const { return field.empty() ? 1 : static_cast<int>(components.size()); }
};

/// The training data's support (DataSupport.hpp): a sample of the training inputs in the
/// model's normalised space, and the distance within which a point counts as near them.
struct CardSupport {
  std::string file;     ///< absolute path of the .npy sample
  long points = 0;      ///< rows of the sample
  double radius = 0;    ///< normalised distance
  double quantile = 0;  ///< of the held-out inputs' distances that the radius is
  /// Log10 and Box-Cox channels' values below this count as this in the distance (0: none):
  /// trace levels no check resolves do not make a state far from the data.
  double floor = 0;
};

struct ModelCard {
  std::string path;  ///< of the card file
  std::string name;
  std::string kind = "pointwise";
  int radius = 0;
  std::string format = "builtin";
  std::string weights;  ///< absolute path
  YAML::Node architecture;
  std::string dtype = "float32";
  std::string substep;
  std::vector<CardChannel> inputs, outputs;
  std::map<std::string, double> conditions;
  /// Facts of the solver the training data came from (Solver::model_context: e.g.
  /// mechanism_hash, reactor); a case whose solver differs is refused.
  std::map<std::string, std::string> context;
  /// The regime the model is made for: coordinate -> [low, high] (temperature,
  /// equivalence_ratio, pressure, dt); empty when the card states none.
  std::map<std::string, std::pair<double, double>> regime;
  bool increment = false;
  /// Increment models: the input field whose components the output adds to (empty: the
  /// output's own field). A forced chemistry model adds to the state the transport leaves.
  std::string increment_of;
  std::vector<double> in_mean, in_std, out_mean, out_std;
  std::vector<std::string> transform;         ///< per input channel: none | log10 | boxcox
  std::vector<std::string> output_transform;  ///< per output channel: none | boxcox
  double log_floor = 1e-12;
  double boxcox_lambda = 0.1;
  std::vector<double> range_min, range_max;  ///< per input channel (physical units)
  std::string validation_metric;
  double validation_value = -1;
  long validation_samples = 0;
  std::vector<double> validation_max_abs, validation_rms;  ///< per output channel (may be empty)
  /// How the written parameters were chosen among the training's epochs: `by`
  /// held_out_loss (the epoch of the lowest held-out loss) or coupled_validation (the
  /// checked epoch of the lowest coupled error: metric, case, policy, value, and every
  /// check as {epoch, error, held_out_loss}). Undefined for a card made by hand.
  YAML::Node selection;
  YAML::Node provenance;
  std::optional<CardSupport> support;

  int in_channels() const;
  int out_channels() const;
  bool pointwise() const { return kind == "pointwise"; }
  /// For increment models: the input channel each output channel adds to (of the field
  /// increment_of, else of the output's own; -1: none).
  std::vector<int> increment_source() const;
  /// The value of input channel c in the space the model sees it (before normalisation),
  /// and back; the transforms are monotone, so a box in one space is a box in the other.
  double transform_input(int c, double x) const;
  /// An input transform by kind, for loops that resolve the names once (input_transform).
  enum class Transform { none, log10, boxcox };
  Transform input_transform(int c) const;
  double transform_input(Transform t, double x) const {
    if (t == Transform::log10) return std::log10(std::max(x, log_floor));
    if (t == Transform::boxcox) return (std::pow(std::max(x, 0.0), boxcox_lambda) - 1) / boxcox_lambda;
    return x;
  }
  /// The physical value whose transform is z. At or below the transform's lower limit
  /// (where every physical value at or below the floor maps), a lower bound is -inf and an
  /// upper bound the floor.
  double untransform_input(int c, double z, bool upper) const;

  /// The `regime:` entry `key` of p (a card's, or a training spec's model section), checked:
  /// coordinates temperature, equivalence_ratio, pressure, dt, each [low, high] with
  /// 0 <= low <= high; dt only for a model that reads it. UserError with file:line otherwise.
  static std::map<std::string, std::pair<double, double>> read_regime(const Params& p, const std::string& key,
                                                                      bool reads_dt);
  /// The first fact of `trained` (a card's context) that `solver` (a solver's model
  /// context) lacks or states otherwise; nullopt when the model may run on that solver.
  static std::optional<std::string> context_conflict(const std::map<std::string, std::string>& trained,
                                                     const std::map<std::string, std::string>& solver);
  /// Reads and validates a card; UserError with file:line:column on any problem
  /// (including a missing weights file).
  static ModelCard load(const std::string& path);
  /// Writes the card as YAML (via a temporary file and a rename).
  void save(const std::string& path) const;
  /// The schema of card files (for `simfuse config doc` and validation).
  static const Schema& schema();
};

}  // namespace simfuse
