#include "simfuse/coupling/detail/RunOutput.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "simfuse/core/Files.hpp"
#include "simfuse/core/Petsc.hpp"
#include "simfuse/core/Solver.hpp"
#include "simfuse/core/Timer.hpp"
#include "simfuse/core/Version.hpp"
#include "simfuse/core/base/detail/Provenance.hpp"
#include "simfuse/coupling/Coupler.hpp"
#include "simfuse/postproc/Norms.hpp"
#include "simfuse/postproc/PngWriter.hpp"
#include "simfuse/postproc/VtkWriter.hpp"

namespace simfuse {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

struct RunOutput::Impl {
  bool vtk = true;
  struct Png {
    std::string field, stem;  // stem: the file name before _<step>.png
    PngOptions opt;
    int every = 0;
  };
  std::vector<Png> pngs;
  std::unique_ptr<VtkSeriesWriter> vtk_writer;
  json png_files = json::array();
  json error_history = json::array();
  // steps.csv, held here and written whole (to a temporary, then renamed) with every frame,
  // checkpoint and summary: a kill or a full disk never leaves a cut row under its name.
  // Rank 0's: on the other ranks csv_path stays empty and flush_csv() does nothing.
  std::string csv;
  size_t csv_written = std::string::npos;  // the size last written (npos: never)
  std::string csv_path;
  void flush_csv() {
    if (csv_path.empty() || csv.size() == csv_written) return;
    write_file_atomic(csv_path, csv);
    csv_written = csv.size();
  }
  json extra = json::object();
  std::vector<SubStepStats> prev_stats;  // totals at the previous steps.csv row
};

void RunOutput::declare(Schema& o) {
  o.add_string("dir", "output folder (default: out/<name>; --output overrides)");
  o.add_int("every", "write fields every N steps (0: only the first and the last)").def(0).min(0);
  o.add("fields", ParamType::StringList,
        "fields to write (default: the solver's output fields and the diagnostic fields)");
  o.add_bool("vtk", "write VTK (.pvd series of .vti/.pvti)").def(true);
  Schema& png =
      o.add_section_or_list("png",
                            "PNG snapshots of a 2D field or of a slice of a 3D field; a list draws several, e.g. "
                            "[{field: gas, component: T}, {field: gas, component: OH}]");
  png.add_bool("enabled", "write PNG snapshots (2D/3D grids)").def(true);
  png.add_string("field", "field to draw (default: the first output field)");
  png.add_string("component", "component to draw, for fields with several (default: the first)");
  png.add_int("every", "a snapshot every N steps (0: only the last step)").def(0).min(0);
  png.add_string("colormap", "colour map").def("viridis").choices(colormaps());
  png.add("range", ParamType::RealList, "fixed colour range [min, max] (default: the data range)").size(2, 2);
  png.add_string("slice_axis", "3D grids: the axis normal to the slice").def("z").choices({"x", "y", "z"});
  png.add_int("slice_index", "3D grids: index of the slice along slice_axis (default: the middle)").min(0);
  png.add_int("pixels", "minimum image size in pixels (nearest-neighbour upscaling)").def(512).range(16, 8192);
  png.add_bool("annotate", "a figure: colour bar with values, field and component, time and step, axis extents")
      .def(true);
}

namespace {

// A steps.csv column: a per-step counter of a category the policy has (Policy::has_counters).
bool csv_column(const StatCounter& c, const Policy& policy) {
  return c.per_step && policy.has_counters(c.show);
}

// UserError at `key` of `p` unless `name` is a field of `state`.
void require_field(const Params& p, const std::string& key, const std::string& name, const State& state) {
  if (state.has(name)) return;
  const std::vector<std::string> all = state.all_names();
  auto near = nearest(name, all);
  p.fail(key, fmt::format("the solver has no field '{}'", name),
         (near ? fmt::format("did you mean '{}'? ", *near) : std::string()) + "Fields: " + join(all));
}

}  // namespace

json exact_errors(Solver& solver, const Grid& grid, double t) {
  json out = json::object();
  for (const auto& name : solver.state().names()) {
    const Field& f = solver.state().get(name);
    PetscHandle<Vec> exact;
    SIMFUSE_PETSC(VecDuplicate(f.vec(), exact.out()));
    if (!solver.exact_solution(name, t, exact)) continue;
    for (int c = 0; c < f.ncomp(); ++c) {
      const ErrorNorms n = error_norms(grid, f.vec(), exact, f.ncomp(), c);
      // Components are keyed <field>_<component>: two vector fields may share component names.
      out[f.ncomp() == 1 ? name : name + "_" + f.components()[c]] = {
          {"l2", n.l2}, {"linf", n.linf}, {"rel_l2", n.rel_l2()}};
    }
  }
  return out;
}

RunOutput::RunOutput(RunView run, const Params& op, std::string dir)
    : run_(run), dir_(std::move(dir)), impl_(std::make_unique<Impl>()) {
  const State& state = run_.solver.state();
  const Grid& grid = run_.grid;
  every_ = op.get<int>("every");
  impl_->vtk = op.get<bool>("vtk");
  if (op.is_set("fields")) {
    fields_ = op.get<std::vector<std::string>>("fields");
    for (const auto& f : fields_) require_field(op, "fields", f, state);
  } else {
    fields_ = run_.solver.output_fields();
    for (const auto& d : state.diagnostic_names()) fields_.push_back(d);
  }
  const auto pngs = op.subs("png");
  for (size_t i = 0; i < pngs.size(); ++i) {
    const Params& pp = *pngs[i];
    if (!pp.get<bool>("enabled")) continue;
    if (grid.dim() < 2) {
      if (pp.is_set("enabled"))
        pp.fail("enabled", "PNG snapshots need a 2D or 3D grid", "set output.png.enabled: false for 1D cases");
      continue;
    }
    if (fields_.empty() && !pp.is_set("field"))
      op.fail("fields", "no field to write and none to draw", "name the fields, or set output.png.field");
    Impl::Png png;
    png.field = pp.is_set("field") ? pp.get<std::string>("field") : fields_.front();
    require_field(pp, "field", png.field, state);
    const Field& f = state.get(png.field);
    png.stem = png.field;
    if (pp.is_set("component")) {
      const auto& comps = f.components();
      const std::string c = pp.get<std::string>("component");
      auto it = std::find(comps.begin(), comps.end(), c);
      if (it == comps.end()) {
        auto near = nearest(c, comps);
        pp.fail("component", fmt::format("field '{}' has no component '{}'", f.name(), c),
                (near ? fmt::format("did you mean '{}'? ", *near) : std::string()) + "Components: " + join(comps));
      }
      png.opt.component = static_cast<int>(it - comps.begin());
      // A list of snapshots names each by its component too (T and OH of one field).
      if (pngs.size() > 1) png.stem += "_" + c;
    }
    for (const auto& other : impl_->pngs)
      if (other.stem == png.stem) png.stem += fmt::format("_{}", i);
    png.opt.colormap = pp.get<std::string>("colormap");
    if (pp.is_set("range")) {
      const auto r = pp.get<std::vector<double>>("range");
      if (!(r[0] < r[1]))
        pp.fail("range", fmt::format("[{:g}, {:g}] is empty", r[0], r[1]), "write [min, max] with min < max");
      png.opt.range = std::make_pair(r[0], r[1]);
    }
    const std::string axis = pp.get<std::string>("slice_axis");
    png.opt.slice_axis = axis == "x" ? 0 : axis == "y" ? 1 : 2;
    if (pp.is_set("slice_index")) {
      png.opt.slice_index = pp.get<int>("slice_index");
      if (grid.dim() == 3 && png.opt.slice_index >= grid.n(png.opt.slice_axis))
        pp.fail("slice_index", fmt::format("index {} is outside the grid (n = {} along {})", png.opt.slice_index,
                                           grid.n(png.opt.slice_axis), axis));
    }
    png.opt.min_pixels = pp.get<int>("pixels");
    png.opt.annotate = pp.get<bool>("annotate");
    png.every = pp.get<int>("every");
    impl_->pngs.push_back(std::move(png));
  }
}

RunOutput::~RunOutput() = default;

namespace {

// Before a run writes into `dir`: symlinks in it are removed, never followed (a planted
// link would send a .vti or steps.csv elsewhere); the files an earlier run of the same
// case wrote there (frames, PNGs, steps.csv, summary.json) are removed, so a shorter
// re-run leaves no stale frames. Files of another case (its summary.json names it) and
// anything else stay. Returns that other case's name, or "" (nothing is done then unless
// `force`).
// The case whose results `dir` holds (its summary.json names it), or "".
std::string case_in(const std::string& dir) {
  std::ifstream in(fs::path(dir) / "summary.json");
  if (!in) return {};
  const json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  return j.is_object() && j.contains("case") && j["case"].is_string() ? j["case"].get<std::string>() : std::string();
}

// Another case than `name` whose results `dir` holds (none with --force), or "".
std::string other_case_in(const std::string& dir, const std::string& name, bool force) {
  const std::string previous = case_in(dir);
  return !previous.empty() && previous != name && !force ? previous : std::string();
}

// What an interrupted writer left in `dir`: the temporaries of atomic writes
// (<file>.tmp.<pid>..., .tmp_<frame>_<pid>/ of a VTK frame), never under a final name.
void remove_temporaries(const std::string& dir) {
  std::error_code ec;
  std::vector<fs::path> stale;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string f = e.path().filename().string();
    if (f.rfind(".tmp_", 0) == 0 || f.find(".tmp.") != std::string::npos) stale.push_back(e.path());
  }
  for (const auto& p : stale) fs::remove_all(p, ec);
}

std::string prepare_output_folder(const std::string& dir, const std::string& name, bool force) {
  std::error_code ec;
  const std::string previous = case_in(dir);
  if (!previous.empty() && previous != name && !force) return previous;
  remove_temporaries(dir);
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_symlink(ec)) fs::remove(e.path(), ec);
  if (!previous.empty() && previous != name) return {};  // --force: another case's results stay, ours are added
  const auto frame = [](const std::string& f, const std::string& stem, const std::string& ext) {
    if (f.size() != stem.size() + 7 + ext.size() || f.compare(0, stem.size(), stem) != 0) return false;
    if (f[stem.size()] != '_' || f.compare(f.size() - ext.size(), ext.size(), ext) != 0) return false;
    return std::all_of(f.begin() + static_cast<long>(stem.size()) + 1, f.end() - static_cast<long>(ext.size()),
                       [](char c) { return c >= '0' && c <= '9'; });
  };
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (!e.is_regular_file(ec)) continue;
    const std::string f = e.path().filename().string();
    const bool png = f.size() > 11 && f.compare(f.size() - 4, 4, ".png") == 0 &&
                     frame(f, f.substr(0, f.size() - 11), ".png");  // <what>_NNNNNN.png
    if (frame(f, name, ".vti") || f == name + ".pvd" || png || f == "steps.csv" || f == "summary.json")
      fs::remove(e.path(), ec);
  }
  return {};
}

}  // namespace

