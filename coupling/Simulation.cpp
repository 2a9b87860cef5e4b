#include "coupling/Simulation.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "coupling/RunOutput.hpp"
#include "postproc/Norms.hpp"
#include "solvers/Builtins.hpp"
#include "solvers/common/Boundary.hpp"
#include "solvers/reaction/Kinetics.hpp"

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
    return true;
  }();
  (void)done;
}

namespace {
std::map<std::string, CaseSectionHandler>& case_sections() {
  static std::map<std::string, CaseSectionHandler> m;
  return m;
}
}  // namespace

void register_case_section(const std::string& key, CaseSectionHandler handler) {
  case_sections()[key] = std::move(handler);
}

const Schema& case_schema() {
  static const Schema schema = [] {
    register_builtins();
    Schema s("case", "a simfuse case file");
    s.add_string("name", "case name, used for output files (default: the file name without .yaml)");
    s.add_string("description", "one line on what the case shows").def("\"\"");
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
    s.add_map("coupling", "policy per sub-step, e.g. {diffuse: classical} (default: classical)");
    s.add_map("capture",
              "record (input, output) pairs of sub-steps while the run proceeds, e.g. {react: {every: 5, points: "
              "4000}}; see simfuse config doc capture");
    s.add_map("petsc_options",
              "PETSc options: {diffuse_ksp_type: cg} or grouped by prefix {diffuse: {ksp_rtol: 1e-8}}; the "
              "command line wins");
    return s;
  }();
  return schema;
}

struct Simulation::Impl {
  std::unique_ptr<ConfigDocument> own_doc;
  std::map<std::string, std::shared_ptr<void>> attachments;  // what case sections attached
  std::unique_ptr<RunOutput> output;
  std::string petsc_case_options;
  std::vector<std::pair<std::string, std::function<json()>>> end_hooks;
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
    } else {
      std::string value = v.IsNull() ? std::string() : v.Scalar();
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

}  // namespace

Simulation::Simulation(MPI_Comm comm, const ConfigDocument& case_doc, RunOptions opt)
    : comm_(comm), opt_(std::move(opt)), impl_(std::make_unique<Impl>()) {
  const double setup_start = wall_time();
  // Our own copy: the validated parameters (and extensions validating their sections
  // later, e.g. capture:) refer to the document for file positions.
  impl_->own_doc = std::make_unique<ConfigDocument>(case_doc);
  const ConfigDocument& doc = *impl_->own_doc;
  params_ = case_schema().validate_or_throw(doc, doc.root(), "");
  case_file_ = doc.origin();
  name_ = params_.is_set("name") ? params_.get<std::string>("name") : fs::path(case_file_).stem().string();
  if (name_.empty() || name_ == "<string>") name_ = "case";
  if (params_.is_set("name") && name_.size() > 100)  // it names files: most file systems stop at 255 bytes
    params_.fail("name",
                 fmt::format("the name is {} characters long; output file names are made from it", name_.size()),
                 "use a name of at most 100 characters");

  // parameters: named constants for expressions.
  Diagnostics diags;
  if (params_.is_set("parameters")) {
    const YAML::Node& pn = params_.node("parameters");
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
        constants_[k] = v;
      }
    }
  }

  // time
  const Params& tp = params_.sub("time");
  dt_ = tp.get<double>("dt");
  t0_ = tp.get<double>("t0");
  if (tp.has("steps")) {
    steps_ = tp.get<int>("steps");
  } else {
    const double span = tp.get<double>("t_end") - t0_;
    const double n = span / dt_;
    if (!(span > 0))
      diags.push_back(
          tp.diag("t_end", fmt::format("t_end = {:g} must be greater than t0 = {:g}", tp.get<double>("t_end"), t0_)));
    else if (std::abs(n - std::round(n)) > 1e-9 * std::max(1.0, n))
      diags.push_back(
          tp.diag("t_end", fmt::format("t_end - t0 = {:g} is not a multiple of dt = {:g} ({:g} steps)", span, dt_, n),
                  fmt::format("use dt = {:g} ({} steps) or change t_end", span / std::ceil(n),
                              static_cast<long>(std::ceil(n)))));
    else
      steps_ = static_cast<long>(std::round(n));
  }
  // t0 so large that t0 + dt rounds to t0 (or far from it): time would not advance.
  if (std::isfinite(t0_) && std::abs((t0_ + dt_) - t0_ - dt_) > 1e-6 * dt_)
    diags.push_back(tp.diag("dt",
                            fmt::format("dt = {:g} is below the precision of t0 = {:g}: t0 + dt is {:.17g}, time "
                                        "would not advance by dt",
                                        dt_, t0_, t0_ + dt_),
                            "start the clock nearer 0 (t0), or use a larger dt"));

  // PETSc options from the case (the command line wins).
  std::vector<std::tuple<std::string, std::string, Location>> popts;
  if (params_.is_set("petsc_options"))
    collect_petsc_options(doc, params_.node("petsc_options"), "", "petsc_options", popts, diags);
  if (!diags.empty()) throw UserError(std::move(diags));
  for (const auto& [name, value, loc] : popts) {
    options::set_from_case(name, value, loc.str());
    impl_->petsc_case_options += fmt::format("-{} {} ", name, value);
  }

  // grid, solver, coupler
  grid_ = std::make_unique<Grid>(comm, GridSpec::from(params_.sub("grid")));
  const Params& sp = params_.sub("solver");
  const SolverContext ctx{*grid_, sp, constants_, dt_, t0_};
  solver_ = solver_registry().create(params_.type_of("solver"), ctx);
  coupler_ = std::make_unique<Coupler>(*solver_);

  // coupling: one optional policy block per sub-step of the solver's plan.
  {
    Schema cs("coupling", "policies of " + params_.type_of("solver") + " sub-steps");
    for (const auto& name : coupler_->substeps())
      cs.add_block(name, "policy", "policy of sub-step '" + name + "'").def("classical");
    const Params cp =
        cs.validate_or_throw(doc, params_.is_set("coupling") ? params_.node("coupling") : YAML::Node(), "coupling");
    for (const auto& name : coupler_->substeps()) {
      if (!cp.is_set(name)) continue;
      const PolicyContext pctx{cp.sub(name), coupler_->substep(name), case_file_, comm, solver_->model_context()};
      coupler_->set_policy(name, policy_registry().create(cp.type_of(name), pctx), dt_);
    }
  }

  // output: validated now (also for a dry run), nothing written before begin().
  const Params& op = params_.sub("output");
  out_dir_ = !opt_.output_dir.empty() ? opt_.output_dir
             : op.is_set("dir")       ? op.get<std::string>("dir")
                                      : (fs::path("out") / name_).string();
  impl_->output = std::make_unique<RunOutput>(*this, op, out_dir_);

  // Sections handled by libraries above this one (capture: by the AI library).
  for (const char* key : {"capture"}) {
    if (!params_.is_set(key)) continue;
    auto it = case_sections().find(key);
    if (it == case_sections().end())
      params_.fail(key, fmt::format("'{}:' needs the AI library, which this program has not registered", key),
                   "link simfuse::ai and call simfuse::ai::register_builtins() before building the Simulation "
                   "(the simfuse command does)");
    impl_->attachments[key] = it->second(*this);
  }

  // Every PETSc object has read its options now: a name nobody read is a typo.
  if (!opt_.allow_unused_petsc_options) options::check_all_used();
  t_ = t0_;
  setup_seconds_ = wall_time() - setup_start;
}

