#include "simfuse/solvers/chemistry/Mechanism.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace simfuse {

namespace {

// Standard atomic weights (g/mol), the values Cantera uses.
const std::map<std::string, double>& atomic_weights() {
  static const std::map<std::string, double> w{{"H", 1.008},    {"He", 4.002602},  {"C", 12.011},   {"N", 14.007},
                                               {"O", 15.999},   {"F", 18.998403},  {"Ne", 20.1797}, {"Si", 28.085},
                                               {"S", 32.06},    {"Cl", 35.45},     {"Ar", 39.95},   {"Kr", 83.798},
                                               {"Xe", 131.293}, {"E", 5.485799e-4}};
  return w;
}

// Error at a node of the mechanism file. A node that is missing (a key looked up but not
// there) has no position: callers name the enclosing node instead.
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}
  Location at(const YAML::Node& n) const {
    if (!n.IsDefined()) return Location{file_, 0, 0};
    const YAML::Mark m = n.Mark();
    return m.is_null() ? Location{file_, 0, 0} : Location{file_, m.line + 1, m.column + 1};
  }
  [[noreturn]] void fail(const YAML::Node& n, const std::string& key, const std::string& what,
                         const std::string& fix = {}) const {
    throw UserError(Diagnostic{at(n), key, what, fix});
  }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

const char* kSupported =
    "supported: elementary, three-body, falloff (Lindemann or Troe) reactions, reversible (<=>, =) or not (=>), "
    "duplicate: true, negative-A: true, efficiencies, default-efficiency";

// Unit factors to SI with moles.
struct Units {
  double length = 1.0;       // m per file length unit
  double quantity = 1e3;     // mol per file quantity unit (Cantera's default: kmol)
  double time = 1.0;         // s per file time unit
  double energy_mol = 1e-3;  // J/mol per file activation-energy unit (default J/kmol)
  bool energy_is_temperature = false;
};

Units read_units(const YAML::Node& u, const Reader& rd) {
  // Factor to SI-mol of each unit this reader knows, per kind.
  static const std::map<std::string, std::map<std::string, double>> factors{
      {"length", {{"m", 1.0}, {"cm", 1e-2}, {"mm", 1e-3}}},
      {"quantity", {{"mol", 1.0}, {"kmol", 1e3}, {"molec", 1.0 / 6.02214076e23}}},
      {"time", {{"s", 1.0}, {"ms", 1e-3}, {"min", 60.0}}},
      {"activation-energy",
       {{"J/mol", 1.0},
        {"kJ/mol", 1e3},
        {"J/kmol", 1e-3},
        {"cal/mol", 4.184},
        {"kcal/mol", 4184.0},
        {"eV", 96485.33212},
        {"K", 0.0}}}};
  Units out;
  if (!u) return out;
  if (!u.IsMap()) rd.fail(u, "units", "units must be a map, e.g. {length: cm, quantity: mol}");
  for (const auto& kv : u) {
    const std::string k = kv.first.Scalar(), v = kv.second.Scalar();
    if (k == "pressure" || k == "energy" || k == "mass" || k == "temperature")
      continue;  // not used by what is read here (NASA-7 data are dimensionless)
    const auto kind = factors.find(k);
    if (kind == factors.end())
      rd.fail(kv.first, "units." + k, fmt::format("unknown unit kind '{}'", k),
              "declare length, quantity, time or activation-energy");
    const auto f = kind->second.find(v);
    if (f == kind->second.end()) {
      std::vector<std::string> known;
      for (const auto& [name, factor] : kind->second) known.push_back(name);
      rd.fail(kv.second, "units." + k, fmt::format("unit '{}' of '{}' is not supported", v, k),
              fmt::format("use one of: {}", fmt::join(known, ", ")));
    }
    if (k == "length") out.length = f->second;
    if (k == "quantity") out.quantity = f->second;
    if (k == "time") out.time = f->second;
    if (k == "activation-energy") {
      out.energy_is_temperature = v == "K";  // Ea given as Ea / R
      out.energy_mol = f->second;
    }
  }
  return out;
}

// A finite number at node n (the value of `key`); a missing one is named at `parent`.
double number(const YAML::Node& n, const std::string& key, const Reader& rd, const YAML::Node& parent = {}) {
  if (!n) rd.fail(parent.IsDefined() ? parent : n, key, fmt::format("'{}' is missing", key), "give it a number");
  if (!n.IsScalar()) rd.fail(n, key, fmt::format("'{}' needs a number", key));
  double v = 0;
  try {
    v = n.as<double>();
  } catch (const YAML::Exception&) {
    rd.fail(n, key, fmt::format("'{}' is '{}', not a number", key, n.Scalar()),
            "write the value in the units the file declares (values with their own units are not supported)");
  }
  if (!std::isfinite(v)) rd.fail(n, key, fmt::format("'{}' is {}, not finite", key, n.Scalar()));
  return v;
}

// A true/false flag at r[key] (false when absent).
bool flag(const YAML::Node& r, const std::string& key, const Reader& rd) {
  const YAML::Node n = r[key];
  if (!n) return false;
  try {
    return n.as<bool>();
  } catch (const YAML::Exception&) {
    rd.fail(n, key, fmt::format("'{}' is '{}', not true or false", key, n.IsScalar() ? n.Scalar() : "a list or map"));
  }
}

// One side of an equation: terms "2 H2", "O2", "M", "(+M)".
struct Side {
  std::vector<std::pair<std::string, double>> terms;
  bool third_body = false;       // + M
  bool falloff = false;          // (+M) or (+X)
  std::string falloff_collider;  // X of (+X), empty for M
};

