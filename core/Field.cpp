#include "simfuse/core/Field.hpp"

#include "simfuse/core/base/Schema.hpp"

namespace simfuse {

Field::Field(const Grid& grid, std::string name, std::vector<std::string> components, bool vector)
    : grid_(&grid), name_(std::move(name)), components_(std::move(components)), vector_(vector) {
  if (components_.empty()) components_.push_back(name_);
  SIMFUSE_PETSC(DMCreateGlobalVector(dm(), vec_.out()));
  SIMFUSE_PETSC(PetscObjectSetName(reinterpret_cast<PetscObject>(vec_.get()), name_.c_str()));
  SIMFUSE_PETSC(VecSet(vec_, 0.0));
}

void Field::copy_from(const Field& other) {
  SIMFUSE_REQUIRE(other.ncomp() == ncomp() && other.grid_ == grid_, "copy between incompatible fields");
  SIMFUSE_PETSC(VecCopy(other.vec_, vec_));
}

Field& State::add(const Grid& grid, const std::string& name, std::vector<std::string> components, bool vector) {
  SIMFUSE_REQUIRE(!has(name), "field '" + name + "' added twice");
  fields_.push_back(std::make_unique<Field>(grid, name, std::move(components), vector));
  return *fields_.back();
}

Field& State::add_diagnostic(const Grid& grid, const std::string& name, std::vector<std::string> components) {
  SIMFUSE_REQUIRE(!has(name), "field '" + name + "' added twice");
  diagnostics_.push_back(std::make_unique<Field>(grid, name, std::move(components), false));
  return *diagnostics_.back();
}

bool State::has(const std::string& name) const {
  for (const auto* list : {&fields_, &diagnostics_})
    for (const auto& f : *list)
      if (f->name() == name) return true;
  return false;
}

Field& State::get(const std::string& name) {
  return const_cast<Field&>(static_cast<const State&>(*this).get(name));
}

const Field& State::get(const std::string& name) const {
  for (const auto* list : {&fields_, &diagnostics_})
    for (const auto& f : *list)
      if (f->name() == name) return *f;
  const std::vector<std::string> all = all_names();
  auto near = nearest(name, all);
  throw UserError("no field named '" + name + "'",
                  (near ? "did you mean '" + *near + "'? " : std::string()) + "Fields: " + join(all));
}

std::vector<std::string> State::names() const {
  std::vector<std::string> n;
  for (const auto& f : fields_) n.push_back(f->name());
  return n;
}

std::vector<std::string> State::diagnostic_names() const {
  std::vector<std::string> n;
  for (const auto& f : diagnostics_) n.push_back(f->name());
  return n;
}

std::vector<std::string> State::all_names() const {
  std::vector<std::string> n = names();
  for (const auto& d : diagnostic_names()) n.push_back(d);
  return n;
}

}  // namespace simfuse
