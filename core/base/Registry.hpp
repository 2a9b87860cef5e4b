#pragma once
/// \file Registry.hpp
/// Components found by name, the way PETSc finds KSP types: `TSRegister(TSBEULER, ...)`.
/// A registry holds, per name, a one-line doc, a function that declares the component's
/// parameters (into the Catalog family of this registry, so case files are validated and
/// documented) and a factory.
///
/// One registration story: everything is registered by an explicit call to the registry's
/// `add()` from a function that runs when its owner decides. The built-ins from
/// `register_builtins()` (and the AI layer's when it is loaded); a plugin from its
/// `SIMFUSE_PLUGIN("name") { ... }` block (core/base/Plugins.hpp: an `extern "C"` entry that
/// simfuse calls after checking the plugin's version); a program of one's own from a
/// `register_*()` function its main() calls (examples/ex2_custom_solver). Never a static
/// initialiser: a linker may drop it, and nobody controls its order.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "simfuse/core/base/Error.hpp"
#include "simfuse/core/base/Schema.hpp"

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
