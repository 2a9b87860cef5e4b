#include "simfuse/core/base/Schema.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>

namespace simfuse {

std::string describe(ParamType t) {
  switch (t) {
    case ParamType::Bool:
      return "true or false";
    case ParamType::Int:
      return "an integer";
    case ParamType::Real:
      return "a real number";
    case ParamType::String:
      return "a string";
    case ParamType::BoolList:
      return "a list of true/false";
    case ParamType::IntList:
      return "a list of integers";
    case ParamType::RealList:
      return "a list of real numbers";
    case ParamType::StringList:
      return "a list of strings";
    case ParamType::Map:
      return "a mapping";
    case ParamType::Section:
      return "a mapping";
    case ParamType::Block:
      return "a {type: ...} block";
    case ParamType::Any:
      return "a value";
  }
  return "?";
}

namespace {

const char* short_name(ParamType t) {
  switch (t) {
    case ParamType::Bool:
      return "bool";
    case ParamType::Int:
      return "int";
    case ParamType::Real:
      return "real";
    case ParamType::String:
      return "string";
    case ParamType::BoolList:
      return "[bool]";
    case ParamType::IntList:
      return "[int]";
    case ParamType::RealList:
      return "[real]";
    case ParamType::StringList:
      return "[string]";
    case ParamType::Map:
      return "map";
    case ParamType::Section:
      return "section";
    case ParamType::Block:
      return "block";
    case ParamType::Any:
      return "any";
  }
  return "?";
}

std::string join_path(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

std::string scalar_text(const YAML::Node& n) {
  if (n.IsScalar()) return n.Scalar();
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a mapping";
  return "nothing";
}

ParamType element_type(ParamType t) {
  switch (t) {
    case ParamType::BoolList:
      return ParamType::Bool;
    case ParamType::IntList:
      return ParamType::Int;
    case ParamType::RealList:
      return ParamType::Real;
    case ParamType::StringList:
      return ParamType::String;
    default:
      return t;
  }
}

// Converts a scalar; returns an error text or empty.
std::string check_scalar(const YAML::Node& n, ParamType t, double* numeric) {
  if (!n.IsScalar()) return fmt::format("expected {}, got {}", describe(t), scalar_text(n));
  const std::string& s = n.Scalar();
  switch (t) {
    case ParamType::Bool: {
      bool b;
      if (!YAML::convert<bool>::decode(n, b)) return fmt::format("expected true or false, got '{}'", s);
      return {};
    }
    case ParamType::Int: {
      long long v;
      if (!YAML::convert<long long>::decode(n, v) || v > std::numeric_limits<int>::max() ||
          v < std::numeric_limits<int>::min())
        return fmt::format("expected an integer, got '{}'", s);
      if (numeric) *numeric = static_cast<double>(v);
      return {};
    }
    case ParamType::Real: {
      double v;
      if (!YAML::convert<double>::decode(n, v)) {
        char* end = nullptr;
        const double parsed = std::strtod(s.c_str(), &end);
        if (!s.empty() && end && *end == '\0' && std::isinf(parsed))
          return fmt::format("expected a finite real number, got '{}' (beyond double precision's range)", s);
        return fmt::format("expected a real number, got '{}'", s);
      }
      if (std::isnan(v)) return "expected a real number, got NaN";
      if (std::isinf(v))  // .inf, or a literal beyond double's range such as 1e400
        return fmt::format("expected a finite real number, got '{}' (infinite in double precision)", s);
      if (numeric) *numeric = v;
      return {};
    }
    case ParamType::String:
      return {};
    default:
      return "internal: not a scalar type";
  }
}

std::string range_text(const ParamSpec& s) {
  auto num = [](double v) { return fmt::format("{:g}", v); };
  if (s.min && s.max)
    return fmt::format("{}{}, {}{}", s.min_open ? "(" : "[", num(*s.min), num(*s.max), s.max_open ? ")" : "]");
  if (s.min) return fmt::format("{} {}", s.min_open ? ">" : ">=", num(*s.min));
  if (s.max) return fmt::format("{} {}", s.max_open ? "<" : "<=", num(*s.max));
  return {};
}

std::string check_range(const ParamSpec& s, double v) {
  const bool lo_bad = s.min && (s.min_open ? !(v > *s.min) : !(v >= *s.min));
  const bool hi_bad = s.max && (s.max_open ? !(v < *s.max) : !(v <= *s.max));
  if (lo_bad || hi_bad) return fmt::format("value {:g} is out of range: must be {}", v, range_text(s));
  return {};
}

}  // namespace

// ---------------------------------------------------------------------------------- helpers

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t sub = prev[j - 1] + (std::tolower(a[i - 1]) == std::tolower(b[j - 1]) ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
      // transposition of neighbours counts as one edit
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string unknown_type_fix(const std::string& type, const std::vector<std::string>& types) {
  if (auto near = nearest(type, types)) return fmt::format("did you mean '{}'? Available: {}", *near, join(types));
  return fmt::format(
      "available: {}. A type from a plugin needs the plugin loaded: 'plugins: [lib.so]' in the case, simfuse "
      "--plugin lib.so, or SIMFUSE_PLUGIN_PATH",
      join(types));
}

std::optional<std::string> nearest(const std::string& word, const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  size_t best_d = std::numeric_limits<size_t>::max();
  for (const auto& c : candidates) {
    const size_t d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  const size_t limit = std::max<size_t>(2, word.size() / 3);
  if (best && best_d <= limit && best_d < std::max(word.size(), best->size())) return best;
  // A prefix or suffix match is also a likely intent ("kap" -> "kappa").
  for (const auto& c : candidates)
    if (word.size() >= 3 && (c.rfind(word, 0) == 0 || word.rfind(c, 0) == 0)) return c;
  return std::nullopt;
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string s;
  for (size_t i = 0; i < items.size(); ++i) s += (i ? sep : "") + items[i];
  return s;
}

ParamBuilder& ParamBuilder::def(double v) {
  std::string t = fmt::format("{:g}", v);
  if (t.find_first_of(".en") == std::string::npos) t += ".0";
  return def(t);
}

// ----------------------------------------------------------------------------------- Schema

Schema::Schema(std::string name, std::string doc) : name_(std::move(name)), doc_(std::move(doc)) {}

ParamBuilder Schema::add(const std::string& key, ParamType type, const std::string& doc) {
  SIMFUSE_REQUIRE(find(key) == nullptr, "key '" + key + "' declared twice in schema " + name_);
  params_.push_back(ParamSpec{});
  params_.back().key = key;
  params_.back().type = type;
  params_.back().doc = doc;
  return ParamBuilder(params_.back());
}

Schema& Schema::add_section(const std::string& key, const std::string& doc) {
  add(key, ParamType::Section, doc);
  params_.back().section = std::make_shared<Schema>(key, doc);
  return *params_.back().section;
}

Schema& Schema::add_optional_section(const std::string& key, const std::string& doc) {
  Schema& s = add_section(key, doc);
  params_.back().optional = true;
  return s;
}

Schema& Schema::add_section_or_list(const std::string& key, const std::string& doc) {
  Schema& s = add_section(key, doc);
  params_.back().list = true;
  return s;
}

ParamBuilder Schema::add_block(const std::string& key, const std::string& family, const std::string& doc,
                               const std::string& params_key) {
  auto b = add(key, ParamType::Block, doc);
  params_.back().family = family;
  params_.back().params_key = params_key;
  return b;
}

const ParamSpec* Schema::find(const std::string& key) const {
  for (const auto& p : params_)
    if (p.key == key) return &p;
  return nullptr;
}

namespace detail {

struct Validator {
  const ConfigDocument& doc;
  Diagnostics& diags;

  void error(const YAML::Node& at, const std::string& path, std::string what, std::string fix = {}) {
    diags.push_back(Diagnostic{doc.locate(at, path), path, std::move(what), std::move(fix)});
  }

  std::vector<std::string> keys_of(const Schema& s) {
    std::vector<std::string> k;
    for (const auto& p : s.params()) k.push_back(p.key);
    return k;
  }

  // The sections of the last Section value given as a list.
  std::vector<std::shared_ptr<Params>> list_out;

  // Validates one value against its spec; returns whether it is usable.
  bool value(const ParamSpec& spec, const YAML::Node& n, const std::string& path, Params* sub_out,
             std::string* block_type) {
    switch (spec.type) {
      case ParamType::Bool:
      case ParamType::Int:
      case ParamType::Real:
      case ParamType::String:
        return scalar_value(spec, n, path);
      case ParamType::BoolList:
      case ParamType::IntList:
      case ParamType::RealList:
      case ParamType::StringList:
        return list_value(spec, n, path);
      case ParamType::Map: {
        if (n.IsNull()) return true;
        if (!n.IsMap()) {
          error(n, path, fmt::format("expected a mapping of options, got {}", scalar_text(n)),
                "write one option per line, e.g. 'ksp_type: cg'");
          return false;
        }
        return map_values(n, path);
      }
      case ParamType::Section:
        return section_value(spec, n, path, sub_out);
      case ParamType::Block:
        return block(spec, n, path, sub_out, block_type);
      case ParamType::Any:
        return true;
    }
    return false;
  }

  // A scalar: its type, range and choices.
  bool scalar_value(const ParamSpec& spec, const YAML::Node& n, const std::string& path) {
    double v = 0;
    std::string e = check_scalar(n, spec.type, &v);
    if (e.empty() && (spec.type == ParamType::Int || spec.type == ParamType::Real)) e = check_range(spec, v);
    if (e.empty() && spec.type == ParamType::String && !spec.choices.empty() &&
        std::find(spec.choices.begin(), spec.choices.end(), n.Scalar()) == spec.choices.end()) {
      auto near = nearest(n.Scalar(), spec.choices);
      error(n, path, fmt::format("'{}' is not one of the choices", n.Scalar()),
            (near ? fmt::format("did you mean '{}'? ", *near) : std::string()) + "Choices: " + join(spec.choices));
      return false;
    }
    if (!e.empty()) {
      error(n, path, e, fix_for(spec));
      return false;
    }
    return true;
  }

  // A list: a sequence (or a scalar a broadcast list repeats) of valid elements.
  bool list_value(const ParamSpec& spec, const YAML::Node& n, const std::string& path) {
    if (n.IsScalar() && spec.broadcast) {
      ParamSpec one = spec;
      one.type = element_type(spec.type);
      return value(one, n, path, nullptr, nullptr);
    }
    if (!n.IsSequence()) {
      error(n, path,
            fmt::format("expected {}, got {}", describe(spec.type),
                        n.IsScalar() ? "'" + n.Scalar() + "'" : scalar_text(n)),
            fix_for(spec));
      return false;
    }
    if (n.size() < spec.min_size || n.size() > spec.max_size) {
      error(n, path,
            spec.min_size == spec.max_size
                ? fmt::format("expected {} entries, got {}", spec.min_size, n.size())
                : fmt::format("expected {} to {} entries, got {}", spec.min_size, spec.max_size, n.size()),
            fix_for(spec));
      return false;
    }
    ParamSpec elem = spec;
    elem.type = element_type(spec.type);
    bool ok = true;
    for (size_t i = 0; i < n.size(); ++i)
      ok = value(elem, n[i], fmt::format("{}[{}]", path, i), nullptr, nullptr) && ok;
    return ok;
  }

  // A section, or a list of sections (the last one given is kept in list_out).
  bool section_value(const ParamSpec& spec, const YAML::Node& n, const std::string& path, Params* sub_out) {
    if (spec.list && n.IsSequence()) {
      if (n.size() == 0) {
        error(n, path, "the list is empty", "give at least one entry, or remove the key");
        return false;
      }
      const size_t before = diags.size();
      std::vector<std::shared_ptr<Params>> items;
      for (size_t i = 0; i < n.size(); ++i) {
        const std::string ip = fmt::format("{}[{}]", path, i);
        if (!n[i].IsMap()) {
          error(n[i], ip, fmt::format("expected a section (a mapping of keys), got {}", scalar_text(n[i])),
                "supported keys: " + join(keys_of(*spec.section)));
          continue;
        }
        items.push_back(std::make_shared<Params>(validate(*spec.section, n[i], ip)));
      }
      if (diags.size() != before) return false;
      if (sub_out) *sub_out = *items.front();
      list_out = std::move(items);
      return true;
    }
    if (!n.IsNull() && !n.IsMap()) {
      error(n, path, fmt::format("expected a section (a mapping of keys), got {}", scalar_text(n)),
            "supported keys: " + join(keys_of(*spec.section)));
      return false;
    }
    const size_t before = diags.size();
    Params p = validate(*spec.section, n, path);
    if (sub_out) *sub_out = std::move(p);
    return diags.size() == before;
  }

  // Free-form mappings (petsc_options, coupling, parameters) are checked by their users,
  // which know what the values mean; here only that keys are plain names.
  bool map_values(const YAML::Node& n, const std::string& path) {
    bool ok = true;
    for (const auto& kv : n) {
      if (!kv.first.IsScalar()) {
        error(kv.first, path, "keys must be plain names", {});
        ok = false;
      }
    }
    return ok;
  }

  std::string fix_for(const ParamSpec& spec) {
    std::string f = spec.doc.empty() ? std::string() : spec.key + ": " + spec.doc;
    const std::string r = range_text(spec);
    if (!r.empty()) f += (f.empty() ? "" : "; ") + std::string("allowed: ") + r;
    if (spec.default_yaml) f += fmt::format(" (default {})", *spec.default_yaml);
    return f;
  }

  bool block(const ParamSpec& spec, const YAML::Node& given, const std::string& path, Params* sub_out,
             std::string* block_type) {
    const Catalog& cat = Catalog::instance();
    // Listed only for a message: listing loads the lazy components (the AI layer).
    const auto types = [&] { return cat.types(spec.family); };
    YAML::Node n = given;
    if (n.IsScalar() || n.IsSequence()) {
      const auto* sh = cat.shorthand(spec.family);
      YAML::Node conv = sh ? (*sh)(n) : YAML::Node();
      if (!conv.IsDefined()) {
        error(n, path,
              fmt::format("expected a {{type: ...}} block, got {}",
                          n.IsScalar() ? "'" + n.Scalar() + "'" : scalar_text(n)),
              fmt::format("write e.g. '{}: {{type: {}}}'; types: {}", spec.key, types().empty() ? "?" : types().front(),
                          join(types())));
        return false;
      }
      n.reset(conv);  // rebind: assigning would write through `given` and every alias of it
    }
    if (!n.IsMap()) {
      error(n, path, fmt::format("expected a {{type: ...}} block, got {}", scalar_text(n)), "types: " + join(types()));
      return false;
    }
    const YAML::Node t = n["type"];
    if (!t.IsDefined() || !t.IsScalar()) {
      error(n, path, "missing 'type' in block", fmt::format("add 'type: <name>'; types: {}", join(types())));
      return false;
    }
    const std::string type = t.Scalar();
    const Catalog::Type* ct = cat.find(spec.family, type);
    if (!ct) {
      error(t, join_path(path, "type"), fmt::format("unknown {} type '{}'", spec.family, type),
            unknown_type_fix(type, types()));
      return false;
    }
    if (block_type) *block_type = type;
    const size_t before = diags.size();
    Params p;
    if (spec.params_key.empty()) {
      p = validate(*ct->schema, n, path, {"type"});
    } else {
      // {type: x, params_key: {...}}: only those two keys beside each other.
      for (const auto& kv : n) {
        const std::string k = kv.first.Scalar();
        if (k != "type" && k != spec.params_key) {
          auto near = nearest(k, {"type", spec.params_key});
          error(kv.first, join_path(path, k), fmt::format("unknown key '{}'", k),
                (near ? fmt::format("did you mean '{}'? ", *near) : std::string()) +
                    fmt::format("A {} block has 'type' and '{}'; parameters of '{}' go under '{}'", spec.family,
                                spec.params_key, type, spec.params_key));
        }
      }
      const YAML::Node pn = n[spec.params_key];
      const std::string ppath = join_path(path, spec.params_key);
      if (pn.IsDefined() && !pn.IsNull() && !pn.IsMap()) {
        error(pn, ppath, fmt::format("expected a mapping of parameters, got {}", scalar_text(pn)),
              "supported keys: " + join(keys_of(*ct->schema)));
        return false;
      }
      p = validate(*ct->schema, pn.IsDefined() ? pn : YAML::Node(), ppath);
    }
    // A shorthand ("diffuse: online") was converted to a new node: errors about the block
    // then point at what the user wrote.
    if (given.IsScalar() || given.IsSequence()) p.where_ = doc.locate(given, path);
    if (sub_out) *sub_out = std::move(p);
    return diags.size() == before;
  }

  Params validate(const Schema& schema, const YAML::Node& node, const std::string& path,
                  const std::set<std::string>& extra_allowed = {}) {
    Params out;
    out.path_ = path;
    out.doc_ = &doc;
    out.schema_name_ = schema.name();
    out.where_ = doc.locate(node, path);
    const size_t before = diags.size();

    std::set<std::string> seen;
    if (node.IsDefined() && node.IsMap()) {
      for (const auto& kv : node) {
        const YAML::Node kn = kv.first;
        const YAML::Node vn = kv.second;
        if (!kn.IsScalar()) {
          error(kn, path, "keys must be plain names", {});
          continue;
        }
        const std::string key = kn.Scalar();
        const std::string kpath = join_path(path, key);
        if (!seen.insert(key).second) {
          error(kn, kpath, fmt::format("key '{}' appears twice", key), "remove one of them");
          continue;
        }
        if (extra_allowed.count(key)) continue;
        const ParamSpec* spec = schema.find(key);
        if (!spec && key == "<<") {
          error(kn, kpath, "YAML merge keys ('<<: *anchor') are not supported",
                "write the keys out; anchors and aliases of single values (k: &k 2, then kappa: *k) work");
          continue;
        }
        if (!spec) {
          auto candidates = keys_of(schema);
          auto near = nearest(key, candidates);
          const std::string where = path.empty() ? "at the top level" : "in " + path;
          error(
              kn, kpath,
              fmt::format("unknown key '{}' {}{}", key, where,
                          schema.name().empty() || schema.name() == path ? std::string() : " (" + schema.name() + ")"),
              (near ? fmt::format("did you mean '{}'? ", *near) : std::string()) +
                  "Supported keys: " + join(candidates));
          continue;
        }
        Params::Entry e;
        e.type = spec->type;
        e.value = vn;
        e.where = doc.locate(vn.IsNull() ? kn : vn, kpath);
        if (vn.IsNull() && spec->type != ParamType::Section && spec->type != ParamType::Map) {
          error(kn, kpath, fmt::format("no value given for '{}'", key),
                fmt::format("write '{}: <{}>' or remove the key; {}", key, describe(spec->type), fix_for(*spec)));
          continue;
        }
        e.is_set = true;
        Params sub;
        if (value(*spec, vn, kpath, &sub, &e.block_type)) {
          if (spec->type == ParamType::Section || spec->type == ParamType::Block)
            e.sub = std::make_shared<Params>(std::move(sub));
          if (spec->type == ParamType::Section && spec->list && vn.IsSequence()) e.list = std::move(list_out);
          out.entries_[key] = std::move(e);
        }
      }
    }
    // Defaults and required keys.
    for (const auto& spec : schema.params()) {
      if (seen.count(spec.key)) continue;
      const std::string kpath = join_path(path, spec.key);
      if (spec.required) {
        error(node, kpath, fmt::format("missing required key '{}'{}", spec.key, path.empty() ? "" : " in " + path),
              fmt::format("add '{}: <{}>' ({})", spec.key, describe(spec.type), spec.doc));
        continue;
      }
      Params::Entry e;
      e.type = spec.type;
      e.where = out.where_;
      e.is_set = false;
      if (spec.type == ParamType::Section && spec.optional) continue;  // absent
      if (spec.type == ParamType::Section) {
        std::vector<std::string> needed;
        for (const auto& p : spec.section->params())
          if (p.required) needed.push_back(p.key);
        if (!needed.empty()) {
          // One message for the absent section, not one per key inside it.
          error(node, kpath, fmt::format("missing section '{}' ({})", spec.key, spec.doc),
                fmt::format("add '{}:' with at least: {}", spec.key, join(needed)));
          continue;
        }
        Params sub = validate(*spec.section, YAML::Node(), kpath);
        e.sub = std::make_shared<Params>(std::move(sub));
      } else if (spec.default_yaml) {
        e.value = YAML::Load(*spec.default_yaml);
        if (spec.type == ParamType::Block) {
          Params sub;
          const size_t b = diags.size();
          value(spec, e.value, kpath, &sub, &e.block_type);
          SIMFUSE_REQUIRE(diags.size() == b, "default of block " + kpath + " does not validate");
          e.sub = std::make_shared<Params>(std::move(sub));
        }
      } else {
        continue;  // optional without default: absent
      }
      out.entries_[spec.key] = std::move(e);
    }
    if (diags.size() == before) schema_checks(schema, out);
    return out;
  }

  void schema_checks(const Schema& schema, const Params& p) {
    for (const auto& c : schema.checks()) c(p, diags);
  }
};

}  // namespace detail

Params Schema::validate(const ConfigDocument& doc, const YAML::Node& node, const std::string& path,
                        Diagnostics& diags) const {
  detail::Validator v{doc, diags, {}};
  return v.validate(*this, node, path);
}

Params Schema::validate_or_throw(const ConfigDocument& doc, const YAML::Node& node, const std::string& path) const {
  Diagnostics d;
  Params p = validate(doc, node, path, d);
  if (!d.empty()) throw UserError(std::move(d));
  return p;
}

Params Schema::defaults() const {
  static const ConfigDocument empty = ConfigDocument::from_string("{}", "<defaults>");
  Diagnostics d;
  Params p = validate(empty, YAML::Node(), "", d);
  SIMFUSE_REQUIRE(d.empty(), "schema " + name_ + " has required keys without defaults");
  return p;
}

void Schema::document(std::ostream& os, const std::string& path, int indent) const {
  const std::string pad(indent, ' ');
  for (const auto& p : params_) {
    std::string head = fmt::format("{}{:<18} {:<9}", pad, p.key, short_name(p.type));
    std::string extra;
    if (p.required) extra += " required.";
    if (p.default_yaml) extra += " default: " + *p.default_yaml + ".";
    const std::string r = range_text(p);
    if (!r.empty()) extra += " range: " + r + ".";
    if (!p.choices.empty()) extra += " choices: " + join(p.choices, " | ") + ".";
    if (p.type == ParamType::Block) {
      extra += " types: " + join(Catalog::instance().types(p.family), " | ") + ".";
      if (!p.params_key.empty()) extra += " (parameters under '" + p.params_key + "')";
    }
    os << head << " " << p.doc << (p.doc.empty() || p.doc.back() == '.' ? "" : ".") << extra << "\n";
    if (p.type == ParamType::Section) p.section->document(os, path.empty() ? p.key : path + "." + p.key, indent + 2);
  }
}

namespace {
std::string md_escape(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n')
      out += ' ';
    else
      out += c;
  }
  return out;
}
}  // namespace

void Schema::document_markdown(std::ostream& os, const std::string& path, int level) const {
  std::vector<const ParamSpec*> sections;
  if (!params_.empty()) {
    os << "| key | type | default | meaning |\n|---|---|---|---|\n";
    for (const auto& p : params_) {
      std::string meaning = p.doc;
      if (!meaning.empty() && meaning.back() != '.') meaning += '.';
      const std::string r = range_text(p);
      if (!r.empty()) meaning += " Range: " + r + ".";
      if (!p.choices.empty()) meaning += " One of: " + join(p.choices, ", ") + ".";
      if (p.type == ParamType::Block) {
        meaning += " Types: " + join(Catalog::instance().types(p.family), ", ") + " (see " + p.family + ").";
        if (!p.params_key.empty()) meaning += " Their parameters sit under `" + p.params_key + "`.";
      }
      if (p.type == ParamType::Section) meaning += " See below.";
      const std::string def = p.required ? "**required**" : p.default_yaml ? "`" + *p.default_yaml + "`" : "";
      os << "| `" << p.key << "` | " << short_name(p.type) << " | " << md_escape(def) << " | " << md_escape(meaning)
         << " |\n";
      if (p.type == ParamType::Section) sections.push_back(&p);
    }
  }
  for (const auto* p : sections) {
    const std::string sub = path.empty() ? p->key : path + "." + p->key;
    os << "\n"
       << std::string(static_cast<size_t>(std::min(level, 6)), '#') << " `" << sub << "`"
       << (p->list ? " (one, or a list of them)" : "") << "\n\n"
       << p->doc << "\n\n";
    p->section->document_markdown(os, sub, level + 1);
  }
}

// ----------------------------------------------------------------------------------- Params

const Params::Entry& Params::entry(const std::string& key) const {
  auto it = entries_.find(key);
  SIMFUSE_REQUIRE(it != entries_.end(), "parameter '" + key_path(key) + "' not declared or has no value");
  return it->second;
}

bool Params::is_set(const std::string& key) const {
  auto it = entries_.find(key);
  return it != entries_.end() && it->second.is_set;
}

template <>
bool Params::get<bool>(const std::string& key) const {
  return entry(key).value.as<bool>();
}
template <>
int Params::get<int>(const std::string& key) const {
  return entry(key).value.as<int>();
}
template <>
double Params::get<double>(const std::string& key) const {
  return entry(key).value.as<double>();
}
template <>
std::string Params::get<std::string>(const std::string& key) const {
  return entry(key).value.as<std::string>();
}

namespace {
template <class T>
std::vector<T> as_list(const YAML::Node& n) {
  if (n.IsScalar()) return {n.as<T>()};
  return n.as<std::vector<T>>();
}
}  // namespace

template <>
std::vector<double> Params::get<std::vector<double>>(const std::string& key) const {
  return as_list<double>(entry(key).value);
}
template <>
std::vector<int> Params::get<std::vector<int>>(const std::string& key) const {
  return as_list<int>(entry(key).value);
}
template <>
std::vector<bool> Params::get<std::vector<bool>>(const std::string& key) const {
  return as_list<bool>(entry(key).value);
}
template <>
std::vector<std::string> Params::get<std::vector<std::string>>(const std::string& key) const {
  return as_list<std::string>(entry(key).value);
}

const Params& Params::sub(const std::string& key) const {
  const auto& e = entry(key);
  SIMFUSE_REQUIRE(e.sub != nullptr, "parameter '" + key_path(key) + "' is not a section or block");
  return *e.sub;
}

std::vector<const Params*> Params::subs(const std::string& key) const {
  const auto& e = entry(key);
  std::vector<const Params*> out;
  for (const auto& p : e.list) out.push_back(p.get());
  if (out.empty() && e.sub) out.push_back(e.sub.get());
  return out;
}

const std::string& Params::type_of(const std::string& key) const {
  return entry(key).block_type;
}

const YAML::Node& Params::node(const std::string& key) const {
  return entry(key).value;
}

std::string Params::key_path(const std::string& key) const {
  return join_path(path_, key);
}

Location Params::where(const std::string& key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? where_ : it->second.where;
}

Diagnostic Params::diag(const std::string& key, std::string what, std::string fix) const {
  return Diagnostic{where(key), key_path(key), std::move(what), std::move(fix)};
}

void Params::fail(const std::string& key, std::string what, std::string fix) const {
  throw UserError(diag(key, std::move(what), std::move(fix)));
}

Params Params::validate_entry(const std::string& key, const Schema& schema) const {
  static const ConfigDocument empty = ConfigDocument::from_string("{}", "<defaults>");
  auto it = entries_.find(key);
  const YAML::Node node = it != entries_.end() && it->second.is_set ? it->second.value : YAML::Node();
  return schema.validate_or_throw(doc_ ? *doc_ : empty, node, key_path(key));
}

std::vector<std::string> Params::keys() const {
  std::vector<std::string> k;
  for (const auto& [key, e] : entries_) k.push_back(key);
  return k;
}

// ---------------------------------------------------------------------------------- Catalog

Catalog& Catalog::instance() {
  static Catalog c;
  return c;
}

namespace {
std::vector<std::function<void()>>& lazy_loaders() {
  static std::vector<std::function<void()>> l;
  return l;
}
}  // namespace

void add_lazy_components(std::function<void()> loader) {
  lazy_loaders().push_back(std::move(loader));
}

bool load_lazy_components() {
  if (lazy_loaders().empty()) return false;
  std::vector<std::function<void()>> run;
  run.swap(lazy_loaders());  // each runs once, even if it registers further loaders or throws
  for (auto& f : run) f();
  return true;
}

Schema& Catalog::add_type(const std::string& family, const std::string& type, const std::string& doc) {
  auto& t = families_[family][type];
  t.name = type;
  t.doc = doc;
  t.schema = std::make_shared<Schema>(type, doc);
  return *t.schema;
}

YAML::Node Catalog::type_name_shorthand(const YAML::Node& n) {
  if (!n.IsScalar()) return YAML::Node();
  YAML::Node out(YAML::NodeType::Map);
  out["type"] = n.Scalar();
  return out;
}

void Catalog::set_shorthand(const std::string& family, Shorthand s, std::string doc) {
  shorthands_[family] = {std::move(s), std::move(doc)};
}

const Catalog::Type* Catalog::find(const std::string& family, const std::string& type) const {
  auto f = families_.find(family);
  if (f != families_.end()) {
    auto t = f->second.find(type);
    if (t != f->second.end()) return &t->second;
  }
  return load_lazy_components() ? find(family, type) : nullptr;
}

std::vector<std::string> Catalog::types(const std::string& family) const {
  load_lazy_components();
  std::vector<std::string> out;
  auto f = families_.find(family);
  if (f != families_.end())
    for (const auto& [name, t] : f->second) out.push_back(name);
  return out;
}

std::vector<std::string> Catalog::families() const {
  load_lazy_components();
  std::vector<std::string> out;
  for (const auto& [name, f] : families_) out.push_back(name);
  return out;
}

const Catalog::Shorthand* Catalog::shorthand(const std::string& family) const {
  auto it = shorthands_.find(family);
  return it == shorthands_.end() ? nullptr : &it->second.first;
}

std::string Catalog::shorthand_doc(const std::string& family) const {
  auto it = shorthands_.find(family);
  return it == shorthands_.end() ? std::string() : it->second.second;
}

}  // namespace simfuse
