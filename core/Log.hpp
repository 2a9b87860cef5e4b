#pragma once
/// \file Log.hpp
/// simfuse: forwarding header. Moved to <simfuse/core/base/Log.hpp> (core/base/ holds the
/// PETSc-free library simfuse_base; core/ itself the PETSc part, simfuse_core). This
/// header goes in the next release: include the new path.
#pragma GCC warning \
    "<simfuse/core/Log.hpp> moved to <simfuse/core/base/Log.hpp>; this forwarding header goes in the next release"
#include "simfuse/core/base/Log.hpp"