Side parse_side(const std::string& text, const Reader& rd, const YAML::Node& at, const std::string& eq) {
  Side s;
  std::istringstream in(text);
  std::vector<std::string> tok;
  for (std::string t; in >> t;) tok.push_back(t);
  // Joins "(+" "M)" written with a space, as Cantera allows.
  for (size_t i = 0; i + 1 < tok.size(); ++i)
    if (tok[i] == "(+") {
      tok[i] += tok[i + 1];
      tok.erase(tok.begin() + static_cast<long>(i) + 1);
    }
  bool expect_term = true;
  double coef = 1;
  bool have_coef = false;
  for (const auto& t : tok) {
    if (t == "+") {
      if (expect_term) rd.fail(at, "equation", fmt::format("cannot read equation '{}'", eq));
      expect_term = true;
      continue;
    }
    if (t.size() > 3 && t.rfind("(+", 0) == 0 && t.back() == ')') {
      s.falloff = true;
      const std::string x = t.substr(2, t.size() - 3);
      if (x != "M") s.falloff_collider = x;
      expect_term = false;
      continue;
    }
    if (!expect_term) rd.fail(at, "equation", fmt::format("cannot read equation '{}' at '{}'", eq, t));
    char* end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    if (end && *end == '\0' && !have_coef) {
      coef = v;
      have_coef = true;
      continue;
    }
    if (t == "M") {
      s.third_body = true;
    } else {
      s.terms.emplace_back(t, coef);
    }
    coef = 1;
    have_coef = false;
    expect_term = false;
  }
  if (expect_term || have_coef) rd.fail(at, "equation", fmt::format("cannot read equation '{}'", eq));
  return s;
}

// The rate constant `key` of reaction node r. A negative A only with `negative-A: true`.
Arrhenius read_arrhenius(const YAML::Node& r, const std::string& key, const Reader& rd, const Units& u, double order,
                         bool negative_a) {
  const YAML::Node n = r[key];
  if (!n || !n.IsMap()) rd.fail(n ? n : r, key, fmt::format("'{}' needs {{A: ..., b: ..., Ea: ...}}", key));
  for (const auto& kv : n) {
    const std::string k = kv.first.Scalar();
    if (k != "A" && k != "b" && k != "Ea")
      rd.fail(kv.first, key + "." + k, fmt::format("unknown key '{}' in a rate constant", k), "use A, b and Ea");
  }
  Arrhenius a;
  // A is in (length^3 / quantity)^(order - 1) / time.
  const double conc = u.length * u.length * u.length / u.quantity;
  const double A = number(n["A"], key + ".A", rd, n);
  if (A < 0 && !negative_a)
    rd.fail(n["A"], key + ".A", fmt::format("negative pre-exponential factor A = {:g}", A),
            "a negative A is allowed only when the reaction says so: add 'negative-A: true' (as Cantera requires)");
  a.A = A * std::pow(conc, order - 1) / u.time;
  a.b = number(n["b"], key + ".b", rd, n);
  const double ea = number(n["Ea"], key + ".Ea", rd, n);
  a.ea_r = u.energy_is_temperature ? ea : ea * u.energy_mol / kGasConstant;
  return a;
}

YAML::Node read_root(const std::string& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec))
    throw UserError(fmt::format("mechanism file '{}' does not exist or is not a file", file),
                    "give a Cantera YAML mechanism, relative to the case file (e.g. mechanisms/h2o2.yaml)");
  YAML::Node root;
  try {
    root = YAML::LoadFile(file);
  } catch (const YAML::Exception& e) {
    throw UserError(Diagnostic{Location{file, e.mark.line + 1, e.mark.column + 1}, "",
                               fmt::format("cannot parse the mechanism: {}", e.msg),
                               "the file must be Cantera's YAML format (ck2yaml converts Chemkin files)"});
  }
  if (!root.IsMap() || !root["phases"] || !root["species"] || !root["phases"].IsSequence() ||
      !root["species"].IsSequence())
    throw UserError(fmt::format("'{}' is not a Cantera YAML mechanism (no phases: or species: list)", file),
                    "convert Chemkin files with Cantera's ck2yaml");
  return root;
}

// FNV-1a 64 of the file's bytes: which mechanism a trained model belongs to.
std::string file_hash(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  std::uint64_t h = 1469598103934665603ull;
  char c = 0;
  while (in.get(c)) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return fmt::format("fnv1a64:{:016x}", h);
}

// The phase named `name` (the first when empty), which must be an ideal gas.
YAML::Node select_phase(const YAML::Node& root, const std::string& name, const Reader& rd) {
  const YAML::Node phases = root["phases"];
  std::vector<std::string> names;
  YAML::Node ph;
  bool found = false;
  for (const auto& p : phases) {
    names.push_back(p.IsMap() && p["name"] ? p["name"].Scalar() : std::string("?"));
    if (!found && (name.empty() || names.back() == name)) {
      ph.reset(p);
      found = true;
    }
  }
  if (!found || !ph.IsMap())
    rd.fail(phases, "phases",
            fmt::format("the mechanism has no phase '{}'; its phases: {}", name, fmt::join(names, ", ")),
            "set kinetics.phase to one of them");
  const std::string pname = ph["name"] ? ph["name"].Scalar() : "";
  const std::string thermo = ph["thermo"] ? ph["thermo"].Scalar() : "";
  if (thermo != "ideal-gas")
    rd.fail(ph["thermo"] ? ph["thermo"] : ph, "phases." + pname + ".thermo",
            fmt::format("phase '{}' has thermo '{}'; supported: ideal-gas", pname, thermo),
            "choose an ideal-gas phase (kinetics.phase)");
  return ph;
}

std::vector<std::string> read_elements(const YAML::Node& ph, const std::string& phase, const Reader& rd) {
  std::vector<std::string> out;
  for (const auto& e : ph["elements"]) {
    const std::string el = e.Scalar();
    if (!atomic_weights().count(el))
      rd.fail(e, "elements", fmt::format("element '{}' has no built-in atomic weight", el),
              "custom element definitions are not supported");
    if (std::find(out.begin(), out.end(), el) != out.end())
      rd.fail(e, "phases." + phase + ".elements", fmt::format("phase '{}' lists element '{}' twice", phase, el));
    out.push_back(el);
  }
  return out;
}