void RunOutput::claim_folder() {
  if (claimed_) return;
  int rank = 0;
  MPI_Comm_rank(run_.comm, &rank);
  // Another case's results: refused before anything in the folder changes.
  char other[256] = {0};
  if (rank == 0) {
    std::error_code ec;
    std::string o;
    if (fs::is_directory(dir_, ec)) o = other_case_in(dir_, run_.name, run_.force);
    std::snprintf(other, sizeof other, "%s", o.c_str());
  }
  MPI_Bcast(other, sizeof other, MPI_CHAR, 0, run_.comm);
  if (other[0])
    throw UserError(
        fmt::format("the output folder '{}' holds the results of another case, '{}'", dir_, other),
        "choose another folder with -o DIR, or pass --force to write into it anyway (files of the same name, "
        "such as steps.csv and summary.json, are then replaced); nothing in it was changed");
  ensure_directory(dir_, run_.comm);
  if (rank == 0) prepare_output_folder(dir_, run_.name, run_.force);
  MPI_Barrier(run_.comm);
  claimed_ = true;
}

void RunOutput::open_writers() {
  ensure_directory(dir_, run_.comm);
  impl_->vtk_writer = std::make_unique<VtkSeriesWriter>(run_.grid, dir_, run_.name);
}

void RunOutput::begin() {
  int rank = 0;
  MPI_Comm_rank(run_.comm, &rank);
  claim_folder();
  open_writers();
  if (rank == 0) {
    impl_->csv_path = (fs::path(dir_) / "steps.csv").string();
    impl_->csv = "step,t";
    for (const auto& s : run_.coupler.substeps())
      for (const auto& c : substep_counters())
        if (csv_column(c, run_.coupler.policy(s))) impl_->csv += "," + s + "_" + c.column();
    impl_->csv += "\n";
    impl_->csv_written = std::string::npos;
    impl_->flush_csv();
  }
  write_fields();
}

