#pragma once
/// \file Registry.hpp
/// simfuse: forwarding header. Moved to <simfuse/core/base/Registry.hpp> (core/base/ holds the
/// PETSc-free library simfuse_base; core/ itself the PETSc part, simfuse_core). This
/// header goes in the next release: include the new path.
#pragma GCC warning \
    "<simfuse/core/Registry.hpp> moved to <simfuse/core/base/Registry.hpp>; this forwarding header goes in the next release"
#include "simfuse/core/base/Registry.hpp"