Nasa7 read_nasa7(const YAML::Node& th, const std::string& name, const Reader& rd) {
  const std::string key = "species." + name + ".thermo";
  const YAML::Node tr = th["temperature-ranges"], data = th["data"];
  if (!tr || !data || !tr.IsSequence() || !data.IsSequence() || tr.size() != data.size() + 1 || data.size() < 1 ||
      data.size() > 2)
    rd.fail(th, key, "NASA7 needs 2 or 3 temperature-ranges and 1 or 2 data rows");
  std::vector<double> t;
  for (size_t i = 0; i < tr.size(); ++i) t.push_back(number(tr[i], key + ".temperature-ranges", rd, th));
  for (size_t i = 0; i < t.size(); ++i)
    if (!(t[i] > 0) || (i > 0 && !(t[i] > t[i - 1])))
      rd.fail(tr, key + ".temperature-ranges",
              fmt::format("species '{}': temperature-ranges [{}] must be positive and increasing", name,
                          fmt::join(t, ", ")),
              "give [T_min, T_mid, T_max] with T_min < T_mid < T_max");
  Nasa7 out;
  out.t_min = t.front();
  out.t_mid = t[1];
  out.t_max = t.back();
  for (size_t r = 0; r < data.size(); ++r) {
    if (!data[r].IsSequence() || data[r].size() != 7) rd.fail(data[r], key + ".data", "a NASA7 row has 7 coefficients");
    auto& row = r == 0 ? out.low : out.high;
    for (int i = 0; i < 7; ++i) row[i] = number(data[r][i], key + ".data", rd, data[r]);
  }
  if (data.size() == 1) {
    out.high = out.low;
    out.t_mid = out.t_max;
  }
  return out;
}

// Cantera's gas transport entry; its fixed units (Angstrom, Debye, Angstrom^3) to SI.
void read_transport(const YAML::Node& t, const std::string& name, Species& out, const Reader& rd) {
  const std::string key = "species." + name + ".transport";
  if (!t.IsMap()) rd.fail(t, key, fmt::format("species '{}': transport is not a map", name));
  const std::string model = t["model"] ? t["model"].Scalar() : "";
  if (model != "gas")
    rd.fail(t["model"] ? t["model"] : t, key + ".model",
            fmt::format("species '{}' has transport model '{}'; supported: gas", name, model),
            "a gas species' Lennard-Jones data: model: gas, geometry, well-depth, diameter");
  static const std::vector<std::string> known = {"model",
                                                 "geometry",
                                                 "well-depth",
                                                 "diameter",
                                                 "dipole",
                                                 "polarizability",
                                                 "rotational-relaxation",
                                                 "acentric-factor",
                                                 "note",
                                                 "dispersion-coefficient",
                                                 "quadrupole-polarizability"};
  for (const auto& kv : t) {
    const std::string k = kv.first.Scalar();
    if (std::find(known.begin(), known.end(), k) == known.end())
      rd.fail(kv.first, key + "." + k, fmt::format("species '{}': unknown transport key '{}'", name, k),
              "known: model, geometry, well-depth, diameter, dipole, polarizability, rotational-relaxation");
  }
  GasTransportData& d = out.transport;
  d.where = rd.at(t);
  const std::string geo = t["geometry"] ? t["geometry"].Scalar() : "";
  if (geo == "atom")
    d.geometry = GasTransportData::Geometry::atom;
  else if (geo == "linear")
    d.geometry = GasTransportData::Geometry::linear;
  else if (geo == "nonlinear")
    d.geometry = GasTransportData::Geometry::nonlinear;
  else
    rd.fail(t["geometry"] ? t["geometry"] : t, key + ".geometry",
            fmt::format("species '{}' has transport geometry '{}'", name, geo), "one of: atom, linear, nonlinear");
  auto value = [&](const char* k, bool required, bool positive) {
    if (!t[k]) {
      if (required)
        rd.fail(t, key + "." + k, fmt::format("species '{}': transport data without {}", name, k),
                fmt::format("give {} (Cantera's units: well-depth in K, diameter in Angstrom)", k));
      return 0.0;
    }
    const double v = number(t[k], key + "." + k, rd);
    if (!(positive ? v > 0 : v >= 0))
      rd.fail(t[k], key + "." + k, fmt::format("species '{}': transport {} = {:g}", name, k, v),
              positive ? "it must be positive" : "it must not be negative");
    return v;
  };
  constexpr double debye = 1e-21 / 299792458.0;  // C m
  d.well_depth = value("well-depth", true, true);
  d.diameter = value("diameter", true, true) * 1e-10;
  d.dipole = value("dipole", false, false) * debye;
  d.polarizability = value("polarizability", false, false) * 1e-30;
  d.rotational_relaxation = value("rotational-relaxation", false, false);
  double atoms = 0;
  for (const auto& [el, n] : out.composition) atoms += n;
  const double least = d.geometry == GasTransportData::Geometry::atom     ? 1
                       : d.geometry == GasTransportData::Geometry::linear ? 2
                                                                          : 3;
  if (d.geometry == GasTransportData::Geometry::atom ? atoms != 1 : atoms < least)
    rd.fail(t["geometry"], key + ".geometry",
            fmt::format("species '{}' has {:g} atoms, which geometry '{}' cannot have", name, atoms, geo),
            "atom: one atom; linear: two or more; nonlinear: three or more");
  out.has_transport = true;
}

Species read_one_species(const YAML::Node& s, const std::string& name, const std::string& phase,
                         const std::vector<std::string>& elements, const Reader& rd) {
  Species out;
  out.name = name;
  const YAML::Node comp = s["composition"];
  if (!comp || !comp.IsMap())
    rd.fail(comp ? comp : s, "species." + name + ".composition", fmt::format("species '{}' has no composition", name),
            "give its atoms, e.g. composition: {H: 2}");
  for (const auto& kv : comp) {
    const std::string el = kv.first.Scalar();
    if (std::find(elements.begin(), elements.end(), el) == elements.end())
      rd.fail(kv.first, "species." + name + ".composition",
              fmt::format("species '{}' contains element '{}', which phase '{}' does not declare", name, el, phase));
    const double n = number(kv.second, "species." + name + ".composition." + el, rd);
    if (n < 0)
      rd.fail(kv.second, "species." + name + ".composition." + el,
              fmt::format("species '{}' has a negative number of {} atoms", name, el));
    out.composition[el] = n;
    out.molar_mass += n * atomic_weights().at(el) * 1e-3;
  }
  if (!(out.molar_mass > 0))
    rd.fail(comp, "species." + name + ".composition",
            fmt::format("species '{}' has no atoms (composition: {{}}): its molar mass would be 0", name),
            "give its atoms, e.g. composition: {H: 2}");
  const YAML::Node th = s["thermo"];
  if (!th || !th["model"] || th["model"].Scalar() != "NASA7")
    rd.fail(th ? th : s, "species." + name + ".thermo",
            fmt::format("species '{}' has thermo model '{}'; supported: NASA7", name,
                        th && th["model"] ? th["model"].Scalar() : std::string("none")));
  out.thermo = read_nasa7(th, name, rd);
  if (s["transport"]) read_transport(s["transport"], name, out, rd);
  return out;
}

