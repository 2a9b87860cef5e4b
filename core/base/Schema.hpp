#pragma once
/// \file Schema.hpp
/// Declared parameters. Each component (solver, source function, output, ...) declares
/// its keys once: name, type, default, allowed range or choices, one-line doc. From the
/// declarations simfuse validates case files (strict keys with "did you mean",
/// typed values, ranges, required keys; every message names the key path and the YAML
/// line) and generates `simfuse config doc`.
///
/// Polymorphic blocks `{type: name, ...parameters}` are declared as a `block` of a
/// *family* (e.g. "function", "solver"); the types of a family and their schemas live in
/// the Catalog, where registries (Registry.hpp) and user extensions add them.
#include <yaml-cpp/yaml.h>

#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "simfuse/core/base/Config.hpp"
#include "simfuse/core/base/Error.hpp"

namespace simfuse {

enum class ParamType {
  Bool,
  Int,
  Real,
  String,
  BoolList,
  IntList,
  RealList,
  StringList,
  Map,      ///< free-form mapping of scalars (or nested mappings), e.g. petsc_options
  Section,  ///< a nested mapping with its own schema
  Block,    ///< {type: name, ...} of a Catalog family
  Any       ///< any YAML value, checked by the code that reads it
};

/// Human description of a type ("a real number", "a list of integers", ...).
std::string describe(ParamType t);

class Schema;

/// The declaration of one key.
struct ParamSpec {
  std::string key;
  ParamType type = ParamType::Real;
  std::string doc;
  bool required = false;
  std::optional<std::string> default_yaml;                             ///< default as YAML text, e.g. "1.0", "[0, 0]"
  std::optional<double> min, max;                                      ///< numeric range (elementwise for lists)
  bool min_open = false, max_open = false;                             ///< exclusive bounds
  std::vector<std::string> choices;                                    ///< allowed strings (String, StringList)
  size_t min_size = 0, max_size = std::numeric_limits<size_t>::max();  ///< list length
  bool broadcast = false;                                              ///< a scalar is accepted as a one-element list
  std::shared_ptr<Schema> section;                                     ///< Section
  std::string family;                                                  ///< Block: the Catalog family
  std::string params_key;  ///< Block: if set, the type's parameters sit under this key
  bool list = false;       ///< Section: a list of such sections is accepted too
  bool optional = false;   ///< Section: absent unless given (Params::has is false then)
};

/// Fluent setter for one declaration; returned by the Schema::add... functions.
class ParamBuilder {
 public:
  explicit ParamBuilder(ParamSpec& s) : s_(s) {}
  ParamBuilder& def(const std::string& yaml_text) {
    s_.default_yaml = yaml_text;
    return *this;
  }
  ParamBuilder& def(double v);
  ParamBuilder& def(int v) { return def(std::to_string(v)); }
  ParamBuilder& def(bool v) { return def(std::string(v ? "true" : "false")); }
  ParamBuilder& def(const char* s) { return def(std::string(s)); }
  ParamBuilder& required() {
    s_.required = true;
    return *this;
  }
  ParamBuilder& min(double v, bool open = false) {
    s_.min = v;
    s_.min_open = open;
    return *this;
  }
  ParamBuilder& max(double v, bool open = false) {
    s_.max = v;
    s_.max_open = open;
    return *this;
  }
  ParamBuilder& range(double lo, double hi) { return min(lo).max(hi); }
  ParamBuilder& positive() { return min(0.0, true); }
  ParamBuilder& non_negative() { return min(0.0); }
  ParamBuilder& choices(std::vector<std::string> c) {
    s_.choices = std::move(c);
    return *this;
  }
  ParamBuilder& size(size_t lo, size_t hi) {
    s_.min_size = lo;
    s_.max_size = hi;
    return *this;
  }
  ParamBuilder& broadcast() {
    s_.broadcast = true;
    return *this;
  }

