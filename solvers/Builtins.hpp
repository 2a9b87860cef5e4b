#pragma once
/// \file Builtins.hpp
/// Registers simfuse's own solvers in solver_registry(). Idempotent; called by the case
/// builder, and by programs that create solvers by name.
namespace simfuse {
void register_builtin_solvers();
}