// The phase's species, in its order, each defined once in the file's species: list.
std::vector<Species> read_species(const YAML::Node& root, const YAML::Node& ph, const std::string& phase,
                                  const std::vector<std::string>& elements, const Reader& rd) {
  std::map<std::string, YAML::Node> defined;
  std::vector<std::string> all;
  for (const auto& c : root["species"]) {
    if (!c.IsMap() || !c["name"]) rd.fail(c, "species", "a species entry without a name");
    const std::string name = c["name"].Scalar();
    const auto it = defined.find(name);
    if (it != defined.end())
      rd.fail(c, "species",
              fmt::format("species '{}' is defined twice (also at line {})", name, it->second.Mark().line + 1),
              "remove one definition");
    defined[name].reset(c);
    all.push_back(name);
  }
  const std::string key = "phases." + phase + ".species";
  std::vector<std::string> wanted;
  const YAML::Node sp = ph["species"];
  if (!sp || (sp.IsScalar() && sp.Scalar() == "all")) {
    wanted = all;
  } else if (sp.IsSequence()) {
    for (const auto& s : sp) {
      if (!s.IsScalar())
        rd.fail(s, key, "species taken from other files or sections are not supported", "list the species names");
      if (std::find(wanted.begin(), wanted.end(), s.Scalar()) != wanted.end())
        rd.fail(s, key, fmt::format("phase '{}' lists species '{}' twice", phase, s.Scalar()), "remove one");
      wanted.push_back(s.Scalar());
    }
  } else {
    rd.fail(sp, key, "expected a list of species names or 'all'");
  }
  std::vector<Species> out;
  for (const auto& name : wanted) {
    const auto it = defined.find(name);
    if (it == defined.end()) rd.fail(sp, key, fmt::format("species '{}' is not defined", name));
    out.push_back(read_one_species(it->second, name, phase, elements, rd));
  }
  return out;
}

// Everything one reaction needs from the mechanism it is read into.
struct ReactionContext {
  const std::vector<Species>& species;
  const std::vector<std::string>& elements;
  const std::string& phase;
  const Units& units;
  bool skip_undeclared_third_bodies;
  const Reader& rd;
  int index(const std::string& name) const {
    for (size_t k = 0; k < species.size(); ++k)
      if (species[k].name == name) return static_cast<int>(k);
    return -1;
  }
};

void check_reaction_keys(const YAML::Node& r, const std::string& eq, const Reader& rd) {
  static const std::set<std::string> known{"equation",
                                           "type",
                                           "rate-constant",
                                           "low-P-rate-constant",
                                           "high-P-rate-constant",
                                           "Troe",
                                           "efficiencies",
                                           "default-efficiency",
                                           "duplicate",
                                           "negative-A",
                                           "note",
                                           "id"};
  for (const auto& kv : r) {
    const std::string k = kv.first.Scalar();
    if (!known.count(k))
      rd.fail(kv.first, "reactions." + k,
              fmt::format("reaction '{}': {} is not supported", eq,
                          k == "orders" ? "explicit reaction orders (orders:)"
                          : k == "SRI"  ? "SRI falloff"
                                        : "the key '" + k + "'"),
              kSupported);
  }
}

// Splits the equation at its arrow and reads both sides; sets reversible.
std::pair<Side, Side> read_equation(const YAML::Node& r, const std::string& eq, Reaction& rx, const Reader& rd) {
  std::string arrow = "<=>";
  size_t pos = eq.find("<=>");
  if (pos == std::string::npos) {
    pos = eq.find("=>");
    arrow = "=>";
    rx.reversible = false;
  }
  if (pos == std::string::npos) {
    pos = eq.find('=');
    arrow = "=";
    rx.reversible = true;
  }
  if (pos == std::string::npos) rd.fail(r, "equation", fmt::format("reaction '{}' has no <=>, = or =>", eq));
  Side lhs = parse_side(eq.substr(0, pos), rd, r, eq), rhs = parse_side(eq.substr(pos + arrow.size()), rd, r, eq);
  if (lhs.third_body != rhs.third_body || lhs.falloff != rhs.falloff || lhs.falloff_collider != rhs.falloff_collider)
    rd.fail(r, "equation", fmt::format("reaction '{}': the third body differs between the sides", eq));
  return {std::move(lhs), std::move(rhs)};
}

void check_balance(const YAML::Node& r, const Reaction& rx, const ReactionContext& ctx) {
  for (const auto& el : ctx.elements) {
    double bal = 0, scale = 0;
    for (const auto& [k, c] : rx.reactants) {
      const auto it = ctx.species[k].composition.find(el);
      if (it != ctx.species[k].composition.end()) bal += c * it->second, scale += c * it->second;
    }
    for (const auto& [k, c] : rx.products) {
      const auto it = ctx.species[k].composition.find(el);
      if (it != ctx.species[k].composition.end()) bal -= c * it->second, scale += c * it->second;
    }
    if (std::abs(bal) > 1e-9 * std::max(1.0, scale))
      ctx.rd.fail(r, "equation",
                  fmt::format("reaction '{}' is not balanced in element {}: {:+g} atoms from reactants to products",
                              rx.equation, el, -bal),
                  "fix the equation or the species' composition");
  }
}

