#pragma once
/// \file Builtins.hpp
/// The AI library's one registration call. A program linking simfuse_ai calls it once
/// before building a Simulation (the simfuse command does, as do the tests and benches):
///
///     simfuse::ai::register_builtins();
///
/// It registers simfuse's built-ins (simfuse::register_builtins), the surrogate policies
/// (surrogate, guarded, warm_start, every_n), the model architectures (mlp, cnn) and the
/// `capture:` case section. An explicit call, not a static initialiser: a linker may drop
/// a library nothing references, and the case would then fail with "unknown policy".
/// Idempotent.
namespace simfuse::ai {
void register_builtins();
}
