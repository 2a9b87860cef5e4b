#pragma once
/// \file Guess.hpp
/// Initial guesses for iterative linear solves.
#include <array>

#include "core/Petsc.hpp"

namespace simfuse {

/// Replaces x by the combination a x + c g with the smallest residual ||b - A(a x + c g)||_2
/// (a 2x2 least-squares problem; never worse than either candidate, and it corrects a
/// guess that is right in shape but off in scale). `ax` and `ag` are work vectors of x's
/// layout. Returns (a, c). Collective.
std::array<double, 2> least_residual_combination(Mat A, Vec b, Vec x, Vec g, Vec ax, Vec ag);

}  // namespace simfuse