void read_troe(const YAML::Node& t, Reaction& rx, const Reader& rd) {
  if (!t.IsMap()) rd.fail(t, "Troe", "Troe needs {A: ..., T3: ..., T1: ...} (T2 optional)");
  for (const auto& kv : t) {
    const std::string k = kv.first.Scalar();
    if (k != "A" && k != "T3" && k != "T1" && k != "T2")
      rd.fail(kv.first, "Troe." + k, fmt::format("unknown Troe parameter '{}'", k), "use A, T3, T1, T2");
  }
  rx.troe = true;
  rx.troe_a = number(t["A"], "Troe.A", rd, t);
  rx.troe_t3 = number(t["T3"], "Troe.T3", rd, t);
  rx.troe_t1 = number(t["T1"], "Troe.T1", rd, t);
  if (t["T2"]) {
    rx.troe_has_t2 = true;
    rx.troe_t2 = number(t["T2"], "Troe.T2", rd, t);
  }
}

// Third-body efficiencies of a three-body or falloff reaction: the default (1, or 0 except
// the collider X of (+X)), then the listed ones. A species the phase lacks is an error unless
// the phase says skip-undeclared-third-bodies: true (as Cantera); a negative one always.
void read_efficiencies(const YAML::Node& r, const Side& lhs, Reaction& rx, const ReactionContext& ctx) {
  const Reader& rd = ctx.rd;
  const double def = r["default-efficiency"] ? number(r["default-efficiency"], "default-efficiency", rd) : 1.0;
  if (def < 0) rd.fail(r["default-efficiency"], "default-efficiency", "a negative default efficiency");
  rx.efficiency.assign(ctx.species.size(), lhs.falloff_collider.empty() ? def : 0.0);
  if (!lhs.falloff_collider.empty()) {
    const int k = ctx.index(lhs.falloff_collider);
    if (k < 0)
      rd.fail(r, "equation",
              fmt::format("reaction '{}': collider '{}' is not a species of phase '{}'", rx.equation,
                          lhs.falloff_collider, ctx.phase));
    rx.efficiency[k] = 1.0;
  }
  const YAML::Node effs = r["efficiencies"];
  if (effs && !effs.IsMap()) rd.fail(effs, "efficiencies", "efficiencies must be a map {species: value}");
  for (const auto& kv : effs) {
    const std::string name = kv.first.Scalar();
    const double e = number(kv.second, "efficiencies." + name, rd);
    if (e < 0)
      rd.fail(kv.second, "efficiencies." + name,
              fmt::format("reaction '{}': the efficiency of {} is negative ({:g})", rx.equation, name, e),
              "a collision efficiency is 0 or more");
    const int k = ctx.index(name);
    if (k < 0) {
      if (ctx.skip_undeclared_third_bodies) continue;
      rd.fail(kv.first, "efficiencies." + name,
              fmt::format("reaction '{}' gives an efficiency for '{}', which phase '{}' does not have", rx.equation,
                          name, ctx.phase),
              "remove it, or add 'skip-undeclared-third-bodies: true' to the phase (as Cantera requires)");
    }
    rx.efficiency[k] = e;
  }
}

Reaction read_reaction(const YAML::Node& r, const ReactionContext& ctx) {
  const Reader& rd = ctx.rd;
  if (!r.IsMap()) rd.fail(r, "reactions", "a reaction must be a map with an equation");
  const std::string eq = r["equation"] ? r["equation"].Scalar() : "";
  if (eq.empty()) rd.fail(r, "reactions", "a reaction without an equation");
  // The type first: a PLOG or Chebyshev reaction is named by its type, not by the first of
  // its keys that is unknown here.
  const std::string type = r["type"] ? r["type"].Scalar() : "elementary";
  if (type != "elementary" && type != "three-body" && type != "falloff")
    rd.fail(r["type"], "reactions.type", fmt::format("reaction '{}' has type '{}', which is not supported", eq, type),
            kSupported);
  check_reaction_keys(r, eq, rd);
  Reaction rx;
  rx.equation = eq;
  rx.where = rd.at(r);
  const auto [lhs, rhs] = read_equation(r, eq, rx, rd);
  rx.type = type == "three-body" ? ReactionType::three_body
            : type == "falloff"  ? ReactionType::falloff
                                 : ReactionType::elementary;
  if (rx.type == ReactionType::three_body && !lhs.third_body)
    rd.fail(r, "equation", fmt::format("three-body reaction '{}' has no + M", eq));
  if (rx.type == ReactionType::falloff && !lhs.falloff)
    rd.fail(r, "equation", fmt::format("falloff reaction '{}' has no (+M)", eq));
  if (rx.type == ReactionType::elementary && (lhs.third_body || lhs.falloff))
    rx.type = lhs.falloff ? ReactionType::falloff : ReactionType::three_body;  // Cantera infers it from the equation
  auto resolve = [&](const Side& s, std::vector<std::pair<int, double>>& out) {
    for (const auto& [name, coef] : s.terms) {
      const int k = ctx.index(name);
      if (k < 0)
        rd.fail(r, "equation",
                fmt::format("reaction '{}' uses species '{}', which phase '{}' does not have", eq, name, ctx.phase));
      out.emplace_back(k, coef);
    }
  };
  resolve(lhs, rx.reactants);
  resolve(rhs, rx.products);
  check_balance(r, rx, ctx);
  double order = 0;
  for (const auto& t : rx.reactants) order += t.second;
  rx.duplicate = flag(r, "duplicate", rd);
  const bool negative_a = flag(r, "negative-A", rd);
  if (rx.type == ReactionType::falloff) {
    rx.rate = read_arrhenius(r, "high-P-rate-constant", rd, ctx.units, order, negative_a);
    rx.low = read_arrhenius(r, "low-P-rate-constant", rd, ctx.units, order + 1, negative_a);
    if (r["rate-constant"])
      rd.fail(r["rate-constant"], "rate-constant", "a falloff reaction takes low-P and high-P rate constants");
    if (const YAML::Node t = r["Troe"]) read_troe(t, rx, rd);
  } else {
    if (r["low-P-rate-constant"] || r["high-P-rate-constant"] || r["Troe"])
      rd.fail(r, "type", fmt::format("reaction '{}' has falloff data but is not of type falloff", eq));
    rx.rate = read_arrhenius(r, "rate-constant", rd, ctx.units, order + (rx.type == ReactionType::three_body ? 1 : 0),
                             negative_a);
  }
  if (rx.type != ReactionType::elementary) {
    read_efficiencies(r, lhs, rx, ctx);
  } else if (r["efficiencies"]) {
    rd.fail(r["efficiencies"], "efficiencies", fmt::format("reaction '{}' has efficiencies but no third body", eq));
  }
  return rx;
}

