#pragma once
/// \file Balance.hpp
/// Sharing a Relocatable sub-step's work among the ranks by its measured cost (as
/// DLBFoam balances chemistry): every rank's point records are predicted to cost what
/// they cost the last time; ranks above the mean send records from the end of their list
/// to ranks below it (a plan every rank computes the same way from the gathered loads),
/// everyone computes what it holds, and the results go back to their owners. The records
/// carry the state, the local conditions and the solver memory, and apply_states computes
/// a record exactly as the owner would: the results are bitwise those of computing at home.
#include <mpi.h>

#include <cstddef>
#include <vector>

#include "simfuse/core/SubStep.hpp"
#include "simfuse/coupling/Policy.hpp"

namespace simfuse::detail {

/// What one balanced call did (this rank's view; the loads are the same on every rank).
struct BalanceReport {
  long sent = 0;                ///< records this rank sent away
  long received = 0;            ///< records this rank computed for others
  double predicted_before = 0;  ///< max / mean of the predicted loads as owned
  double predicted_after = 0;   ///< max / mean of the predicted loads after the plan
  double busy = 0;              ///< this rank's seconds computing records
  double transfer = 0;          ///< this rank's seconds packing, exchanging, unpacking
};

/// Computes `states` (this rank's records; overwritten with the results) by
/// rel.apply_states, sharing the work by `predicted` (seconds per record, >= 0; zeros:
/// by count). `measured` receives each record's own computing time, `ok` whether it
/// succeeded. Below `threshold` (max / mean of the predicted loads) nothing moves.
/// Collective on `comm`.
BalanceReport balanced_apply(Relocatable& rel, const StepInfo& info, PointStates& states,
                             const std::vector<double>& predicted, std::vector<double>& measured, std::vector<char>& ok,
                             MPI_Comm comm, double threshold = 1.02);

/// max / mean over the ranks of `mine` (1 when nobody worked). Collective.
double rank_imbalance(double mine, MPI_Comm comm);

/// The records of all `owned` points of a Relocatable sub-step.
PointStates take_owned(const Relocatable& rel, const State& state, PetscInt owned);

/// Writes back every record q with ok[q] set; the others rerun through pw.apply_points,
/// called on every rank (possibly with none) so a failure is reported as the sub-step
/// reports it. Record q is point points[q], or point q when `points` is null. Returns the
/// rerun points. Collective as apply_points is.
std::vector<PetscInt> return_or_rerun(Relocatable& rel, Pointwise& pw, State& state, const StepInfo& info,
                                      const PointStates& rec, const std::vector<char>& ok,
                                      const std::vector<PetscInt>* points = nullptr);

/// A balanced call's counters (sent, the imbalance after the moves and as predicted
/// before them, transfer time) into `stats`. Collective.
void record_balance(const BalanceReport& rep, SubStepStats& stats, MPI_Comm comm);

/// Reference mapping (as DLBFoam's): for each record, the index of the record that
/// computes for it (itself for a reference). Records with the same conditions whose
/// components fall in the same bucket of width tolerance x scale[c] (so within that of
/// each other in every component) share the first one's result; with tolerance 0 only
/// records identical in state, conditions and memory do (their results are then bitwise
/// what each would compute). Not collective.
std::vector<size_t> reference_map(const PointStates& s, double tolerance, const std::vector<double>& scale);

}  // namespace simfuse::detail