void RunOutput::save_state(CheckpointData& out) const {
  // A resume keeps the rows of steps.csv up to the checkpoint's step: they must be on disk.
  impl_->flush_csv();
  out.put("vtk_files", json(impl_->vtk_writer ? impl_->vtk_writer->files() : std::vector<std::string>{}).dump());
  out.put("vtk_times", impl_->vtk_writer ? impl_->vtk_writer->times() : std::vector<double>{});
  out.put("png_files", impl_->png_files.dump());
  out.put("error_history", impl_->error_history.dump());
  out.put("extra", impl_->extra.dump());
  out.put("seconds", seconds_);
}

namespace {

// Removes from `dir` what an interrupted run wrote after step `step` (frames are numbered
// by step, PNGs end in _<step>.png) and planted symlinks. Rank 0.
void remove_written_after(const std::string& dir, const std::string& name, long step) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_symlink(ec)) {
      fs::remove(e.path(), ec);
      continue;
    }
    const std::string f = e.path().filename().string();
    const std::string base = name + "_";
    auto number_after = [&](const std::string& prefix, const std::string& ext) -> long {
      if (f.size() != prefix.size() + 6 + ext.size() || f.compare(0, prefix.size(), prefix) != 0 ||
          f.compare(f.size() - ext.size(), ext.size(), ext) != 0)
        return -1;
      const std::string d = f.substr(prefix.size(), 6);
      return std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; }) ? std::stol(d) : -1;
    };
    long k = -1;
    for (const char* ext : {".vti", ".pvti", ""})
      if (k < 0) k = number_after(base, ext);
    if (k > step) fs::remove_all(e.path(), ec);
    if (f.size() > 11 && f.compare(f.size() - 4, 4, ".png") == 0) {
      const std::string d = f.substr(f.size() - 10, 6);
      if (f[f.size() - 11] == '_' && std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
          std::stol(d) > step)
        fs::remove(e.path(), ec);
    }
  }
}

