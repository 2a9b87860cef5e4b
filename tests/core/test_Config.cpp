// Configuration: every value keeps its location, declared keys are strictly checked, and
// every error names the key path, the line and a fix.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "simfuse/core/base/Config.hpp"
#include "simfuse/core/base/Function.hpp"
#include "simfuse/core/base/Paths.hpp"
#include "simfuse/core/base/Schema.hpp"
#include "support/TestUtil.hpp"

using namespace simfuse;

namespace {

Schema demo_schema() {
  function_registry();
  Schema s("demo", "a demo");
  s.add_real("dt", "time step").required().positive();
  s.add_int("steps", "number of steps").def(10).range(1, 1000);
  s.add_string("scheme", "scheme").def("crank_nicolson").choices({"crank_nicolson", "implicit_euler"});
  s.add("n", ParamType::IntList, "points").def("[8, 8]").size(1, 3).min(2);
  s.add("periodic", ParamType::BoolList, "periodic").def("[false]").broadcast();
  Schema& sec = s.add_section("solver", "solver");
  sec.add_real("kappa", "diffusion coefficient").def(1.0).positive();
  sec.add_block("source", "function", "source").def("0.0");
  return s;
}

// The first diagnostic of a failed validation.
std::vector<Diagnostic> errors_of(const std::string& yaml) {
  auto doc = ConfigDocument::from_string(yaml, "case.yaml");
  Diagnostics d;
  demo_schema().validate(doc, doc.root(), "", d);
  return d;
}

}  // namespace

TEST_CASE("valid documents give typed values and defaults", "[config]") {
  auto doc = ConfigDocument::from_string("dt: 0.5\nsolver:\n  kappa: 2\n  source: \"x*y\"\n", "case.yaml");
  const Params p = demo_schema().validate_or_throw(doc, doc.root(), "");
  CHECK(p.get<double>("dt") == 0.5);
  CHECK(p.get<int>("steps") == 10);
  CHECK_FALSE(p.is_set("steps"));
  CHECK(p.is_set("dt"));
  CHECK(p.get<std::vector<int>>("n") == std::vector<int>{8, 8});
  CHECK(p.sub("solver").get<double>("kappa") == 2.0);
  CHECK(p.sub("solver").type_of("source") == "expression");
  CHECK(p.where("dt").str() == "case.yaml:1:5");
  CHECK(p.sub("solver").where("kappa").str() == "case.yaml:3:10");
  CHECK(p.sub("solver").key_path("kappa") == "solver.kappa");
  auto f = make_function(p.sub("solver"), "source", {});
  CHECK((*f)(2, 3, 0, 0) == Approx(6.0));
}

TEST_CASE("unknown keys are errors with a suggestion and the line", "[config]") {
  auto d = errors_of("dt: 1\nsolver:\n  kapa: 2\n");
  REQUIRE(d.size() == 1);
  CHECK(d[0].key_path == "solver.kapa");
  CHECK(d[0].where.str() == "case.yaml:3:3");
  CHECK_THAT(d[0].what, Catch::Contains("unknown key 'kapa'"));
  CHECK_THAT(d[0].fix, Catch::Contains("did you mean 'kappa'?"));
  CHECK_THAT(d[0].fix, Catch::Contains("Supported keys: kappa, source"));
}