 private:
  ParamSpec& s_;
};

class Params;
using Diagnostics = std::vector<Diagnostic>;
namespace detail {
struct Validator;
}

/// A set of declared keys (one YAML mapping).
class Schema {
 public:
  explicit Schema(std::string name = {}, std::string doc = {});

  const std::string& name() const { return name_; }
  const std::string& doc() const { return doc_; }

  ParamBuilder add(const std::string& key, ParamType type, const std::string& doc);
  ParamBuilder add_bool(const std::string& key, const std::string& doc) { return add(key, ParamType::Bool, doc); }
  ParamBuilder add_int(const std::string& key, const std::string& doc) { return add(key, ParamType::Int, doc); }
  ParamBuilder add_real(const std::string& key, const std::string& doc) { return add(key, ParamType::Real, doc); }
  ParamBuilder add_string(const std::string& key, const std::string& doc) { return add(key, ParamType::String, doc); }
  ParamBuilder add_map(const std::string& key, const std::string& doc) { return add(key, ParamType::Map, doc); }
  /// A nested section; declare its keys into the returned schema.
  Schema& add_section(const std::string& key, const std::string& doc);
  /// A section that is absent unless the case gives it (a mode: Params::has tells); its
  /// required keys are required only then.
  Schema& add_optional_section(const std::string& key, const std::string& doc);
  /// A section that may also be given as a list of such sections (Params::subs).
  Schema& add_section_or_list(const std::string& key, const std::string& doc);
  /// A `{type: ..., ...}` block of `family`. With `params_key` the type's own keys sit
  /// under that key (`solver: {type: diffusion, params: {...}}`), otherwise beside `type`.
  ParamBuilder add_block(const std::string& key, const std::string& family, const std::string& doc,
                         const std::string& params_key = {});

  /// A cross-key check run after the keys of this schema validated cleanly.
  using Check = std::function<void(const Params&, Diagnostics&)>;
  void add_check(Check c) { checks_.push_back(std::move(c)); }

  const std::vector<ParamSpec>& params() const { return params_; }
  const std::vector<Check>& checks() const { return checks_; }
  const ParamSpec* find(const std::string& key) const;

  /// Validates `node` (a mapping, or null for "all defaults") found at `path` of `doc`.
  /// Problems are appended to `diags`; the returned Params holds defaults where a value
  /// is missing or wrong, so callers must check `diags` before using it.
  Params validate(const ConfigDocument& doc, const YAML::Node& node, const std::string& path, Diagnostics& diags) const;
  /// Validates and throws UserError listing every problem found.
  Params validate_or_throw(const ConfigDocument& doc, const YAML::Node& node, const std::string& path) const;
  /// All defaults (throws InternalError if a required key has no default).
  Params defaults() const;

  /// Writes the documentation of these keys (and nested sections) to `os`.
  void document(std::ostream& os, const std::string& path, int indent = 0) const;
  /// The same as Markdown tables (key, type, default, meaning), sections below as
  /// sub-headings of `level` (`simfuse config doc --markdown`, docs/reference.md).
  void document_markdown(std::ostream& os, const std::string& path, int level = 3) const;

 private:
  std::string name_, doc_;
  std::vector<ParamSpec> params_;
  std::vector<Check> checks_;
};

/// The validated values of one Schema, with their locations.
class Params {
 public:
  Params() = default;

  const std::string& path() const { return path_; }
  const Location& where() const { return where_; }
  /// The schema's name (for a block: its type name).
  const std::string& schema_name() const { return schema_name_; }

  bool has(const std::string& key) const { return entries_.count(key) != 0; }
  /// True when the user gave the key (in the file or with --set), false for defaults.
  bool is_set(const std::string& key) const;
  /// Typed value: bool, int, double, std::string, std::vector of those.
  template <class T>
  T get(const std::string& key) const;
  /// Nested section or block parameters (the first, for a section given as a list).
  const Params& sub(const std::string& key) const;
  /// Every section of a key declared with add_section_or_list(): one for a mapping, one per element
  /// for a list.
  std::vector<const Params*> subs(const std::string& key) const;
  /// The `type` of a block.
  const std::string& type_of(const std::string& key) const;
  /// The raw YAML of a Map (or any) entry.
  const YAML::Node& node(const std::string& key) const;

