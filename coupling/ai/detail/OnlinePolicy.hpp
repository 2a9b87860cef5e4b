#pragma once
/// \file OnlinePolicy.hpp
/// Internal: the `online` policy (coupling/ai/OnlinePolicy.cpp), registered by
/// register_policies(). Not installed.
#include <memory>

#include "simfuse/core/base/Schema.hpp"
#include "simfuse/coupling/Policy.hpp"

namespace simfuse::ai::detail {

/// The online policy's keys.
void declare_online(Schema& s);
/// An online policy for the sub-step of `ctx`.
std::unique_ptr<Policy> make_online_policy(const PolicyContext& ctx);

}  // namespace simfuse::ai::detail