TEST_CASE("wrong types - ranges and choices name the key path", "[config]") {
  SECTION("a string where a number belongs") {
    auto d = errors_of("dt: fast\n");
    REQUIRE(d.size() == 1);
    CHECK(d[0].key_path == "dt");
    CHECK_THAT(d[0].what, Catch::Contains("expected a real number, got 'fast'"));
  }
  SECTION("a real where an integer belongs") {
    auto d = errors_of("dt: 1\nsteps: 2.5\n");
    REQUIRE(d.size() == 1);
    CHECK_THAT(d[0].what, Catch::Contains("expected an integer"));
  }
  SECTION("out of range") {
    auto d = errors_of("dt: -1\n");
    REQUIRE(d.size() == 1);
    CHECK_THAT(d[0].what, Catch::Contains("out of range: must be > 0"));
  }
  SECTION("nested out of range") {
    auto d = errors_of("dt: 1\nsolver: {kappa: 0}\n");
    REQUIRE(d.size() == 1);
    CHECK(d[0].key_path == "solver.kappa");
  }
  SECTION("not one of the choices") {
    auto d = errors_of("dt: 1\nscheme: crank_nicholson\n");
    REQUIRE(d.size() == 1);
    CHECK_THAT(d[0].fix, Catch::Contains("did you mean 'crank_nicolson'?"));
  }
  SECTION("list length and element type") {
    auto d = errors_of("dt: 1\nn: [1, 2, 3, 4]\n");
    REQUIRE(d.size() == 1);
    CHECK_THAT(d[0].what, Catch::Contains("expected 1 to 3 entries, got 4"));
    d = errors_of("dt: 1\nn: [4, x]\n");
    REQUIRE(d.size() == 1);
    CHECK(d[0].key_path == "n[1]");
  }
  SECTION("a map where a list belongs") {
    auto d = errors_of("dt: 1\nn: {a: 1}\n");
    REQUIRE(d.size() == 1);
    CHECK_THAT(d[0].what, Catch::Contains("expected a list of integers"));
  }
  SECTION("broadcast lists accept a scalar") {
    CHECK(errors_of("dt: 1\nperiodic: true\n").empty());
  }
}

TEST_CASE("missing required keys - empty values and duplicates", "[config]") {
  auto d = errors_of("steps: 3\n");
  REQUIRE(d.size() == 1);
  CHECK(d[0].key_path == "dt");
  CHECK_THAT(d[0].what, Catch::Contains("missing required key 'dt'"));
  d = errors_of("dt:\n");
  REQUIRE(d.size() == 1);
  CHECK_THAT(d[0].what, Catch::Contains("no value given for 'dt'"));
  d = errors_of("dt: 1\ndt: 2\n");
  REQUIRE(d.size() == 1);
  CHECK_THAT(d[0].what, Catch::Contains("appears twice"));
  CHECK(d[0].where.str() == "case.yaml:2:1");
}

TEST_CASE("all problems are reported at once", "[config]") {
  auto d = errors_of("dt: x\nstepz: 3\nsolver: {kappa: -1}\n");
  CHECK(d.size() == 3);
}

TEST_CASE("blocks: shorthand - unknown type with suggestion - parameters", "[config]") {
  auto d = errors_of("dt: 1\nsolver:\n  source: {type: gausian, amplitude: 2}\n");
  REQUIRE(d.size() == 1);
  CHECK(d[0].key_path == "solver.source.type");
  CHECK_THAT(d[0].fix, Catch::Contains("did you mean 'gaussian'?"));
  d = errors_of("dt: 1\nsolver:\n  source: {type: gaussian, center: [0.5], widht: 2}\n");
  REQUIRE(d.size() == 1);
  CHECK(d[0].key_path == "solver.source.widht");
  CHECK_THAT(d[0].fix, Catch::Contains("did you mean 'width'?"));
  d = errors_of("dt: 1\nsolver:\n  source: [1, 2]\n");
  REQUIRE(d.size() == 1);
  CHECK_THAT(d[0].what, Catch::Contains("expected a {type: ...} block"));
}

TEST_CASE("An anchored value used through an alias where a block is expected stays a value elsewhere", "[config]") {
  // `k: &k 2` then `source: *k`: the shorthand expansion of `source` ({type: constant,
  // value: 2}) wrote through the shared yaml-cpp node, and `k` became a mapping.
  function_registry();
  Schema s("anchors", "");
  s.add_real("k", "a number").required();
  s.add_block("source", "function", "").required();
  auto doc = ConfigDocument::from_string("k: &k 2\nsource: *k\n", "case.yaml");
  Diagnostics d;
  const Params p = s.validate(doc, doc.root(), "", d);
  REQUIRE(d.empty());
  CHECK(p.get<double>("k") == 2);
  CHECK((*make_function(p, "source", {}))(0.3, 0, 0, 0) == 2);
  CHECK(doc.root()["k"].IsScalar());
}

