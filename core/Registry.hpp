#pragma once
/// \file Registry.hpp
/// Components found by name, the way PETSc finds KSP types: `TSRegister(TSBEULER, ...)`.
/// A registry holds, per name, a one-line doc, a function that declares the component's
/// parameters (into the Catalog family of this registry, so case files are validated and
/// documented) and a factory. Built-in components are registered by `register_builtins()`
/// functions; a scientist's extension registers its own the same way, from any library or
/// executable, with SIMFUSE_REGISTER (see examples/ex2_custom_solver).
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "simfuse/core/Error.hpp"
#include "simfuse/core/Schema.hpp"

namespace simfuse {

template <class Base, class... Args>
class Registry {
 public:
  using Factory = std::function<std::unique_ptr<Base>(Args...)>;
  using Declare = std::function<void(Schema&)>;

  /// `family` is the Catalog family of blocks this registry's names appear in.
  explicit Registry(std::string family) : family_(std::move(family)) {}

  /// Registers (or replaces) `name`. Not thread-safe; call before running cases.
  void add(const std::string& name, const std::string& doc, const Declare& declare, Factory factory) {
    Schema& s = Catalog::instance().add_type(family_, name, doc);
    if (declare) declare(s);
    factories_[name] = std::move(factory);
  }

  bool has(const std::string& name) const {
    return factories_.count(name) != 0 || (load_lazy_components() && factories_.count(name) != 0);
  }
  std::vector<std::string> names() const {
    load_lazy_components();
    std::vector<std::string> n;
    for (const auto& [k, v] : factories_) n.push_back(k);
    return n;
  }
  const std::string& family() const { return family_; }
  /// The schema declared for `name` (nullptr if unknown).
  const Schema* schema(const std::string& name) const {
    const auto* t = Catalog::instance().find(family_, name);
    return t ? t->schema.get() : nullptr;
  }

  /// Creates `name`. Throws UserError naming the available types if it is unknown.
  std::unique_ptr<Base> create(const std::string& name, Args... args) const {
    auto it = factories_.find(name);
    if (it == factories_.end() && load_lazy_components()) it = factories_.find(name);
    if (it == factories_.end()) {
      throw UserError("unknown " + family_ + " type '" + name + "'", unknown_type_fix(name, names()));
    }
    return it->second(std::forward<Args>(args)...);
  }

 private:
  std::string family_;
  std::map<std::string, Factory> factories_;
};

}  // namespace simfuse

#define SIMFUSE_CONCAT_INNER(a, b) a##b
#define SIMFUSE_CONCAT(a, b) SIMFUSE_CONCAT_INNER(a, b)
/// Runs `statement` (typically `registry.add(...)`) when the enclosing library or
/// executable is loaded. Use in a .cpp file of a shared library or an executable.
#define SIMFUSE_REGISTER(statement)                                      \
  static const bool SIMFUSE_CONCAT(simfuse_registered_, __LINE__) = [] { \
    statement;                                                           \
    return true;                                                         \
  }()