// Reactions with the same reactants, products and third body must be marked duplicate.
void check_duplicates(const std::vector<Reaction>& reactions) {
  auto key = [](const Reaction& rx) {
    auto side = [](std::vector<std::pair<int, double>> s) {
      std::sort(s.begin(), s.end());
      return s;
    };
    return std::make_tuple(side(rx.reactants), side(rx.products), static_cast<int>(rx.type), rx.efficiency);
  };
  std::map<decltype(key(reactions.front())), size_t> seen;
  for (size_t i = 0; i < reactions.size(); ++i) {
    const auto [it, inserted] = seen.emplace(key(reactions[i]), i);
    if (inserted) continue;
    const Reaction &a = reactions[it->second], &b = reactions[i];
    if (a.duplicate && b.duplicate) continue;
    throw UserError(Diagnostic{b.where, "duplicate",
                               fmt::format("reaction '{}' repeats the reaction at line {} and is not marked duplicate",
                                           b.equation, a.where.line),
                               "add 'duplicate: true' to both, or remove one"});
  }
}

}  // namespace

double Arrhenius::operator()(double T, double log_T) const {
  return A * std::exp(b * log_T - ea_r / T);
}

int Mechanism::species_index(const std::string& name) const {
  for (size_t k = 0; k < species_.size(); ++k)
    if (species_[k].name == name) return static_cast<int>(k);
  return -1;
}

bool Mechanism::has_transport() const {
  return std::all_of(species_.begin(), species_.end(), [](const Species& s) { return s.has_transport; });
}

void Mechanism::require_transport(const std::string& what) const {
  std::vector<std::string> lack;
  for (const auto& s : species_)
    if (!s.has_transport) lack.push_back(s.name);
  if (lack.empty()) return;
  throw UserError(Diagnostic{
      Location{file_, 0, 0}, "species." + lack.front() + ".transport",
      fmt::format("{} needs the species' transport data, and {} of the {} species of phase '{}' have none (first: "
                  "'{}')",
                  what, lack.size(), species_.size(), phase_, lack.front()),
      "use a mechanism with transport: entries (Cantera's gri30.yaml, h2o2.yaml), or unity Lewis number"});
}

Mechanism Mechanism::load(const std::string& file, const std::string& phase_name) {
  const Reader rd(file);
  const YAML::Node root = read_root(file);
  const Units units = read_units(root["units"], rd);
  const YAML::Node ph = select_phase(root, phase_name, rd);
  Mechanism m;
  m.file_ = file;
  m.phase_ = ph["name"].Scalar();
  m.hash_ = file_hash(file);
  m.elements_ = read_elements(ph, m.phase_, rd);
  m.species_ = read_species(root, ph, m.phase_, m.elements_, rd);

  const YAML::Node rsec = ph["reactions"];
  if (rsec && !(rsec.IsScalar() && (rsec.Scalar() == "all" || rsec.Scalar() == "none")) &&
      !(rsec.IsSequence() && rsec.size() == 1 && rsec[0].IsScalar() && rsec[0].Scalar() == "all"))
    rd.fail(rsec, "phases." + m.phase_ + ".reactions", "only 'all' or 'none' reactions are supported");
  const bool none = rsec && rsec.IsScalar() && rsec.Scalar() == "none";
  const YAML::Node reactions = root["reactions"];
  if (!none && reactions) {
    if (!reactions.IsSequence()) rd.fail(reactions, "reactions", "reactions: must be a list");
    const bool skip = flag(ph, "skip-undeclared-third-bodies", rd);
    const ReactionContext ctx{m.species_, m.elements_, m.phase_, units, skip, rd};
    for (const auto& r : reactions) m.reactions_.push_back(read_reaction(r, ctx));
  }
  if (!m.reactions_.empty()) check_duplicates(m.reactions_);
  return m;
}

void Mechanism::cp_R(double T, double* out) const {
  for (size_t k = 0; k < species_.size(); ++k) {
    const auto& a = species_[k].thermo.at(T);
    out[k] = a[0] + T * (a[1] + T * (a[2] + T * (a[3] + T * a[4])));
  }
}

void Mechanism::h_RT(double T, double* out) const {
  for (size_t k = 0; k < species_.size(); ++k) {
    const auto& a = species_[k].thermo.at(T);
    out[k] = a[0] + T * (a[1] / 2 + T * (a[2] / 3 + T * (a[3] / 4 + T * a[4] / 5))) + a[5] / T;
  }
}

void Mechanism::s_R(double T, double* out) const {
  const double lt = std::log(T);
  for (size_t k = 0; k < species_.size(); ++k) {
    const auto& a = species_[k].thermo.at(T);
    out[k] = a[0] * lt + T * (a[1] + T * (a[2] / 2 + T * (a[3] / 3 + T * a[4] / 4))) + a[6];
  }
}