Simulation::~Simulation() = default;

Simulation::CaseOptionsGuard::~CaseOptionsGuard() {
  options::clear_case_options();
}

void Simulation::step() {
  coupler_->advance(step_ + 1, t_, dt_);
  ++step_;
  t_ = t0_ + static_cast<double>(step_) * dt_;
  solver_->end_of_step(t_);
  steady_ = solver_->steady();
}

json Simulation::errors() {
  json out = json::object();
  for (const auto& name : solver_->state().names()) {
    const Field& f = solver_->state().get(name);
    PetscHandle<Vec> exact;
    SIMFUSE_PETSC(VecDuplicate(f.vec(), exact.out()));
    if (!solver_->exact_solution(name, t_, exact)) continue;
    for (int c = 0; c < f.ncomp(); ++c) {
      const ErrorNorms n = error_norms(*grid_, f.vec(), exact, f.ncomp(), c);
      // Components are keyed <field>_<component>: two vector fields may share component names.
      out[f.ncomp() == 1 ? name : name + "_" + f.components()[c]] = {
          {"l2", n.l2}, {"linf", n.linf}, {"rel_l2", n.rel_l2()}};
    }
  }
  return out;
}

void Simulation::begin() {
  run_start_ = wall_time();
  if (opt_.write_output) impl_->output->begin();
}

void Simulation::advance() {
  step();
  if (opt_.write_output) impl_->output->after_step();
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
  run_seconds_ = wall_time() - run_start_;
  const bool write = opt_.write_output && fs::exists(out_dir_);
  std::vector<std::string> results;
  if (status == "completed") {
    for (auto& [key, hook] : impl_->end_hooks) impl_->output->add(key, hook());
    if (write) results = solver_->write_results(out_dir_);
  }
  if (write) impl_->output->write_summary(status, message, results);
}

void Simulation::add_summary(const std::string& key, nlohmann::ordered_json extra) {
  impl_->output->add(key, std::move(extra));
}

void Simulation::run(const ProgressFn& progress) {
  if (opt_.dry_run) return;
  try {
    begin();
    while (!done()) {
      advance();
      if (progress) progress(step_, steps_, t_, wall_time() - run_start_);
    }
    end();
  } catch (const std::exception& e) {
    try {
      end("failed", e.what());
    } catch (...) {
    }
    throw;
  }
}

}  // namespace simfuse
