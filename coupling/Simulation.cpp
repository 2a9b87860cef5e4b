#include "coupling/Simulation.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/Version.hpp"
#include "postproc/Files.hpp"
#include "postproc/Norms.hpp"
#include "postproc/PngWriter.hpp"
#include "postproc/VtkWriter.hpp"
#include "solvers/Builtins.hpp"
#include "solvers/common/Boundary.hpp"

namespace simfuse {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

void register_builtins() {
  static const bool done = [] {
    function_registry();
    register_bc_family();
    register_builtin_solvers();
    policy_registry();
    return true;
  }();
  (void)done;
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
    Schema& o = s.add_section("output", "what is written and where");
    o.add_string("dir", "output folder (default: out/<name>; --output overrides)");
    o.add_int("every", "write fields every N steps (0: only the first and the last)").def(0).min(0);
    o.add("fields", ParamType::StringList, "fields to write (default: the solver's output fields)");
    o.add_bool("vtk", "write VTK (.pvd series of .vti/.pvti)").def(true);
    Schema& png = o.add_section("png", "PNG snapshots of a 2D field or of a slice of a 3D field");
    png.add_bool("enabled", "write PNG snapshots (2D/3D grids)").def(true);
    png.add_string("field", "field to draw (default: the first output field)");
    png.add_string("component", "component to draw, for fields with several (default: the first)");
    png.add_int("every", "a snapshot every N steps (0: only the last step)").def(0).min(0);
    png.add_string("colormap", "colour map").def("viridis").choices(colormaps());
    png.add("range", ParamType::RealList, "fixed colour range [min, max] (default: the data range)").size(2, 2);
    png.add_string("slice_axis", "3D grids: the axis normal to the slice").def("z").choices({"x", "y", "z"});
    png.add_int("slice_index", "3D grids: index of the slice along slice_axis (default: the middle)").min(0);
    png.add_int("pixels", "minimum image size in pixels (nearest-neighbour upscaling)").def(512).range(16, 8192);
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
  std::vector<std::string> out_fields;
  bool vtk = true;
  bool png = false;
  std::string png_field;
  PngOptions png_opt;
  int png_every = 0;
  std::unique_ptr<VtkSeriesWriter> vtk_writer;
  json png_files = json::array();
  json error_history = json::array();
  std::ofstream csv;
  std::string petsc_case_options;
  json extra = json::object();
  std::vector<std::pair<std::string, std::function<json()>>> end_hooks;
  std::vector<std::string> result_files;  // Solver::write_results
  std::vector<SubStepStats> prev_stats;   // totals at the previous steps.csv row
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
      out.emplace_back(prefix + key, value, doc.locate(kv.first, kpath));
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
      const PolicyContext pctx{cp.sub(name), coupler_->substep(name), fs::path(case_file_).parent_path().string(),
                               comm};
      coupler_->set_policy(name, policy_registry().create(cp.type_of(name), pctx), dt_);
    }
  }

  // output
  const Params& op = params_.sub("output");
  every_ = op.get<int>("every");
  out_dir_ = !opt_.output_dir.empty() ? opt_.output_dir
             : op.is_set("dir")       ? op.get<std::string>("dir")
                                      : (fs::path("out") / name_).string();
  impl_->vtk = op.get<bool>("vtk");
  impl_->out_fields = op.is_set("fields") ? op.get<std::vector<std::string>>("fields") : solver_->output_fields();
  for (const auto& f : impl_->out_fields)
    if (!solver_->state().has(f)) {
      auto near = nearest(f, solver_->state().names());
      op.fail("fields", fmt::format("the solver has no field '{}'", f),
              (near ? fmt::format("did you mean '{}'? ", *near) : std::string()) +
                  "Fields: " + join(solver_->state().names()));
    }
  const Params& pp = op.sub("png");
  impl_->png = pp.get<bool>("enabled") && grid_->dim() >= 2;
  if (pp.get<bool>("enabled") && pp.is_set("enabled") && grid_->dim() < 2)
    pp.fail("enabled", "PNG snapshots need a 2D or 3D grid", "set output.png.enabled: false for 1D cases");
  if (impl_->png) {
    impl_->png_field = pp.is_set("field") ? pp.get<std::string>("field") : impl_->out_fields.front();
    if (!solver_->state().has(impl_->png_field)) {
      auto near = nearest(impl_->png_field, solver_->state().names());
      pp.fail("field", fmt::format("the solver has no field '{}'", impl_->png_field),
              (near ? fmt::format("did you mean '{}'? ", *near) : std::string()) +
                  "Fields: " + join(solver_->state().names()));
    }
    const Field& f = solver_->state().get(impl_->png_field);
    if (pp.is_set("component")) {
      const auto& comps = f.components();
      const std::string c = pp.get<std::string>("component");
      auto it = std::find(comps.begin(), comps.end(), c);
      if (it == comps.end()) {
        auto near = nearest(c, comps);
        pp.fail("component", fmt::format("field '{}' has no component '{}'", f.name(), c),
                (near ? fmt::format("did you mean '{}'? ", *near) : std::string()) + "Components: " + join(comps));
      }
      impl_->png_opt.component = static_cast<int>(it - comps.begin());
    }
    impl_->png_opt.colormap = pp.get<std::string>("colormap");
    if (pp.is_set("range")) {
      const auto r = pp.get<std::vector<double>>("range");
      if (!(r[0] < r[1]))
        pp.fail("range", fmt::format("[{:g}, {:g}] is empty", r[0], r[1]), "write [min, max] with min < max");
      impl_->png_opt.range = std::make_pair(r[0], r[1]);
    }
    const std::string axis = pp.get<std::string>("slice_axis");
    impl_->png_opt.slice_axis = axis == "x" ? 0 : axis == "y" ? 1 : 2;
    if (pp.is_set("slice_index")) {
      impl_->png_opt.slice_index = pp.get<int>("slice_index");
      if (grid_->dim() == 3 && impl_->png_opt.slice_index >= grid_->n(impl_->png_opt.slice_axis))
        pp.fail("slice_index", fmt::format("index {} is outside the grid (n = {} along {})", impl_->png_opt.slice_index,
                                           grid_->n(impl_->png_opt.slice_axis), axis));
    }
    impl_->png_opt.min_pixels = pp.get<int>("pixels");
    impl_->png_every = pp.get<int>("every");
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

void Simulation::write_output() {
  const double t0 = wall_time();
  std::vector<const Field*> fields;
  for (const auto& n : impl_->out_fields) fields.push_back(&solver_->state().get(n));
  const bool last = done();
  if (impl_->vtk && (last || step_ == 0 || (every_ > 0 && step_ % every_ == 0)))
    impl_->vtk_writer->write(fields, t_, step_);
  if (impl_->png && (last || (impl_->png_every > 0 && step_ % impl_->png_every == 0))) {
    const std::string file = fmt::format("{}_{:06d}.png", impl_->png_field, step_);
    const PngInfo info =
        write_png(solver_->state().get(impl_->png_field), (fs::path(out_dir_) / file).string(), impl_->png_opt);
    impl_->png_files.push_back({{"file", file},
                                {"step", step_},
                                {"t", t_},
                                {"field", impl_->png_field},
                                {"min", info.min},
                                {"max", info.max},
                                {"colormap", impl_->png_opt.colormap}});
  }
  json e = errors();
  if (!e.empty() && (last || step_ == 0 || (every_ > 0 && step_ % every_ == 0)))
    impl_->error_history.push_back({{"step", step_}, {"t", t_}, {"errors", e}});
  output_seconds_ += wall_time() - t0;
}

void Simulation::begin() {
  int rank = 0;
  MPI_Comm_rank(comm_, &rank);
  run_start_ = wall_time();
  if (!opt_.write_output) return;
  ensure_directory(out_dir_, comm_);
  impl_->vtk_writer = std::make_unique<VtkSeriesWriter>(*grid_, out_dir_, name_);
  if (rank == 0) {
    impl_->csv.open(fs::path(out_dir_) / "steps.csv", std::ios::trunc);
    impl_->csv << "step,t";
    for (const auto& s : coupler_->substeps())
      for (const char* col : {"seconds", "iterations", "inference_seconds", "check_seconds", "classical_seconds",
                              "points", "accepted", "fallback_nan", "fallback_ood", "fallback_estimate"})
        impl_->csv << "," << s << "_" << col;
    impl_->csv << "\n";
  }
  write_output();
}

void Simulation::advance() {
  step();
  if (!opt_.write_output) return;
  int rank = 0;
  MPI_Comm_rank(comm_, &rank);
  // One row per step: what each sub-step did in this step (differences of the running totals).
  const auto stats = coupler_->reduced_stats(comm_);
  if (impl_->prev_stats.size() != stats.size()) impl_->prev_stats.assign(stats.size(), SubStepStats{});
  if (rank == 0) {
    impl_->csv << step_ << "," << fmt::format("{:.17g}", t_);
    for (size_t i = 0; i < stats.size(); ++i) {
      const SubStepStats &s = stats[i], &p = impl_->prev_stats[i];
      impl_->csv << "," << fmt::format("{:.6g}", s.seconds - p.seconds) << "," << s.iterations - p.iterations << ","
                 << fmt::format("{:.6g}", s.inference_seconds - p.inference_seconds) << ","
                 << fmt::format("{:.6g}", s.check_seconds - p.check_seconds) << ","
                 << fmt::format("{:.6g}", s.classical_seconds - p.classical_seconds) << "," << s.points - p.points
                 << "," << s.accepted - p.accepted << "," << s.fallback_nan - p.fallback_nan << ","
                 << s.fallback_ood - p.fallback_ood << "," << s.fallback_estimate - p.fallback_estimate;
    }
    impl_->csv << "\n";
    impl_->csv.flush();
  }
  impl_->prev_stats = stats;
  write_output();
}

void Simulation::on_end(const std::string& key, std::function<json()> hook) {
  impl_->end_hooks.emplace_back(key, std::move(hook));
}

void Simulation::end(const std::string& status, const std::string& message) {
  run_seconds_ = wall_time() - run_start_;
  const bool write = opt_.write_output && fs::exists(out_dir_);
  if (status == "completed") {
    for (auto& [key, hook] : impl_->end_hooks) impl_->extra[key] = hook();
    if (write) impl_->result_files = solver_->write_results(out_dir_);
  }
  if (write) write_summary(status, message);
}

void Simulation::add_summary(const std::string& key, nlohmann::ordered_json extra) {
  impl_->extra[key] = std::move(extra);
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

void Simulation::write_summary(const std::string& status, const std::string& message) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm_, &rank);
  MPI_Comm_size(comm_, &size);
  json s;
  s["simfuse_version"] = SIMFUSE_VERSION;
  s["case"] = name_;
  s["case_file"] = case_file_;
  s["status"] = status;
  if (!message.empty()) s["message"] = message;
  s["ranks"] = size;
  const GridSpec& g = grid_->spec();
  json n = json::array(), lo = json::array(), hi = json::array(), per = json::array(), h = json::array();
  for (int d = 0; d < g.dim; ++d) {
    n.push_back(g.n[d]);
    lo.push_back(g.lower[d]);
    hi.push_back(g.upper[d]);
    per.push_back(static_cast<bool>(g.periodic[d]));
    h.push_back(grid_->h(d));
  }
  s["grid"] = {
      {"dim", g.dim}, {"n", n}, {"lower", lo}, {"upper", hi}, {"periodic", per}, {"h", h}, {"points", grid_->points()}};
  json solver = {{"type", params_.type_of("solver")}};
  for (const auto& [k, v] : solver_->describe()) solver[k] = v;
  s["solver"] = solver;
  s["time"] = {{"t0", t0_}, {"dt", dt_}, {"steps", steps_}, {"steps_done", step_}, {"t", t_}, {"steady", steady_}};
  json metrics = json::object();
  for (const auto& [k, v] : solver_->metrics()) metrics[k] = v;
  if (!metrics.empty()) s["metrics"] = metrics;
  s["wall_seconds"] = {{"setup", setup_seconds_}, {"run", run_seconds_}, {"output", output_seconds_}};
  json subs = json::array();
  for (const auto& st : coupler_->reduced_stats(comm_)) {
    json j = {{"name", st.name},
              {"policy", st.policy},
              {"calls", st.calls},
              {"seconds", st.seconds},
              {"classical_seconds", st.classical_seconds}};
    if (st.iterative) {
      j["iterations"] = st.iterations;
      j["iterations_per_call"] = st.calls ? static_cast<double>(st.iterations) / st.calls : 0.0;
      j["max_iterations"] = st.max_iterations;
    }
    if (st.surrogate_calls > 0) {
      j["surrogate_calls"] = st.surrogate_calls;
      j["inference_seconds"] = st.inference_seconds;
      j["check_seconds"] = st.check_seconds;
      if (const auto* chk = dynamic_cast<const Checkable*>(&coupler_->substep(st.name)))
        j["error_estimate"] = chk->estimate_description();
      if (st.points > 0) {
        j["points"] = st.points;
        j["accepted"] = st.accepted;
        j["accepted_fraction"] = static_cast<double>(st.accepted) / static_cast<double>(st.points);
        j["fallback"] = {{"nan", st.fallback_nan},
                         {"ood", st.fallback_ood},
                         {"estimate", st.fallback_estimate},
                         {"whole_substep", st.whole_fallbacks}};
      }
    }
    subs.push_back(j);
  }
  s["substeps"] = subs;
  json e = errors();
  if (!e.empty()) s["errors"] = e;
  if (!impl_->error_history.empty()) s["error_history"] = impl_->error_history;
  json outputs = {{"dir", out_dir_}, {"steps_csv", "steps.csv"}};
  if (impl_->vtk_writer) {
    outputs["pvd"] = fs::path(impl_->vtk_writer->pvd_path()).filename().string();
    outputs["vtk"] = impl_->vtk_writer->files();
  }
  outputs["png"] = impl_->png_files;
  outputs["fields"] = impl_->out_fields;
  if (!impl_->result_files.empty()) outputs["results"] = impl_->result_files;
  s["outputs"] = outputs;
  s["petsc_options_from_case"] = impl_->petsc_case_options;
  for (const auto& [k, v] : impl_->extra.items()) s[k] = v;
  summary_ = s;
  if (rank == 0) write_file_atomic((fs::path(out_dir_) / "summary.json").string(), s.dump(2) + "\n");
}

}  // namespace simfuse