namespace {

// Per-thread scratch of the rate evaluations: no allocation per right-hand side.
struct Scratch {
  std::vector<double> h, s, g, kf, kr, q, dq, mix;  // mix: per-species values of mixture sums
};
Scratch& scratch() {
  thread_local Scratch sc;
  return sc;
}

// prod_j C_j^nu_j over one side of a reaction. A negative concentration (an integrator's
// undershoot of a trace species) counts as itself at nu = 1 and as 0 at any other nu, as in
// Cantera (a negative C_j squared would consume the species faster the more negative it
// gets); the derivatives below follow the same rule.
double side_product(const std::vector<std::pair<int, double>>& side, const double* C) {
  double p = 1;
  for (const auto& [j, c] : side) p *= c == 1 ? C[j] : C[j] <= 0 ? 0.0 : c == 2 ? C[j] * C[j] : std::pow(C[j], c);
  return p;
}

// sum over products minus reactants of nu_j x_j, and of nu_j.
std::pair<double, double> net_sum(const Reaction& r, const double* x) {
  double sx = 0, snu = 0;
  for (const auto& [j, c] : r.products) sx += c * x[j], snu += c;
  for (const auto& [j, c] : r.reactants) sx -= c * x[j], snu -= c;
  return {sx, snu};
}

// The forward rate constant at third-body concentration M (unused for elementary
// reactions), and its derivatives in T (at fixed M) and in M.
struct Forward {
  double kf, dkf_dT, dkf_dM;
};

Forward forward_rate(const Reaction& r, double T, double log_T, double M) {
  const double kinf = r.rate(T, log_T);
  const double dlnk = (r.rate.b + r.rate.ea_r / T) / T;
  if (r.type == ReactionType::elementary) return {kinf, kinf * dlnk, 0.0};
  if (r.type == ReactionType::three_body) return {kinf * M, kinf * M * dlnk, kinf};
  const double ln10 = std::log(10.0);
  const double k0 = r.low(T, log_T);
  const double dlnk0 = (r.low.b + r.low.ea_r / T) / T;
  const double pr = kinf > 0 ? std::max(k0 * M / kinf, 1e-300) : 0.0;
  double F = 1, dlogF_dlp = 0, dlogF_dT = 0;  // log10 F and its derivatives
  if (r.troe && pr > 0) {
    const double e3 = r.troe_t3 != 0 ? std::exp(-T / r.troe_t3) : 0.0;
    const double e1 = r.troe_t1 != 0 ? std::exp(-T / r.troe_t1) : 0.0;
    const double e2 = r.troe_has_t2 ? std::exp(-r.troe_t2 / T) : 0.0;
    double fcent = (1 - r.troe_a) * e3 + r.troe_a * e1 + e2;
    double dfcent = (r.troe_t3 != 0 ? -(1 - r.troe_a) * e3 / r.troe_t3 : 0.0) +
                    (r.troe_t1 != 0 ? -r.troe_a * e1 / r.troe_t1 : 0.0) +
                    (r.troe_has_t2 ? e2 * r.troe_t2 / (T * T) : 0.0);
    if (fcent < 1e-300) fcent = 1e-300, dfcent = 0;
    const double lf = std::log10(fcent), lp = std::log10(pr);
    const double c = -0.4 - 0.67 * lf, n = 0.75 - 1.27 * lf;
    const double u = lp + c, d = n - 0.14 * u, f1 = u / d;
    const double den = 1 + f1 * f1;
    F = std::pow(10.0, lf / den);
    const double df1_dlp = n / (d * d);
    const double df1_dlf = (-0.67 * d - u * (-1.27 + 0.14 * 0.67)) / (d * d);
    dlogF_dlp = -lf * 2 * f1 / (den * den) * df1_dlp;
    const double dlogF_dlf = 1 / den - lf * 2 * f1 / (den * den) * df1_dlf;
    dlogF_dT = dlogF_dlf * dfcent / (fcent * ln10);
  }
  // kf = kinf * G, G = Pr / (1 + Pr) * F; dG/dPr = F / (1 + Pr)^2 + G dlog10F/dlp / Pr.
  const double G = pr / (1 + pr) * F;
  const double dG_dpr = pr > 0 ? F / ((1 + pr) * (1 + pr)) + G * dlogF_dlp / pr : 0.0;
  const double dpr_dT = pr * (dlnk0 - dlnk);
  return {kinf * G, kinf * dlnk * G + kinf * (dG_dpr * dpr_dT + G * ln10 * dlogF_dT), kinf > 0 ? dG_dpr * k0 : 0.0};
}

// Third-body concentration sum_j eff_j C_j (0 for elementary reactions).
double third_body(const Reaction& r, const double* C) {
  double M = 0;
  if (r.type != ReactionType::elementary)
    for (size_t j = 0; j < r.efficiency.size(); ++j) M += r.efficiency[j] * C[j];
  return M;
}

// g/(RT) = h/(RT) - s/R per species, into sc.g (sc.h keeps h/(RT)).
void gibbs(const Mechanism& m, double T, Scratch& sc) {
  const size_t ns = static_cast<size_t>(m.n_species());
  sc.h.resize(ns);
  sc.s.resize(ns);
  sc.g.resize(ns);
  m.h_RT(T, sc.h.data());
  m.s_R(T, sc.s.data());
  for (size_t k = 0; k < ns; ++k) sc.g[k] = sc.h[k] - sc.s[k];
}

}  // namespace

void Mechanism::rate_constants(double T, const double* C, double* kf, double* kr) const {
  Scratch& sc = scratch();
  gibbs(*this, T, sc);
  const double log_T = std::log(T);
  const double log_c0 = std::log(kStandardPressure / (kGasConstant * T));  // standard concentration, mol/m^3
  for (size_t i = 0; i < reactions_.size(); ++i) {
    const Reaction& r = reactions_[i];
    kf[i] = forward_rate(r, T, log_T, third_body(r, C)).kf;
    if (!r.reversible) {
      kr[i] = 0;
      continue;
    }
    // kr = kf / Kc, Kc = exp(-sum nu g/(RT)) c0^(sum nu), in mol/m^3 units.
    const auto [dg, dnu] = net_sum(r, sc.g.data());
    kr[i] = kf[i] * std::exp(dg - dnu * log_c0);
  }
}

void Mechanism::rates_of_progress(double T, const double* C, double* q) const {
  Scratch& sc = scratch();
  const size_t nr = reactions_.size();
  sc.kf.resize(nr);
  sc.kr.resize(nr);
  rate_constants(T, C, sc.kf.data(), sc.kr.data());
  for (size_t i = 0; i < nr; ++i) {
    const Reaction& r = reactions_[i];
    q[i] = sc.kf[i] * side_product(r.reactants, C) - (r.reversible ? sc.kr[i] * side_product(r.products, C) : 0.0);
  }
}

