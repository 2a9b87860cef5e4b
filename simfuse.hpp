#pragma once
/// \file simfuse.hpp
/// The public API of simfuse in one include: `#include <simfuse/simfuse.hpp>`.
///
/// What an extension needs: the solver, sub-step and policy interfaces and their
/// registries, the grid and fields, the diffusion operator and boundary conditions, the
/// evaluation helpers, checkpointable state, plugins, and the Simulation facade. It needs
/// no libtorch; the surrogate layer is <simfuse/surrogates/...> and <simfuse/coupling/ai/...>
/// (link simfuse::ai).
///
/// Headers are included with their `simfuse/` prefix (<simfuse/core/Grid.hpp>). The
/// installed package still accepts the old form "core/Grid.hpp" for one release
/// (deprecated: a project of your own with a core/ folder can pick up the wrong file).
#include "simfuse/core/Checkpoint.hpp"
#include "simfuse/core/Field.hpp"
#include "simfuse/core/Grid.hpp"
#include "simfuse/core/Petsc.hpp"
#include "simfuse/core/Solver.hpp"
#include "simfuse/core/SubStep.hpp"
#include "simfuse/core/Timer.hpp"
#include "simfuse/core/Version.hpp"
#include "simfuse/core/base/CommandLine.hpp"
#include "simfuse/core/base/Config.hpp"
#include "simfuse/core/base/Error.hpp"
#include "simfuse/core/base/Function.hpp"
#include "simfuse/core/base/Log.hpp"
#include "simfuse/core/base/Paths.hpp"
#include "simfuse/core/base/Plugins.hpp"
#include "simfuse/core/base/Registry.hpp"
#include "simfuse/core/base/Schema.hpp"
#include "simfuse/coupling/Coupler.hpp"
#include "simfuse/coupling/Policy.hpp"
#include "simfuse/coupling/Simulation.hpp"
#include "simfuse/postproc/Norms.hpp"
#include "simfuse/solvers/common/Boundary.hpp"
#include "simfuse/solvers/common/DiffusionOperator.hpp"
#include "simfuse/solvers/common/Evaluate.hpp"
#include "simfuse/solvers/common/LinearSolver.hpp"
