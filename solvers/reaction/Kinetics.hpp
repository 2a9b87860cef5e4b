#pragma once
/// \file Kinetics.hpp
/// simfuse: forwarding header. Moved to <simfuse/solvers/kinetics/Kinetics.hpp> (the folder
/// is named for what it holds: the Kinetics interface, its mechanisms and the Rodas3
/// integrator). This header goes in the next release: include the new path.
#pragma GCC warning \
    "<simfuse/solvers/reaction/Kinetics.hpp> moved to <simfuse/solvers/kinetics/Kinetics.hpp>; this forwarding header goes in the next release"
#include "simfuse/solvers/kinetics/Kinetics.hpp"
