#pragma once
/// \file Plugins.hpp
/// simfuse: forwarding header. Moved to <simfuse/core/base/Plugins.hpp> (core/base/ holds the
/// PETSc-free library simfuse_base; core/ itself the PETSc part, simfuse_core). This
/// header goes in the next release: include the new path.
#pragma GCC warning \
    "<simfuse/core/Plugins.hpp> moved to <simfuse/core/base/Plugins.hpp>; this forwarding header goes in the next release"
#include "simfuse/core/base/Plugins.hpp"
