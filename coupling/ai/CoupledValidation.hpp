#pragma once
/// \file CoupledValidation.hpp
/// The coupled checks of `simfuse train`'s `coupled_validation`: the case is run once
/// classically (the reference), then with each candidate model in the sub-step (policy
/// `surrogate` or `guarded`), in memory. Two metrics:
///  - ignition_delay: a reactor sweep (solver `reactors`, `run: steps`); the mean over the
///    reactors of the relative delay error, capped at 1 (1 for a reactor that ignites on
///    one side only);
///  - final_field: any case; the relative L2 error of one field component at the end.
/// A run the candidate makes fail scores +inf. Internal:
/// the train command passes make_coupled_validator to train() (surrogates/ never links the
/// solvers).
#include <memory>

#include "simfuse/surrogates/Training.hpp"

namespace simfuse::ai {

/// The factory of TrainOptions::coupled_validator. UserError naming `case` (or the case
/// file's own key) for a case it cannot serve: missing, no such sub-step or field, another
/// dt than the data's; for ignition_delay not a stepped reactor sweep, or a reference run
/// in which nothing ignites.
std::unique_ptr<CoupledValidator> make_coupled_validator(const Params& section, const ConfigDocument& spec,
                                                         const CoupledTarget& target, MPI_Comm comm);

}  // namespace simfuse::ai
