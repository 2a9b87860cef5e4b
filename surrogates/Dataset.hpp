#pragma once
/// \file Dataset.hpp
/// Training data of a sub-step: (input, output) pairs captured from classical runs.
///
/// On disk: `<name>.pt`, a pickled dict Python's `torch.load` reads, with tensors
///   inputs  [N, C_in] (pointwise) or [N, C_in, p + 2r, p + 2r] (stencil patches), float64
///   outputs [N, C_out] or [N, C_out, p, p], float64
///   dt [N], step [N] (int64; negative: a perturbed state drawn near a state of that step,
///   see Capture), member [N] (int64: ensemble member)
/// and lists input_names / output_names ("field.component"), plus `<name>.yaml`, a
/// manifest: shapes, names, per-channel ranges, members and their parameters, provenance.
#include <ATen/core/Tensor.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace simfuse {

struct Dataset {
  std::string kind = "pointwise";  ///< pointwise | stencil
  int radius = 0;                  ///< stencil: input margin
  std::string substep;
  at::Tensor inputs, outputs, dt, step, member;
  std::vector<std::string> input_names, output_names;
  YAML::Node manifest;  ///< extra facts for the manifest (members, parameters, provenance)

  int64_t size() const { return inputs.defined() ? inputs.size(0) : 0; }

  /// Writes `<stem>.pt` and `<stem>.yaml` (each via a temporary file and a rename).
  void save(const std::string& stem) const;
  /// Reads `path` (the .pt file; the manifest is read if present). UserError if the file
  /// is missing, not a simfuse dataset, empty, or its tensors disagree in size.
  static Dataset load(const std::string& path);
  /// Concatenates datasets of the same kind and names (UserError otherwise).
  static Dataset concat(const std::vector<Dataset>& parts);

  /// Two parts that record a solver fact with different values.
  struct ContextConflict {
    std::string key, first_value, other_value;
    size_t first = 0, other = 0;  ///< indices into the parts
  };
  /// The solver facts (manifest `context`: Solver::model_context) that every part records
  /// with the same value. The first key recorded with different values is described in
  /// `conflict`, if given (and left out of the result, as are keys some parts lack).
  static std::map<std::string, std::string> common_context(const std::vector<Dataset>& parts,
                                                           std::optional<ContextConflict>* conflict = nullptr);
};

}  // namespace simfuse