  std::string key_path(const std::string& key) const;
  Location where(const std::string& key) const;
  /// A Diagnostic about `key` (its location and full path).
  Diagnostic diag(const std::string& key, std::string what, std::string fix = {}) const;
  /// Throws a UserError about `key`: use for semantic checks after validation.
  [[noreturn]] void fail(const std::string& key, std::string what, std::string fix = {}) const;

  std::vector<std::string> keys() const;

  /// Validates the raw value of `key` (a Map entry, or absent) against a schema known
  /// only now (e.g. one key per species of the chosen kinetics). Messages carry the same
  /// file positions as the rest of the document. Throws UserError.
  Params validate_entry(const std::string& key, const Schema& schema) const;

 private:
  friend class Schema;
  friend struct detail::Validator;
  struct Entry {
    ParamType type = ParamType::Real;
    YAML::Node value;
    Location where;
    bool is_set = false;
    std::shared_ptr<Params> sub;
    std::vector<std::shared_ptr<Params>> list;  // a section given as a list
    std::string block_type;
  };
  const Entry& entry(const std::string& key) const;

  std::string path_;
  std::string schema_name_;
  Location where_;
  std::map<std::string, Entry> entries_;
  const ConfigDocument* doc_ = nullptr;  // the document validated (outlives the Params)
};

/// Families of `{type: ...}` blocks and the schema of each type.
class Catalog {
 public:
  struct Type {
    std::string name;
    std::string doc;
    std::shared_ptr<Schema> schema;
  };
  /// Converts a scalar given where a block is expected into the block's mapping, e.g.
  /// `kappa: 2` -> `{type: constant, value: 2}`. Returns an undefined node to refuse.
  using Shorthand = std::function<YAML::Node(const YAML::Node& scalar)>;
  /// The common shorthand: a name means {type: name} with default parameters.
  static YAML::Node type_name_shorthand(const YAML::Node& scalar);

  static Catalog& instance();

  /// Adds (or replaces) a type; returns its schema to declare parameters into.
  Schema& add_type(const std::string& family, const std::string& type, const std::string& doc);
  void set_shorthand(const std::string& family, Shorthand s, std::string doc);
  const Type* find(const std::string& family, const std::string& type) const;
  std::vector<std::string> types(const std::string& family) const;
  std::vector<std::string> families() const;
  const Shorthand* shorthand(const std::string& family) const;
  std::string shorthand_doc(const std::string& family) const;

 private:
  std::map<std::string, std::map<std::string, Type>> families_;
  std::map<std::string, std::pair<Shorthand, std::string>> shorthands_;
};

/// Components registered on first need. The simfuse command registers its AI layer
/// (policies, architectures, capture) this way: loading libtorch costs about two seconds of
/// dynamic linking on these machines, which a classical run, `config validate` or a bad
/// case file should not pay. A loader runs once, the first time a lookup by name misses
/// (Catalog::find, Registry::create/has) or a family is listed (Catalog::types, families).
void add_lazy_components(std::function<void()> loader);
/// Runs the loaders not run yet; true if any ran (a missed lookup is then retried).
bool load_lazy_components();

/// Edit distance, for "did you mean" suggestions.
size_t edit_distance(const std::string& a, const std::string& b);
/// The candidate nearest to `word` if it is close enough to be a likely typo.
std::optional<std::string> nearest(const std::string& word, const std::vector<std::string>& candidates);
/// How to fix an unknown type name `type` of a family holding `types`: the likely typo,
/// or where types from plugins come from, and the available types.
std::string unknown_type_fix(const std::string& type, const std::vector<std::string>& types);
/// "a, b, c"
std::string join(const std::vector<std::string>& items, const std::string& sep = ", ");

}  // namespace simfuse