// steps.csv cut to its header and the rows up to step `step` (rewritten). Rank 0.
std::string truncate_steps_csv(const fs::path& csv, long step) {
  std::ifstream old(csv);
  if (!old)
    throw CheckpointError(fmt::format("'{}' is missing: the output folder does not hold the run the checkpoint "
                                      "belongs to",
                                      csv.string()),
                          "resume in the folder the run wrote, or start afresh without --resume");
  std::string kept, line;
  std::getline(old, line);
  kept = line + "\n";
  while (std::getline(old, line)) {
    const long s = std::atol(line.c_str());
    if (s >= 1 && s <= step) kept += line + "\n";
  }
  old.close();
  write_file_atomic(csv.string(), kept);
  return kept;
}

}  // namespace

void RunOutput::resume(const CheckpointData& in) {
  int rank = 0;
  MPI_Comm_rank(run_.comm, &rank);
  if (rank == 0) remove_temporaries(dir_);
  const long step = run_.clock.step;
  auto files = json::parse(in.get<std::string>("vtk_files")).get<std::vector<std::string>>();
  auto times = in.get<std::vector<double>>("vtk_times");
  impl_->png_files = json::parse(in.get<std::string>("png_files"));
  impl_->error_history = json::parse(in.get<std::string>("error_history"));
  impl_->extra = json::parse(in.get<std::string>("extra"));
  seconds_ = in.get<double>("seconds");
  const std::vector<std::string> drop = drop_last_step_extras(files, times);
  open_writers();
  on_all_ranks(run_.comm, [&] {
    if (rank != 0) return;
    std::error_code ec;
    for (const auto& f : drop) fs::remove_all(fs::path(dir_) / f, ec);
    if (!drop.empty())  // a .pvti's pieces are in the folder of its name
      fs::remove_all(fs::path(dir_) / fs::path(drop.front()).stem(), ec);
    // What the interrupted run wrote after the checkpoint goes: it is written again.
    remove_written_after(dir_, run_.name, step);
    const fs::path csv = fs::path(dir_) / "steps.csv";
    const std::string kept = truncate_steps_csv(csv, step);
    impl_->csv_path = csv.string();
    impl_->csv = kept;
    impl_->csv_written = kept.size();
  });
  impl_->vtk_writer->continue_series(files, std::move(times));
  impl_->prev_stats = run_.coupler.reduced_stats(run_.comm);
}

