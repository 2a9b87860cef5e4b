#pragma once
/// \file Rosenbrock.hpp
/// simfuse: forwarding header. Moved to <simfuse/solvers/kinetics/Rosenbrock.hpp> (the folder
/// is named for what it holds: the Kinetics interface, its mechanisms and the Rodas3
/// integrator). This header goes in the next release: include the new path.
#pragma GCC warning \
    "<simfuse/solvers/reaction/Rosenbrock.hpp> moved to <simfuse/solvers/kinetics/Rosenbrock.hpp>; this forwarding header goes in the next release"
#include "simfuse/solvers/kinetics/Rosenbrock.hpp"
