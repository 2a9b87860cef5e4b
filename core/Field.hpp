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

#include "core/Grid.hpp"

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

/// The named fields of a simulation, in the order they were added.
class State {
 public:
  /// Adds a field; throws InternalError if the name is taken.
  Field& add(const Grid& grid, const std::string& name, std::vector<std::string> components = {}, bool vector = false);
  bool has(const std::string& name) const;
  /// Throws UserError naming the available fields if `name` is unknown.
  Field& get(const std::string& name);
  const Field& get(const std::string& name) const;
  std::vector<std::string> names() const;
  size_t size() const { return fields_.size(); }

 private:
  std::vector<std::unique_ptr<Field>> fields_;
};

}  // namespace simfuse