std::vector<std::string> RunOutput::drop_last_step_extras(std::vector<std::string>& files, std::vector<double>& times) {
  // A run extended past its old end: what was written only because step was the last
  // (a frame not on the `every` schedule, PNGs of the last step) is not part of the
  // longer run's output.
  std::vector<std::string> drop;
  const long step = run_.clock.step;
  if (run_.clock.done() || step <= 0) return drop;
  if (!(every_ > 0 && step % every_ == 0) && !files.empty() && !times.empty() && times.back() == run_.clock.t) {
    drop.push_back(files.back());
    files.pop_back();
    times.pop_back();
  }
  json kept = json::array();
  for (const auto& e : impl_->png_files) {
    const auto it = std::find_if(impl_->pngs.begin(), impl_->pngs.end(), [&](const Impl::Png& p) {
      return e["file"].get<std::string>().rfind(p.stem + "_", 0) == 0;
    });
    const bool on_schedule = it != impl_->pngs.end() && it->every > 0 && step % it->every == 0;
    if (e["step"].get<long>() == step && !on_schedule)
      drop.push_back(e["file"].get<std::string>());
    else
      kept.push_back(e);
  }
  impl_->png_files = kept;
  return drop;
}

void RunOutput::after_step() {
  int rank = 0;
  MPI_Comm_rank(run_.comm, &rank);
  // One row per step: what each sub-step did in this step (differences of the running totals).
  const auto stats = run_.coupler.reduced_stats(run_.comm);
  if (impl_->prev_stats.size() != stats.size()) impl_->prev_stats.assign(stats.size(), SubStepStats{});
  if (rank == 0) {
    impl_->csv += fmt::format("{},{:.17g}", run_.clock.step, run_.clock.t);
    for (size_t i = 0; i < stats.size(); ++i)
      for (const auto& c : substep_counters()) {
        if (!csv_column(c, run_.coupler.policy(stats[i].name))) continue;
        const double d = c.level ? c.value(stats[i]) : c.value(stats[i]) - c.value(impl_->prev_stats[i]);
        impl_->csv += "," + (c.count ? fmt::format("{}", static_cast<long>(d)) : fmt::format("{:.6g}", d));
      }
    impl_->csv += "\n";
  }
  impl_->prev_stats = stats;
  write_fields();
}

void RunOutput::write_fields() {
  const double t0 = wall_time();
  const State& state = run_.solver.state();
  const long step = run_.clock.step;
  const double t = run_.clock.t;
  std::vector<const Field*> fields;
  for (const auto& n : fields_) fields.push_back(&state.get(n));
  const bool last = run_.clock.done();
  const bool due = last || step == 0 || (every_ > 0 && step % every_ == 0);
  auto png_due = [&](const auto& png) { return last || (png.every > 0 && step % png.every == 0); };
  if ((impl_->vtk && due) || std::any_of(impl_->pngs.begin(), impl_->pngs.end(), png_due)) run_.solver.prepare_output();
  if (impl_->vtk && due) impl_->vtk_writer->write(fields, t, step);
  fault_point("output");  // the frame is written, the PNGs and steps.csv's next row are not
  for (const auto& png : impl_->pngs) {
    if (!png_due(png)) continue;
    const std::string file = fmt::format("{}_{:06d}.png", png.stem, step);
    PngOptions opt = png.opt;
    opt.time = t;
    opt.step = step;
    const PngInfo info = write_png(state.get(png.field), (fs::path(dir_) / file).string(), opt);
    json entry = {{"file", file}, {"step", step}, {"t", t}, {"field", png.field}};
    const auto& comps = state.get(png.field).components();
    if (comps.size() > 1) entry["component"] = comps[static_cast<size_t>(png.opt.component)];
    entry["min"] = info.min;
    entry["max"] = info.max;
    entry["colormap"] = png.opt.colormap;
    impl_->png_files.push_back(entry);
  }
  if (due) {
    impl_->flush_csv();
    // errors() evaluates the exact solution: only when it is recorded
    json e = exact_errors(run_.solver, run_.grid, run_.clock.t);
    if (!e.empty()) impl_->error_history.push_back({{"step", step}, {"t", t}, {"errors", e}});
  }
  seconds_ += wall_time() - t0;
}

void RunOutput::add(const std::string& key, json value) {
  impl_->extra[key] = std::move(value);
}

