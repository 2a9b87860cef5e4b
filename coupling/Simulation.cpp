#include "simfuse/coupling/Simulation.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <csignal>
#include <filesystem>

#include "simfuse/core/Checkpoint.hpp"
#include "simfuse/core/Files.hpp"
#include "simfuse/core/Petsc.hpp"
#include "simfuse/core/Solver.hpp"
#include "simfuse/core/Timer.hpp"
#include "simfuse/core/Version.hpp"
#include "simfuse/core/base/Config.hpp"
#include "simfuse/core/base/Paths.hpp"
#include "simfuse/core/base/Plugins.hpp"
#include "simfuse/core/base/detail/Provenance.hpp"
#include "simfuse/coupling/Coupler.hpp"
#include "simfuse/coupling/Policy.hpp"
#include "simfuse/coupling/detail/Checkpoints.hpp"
#include "simfuse/coupling/detail/RunClock.hpp"
#include "simfuse/coupling/detail/RunOutput.hpp"
#include "simfuse/solvers/Builtins.hpp"
#include "simfuse/solvers/common/Boundary.hpp"
#include "simfuse/solvers/kinetics/Kinetics.hpp"

namespace simfuse {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

void register_builtins() {
  static const bool done = [] {
    function_registry();
    bc_registry();
    kinetics_registry();
    register_builtin_solvers();
    policy_registry();
    // Served by the AI library (simfuse::ai::register_builtins() adds the handler).
    register_case_section("capture",
                          "record (input, output) pairs of sub-steps while the run proceeds, e.g. {react: {every: 5, "
                          "points: 4000}}; see simfuse config doc capture",
                          {});
    return true;
  }();
  (void)done;
}

namespace {
struct CaseSection {
  std::string doc;
  CaseSectionHandler handler;  // empty: served by a library not loaded
};
std::map<std::string, CaseSection>& case_sections() {
  static std::map<std::string, CaseSection> m;
  return m;
}
long& case_sections_version() {  // bumped by every change: case_schema() rebuilds
  static long v = 0;
  return v;
}
}  // namespace

void register_case_section(const std::string& key, const std::string& doc, CaseSectionHandler handler) {
  CaseSection& c = case_sections()[key];
  if (!doc.empty()) c.doc = doc;
  if (handler) c.handler = std::move(handler);  // a declaration does not undo a library's handler
  ++case_sections_version();
}

void register_case_section(const std::string& key, CaseSectionHandler handler) {
  register_case_section(key, std::string(), std::move(handler));
}

namespace {
Schema build_case_schema() {
  Schema s("case", "a simfuse case file");
  s.add_string("name", "case name, used for output files (default: the file name without .yaml)");
  s.add_string("description", "one line on what the case shows").def("\"\"");
  s.add("plugins", ParamType::StringList,
        "shared libraries adding solvers, sub-steps, kinetics, policies or architectures, loaded before the case is "
        "checked (relative to the case file); a plugin runs its code, like a Python import: load only ones you trust")
      .def("[]");
  s.add_map("parameters", "named constants usable in expressions, e.g. {k: 2} then \"sin(k*pi*x)\"");
  GridSpec::declare(s.add_section("grid", "the structured grid"));
  s.add_block("solver", "solver", "the PDE solver", "params").required();
  Schema& t = s.add_section("time", "time stepping");
  t.add_real("dt", "time step").required().positive();
  t.add_int("steps", "number of time steps (or give t_end)").min(1);
  t.add_real("t_end", "end time (or give steps); t_end - t0 must be a multiple of dt");
  t.add_real("t0", "start time").def(0.0);
  t.add_check([](const Params& p, Diagnostics& d) {
    if (p.has("steps") == p.has("t_end"))
      d.push_back(p.diag(p.has("steps") ? "t_end" : "dt",
                         p.has("steps") ? "give either 'steps' or 't_end', not both"
                                        : "missing the length of the run: give 'steps' or 't_end'",
                         "e.g. 'steps: 100' or 't_end: 0.1'"));
  });
  RunOutput::declare(s.add_section("output", "what is written and where"));
  Schema& ck =
      s.add_section("checkpoint", "checkpoints in <output>/checkpoints/, to continue a stopped run with --resume");
  ck.add_bool("enabled", "write checkpoints (and catch SIGTERM/SIGUSR1 to write one before stopping)").def(true);
  ck.add_int("every", "a checkpoint every N steps (0: by wall time only)").def(0).min(0);
  ck.add_real("seconds", "a checkpoint when this much wall time has passed since the last (0: by steps only)")
      .def(600.0)
      .min(0);
  ck.add_int("keep", "how many of the newest checkpoints are kept").def(2).min(1);
  ck.add_bool("at_end", "a checkpoint after the last step (a later run can extend it with a larger t_end)").def(true);
  s.add_map("coupling", "policy per sub-step, e.g. {diffuse: classical} (default: classical)");
  for (const auto& [key, section] : case_sections()) s.add_map(key, section.doc);
  s.add_map("petsc_options",
            "PETSc options: {diffuse_ksp_type: cg} or grouped by prefix {diffuse: {ksp_rtol: 1e-8}}; the "
            "command line wins");
  return s;
}
}  // namespace

const Schema& case_schema() {
  register_builtins();
  // Rebuilt when a case section is registered (a plugin's); the earlier ones stay alive,
  // as callers may hold references to them.
  static std::map<long, std::unique_ptr<Schema>> built;
  auto& s = built[case_sections_version()];
  if (!s) s = std::make_unique<Schema>(build_case_schema());
  return *s;
}

struct Simulation::Impl {
  MPI_Comm comm = MPI_COMM_NULL;
  RunOptions opt;
  std::string name, case_file, out_dir;
  Params params;
  // Declared before the PETSc objects, so destroyed after them, also when the constructor
  // throws: removes the case's petsc_options from the options database.
  struct CaseOptionsGuard {
    ~CaseOptionsGuard() { options::clear_case_options(); }
  } options_guard;
  std::unique_ptr<Grid> grid;
  std::unique_ptr<Solver> solver;
  std::unique_ptr<Coupler> coupler;
  Constants constants;
  RunClock clock;
  // Destroyed before the objects above (members are destroyed in reverse order).
  std::unique_ptr<ConfigDocument> own_doc;
  std::unique_ptr<RunCheckpoints> checkpoints;  // null when the run writes none
  json restarts = json::array();
  long resumed_from = -1;
  bool interrupted = false;
  std::map<std::string, std::shared_ptr<void>> attachments;  // what case sections attached
  std::unique_ptr<RunOutput> output;
  std::string petsc_case_options;
  std::vector<std::pair<std::string, std::function<json()>>> end_hooks;
  json provenance;
};

namespace {

bool valid_identifier(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

// Flattens petsc_options into (name, value, location).
void collect_petsc_options(const ConfigDocument& doc, const YAML::Node& n, const std::string& prefix,
                           const std::string& path, std::vector<std::tuple<std::string, std::string, Location>>& out,
                           Diagnostics& diags) {
  for (const auto& kv : n) {
    std::string key = kv.first.Scalar();
    const std::string kpath = path + "." + key;
    if (!key.empty() && key[0] == '-') key = key.substr(1);
    const YAML::Node v = kv.second;
    if (v.IsMap()) {
      collect_petsc_options(doc, v, prefix + key + "_", kpath, out, diags);
    } else if (v.IsSequence()) {
      diags.push_back({doc.locate(v, kpath), kpath, "a PETSc option takes one value, got a list",
                       "write several values as one string, e.g. 'ksp_monitor_short: \"\"' or 'a,b'"});
    } else if (v.IsNull()) {
      // PETSc reads "-ksp_rtol" without its value as not given at all: a null would be ignored.
      diags.push_back({doc.locate(kv.first, kpath), kpath,
                       "a PETSc option with no value (YAML null): PETSc ignores an option that takes a value when "
                       "the value is missing",
                       "give the value (e.g. 'ksp_rtol: 1e-8'), or \"\" for an option that takes none "
                       "('ksp_monitor_short: \"\"')"});
    } else {
      std::string value = v.Scalar();
      // A viewer given a file (ascii:/path, binary:name) in a case would write outside the
      // output folder: a case file may come from anyone, the command line is trusted.
      const std::string name = prefix + key;
      const auto viewer = options::viewer_value(name, value);
      if (viewer && !viewer->file.empty()) {
        diags.push_back({doc.locate(v, kpath), kpath,
                         fmt::format("a viewer writing to the file '{}': a case's PETSc options may not write files "
                                     "(they would land outside the output folder)",
                                     viewer->file),
                         fmt::format("view to the screen ('{}' without the file), or give -{} {} on the command "
                                     "line after --",
                                     viewer->type, name, value)});
        continue;
      }
      out.emplace_back(name, value, doc.locate(kv.first, kpath));
    }
  }
}

// The audit trail of a run: who ran what, with which code, models and options.
json make_provenance(const ConfigDocument& doc, const json& models) {
  json p;
  p["simfuse_version"] = SIMFUSE_VERSION;
  p["started"] = utc_timestamp();
  p["host"] = host_name();
  if (!invocation().empty()) p["command_line"] = invocation();
  std::error_code ec;
  if (fs::is_regular_file(doc.origin(), ec))
    p["case_file"] = {{"path", fs::absolute(doc.origin()).lexically_normal().string()},
                      {"sha256", sha256_file(doc.origin())}};
  p["edits"] = doc.edits();  // --set / --unset, in order
  p["petsc_options_command_line"] = petsc_command_line();
  json plugins = json::array();
  for (const auto& pl : loaded_plugins())
    plugins.push_back({{"name", pl.name}, {"path", pl.path}, {"sha256", pl.sha256}, {"loaded_by", pl.origin}});
  p["plugins"] = plugins;
  p["models"] = models;
  return p;
}

volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_stop_signal(int sig) {
  g_stop_signal = sig;
}

}  // namespace

// The signals that stop a run cleanly (a checkpoint, summary.json "interrupted", exit 4):
// what batch schedulers send before a kill (SIGTERM, SIGUSR1), Ctrl-C (SIGINT) and a closed
// terminal (SIGHUP, which PETSc's own handler turned into an MPI_Abort).
constexpr int kStopSignals[] = {SIGTERM, SIGUSR1, SIGINT, SIGHUP};

struct StopSignals::Saved {
  struct sigaction old[std::size(kStopSignals)]{};
};

StopSignals::StopSignals(bool on) : on_(on), saved_(std::make_unique<Saved>()) {
  if (!on_) return;
  g_stop_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < std::size(kStopSignals); ++i) sigaction(kStopSignals[i], &sa, &saved_->old[i]);
}

StopSignals::~StopSignals() {
  if (!on_) return;
  // Once stopping, a second signal (a scheduler's repeat, an impatient Ctrl-C) must not
  // kill the process half-way through its clean exit: from now on they are ignored, in
  // every thread (MPI's progress threads may be the ones a signal is delivered to).
  if (g_stop_signal != 0) {
    for (int s : kStopSignals) std::signal(s, SIG_IGN);
    return;
  }
  for (size_t i = 0; i < std::size(kStopSignals); ++i) sigaction(kStopSignals[i], &saved_->old[i], nullptr);
}

int StopSignals::received() {
  return static_cast<int>(g_stop_signal);
}

Simulation::Simulation(MPI_Comm comm, const ConfigDocument& case_doc, RunOptions opt)
    : impl_(std::make_unique<Impl>()) {
  impl_->comm = comm;
  impl_->opt = std::move(opt);
  const double setup_start = wall_time();
  // Our own copy: the validated parameters (and extensions validating their sections
  // later, e.g. capture:) refer to the document for file positions.
  impl_->own_doc = std::make_unique<ConfigDocument>(case_doc);
  const ConfigDocument& doc = *impl_->own_doc;
  load_case_plugins(doc);  // they may add the solver or policies the case names
  impl_->params = case_schema().validate_or_throw(doc, doc.root(), "");
  set_up_name(doc);
  Diagnostics diags;  // the sections below report together
  set_up_parameters(doc, diags);
  set_up_time(diags);
  set_up_petsc_options(doc, diags);
  set_up_solver();
  set_up_policies(doc);
  set_up_output();
  set_up_checkpoints(doc);
  set_up_case_sections();
  // Every PETSc object has read its options now: a name nobody read is a typo.
  if (!impl_->opt.allow_unused_petsc_options) options::check_all_used();
  impl_->clock.t = impl_->clock.t0;
  impl_->clock.setup_seconds = wall_time() - setup_start;
}

// The case's name: it names the output files.
void Simulation::set_up_name(const ConfigDocument& doc) {
  impl_->case_file = doc.origin();
  impl_->name = impl_->params.is_set("name") ? impl_->params.get<std::string>("name")
                                             : fs::path(impl_->case_file).stem().string();
  if (impl_->name.empty() || impl_->name == "<string>") impl_->name = "case";
  // The name names the output files (<name>_<step>.vti, <name>.pvd): a plain file name,
  // never a path that would put them outside the output folder.
  if (impl_->params.is_set("name"))
    if (const std::string why = plain_name_problem(impl_->name); !why.empty())
      impl_->params.fail("name",
                         fmt::format("the case name names the output files, and {}{}", why,
                                     why.find("characters long") != std::string::npos
                                         ? std::string()
                                         : ": they would not stay inside the output folder"),
                         "use a plain name (letters, digits, '_', '-', '.'; at most 100 characters); choose the "
                         "folder with -o");
}

// parameters: named constants for expressions.
void Simulation::set_up_parameters(const ConfigDocument& doc, Diagnostics& diags) {
  if (impl_->params.is_set("parameters")) {
    const YAML::Node& pn = impl_->params.node("parameters");
    for (const auto& kv : pn) {
      const std::string k = kv.first.Scalar();
      const std::string path = "parameters." + k;
      double v;
      if (!valid_identifier(k) || k == "x" || k == "y" || k == "z" || k == "t" || k == "pi" || k == "e") {
        diags.push_back({doc.locate(kv.first, path), path, fmt::format("'{}' cannot be a parameter name", k),
                         "use a name of letters, digits and _ other than x, y, z, t, pi, e"});
      } else if (!kv.second.IsScalar() || !YAML::convert<double>::decode(kv.second, v)) {
        diags.push_back({doc.locate(kv.second, path), path, "expected a real number",
                         "parameters are named numbers, e.g. 'k: 2.5'"});
      } else {
        impl_->constants[k] = v;
      }
    }
  }
}

// time: dt, t0 and the number of steps.
void Simulation::set_up_time(Diagnostics& diags) {
  const Params& tp = impl_->params.sub("time");
  impl_->clock.dt = tp.get<double>("dt");
  impl_->clock.t0 = tp.get<double>("t0");
  if (tp.has("steps")) {
    impl_->clock.steps = tp.get<int>("steps");
  } else {
    const double span = tp.get<double>("t_end") - impl_->clock.t0;
    const double n = span / impl_->clock.dt;
    if (!(span > 0))
      diags.push_back(tp.diag("t_end", fmt::format("t_end = {:g} must be greater than t0 = {:g}",
                                                   tp.get<double>("t_end"), impl_->clock.t0)));
    else if (std::abs(n - std::round(n)) > 1e-9 * std::max(1.0, n))
      diags.push_back(tp.diag(
          "t_end",
          fmt::format("t_end - t0 = {:g} is not a multiple of dt = {:g} ({:g} steps)", span, impl_->clock.dt, n),
          fmt::format("use dt = {:g} ({} steps) or change t_end", span / std::ceil(n),
                      static_cast<long>(std::ceil(n)))));
    else
      impl_->clock.steps = static_cast<long>(std::round(n));
  }
  // t0 so large that t0 + dt rounds to t0 (or far from it): time would not advance.
  if (std::isfinite(impl_->clock.t0) &&
      std::abs((impl_->clock.t0 + impl_->clock.dt) - impl_->clock.t0 - impl_->clock.dt) > 1e-6 * impl_->clock.dt)
    diags.push_back(tp.diag("dt",
                            fmt::format("dt = {:g} is below the precision of t0 = {:g}: t0 + dt is {:.17g}, time "
                                        "would not advance by dt",
                                        impl_->clock.dt, impl_->clock.t0, impl_->clock.t0 + impl_->clock.dt),
                            "start the clock nearer 0 (t0), or use a larger dt"));
}

// PETSc options from the case (the command line wins); throws what the set-up so far found.
void Simulation::set_up_petsc_options(const ConfigDocument& doc, Diagnostics& diags) {
  std::vector<std::tuple<std::string, std::string, Location>> popts;
  if (impl_->params.is_set("petsc_options"))
    collect_petsc_options(doc, impl_->params.node("petsc_options"), "", "petsc_options", popts, diags);
  if (!diags.empty()) throw UserError(std::move(diags));
  for (const auto& [name, value, loc] : popts) {
    options::set_from_case(name, value, loc.str());
    impl_->petsc_case_options += fmt::format("-{} {} ", name, value);
  }
}

// grid, solver, coupler.
void Simulation::set_up_solver() {
  impl_->grid = std::make_unique<Grid>(
      impl_->comm, GridSpec::from(impl_->params.sub("grid"), min_grid_points(impl_->params.type_of("solver"))));
  const Params& sp = impl_->params.sub("solver");
  const SolverContext ctx{*impl_->grid, sp, impl_->constants, impl_->clock.dt, impl_->clock.t0};
  impl_->solver = solver_registry().create(impl_->params.type_of("solver"), ctx);
  impl_->coupler = std::make_unique<Coupler>(*impl_->solver);
}

// coupling: one optional policy block per sub-step of the solver's plan.
void Simulation::set_up_policies(const ConfigDocument& doc) {
  {
    Schema cs("coupling", "policies of " + impl_->params.type_of("solver") + " sub-steps");
    for (const auto& name : impl_->coupler->substeps())
      cs.add_block(name, "policy", "policy of sub-step '" + name + "'").def("classical");
    const Params cp = cs.validate_or_throw(
        doc, impl_->params.is_set("coupling") ? impl_->params.node("coupling") : YAML::Node(), "coupling");
    for (const auto& name : impl_->coupler->substeps()) {
      if (!cp.is_set(name)) continue;
      if (const std::string why = impl_->coupler->substep(name).classical_only();
          !why.empty() && cp.type_of(name) != "classical")
        cp.fail(name, fmt::format("sub-step '{}' runs classically only here: {}", name, why),
                fmt::format("remove coupling.{}, or change what the reason names", name));
      const PolicyContext pctx{cp.sub(name), impl_->coupler->substep(name), impl_->case_file, impl_->comm,
                               impl_->solver->model_context()};
      auto policy = policy_registry().create(cp.type_of(name), pctx);
      if (const auto req = impl_->coupler->substep(name).required_inputs();
          !req.empty() && !policy->takes_required_inputs())
        cp.fail(name,
                fmt::format("policy '{}' cannot drive sub-step '{}' here: its result also depends on field(s) [{}] "
                            "(e.g. forced chemistry: the state the transport leaves), which this policy does not take "
                            "into account",
                            cp.type_of(name), name, join(req)),
                "use classical, balanced, or guarded/surrogate with a model whose card reads those fields (a forced "
                "model, e.g. cases/models/h2_forced.card.yaml); or, for a model of the chemistry alone, "
                "solver.params.reacting.splitting: forced_split");
      impl_->coupler->set_policy(name, std::move(policy), impl_->clock.dt);
    }
  }
}

// output: validated now (also for a dry run), nothing written before begin().
void Simulation::set_up_output() {
  const Params& op = impl_->params.sub("output");
  if (op.is_set("dir") && op.get<std::string>("dir").empty())
    op.fail("dir", "the output folder is empty", "give a folder, e.g. dir: out/my_case, or leave the key out");
  impl_->out_dir = !impl_->opt.output_dir.empty() ? impl_->opt.output_dir
                   : op.is_set("dir")             ? op.get<std::string>("dir")
                                                  : (fs::path("out") / impl_->name).string();
  const RunView view{impl_->comm,      impl_->name,
                     impl_->case_file, impl_->params.type_of("solver"),
                     impl_->opt.force, *impl_->grid,
                     *impl_->solver,   *impl_->coupler,
                     impl_->clock,     impl_->petsc_case_options,
                     impl_->provenance};
  impl_->output = std::make_unique<RunOutput>(view, op, impl_->out_dir);
}

// The models' files per sub-step, as their policies report them.
struct ModelFiles {
  std::string card, weights, support;
};
std::map<std::string, ModelFiles> model_files(Coupler& coupler) {
  std::map<std::string, ModelFiles> out;
  for (const auto& sub : coupler.substeps()) {
    ModelFiles m;
    for (const auto& f : coupler.policy(sub).files_read()) {
      if (f.role == "card") m.card = f.path;
      if (f.role == "weights") m.weights = f.path;
      if (f.role == "support") m.support = f.path;
    }
    if (!m.weights.empty()) out[sub] = m;
  }
  return out;
}

// checkpoints: what a resumed run must agree with (case values, models), and where they go.
void Simulation::set_up_checkpoints(const ConfigDocument& doc) {
  const Params& ck = impl_->params.sub("checkpoint");
  const bool enabled = ck.get<bool>("enabled") && impl_->opt.write_output && !impl_->opt.dry_run;
  if (impl_->opt.resume && impl_->opt.resume_if_any && !enabled) {
    spdlog::info("--resume auto: this case writes no checkpoints; starting afresh");
    impl_->opt.resume = false;
  }
  if (impl_->opt.resume && !enabled)
    impl_->params.fail("checkpoint", "--resume needs checkpoints, and this case turns them off",
                       "remove 'checkpoint: {enabled: false}'");
  const auto files = model_files(*impl_->coupler);
  json models = json::object();
  std::map<std::string, std::string> weights;
  for (const auto& [sub, f] : files) {
    weights[sub] = f.weights;
    json m = json::object();
    if (!f.card.empty()) {
      m["card"] = f.card;
      m["card_sha256"] = sha256_file(f.card);
    }
    m["weights"] = f.weights;
    m["weights_sha256"] = sha256_file(f.weights);
    if (!f.support.empty()) {  // what the guard judged "near the data" by
      m["support"] = f.support;
      m["support_sha256"] = sha256_file(f.support);
    }
    models[sub] = m;
  }
  impl_->provenance = make_provenance(doc, models);
  if (!enabled) return;
  impl_->checkpoints = std::make_unique<RunCheckpoints>(
      ck, impl_->out_dir, impl_->comm,
      RunCheckpoints::Parts{*impl_->solver, *impl_->coupler, *impl_->output, impl_->clock, impl_->restarts});
  impl_->checkpoints->set_fingerprint(doc.root(), weights);
  if (impl_->opt.resume && impl_->opt.resume_if_any &&
      !impl_->checkpoints->find(impl_->opt.resume_max_step)) {  // `--resume auto`: afresh if nothing to continue
    spdlog::info("--resume auto: no valid checkpoint in '{}'; starting afresh", impl_->checkpoints->dir());
    impl_->opt.resume = false;
  }
}

// The registered case sections the case uses (capture: is served by the AI library).
void Simulation::set_up_case_sections() {
  std::vector<std::string> keys;
  for (const auto& [key, section] : case_sections())
    if (impl_->params.is_set(key)) keys.push_back(key);
  for (const auto& key : keys) {
    if (!case_sections().at(key).handler) load_lazy_components();
    const CaseSectionHandler& handler = case_sections().at(key).handler;
    if (!handler)
      impl_->params.fail(key, fmt::format("'{}:' needs the AI library, which this program has not registered", key),
                         "link simfuse::ai and call simfuse::ai::register_builtins() before building the Simulation "
                         "(the simfuse command does)");
    impl_->attachments[key] = handler(*this);
  }
}

Simulation::~Simulation() = default;

bool Simulation::done() const {
  return impl_->clock.step >= impl_->clock.steps || impl_->clock.steady || !impl_->solver->stop_event().empty();
}
bool Simulation::reached_steady_state() const {
  return impl_->clock.steady;
}
const Params& Simulation::params() const {
  return impl_->params;
}
const std::string& Simulation::case_file() const {
  return impl_->case_file;
}
const RunOptions& Simulation::options() const {
  return impl_->opt;
}
const Grid& Simulation::grid() const {
  return *impl_->grid;
}
Solver& Simulation::solver() {
  return *impl_->solver;
}
Coupler& Simulation::coupler() {
  return *impl_->coupler;
}
double Simulation::time() const {
  return impl_->clock.t;
}
long Simulation::steps_done() const {
  return impl_->clock.step;
}
long Simulation::steps_total() const {
  return impl_->clock.steps;
}
double Simulation::dt() const {
  return impl_->clock.dt;
}
const std::string& Simulation::name() const {
  return impl_->name;
}
const std::string& Simulation::output_dir() const {
  return impl_->out_dir;
}
MPI_Comm Simulation::comm() const {
  return impl_->comm;
}
double Simulation::t0() const {
  return impl_->clock.t0;
}
double Simulation::setup_seconds() const {
  return impl_->clock.setup_seconds;
}
double Simulation::run_seconds() const {
  return impl_->clock.run_seconds;
}

void Simulation::step() {
  impl_->coupler->advance(impl_->clock.step + 1, impl_->clock.t, impl_->clock.dt);
  ++impl_->clock.step;
  impl_->clock.t = impl_->clock.t0 + static_cast<double>(impl_->clock.step) * impl_->clock.dt;
  impl_->solver->end_of_step(impl_->clock.t);
  impl_->clock.steady = impl_->solver->steady();
  fault_point("step");         // the step is done, its output is not
  if (fault_due("usererror"))  // an error found on some ranks only (with @rank)
    throw UserError(fmt::format("injected error at step {} (SIMFUSE_FAULT)", impl_->clock.step),
                    "none: this is a test");
  if (fault_due("blowup")) {  // a solution gone to NaN, as after a blow-up
    SIMFUSE_PETSC(VecSet(impl_->solver->state().get(impl_->solver->state().names().front()).vec(), NAN));
  }
}

json Simulation::errors() {
  return exact_errors(*impl_->solver, *impl_->grid, impl_->clock.t);
}

void Simulation::begin() {
  impl_->clock.run_start = wall_time();
  if (impl_->checkpoints) impl_->checkpoints->started(impl_->clock.run_start);
  if (!impl_->opt.write_output) return;
  if (impl_->opt.resume) {
    restore();
    return;
  }
  impl_->output->begin();
  // An earlier run's checkpoints in this folder are stale now (rank 0 prepared the folder).
  if (impl_->checkpoints) impl_->checkpoints->remove_earlier();
  MPI_Barrier(impl_->comm);
}

void Simulation::advance() {
  step();
  if (impl_->opt.write_output) impl_->output->after_step();
  if (!impl_->checkpoints || !impl_->opt.auto_checkpoint) return;
  const int due = checkpoint_due();
  if (due) checkpoint();
  if (due == 2) impl_->interrupted = true;
}

int Simulation::checkpoint_due() {
  return impl_->checkpoints ? impl_->checkpoints->due(g_stop_signal != 0) : 0;
}

void Simulation::checkpoint() {
  SIMFUSE_REQUIRE(impl_->checkpoints, "Simulation::checkpoint: checkpoints are off");
  impl_->checkpoints->write(impl_->name, impl_->case_file);
}

void Simulation::restore() {
  impl_->checkpoints->restore(impl_->name, impl_->opt.resume_max_step);
  impl_->resumed_from = impl_->clock.step;
}

void Simulation::resume_at_most(long step) {
  impl_->opt.resume_max_step = step;
  if (impl_->checkpoints) impl_->checkpoints->forget_found();  // found without this bound: look again
}

bool Simulation::interrupted() const {
  return impl_->interrupted;
}

bool Simulation::resuming() const {
  return impl_->opt.resume;
}

long Simulation::resumed_from() const {
  return impl_->resumed_from;
}

void Simulation::add_checkpointable(const std::string& key, Checkpointable* c) {
  if (impl_->checkpoints) impl_->checkpoints->add_participant(key, c);
}

const nlohmann::ordered_json& Simulation::provenance() const {
  return impl_->provenance;
}

const std::string& Simulation::petsc_case_options() const {
  return impl_->petsc_case_options;
}

std::shared_ptr<void> Simulation::attachment(const std::string& key) const {
  auto it = impl_->attachments.find(key);
  return it == impl_->attachments.end() ? nullptr : it->second;
}

const nlohmann::ordered_json& Simulation::summary() const {
  return impl_->output->summary();
}

void Simulation::on_end(const std::string& key, std::function<json()> hook) {
  impl_->end_hooks.emplace_back(key, std::move(hook));
}

void Simulation::end(const std::string& status, const std::string& message) {
  impl_->clock.run_seconds = wall_time() - impl_->clock.run_start;
  const bool write = impl_->opt.write_output && fs::exists(impl_->out_dir);
  std::vector<std::string> results;
  if (status == "completed") {
    for (const auto& sub : impl_->coupler->substeps())
      impl_->coupler->policy(sub).finish(impl_->opt.write_output ? impl_->out_dir : std::string());
    for (auto& [key, hook] : impl_->end_hooks) impl_->output->add(key, hook());
    if (write) results = impl_->solver->write_results(impl_->out_dir);
  }
  if (!impl_->restarts.empty()) impl_->output->add("restarts", impl_->restarts);
  if (impl_->checkpoints && impl_->checkpoints->last_step() >= 0)
    impl_->output->add("checkpoint", {{"dir", impl_->checkpoints->dir()},
                                      {"last_step", impl_->checkpoints->last_step()},
                                      {"resume", "simfuse run <case> -o <dir> --resume"}});
  if (write) impl_->output->write_summary(status, message, results);
}

void Simulation::add_summary(const std::string& key, nlohmann::ordered_json extra) {
  impl_->output->add(key, std::move(extra));
}

void Simulation::run(const ProgressFn& progress) {
  if (impl_->opt.dry_run) return;
  const StopSignals signals(impl_->checkpoints != nullptr);
  // A refusal writes nothing: a refused --resume, or a folder that holds another case's
  // results, leaves every file as it was (no summary "failed" either).
  if (impl_->opt.resume) begin();
  if (!impl_->opt.resume && impl_->opt.write_output) impl_->output->claim_folder();
  try {
    if (!impl_->opt.resume) begin();
    while (!done() && !impl_->interrupted) {
      advance();
      if (progress)
        progress(impl_->clock.step, impl_->clock.steps, impl_->clock.t, wall_time() - impl_->clock.run_start);
    }
    if (impl_->interrupted) {
      end("interrupted", fmt::format("stopped by signal {} after step {}; a checkpoint was written: continue with "
                                     "--resume",
                                     static_cast<int>(g_stop_signal), impl_->clock.step));
      return;
    }
    end();
  } catch (const std::exception& e) {
    // The summary is written collectively: only if every rank failed here (an error found
    // on some ranks only leaves the others elsewhere; the caller then ends them all).
    if (all_ranks_arrive(impl_->comm, 10.0)) {
      try {
        end("failed", e.what());
      } catch (...) {
      }
    }
    throw;
  }
}

}  // namespace simfuse
