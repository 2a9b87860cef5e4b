#pragma once
/// \file Balanced.hpp
/// The `balanced` policy: the classical computation of a Pointwise, Relocatable sub-step
/// (chemistry's react) with its points shared among the ranks by each point's measured
/// cost in the previous call, as DLBFoam balances chemistry: records move from ranks above
/// the mean load to ranks below it and their results come back
/// (coupling/detail/Balance.hpp). Bitwise the results of the classical policy on any rank
/// count; counters balance.sent, balance.imbalance (max / mean busy time over the ranks,
/// after the moves) and balance.unbalanced (the same without them).
#include <memory>

#include "simfuse/core/base/Schema.hpp"
#include "simfuse/coupling/Policy.hpp"

namespace simfuse {

void declare_balanced(Schema& s);
std::unique_ptr<Policy> make_balanced_policy(const PolicyContext& c);

}  // namespace simfuse