TEST_CASE("A Gaussian counts the coordinates its centre names", "[config]") {
  // A 2D Gaussian peaks at its amplitude on the grid's plane z = 0 (a default 3D centre
  // at z = 0.5 used to scale it by exp(-0.25 / (2 w^2))).
  function_registry();
  Schema s("g", "");
  s.add_block("f", "function", "");
  auto doc =
      ConfigDocument::from_string("f: {type: gaussian, amplitude: 2, center: [0.3, 0.4], width: 0.1}\n", "g.yaml");
  const Params p = s.validate_or_throw(doc, doc.root(), "");
  auto f = make_function(p, "f", {});
  CHECK((*f)(0.3, 0.4, 0.0, 0) == Approx(2.0));
  CHECK((*f)(0.4, 0.4, 0.0, 0) == Approx(2.0 * std::exp(-0.5)));
}

TEST_CASE("Non-finite numbers, merge keys and second documents are refused, saying which", "[config]") {
  auto d = errors_of("dt: .inf\n");
  REQUIRE(d.size() == 1);
  CHECK(d[0].key_path == "dt");
  CHECK_THAT(d[0].what, Catch::Contains("finite"));
  d = errors_of("dt: 1e400\n");
  REQUIRE(d.size() == 1);
  CHECK_THAT(d[0].what, Catch::Contains("beyond double precision's range"));
  // Merge keys are refused when the document is read, before any block's own checks (a
  // bc block said "missing 'type'"), at the key.
  try {
    ConfigDocument::from_string("base: &b {kappa: 2}\ndt: 1\nsolver: {<<: *b}\n", "case.yaml");
    FAIL("a merge key was accepted");
  } catch (const UserError& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("merge keys"));
    CHECK(e.diagnostics()[0].key_path == "solver.<<");
    CHECK(e.diagnostics()[0].where.str() == "case.yaml:3:10");
  }
  try {
    ConfigDocument::from_string("dt: 1\n---\ndt: 2\n", "case.yaml");
    FAIL("a second document was accepted");
  } catch (const UserError& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("more than one YAML document"));
    CHECK(e.diagnostics()[0].where.str() == "case.yaml:2:1");  // the '---' that starts it
  }
  // A stray ',' at the top level: yaml-cpp's LoadAll looped on it, allocating without end
  // (libFuzzer); now a syntax error at the comma, at once.
  try {
    ConfigDocument::from_string("# c\n, a, b: 1\n", "case.yaml");
    FAIL("a stray comma was accepted");
  } catch (const UserError& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("unexpected ','"));
    CHECK(e.diagnostics()[0].where.str() == "case.yaml:2:1");
  }
}

TEST_CASE("YAML syntax errors carry the position", "[config]") {
  try {
    ConfigDocument::from_string("dt: 1\nsolver: {kappa: 1\n", "bad.yaml");
    FAIL("no error");
  } catch (const UserError& e) {
    REQUIRE(e.diagnostics().size() == 1);
    CHECK(e.diagnostics()[0].where.origin == "bad.yaml");
    CHECK(e.diagnostics()[0].where.line >= 2);
    CHECK_THAT(e.diagnostics()[0].what, Catch::Contains("YAML syntax error"));
  }
  CHECK_THROWS_AS(ConfigDocument::from_string("- a\n- b\n"), UserError);
  CHECK_THROWS_AS(ConfigDocument::from_string(""), UserError);
  CHECK_THROWS_WITH(ConfigDocument::load_file("/nonexistent/case.yaml"),
                    Catch::Contains("cannot read case file '/nonexistent/case.yaml'"));
}