void Mechanism::net_production_rates(double T, const double* C, double* wdot) const {
  Scratch& sc = scratch();
  sc.q.resize(reactions_.size());
  rates_of_progress(T, C, sc.q.data());
  std::fill(wdot, wdot + n_species(), 0.0);
  for (size_t i = 0; i < reactions_.size(); ++i) {
    for (const auto& [j, c] : reactions_[i].reactants) wdot[j] -= c * sc.q[i];
    for (const auto& [j, c] : reactions_[i].products) wdot[j] += c * sc.q[i];
  }
}

void Mechanism::dcp_R_dT(double T, double* out) const {
  for (size_t k = 0; k < species_.size(); ++k) {
    const auto& a = species_[k].thermo.at(T);
    out[k] = a[1] + T * (2 * a[2] + T * (3 * a[3] + T * 4 * a[4]));
  }
}

void Mechanism::production_rate_derivatives(double T, const double* C, double* wdot, double* dC, double* dT) const {
  const int ns = n_species();
  Scratch& sc = scratch();
  gibbs(*this, T, sc);
  sc.dq.resize(static_cast<size_t>(ns));
  std::vector<double>& dq = sc.dq;  // d q / d C_j of one reaction
  const double log_T = std::log(T);
  const double log_c0 = std::log(kStandardPressure / (kGasConstant * T));
  std::fill(wdot, wdot + ns, 0.0);
  std::fill(dC, dC + static_cast<size_t>(ns) * ns, 0.0);
  std::fill(dT, dT + ns, 0.0);
  // d/dC_j of prod_l C_l^nu_l = nu_j C_j^(nu_j - 1) prod_{l != j} C_l^nu_l (species may repeat).
  auto add_dproduct = [&](const std::vector<std::pair<int, double>>& side, double factor) {
    for (size_t a = 0; a < side.size(); ++a) {
      double p =
          side[a].second * (side[a].second == 1 ? 1.0 : std::pow(std::max(C[side[a].first], 0.0), side[a].second - 1));
      for (size_t b = 0; b < side.size(); ++b)
        if (b != a)
          p *= side[b].second == 1 ? C[side[b].first] : std::pow(std::max(C[side[b].first], 0.0), side[b].second);
      dq[side[a].first] += factor * p;
    }
  };
  for (const Reaction& r : reactions_) {
    std::fill(dq.begin(), dq.end(), 0.0);
    const Forward f = forward_rate(r, T, log_T, third_body(r, C));
    const double pf = side_product(r.reactants, C);
    double kr = 0, dkr_dT = 0, pr = 0, inv_kc = 0;
    if (r.reversible) {
      const auto [dg, dnu] = net_sum(r, sc.g.data());
      const double dh = net_sum(r, sc.h.data()).first;
      inv_kc = std::exp(dg - dnu * log_c0);  // 1 / Kc
      kr = f.kf * inv_kc;
      dkr_dT = f.dkf_dT * inv_kc - kr * (dh - dnu) / T;  // d ln Kc / dT = (sum nu h/RT - sum nu) / T
      pr = side_product(r.products, C);
      add_dproduct(r.products, -kr);
    }
    add_dproduct(r.reactants, f.kf);
    const double q = f.kf * pf - kr * pr;
    const double dq_dT = f.dkf_dT * pf - dkr_dT * pr;
    if (r.type != ReactionType::elementary) {
      // d q / d C_j through M: (dkf/dM) eff_j (pf - pr / Kc).
      const double net = pf - inv_kc * pr;
      for (int j = 0; j < ns; ++j) dq[j] += f.dkf_dM * r.efficiency[j] * net;
    }
    auto scatter = [&](const std::vector<std::pair<int, double>>& side, double sign) {
      for (const auto& [k, c] : side) {
        wdot[k] += sign * c * q;
        dT[k] += sign * c * dq_dT;
        double* row = dC + static_cast<size_t>(k) * ns;
        for (int j = 0; j < ns; ++j) row[j] += sign * c * dq[j];
      }
    };
    scatter(r.reactants, -1);
    scatter(r.products, +1);
  }
}

double Mechanism::mean_molar_mass(const double* Y) const {
  double s = 0;
  for (size_t k = 0; k < species_.size(); ++k) s += Y[k] / species_[k].molar_mass;
  return 1.0 / s;
}

namespace {

// sum_k Y_k / W_k f_k of a per-species property f (the mixture's per unit mass, / R).
template <class Fill>
double mass_sum(const Mechanism& m, const double* Y, Fill&& fill) {
  std::vector<double>& f = scratch().mix;
  f.resize(static_cast<size_t>(m.n_species()));
  fill(f.data());
  double s = 0;
  for (int k = 0; k < m.n_species(); ++k) s += Y[k] / m.species()[static_cast<size_t>(k)].molar_mass * f[k];
  return s;
}

}  // namespace

double Mechanism::cp_mass(double T, const double* Y) const {
  return kGasConstant * mass_sum(*this, Y, [&](double* f) { cp_R(T, f); });
}

double Mechanism::cv_mass(double T, const double* Y) const {
  return cp_mass(T, Y) - kGasConstant / mean_molar_mass(Y);
}

double Mechanism::enthalpy_mass(double T, const double* Y) const {
  return kGasConstant * T * mass_sum(*this, Y, [&](double* f) { h_RT(T, f); });
}

double Mechanism::int_energy_mass(double T, const double* Y) const {
  return enthalpy_mass(T, Y) - kGasConstant * T / mean_molar_mass(Y);
}

double Mechanism::entropy_mass(double T, double p, const double* Y) const {
  const double wbar = mean_molar_mass(Y);
  const double log_p = std::log(p / kStandardPressure);
  return kGasConstant * mass_sum(*this, Y, [&](double* f) {
           s_R(T, f);
           for (int k = 0; k < n_species(); ++k) {
             const double X = wbar * Y[k] / species_[static_cast<size_t>(k)].molar_mass;
             f[k] -= std::log(std::max(X, 1e-300)) + log_p;  // Cantera's floor (SmallNumber)
           }
         });
}

}  // namespace simfuse
