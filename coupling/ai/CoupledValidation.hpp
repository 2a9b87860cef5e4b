#pragma once
/// \file CoupledValidation.hpp
/// The coupled check of `simfuse train`'s `coupled_validation`: a reactor sweep (solver
/// `reactors`, `run: steps`) is run once classically, its ignition delays being the
/// reference; each candidate model then runs in the sweep's `react` sub-step (policy
/// `surrogate` or `guarded`) and is scored by the mean relative error of the delays. A
/// reactor that ignites on one side only scores 1, as does a run that fails. Internal:
/// the train command passes make_coupled_validator to train() (surrogates/ never links the
/// solvers).
#include <memory>

#include "simfuse/surrogates/Training.hpp"

namespace simfuse::ai {

/// The factory of TrainOptions::coupled_validator. UserError naming `case` (or the case
/// file's own key) for a case it cannot serve: not a stepped reactor sweep, no such
/// sub-step, another dt than the data's, or a reference run in which nothing ignites.
std::unique_ptr<CoupledValidator> make_coupled_validator(const Params& section, const ConfigDocument& spec,
                                                         const CoupledTarget& target, MPI_Comm comm);

}  // namespace simfuse::ai
