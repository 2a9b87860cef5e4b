#pragma once
/// \file Isat.hpp
/// The `isat` policy: in situ adaptive tabulation (Pope 1997; OpenFOAM's TDAC) of a
/// Pointwise, Relocatable sub-step, a classical alternative to direct integration and to
/// a surrogate. Each call, every owned point's record (core/base/PointStates.hpp) is looked
/// up in this rank's table (coupling/detail/IsatTable.hpp); the misses are computed by the
/// sub-step's own apply_states (with its per-point memory), then grow an entry or add one,
/// whose sensitivity comes from the sub-step's Differentiable capability (chemistry:
/// A = (I - dt J(R))^-1 with one LU, as TDAC) or, without it, from one-sided differences
/// (n + 1 computations per added entry: a warning says so). The table is keyed on the
/// points' local conditions (exact values) and flushed when dt changes; it is bounded in
/// memory (least recently used tenth evicted, trees rebuilt balanced) and checkpointed.
/// `verify` computes a share of the retrievals directly as well, to measure the table's
/// error (counters isat.verified, isat.verified_within, isat.worst_verified).
#include <memory>

#include "simfuse/core/base/Schema.hpp"
#include "simfuse/coupling/Policy.hpp"

namespace simfuse {

void declare_isat(Schema& s);
std::unique_ptr<Policy> make_isat_policy(const PolicyContext& c);

}  // namespace simfuse
