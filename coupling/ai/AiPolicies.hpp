#pragma once
/// \file AiPolicies.hpp
/// The surrogate policies, chosen per sub-step in the case (`coupling:`):
///
///   surrogate   inference only, no guard (for measurement)
///   guarded     inference, then checks: NaN/Inf, inputs outside the card's training
///               ranges, the sub-step's own error estimate (Checkable) above `tol`.
///               Rejected points of a Pointwise sub-step rerun classically one by one;
///               any other sub-step falls back as a whole. Every fallback is counted.
///   warm_start  Iterative sub-steps: the prediction is the initial guess, the classical
///               solver still converges to its tolerance.
///   every_n     the surrogate (optionally guarded), with a classical step every n steps.
///   online      trains a pointwise model from the sub-step's own classical calls while
///               the run goes, serves it under the guard once validated, rolls back on drift.
///
/// The pieces they are made of are the extension tier: coupling/PointGuard.hpp (the guard,
/// no libtorch), coupling/ai/ModelBinding.hpp and coupling/ai/ReplacePolicy.hpp.
///
///     coupling:
///       react: {type: guarded, model: models/bz_react.card.yaml, tol: 1.0}
#include <string>

namespace simfuse::ai {

/// Adds the surrogate policies to policy_registry(). Idempotent.
void register_policies();

}  // namespace simfuse::ai
