#pragma once
/// \file Generate.hpp
/// `simfuse generate SPEC.yaml`: an ensemble of classical runs of a base case with
/// sampled parameters, each capturing sub-step data, merged into one dataset per captured
/// sub-step -- the "for AI" direction: the HPC side makes the training data.
///
///     base: ../bz2d.yaml                    # the case every member starts from
///     output: ../../out/bz_react_data       # folder: <substep>.pt/.yaml, members/
///     members: 8
///     sampling: {method: latin_hypercube, seed: 1}     # uniform | latin_hypercube | list
///     parameters:                           # key paths of the case, sampled per member
///       parameters.xf: {range: [0.3, 0.6]}
///       solver.params.diffusion: {values: [[1.0, 0.6], [1.0, 0.5]]}   # list sampling
///     set: ["time.t_end=10"]                # overrides for every member
///     capture: {react: {every: 4, points: 3000}}       # default: the base case's capture:
///     ranks_per_member: 1                   # members run side by side on sub-communicators
///
/// Members are spread over MPI: the ranks form groups of `ranks_per_member`, each group
/// runs its members one after another. A member that fails (bad sampled value, solver
/// failure) is reported and the rest continue. The capture seed of member m is
/// seed + m, and capture sampling is independent of the rank layout, so the dataset does
/// not depend on the number of ranks (up to the order of samples within a member).
#include <mpi.h>

#include <string>

#include "simfuse/core/base/Config.hpp"
#include "simfuse/core/base/Schema.hpp"

namespace simfuse {

struct GenerateOptions {
  bool progress = true;  ///< a log line per round of members (rank 0)
  /// Skip the members an earlier, interrupted generate finished (`members/member_<m>.done`
  /// records each, with the member's case); the rest run, then all are merged.
  bool resume = false;
  /// `config validate`: check the spec and build member 0's case; run and write nothing.
  bool check_only = false;
};

struct GenerateResult {
  long members = 0, failed = 0, samples = 0;
  double seconds = 0;
  std::vector<std::string> datasets;  ///< written files (.pt), one per captured sub-step
};

/// The schema of generate spec files (`simfuse config doc generate`).
const Schema& generate_schema();

/// Runs the ensemble. Collective on `comm`. UserError for a bad spec (checked, with the
/// first member built, before anything runs or is written).
GenerateResult generate(const ConfigDocument& spec, MPI_Comm comm, const GenerateOptions& opt = {});

}  // namespace simfuse
