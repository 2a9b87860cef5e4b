#pragma once
/// \file Field.hpp
/// Named fields on a Grid and the State a solver advances.
///
/// A Field is one PETSc global Vec on the grid's layout with `ncomp` interleaved
/// components per point ([z][y][x][c]), e.g. a scalar temperature "u" or a velocity
/// "velocity" with components (vx, vy).
#include <memory>
#include <string>
#include <vector>

#include "simfuse/core/Grid.hpp"

namespace simfuse {

class Field {
 public:
  /// Creates a zero field. Collective on the grid's communicator. A `vector` field has one
  /// component per dimension and is written as a vector (for glyphs and streamlines).
  Field(const Grid& grid, std::string name, std::vector<std::string> components = {}, bool vector = false);

  const std::string& name() const { return name_; }
  int ncomp() const { return static_cast<int>(components_.size()); }
  const std::vector<std::string>& components() const { return components_; }
  const Grid& grid() const { return *grid_; }
  bool is_vector() const { return vector_; }
  DM dm() const { return grid_->dm(ncomp()); }
  /// The global vector (owned points only).
  Vec vec() const { return vec_; }

  /// Read/write access to the owned points: view(i, j, k, c).
  ArrayView view() { return ArrayView(vec_, grid_->owned(), ncomp()); }
  ArrayView view_read() const { return ArrayView(vec_, grid_->owned(), ncomp(), true); }

  /// Copies values (same grid and components).
  void copy_from(const Field& other);

 private:
  const Grid* grid_;
  std::string name_;
  std::vector<std::string> components_;
  bool vector_ = false;
  PetscHandle<Vec> vec_;
};

/// The named fields of a simulation, in the order they were added: the solution fields
/// a solver advances, and diagnostic fields (a per-cell real or integer that is output but
/// not state, e.g. which path each cell took in a guarded sub-step, or a heat-release
/// rate). Integers are held exactly as reals.
class State {
 public:
  /// Adds a solution field; throws InternalError if the name is taken.
  Field& add(const Grid& grid, const std::string& name, std::vector<std::string> components = {}, bool vector = false);
  /// Adds a diagnostic field (written to output by default, never advanced, captured or
  /// bound to a model); throws InternalError if the name is taken. Collective.
  Field& add_diagnostic(const Grid& grid, const std::string& name, std::vector<std::string> components = {});
  bool has(const std::string& name) const;
  /// Solution or diagnostic field. Throws UserError naming the available fields if
  /// `name` is unknown.
  Field& get(const std::string& name);
  const Field& get(const std::string& name) const;
  /// Names of the solution fields.
  std::vector<std::string> names() const;
  /// Names of the diagnostic fields.
  std::vector<std::string> diagnostic_names() const;
  /// Solution fields, then diagnostic fields.
  std::vector<std::string> all_names() const;
  /// Number of solution fields.
  size_t size() const { return fields_.size(); }

 private:
  std::vector<std::unique_ptr<Field>> fields_;
  std::vector<std::unique_ptr<Field>> diagnostics_;
};

}  // namespace simfuse