json RunOutput::substeps_json() const {
  json subs = json::array();
  const auto spread = rank_spread(run_.coupler.stats(), run_.comm);
  size_t index = 0;
  for (const auto& st : run_.coupler.reduced_stats(run_.comm)) {
    json j = {{"name", st.name}, {"policy", st.policy}};
    json ranks = json::object();
    for (const auto& c : substep_counters()) {
      if (!shown(c, st)) continue;
      j[c.pointer()] = c.count ? json(st.*c.count) : json(st.*c.seconds);
      if (c.is_time()) {  // per-rank times: max (above), mean, sum and the imbalance max / mean
        const RankSpread& r = spread[index].at(c.key);
        ranks[c.key] = {{"max", r.max}, {"mean", r.mean}, {"sum", r.sum}, {"imbalance", r.imbalance()}};
      }
      // Derived values next to what they derive from.
      if (std::string(c.key) == "max_iterations")
        j["iterations_per_call"] = st.calls ? static_cast<double>(st.iterations) / static_cast<double>(st.calls) : 0.0;
      if (std::string(c.key) == "accepted")
        j["accepted_fraction"] = static_cast<double>(st.accepted) / static_cast<double>(st.points);
    }
    j["rank_seconds"] = ranks;
    ++index;
    const json facts = run_.coupler.policy(st.name).describe();
    for (const auto& [k, v] : facts.items()) {  // merged with the counters of the same name ("online")
      if (j.contains(k) && j[k].is_object() && v.is_object())
        j[k].update(v);
      else
        j[k] = v;
    }
    subs.push_back(j);
  }
  return subs;
}

const json& RunOutput::write_summary(const std::string& status, const std::string& message,
                                     const std::vector<std::string>& result_files) {
  int rank = 0, size = 1;
  MPI_Comm_rank(run_.comm, &rank);
  MPI_Comm_size(run_.comm, &size);
  const Grid& grid = run_.grid;
  json s;
  s["simfuse_version"] = SIMFUSE_VERSION;
  s["case"] = run_.name;
  s["case_file"] = run_.case_file;
  s["status"] = status;
  if (!message.empty()) s["message"] = message;
  s["ranks"] = size;
  const GridSpec& g = grid.spec();
  json n = json::array(), lo = json::array(), hi = json::array(), per = json::array(), h = json::array();
  for (int d = 0; d < g.dim; ++d) {
    n.push_back(g.n[d]);
    lo.push_back(g.lower[d]);
    hi.push_back(g.upper[d]);
    per.push_back(static_cast<bool>(g.periodic[d]));
    h.push_back(grid.h(d));
  }
  s["grid"] = {{"dim", g.dim},           {"n", n}, {"lower", lo}, {"upper", hi}, {"periodic", per}, {"h", h},
               {"points", grid.points()}};
  json solver = {{"type", run_.solver_type}};
  const json facts = run_.solver.describe();
  for (const auto& [k, v] : facts.items()) solver[k] = v;
  s["solver"] = solver;
  s["time"] = {{"t0", run_.clock.t0},           {"dt", run_.clock.dt}, {"steps", run_.clock.steps},
               {"steps_done", run_.clock.step}, {"t", run_.clock.t},   {"steady", run_.clock.steady}};
  if (const std::string e = run_.solver.stop_event(); !e.empty()) s["time"]["stop_event"] = e;
  json metrics = json::object();
  for (const auto& [k, v] : run_.solver.metrics()) metrics[k] = v;
  if (!metrics.empty()) s["metrics"] = metrics;
  s["wall_seconds"] = {{"setup", run_.clock.setup_seconds}, {"run", run_.clock.run_seconds}, {"output", seconds_}};
  s["substeps"] = substeps_json();
  json e = exact_errors(run_.solver, run_.grid, run_.clock.t);
  if (!e.empty()) s["errors"] = e;
  if (!impl_->error_history.empty()) s["error_history"] = impl_->error_history;
  json outputs = {{"dir", dir_}, {"steps_csv", "steps.csv"}};
  if (impl_->vtk_writer) {
    outputs["pvd"] = fs::path(impl_->vtk_writer->pvd_path()).filename().string();
    outputs["vtk"] = impl_->vtk_writer->files();
  }
  outputs["png"] = impl_->png_files;
  outputs["fields"] = fields_;
  const auto diag = run_.solver.state().diagnostic_names();
  if (!diag.empty()) outputs["diagnostic_fields"] = diag;
  if (!result_files.empty()) outputs["results"] = result_files;
  s["outputs"] = outputs;
  s["petsc_options_from_case"] = run_.petsc_case_options;
  s["provenance"] = run_.provenance;
  s["provenance"]["written"] = utc_timestamp();
  for (const auto& [k, v] : impl_->extra.items()) s[k] = v;
  summary_ = s;
  impl_->flush_csv();
  if (rank == 0) write_file_atomic((fs::path(dir_) / "summary.json").string(), s.dump(2) + "\n");
  return summary_;
}

}  // namespace simfuse