TEST_CASE("override with set overrides values with the same checks", "[config]") {
  auto doc = ConfigDocument::from_string("dt: 1\nsolver:\n  kappa: 2\n", "case.yaml");
  doc.set("solver.kappa=0.5");
  doc.set("n=[16,32]");
  doc.set("steps=7");
  const Params p = demo_schema().validate_or_throw(doc, doc.root(), "");
  CHECK(p.sub("solver").get<double>("kappa") == 0.5);
  CHECK(p.get<std::vector<int>>("n") == std::vector<int>{16, 32});
  CHECK(p.get<int>("steps") == 7);
  CHECK(p.sub("solver").where("kappa").str() == "--set solver.kappa=0.5");

  doc.set("solver.kapa=3");
  Diagnostics d;
  demo_schema().validate(doc, doc.root(), "", d);
  REQUIRE(d.size() == 1);
  CHECK(d[0].where.str() == "--set solver.kapa=3");
  CHECK_THAT(d[0].fix, Catch::Contains("did you mean 'kappa'?"));

  CHECK_THROWS_WITH(doc.set("nonsense"), Catch::Contains("malformed override"));
  CHECK_THROWS_WITH(doc.set("dt.x=1"), Catch::Contains("'dt' is a value, not a section"));
  CHECK_THROWS_WITH(doc.set("a..b=1"), Catch::Contains("malformed key path"));
  CHECK_THROWS_WITH(doc.set("dt=[1,"), Catch::Contains("not valid YAML"));
  // A new section is created on demand.
  doc.set("extra.deep.key=1");
  CHECK(doc.root()["extra"]["deep"]["key"].as<int>() == 1);
}

TEST_CASE("cross-key checks run after the keys validate", "[config]") {
  Schema s("t", "");
  s.add_int("steps", "").min(1);
  s.add_real("t_end", "");
  s.add_check([](const Params& p, Diagnostics& d) {
    if (p.has("steps") == p.has("t_end")) d.push_back(p.diag("steps", "give exactly one of steps, t_end"));
  });
  auto doc = ConfigDocument::from_string("steps: 2\nt_end: 1\n", "c.yaml");
  Diagnostics d;
  s.validate(doc, doc.root(), "time", d);
  REQUIRE(d.size() == 1);
  CHECK(d[0].key_path == "time.steps");
}

TEST_CASE("suggestions", "[config]") {
  CHECK(nearest("kapa", {"kappa", "source"}) == std::optional<std::string>("kappa"));
  CHECK(nearest("zzzzzz", {"kappa", "source"}) == std::nullopt);
  CHECK(edit_distance("kitten", "sitting") == 3);
}

TEST_CASE("expressions: parameters - errors with position", "[config]") {
  function_registry();
  auto doc = ConfigDocument::from_string("s: \"k*x + pi\"\nbad: \"sin(x\"\nunk: \"q*x\"\n", "f.yaml");
  Schema s("f", "");
  s.add_block("s", "function", "");
  s.add_block("bad", "function", "");
  s.add_block("unk", "function", "");
  const Params p = s.validate_or_throw(doc, doc.root(), "");
  auto f = make_function(p, "s", {{"k", 2.0}});
  CHECK((*f)(1.5, 0, 0, 0) == Approx(3 + M_PI));
  CHECK(f->time_independent());
  try {
    make_function(p, "bad", {});
    FAIL("no error");
  } catch (const UserError& e) {
    CHECK(e.diagnostics()[0].key_path == "bad.value");
    CHECK(e.diagnostics()[0].where.str() == "f.yaml:2:6");
    CHECK_THAT(e.diagnostics()[0].what, Catch::Contains("cannot parse expression"));
  }
  CHECK_THROWS_AS(make_function(p, "unk", {}), UserError);
}

TEST_CASE("Paths in YAML files are relative to the file that names them", "[config]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(test::temp_dir("paths"));
  fs::create_directories(dir / "cases" / "models");
  std::ofstream(dir / "cases" / "models" / "m.card.yaml") << "x";
  const std::string case_file = (dir / "cases" / "c.yaml").string();
  CHECK(resolve_path("/abs/m.pt", case_file) == "/abs/m.pt");
  CHECK(resolve_path("models/m.card.yaml", case_file) == (dir / "cases" / "models" / "m.card.yaml").string());
  CHECK(resolve_path("../out/x", case_file, PathUse::output) == (dir / "out" / "x").string());
  CHECK(resolve_path("m.pt", "<string>") == "m.pt");
  // An input that exists only relative to the working directory (typed with --set) is
  // taken from there; an output never is.
  const fs::path cwd = fs::current_path();
  fs::current_path(dir);
  CHECK(resolve_path("cases/models/m.card.yaml", case_file) == "cases/models/m.card.yaml");
  CHECK(resolve_path("cases/models/m.card.yaml", case_file, PathUse::output) ==
        (dir / "cases" / "cases" / "models" / "m.card.yaml").string());
  fs::current_path(cwd);
}
