// The case builder and what a run writes: steps.csv columns and summary.json keys come
// from the audit-counter table, diagnostic fields reach the output without being state,
// and a case section served by a library that is not registered is refused up front.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "simfuse/core/Solver.hpp"
#include "simfuse/core/base/Config.hpp"
#include "simfuse/core/base/Error.hpp"
#include "simfuse/coupling/Coupler.hpp"
#include "simfuse/coupling/Simulation.hpp"
#include "support/TestUtil.hpp"

using namespace simfuse;
namespace fs = std::filesystem;

namespace {

const char* kHeat = R"Y(
name: heat
grid: {n: [17, 17]}
solver:
  type: diffusion
  params: {kappa: 1, initial: "sin(pi*x)*sin(pi*y)"}
time: {dt: 0.01, steps: 3}
)Y";

std::unique_ptr<Simulation> make(const std::string& yaml, const std::string& out) {
  register_builtins();
  RunOptions ro;
  ro.output_dir = out;
  return std::make_unique<Simulation>(PETSC_COMM_WORLD, ConfigDocument::from_string(yaml, "sim_test.yaml"), ro);
}

std::string user_error(const std::string& yaml, const std::string& out) {
  try {
    make(yaml, out);
  } catch (const UserError& e) {
    return e.what();
  }
  return "(no error)";
}

// A policy that adds a diagnostic field (the calls so far, in every cell) and runs the
// classical code: what a policy or solver extension does through State::add_diagnostic.
class CountingPolicy final : public Policy {
 public:
  const std::string& name() const override { return name_; }
  void attach(SubStep& step, State& state, double dt) override {
    field_ = &state.add_diagnostic(state.get("u").grid(), "calls");
  }
  void apply(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats) override {
    run_classical(step, state, info, stats);
    VecShift(field_->vec(), 1.0);
  }

 private:
  std::string name_ = "counting";
  Field* field_ = nullptr;
};

}  // namespace

TEST_CASE("steps.csv and summary.json carry every counter of the table, as numbers", "[output][mpi]") {
  const std::string out = test::temp_dir("sim_counters");
  auto sim = make(kHeat, out);
  sim->run();
  std::string header;
  if (test::world_rank() == 0) {
    std::ifstream csv(fs::path(out) / "steps.csv");
    std::getline(csv, header);
    std::string expected = "step,t";
    for (const auto& c : substep_counters()) {
      // A classical sub-step: no training, table or balance counters.
      if (c.per_step && c.show != Show::online && c.show != Show::table && c.show != Show::balance)
        expected += ",diffuse_" + c.column();
    }
    CHECK(header == expected);
    long rows = 0;
    for (std::string line; std::getline(csv, line);) ++rows;
    CHECK(rows == 3);
    const auto s = nlohmann::json::parse(std::ifstream(fs::path(out) / "summary.json"));
    const auto& st = s["substeps"][0];
    for (const auto& c : substep_counters()) {
      if (!shown(c, sim->coupler().reduced_stats(MPI_COMM_SELF)[0])) continue;
      INFO(c.key);
      REQUIRE(st.contains(c.pointer()));
      CHECK(st.at(c.pointer()).is_number());
    }
    CHECK(st["calls"] == 3);
    CHECK(st["iterations"].get<long>() > 0);
  }
}

TEST_CASE("A policy's diagnostic field is written with the output, and is not state", "[output][mpi]") {
  register_builtins();
  if (!policy_registry().has("counting"))
    policy_registry().add("counting", "test policy with a diagnostic field", nullptr,
                          [](const PolicyContext&) { return std::make_unique<CountingPolicy>(); });
  const std::string out = test::temp_dir("sim_diagnostic");
  auto sim = make(std::string(kHeat) + "coupling: {diffuse: counting}\n", out);
  CHECK(sim->solver().state().names() == std::vector<std::string>{"u"});
  CHECK(sim->solver().state().diagnostic_names() == std::vector<std::string>{"calls"});
  sim->run();
  const auto calls = test::gather_natural(sim->solver().state().get("calls"));
  CHECK(calls.front() == 3.0);
  CHECK(calls.back() == 3.0);
  if (test::world_rank() == 0) {
    const auto s = nlohmann::json::parse(std::ifstream(fs::path(out) / "summary.json"));
    CHECK(s["outputs"]["fields"] == nlohmann::json::array({"u", "calls"}));
    CHECK(s["outputs"]["diagnostic_fields"] == nlohmann::json::array({"calls"}));
    // The last VTK file holds the array (one piece per rank: look into the pieces' folder
    // or the single file).
    bool found = false;
    for (const auto& e : fs::recursive_directory_iterator(out)) {
      if (e.path().extension() != ".vti") continue;
      std::ifstream in(e.path());
      std::stringstream text;
      text << in.rdbuf();
      found = found || text.str().find("Name=\"calls\"") != std::string::npos;
    }
    CHECK(found);
  }
}

TEST_CASE("A case section whose library is not registered is refused before anything is written", "[output]") {
  // This test program links no AI library, so nothing serves capture:.
  const std::string out = test::temp_dir("sim_capture") + "/out";
  const std::string msg = user_error(std::string(kHeat) + "capture: {diffuse: {every: 1, points: 10}}\n", out);
  CHECK_THAT(msg, Catch::Contains("capture") && Catch::Contains("simfuse::ai::register_builtins()"));
  CHECK(!fs::exists(out));
}

TEST_CASE("Output with no fields and PNG on is a clear error, not a crash", "[output]") {
  const std::string out = test::temp_dir("sim_nofields") + "/out";
  const std::string msg = user_error(std::string(kHeat) + "output: {fields: []}\n", out);
  CHECK_THAT(msg, Catch::Contains("output.fields") && Catch::Contains("png"));
  CHECK(!fs::exists(out));
}
