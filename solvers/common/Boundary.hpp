#pragma once
/// \file Boundary.hpp
/// Boundary conditions per face of a walled direction, declared under `bc:`
///
///     bc:
///       default: {type: dirichlet, value: 0}   # faces not listed
///       x_hi: {type: neumann, flux: 0}          # kappa * du/dn = flux (n outward)
///
/// Periodic directions (grid.periodic) have no faces; a condition given for one is an error.
#include <array>
#include <memory>
#include <string>

#include "simfuse/core/Grid.hpp"
#include "simfuse/core/base/Function.hpp"
#include "simfuse/core/base/Registry.hpp"

namespace simfuse {

enum class BcKind { dirichlet, neumann, periodic };

struct FaceCondition {
  BcKind kind = BcKind::dirichlet;
  std::shared_ptr<Function> value;  ///< Dirichlet value, or Neumann inward flux kappa*du/dn
};

/// Faces are numbered 2*d + side: x_lo, x_hi, y_lo, y_hi, z_lo, z_hi.
struct BoundaryConditions {
  std::array<FaceCondition, 6> face;

  static const char* face_name(int f);
  /// Declares the `bc:` section keys; `default_condition` is the YAML of `bc.default`.
  static void declare(Schema& s, const std::string& default_condition = "{type: dirichlet, value: 0.0}");
  /// Builds the conditions of `grid` from a validated `bc:` section.
  static BoundaryConditions from(const Params& p, const Grid& grid, const Constants& c);
  /// All walls with the given condition (for code without a case file).
  static BoundaryConditions all(const Grid& grid, BcKind kind, std::shared_ptr<Function> value);

  bool any_dirichlet() const;
};

/// Boundary-condition types by name (family "bc"), created from their validated block and
/// the case's constants. dirichlet and neumann are registered on first use.
using BcRegistry = Registry<FaceCondition, const Params&, const Constants&>;
BcRegistry& bc_registry();

}  // namespace simfuse
