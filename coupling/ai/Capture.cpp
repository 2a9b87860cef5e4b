#include "simfuse/coupling/ai/Capture.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <set>

#include "simfuse/core/Version.hpp"
#include "simfuse/core/base/Paths.hpp"
#include "simfuse/core/detail/Gather.hpp"

namespace simfuse {

namespace fs = std::filesystem;

namespace {

void declare_capture(Schema& s) {
  s.add_int("every", "capture the calls of steps divisible by this").def(1).min(1);
  s.add_int("points", "pointwise data: points sampled per captured call, over the whole grid").def(0).min(0);
  s.add_int("patches", "stencil data: patches sampled per captured call").def(0).min(0);
  s.add_int("patch", "stencil data: size of an output patch (points per side)").def(8).range(1, 512);
  s.add_int("radius", "stencil data: input margin around a patch (the model's receptive-field radius)")
      .def(0)
      .range(0, 64);
  s.add_int("seed", "random seed of the sample positions").def(1).min(0);
  s.add("inputs", ParamType::StringList, "fields recorded before the sub-step (default: those it reads)");
  s.add("outputs", ParamType::StringList, "fields recorded after the sub-step (default: those it writes)");
  s.add_string("file", "dataset file stem in the output folder (default: capture_<substep>)");
  Schema& pt = s.add_section("perturbed",
                             "pointwise data: random states near each captured point, labelled by the classical "
                             "sub-step");
  pt.add_int("copies", "perturbed states per captured point").def(0).range(0, 1000);
  pt.add_real("amplitude", "how far (the sub-step defines it; chemistry: relative change of T, of log Y)")
      .def(0.1)
      .range(1e-6, 1);
}

std::vector<std::string> channel_names(const State& state, const std::vector<std::string>& fields) {
  std::vector<std::string> names;
  for (const auto& f : fields) {
    const Field& fld = state.get(f);
    for (const auto& c : fld.components()) names.push_back(fld.ncomp() == 1 ? f : f + "." + c);
  }
  return names;
}

}  // namespace

std::vector<SampledPoint> sample_points(const Grid& grid, long count, std::mt19937_64& gen) {
  const Box& own = grid.owned();
  const PetscInt total = grid.points();
  const PetscInt k = std::min<PetscInt>(count, total);
  std::set<PetscInt> chosen;  // Floyd's algorithm: k distinct of [0, total)
  for (PetscInt j = total - k; j < total; ++j) {
    const PetscInt t = std::uniform_int_distribution<PetscInt>(0, j)(gen);
    if (!chosen.insert(t).second) chosen.insert(j);
  }
  std::vector<SampledPoint> out;
  for (PetscInt g : chosen) {
    const PetscInt i = g % grid.n(0), j = (g / grid.n(0)) % grid.n(1), kk = g / (grid.n(0) * grid.n(1));
    if (!own.contains(i, j, kk)) continue;
    const PetscInt local = ((kk - own.lo[2]) * own.n[1] + (j - own.lo[1])) * own.n[0] + (i - own.lo[0]);
    out.push_back({g, local, i, j, kk});
  }
  return out;
}

void read_points(const State& state, const std::vector<std::string>& fields, const std::vector<PetscInt>& local,
                 std::vector<double>& out, const std::map<std::string, Vec>& from) {
  out.clear();
  std::vector<std::unique_ptr<ArrayView>> views;
  std::vector<int> nc;
  for (const auto& f : fields) {
    const Field& fld = state.get(f);
    auto it = from.find(f);
    views.push_back(
        std::make_unique<ArrayView>(it != from.end() ? it->second : fld.vec(), fld.grid().owned(), fld.ncomp(), true));
    nc.push_back(fld.ncomp());
  }
  for (PetscInt p : local)
    for (size_t f = 0; f < fields.size(); ++f) {
      const double* a = views[f]->data();
      for (int c = 0; c < nc[f]; ++c) out.push_back(a[p * nc[f] + c]);
    }
}

const Schema& Capture::schema() {
  static const Schema s = [] {
    Schema s("capture", "one capture: {every, points | patches, ...}");
    declare_capture(s);
    return s;
  }();
  return s;
}

Capture::Capture(const Grid& grid, const State& state, SubStep& step, CaptureSpec spec)
    : grid_(grid), spec_(std::move(spec)) {
  if (spec_.inputs.empty()) spec_.inputs = step.reads();
  if (spec_.outputs.empty()) spec_.outputs = step.writes();
  for (const auto& f : spec_.inputs)
    if (!state.has(f))
      throw UserError(fmt::format("capture.{}: no field '{}' to record", spec_.substep, f),
                      "fields: " + join(state.names()));
  for (const auto& f : spec_.outputs)
    if (!state.has(f))
      throw UserError(fmt::format("capture.{}: no field '{}' to record", spec_.substep, f),
                      "fields: " + join(state.names()));
  in_names_ = channel_names(state, spec_.inputs);
  out_names_ = channel_names(state, spec_.outputs);
  cin_ = static_cast<int>(in_names_.size());
  cout_ = static_cast<int>(out_names_.size());
  if (spec_.perturbed_copies > 0) {
    perturbable_ = dynamic_cast<Perturbable*>(&step);
    relocatable_ = dynamic_cast<Relocatable*>(&step);
    if (!perturbable_ || !relocatable_)
      throw UserError(
          fmt::format("capture.{}.perturbed: sub-step '{}' cannot label perturbed states", spec_.substep, step.name()),
          "remove perturbed:, it needs a pointwise sub-step on one field such as the chemistry's react");
    if (!spec_.pointwise())
      throw UserError(fmt::format("capture.{}.perturbed: perturbed states are pointwise data", spec_.substep),
                      "use points: instead of patches:, or remove perturbed:");
    // The inputs: the sub-step's own field, then its required inputs (a forced chemistry's
    // transported state), which a record carries in its conditions and the sub-step moves
    // with a perturbed state.
    std::vector<std::string> own_and_required = step.writes();
    for (const auto& f : step.required_inputs()) own_and_required.push_back(f);
    if (spec_.inputs != own_and_required || spec_.outputs != step.writes())
      throw UserError(fmt::format("capture.{}.perturbed: needs the sub-step's own field ({}) as outputs and it with "
                                  "its required inputs ({}) as inputs",
                                  spec_.substep, join(step.writes()), join(own_and_required)),
                      "remove inputs:/outputs: from this capture");
    const PointLayout layout = relocatable_->point_layout();
    for (const auto& f : step.required_inputs())
      for (const auto& c : state.get(f).components()) {
        const auto it = std::find(layout.conditions.begin(), layout.conditions.end(), f + "." + c);
        if (it == layout.conditions.end())
          throw InternalError(
              fmt::format("capture: sub-step '{}' requires field '{}' but its records do not carry it", step.name(), f),
              __FILE__, __LINE__);
        extra_conditions_.push_back(static_cast<int>(it - layout.conditions.begin()));
      }
  }
  if (!spec_.pointwise()) {
    if (grid.dim() != 2)
      throw UserError(fmt::format("capture.{}: stencil patches need a 2D grid", spec_.substep),
                      "use points: for pointwise data");
    for (int d = 0; d < 2; ++d)
      if (!grid.periodic(d) && spec_.patch > grid.n(d))
        throw UserError(fmt::format("capture.{}: a patch of {} points does not fit the grid ({} points along {})",
                                    spec_.substep, spec_.patch, grid.n(d), "xy"[d]),
                        "use a smaller patch");
  }
}

void Capture::sample_sites(long step) {
  sites_.clear();
  std::mt19937_64 gen(spec_.seed * 1000003ULL + static_cast<uint64_t>(step));
  const Box& own = grid_.owned();
  if (spec_.pointwise()) {
    for (const SampledPoint& sp : sample_points(grid_, spec_.points, gen))
      sites_.push_back({sp.local, sp.i, sp.j, sp.k});
  } else {
    for (long p = 0; p < spec_.patches; ++p) {
      PetscInt o[2];
      for (int d = 0; d < 2; ++d) {
        // Patches may touch a wall: their margin beyond it repeats the wall values, as the
        // model's input does at inference (FieldBridge's stencil_input), so models learn the
        // boundary cells too.
        const PetscInt hi = grid_.periodic(d) ? grid_.n(d) - 1 : grid_.n(d) - spec_.patch;
        o[d] = std::uniform_int_distribution<PetscInt>(0, hi)(gen);
      }
      if (own.contains(o[0], o[1], 0)) sites_.push_back({0, o[0], o[1], 0});
    }
  }
}

void Capture::read(const State& state, const std::vector<std::string>& fields, int margin, int size,
                   std::vector<double>& out) const {
  out.clear();
  if (spec_.pointwise()) {
    std::vector<PetscInt> local;
    for (const auto& s : sites_) local.push_back(s.local);
    read_points(state, fields, local, out);
    return;
  }
  // Patches: channels first, [C, size + 2 margin, size + 2 margin] per site. Beyond a wall
  // the nearest wall value is repeated.
  const int w = size + 2 * margin;
  auto clamp = [&](int d, PetscInt i) {
    return grid_.periodic(d) ? i : std::min<PetscInt>(std::max<PetscInt>(i, 0), grid_.n(d) - 1);
  };
  std::vector<std::vector<double>> per_site(sites_.size());
  for (const auto& f : fields) {
    const Field& fld = state.get(f);
    GhostedVec local(grid_.dm(fld.ncomp(), spec_.patch + spec_.radius, true), fld.vec());
    const ArrayView a(local.get(), local.box(), fld.ncomp(), true);
    for (size_t s = 0; s < sites_.size(); ++s)
      for (int c = 0; c < fld.ncomp(); ++c)
        for (int jj = 0; jj < w; ++jj)
          for (int ii = 0; ii < w; ++ii)
            per_site[s].push_back(a(clamp(0, sites_[s].i0 - margin + ii), clamp(1, sites_[s].j0 - margin + jj), 0, c));
  }
  for (auto& v : per_site) out.insert(out.end(), v.begin(), v.end());
}

void Capture::before(const SubStep&, const State& state, const StepInfo& info) {
  active_ = info.step % spec_.every == 0;
  if (!active_) return;
  sample_sites(info.step);
  read(state, spec_.inputs, spec_.radius, spec_.patch, pending_in_);
}

void Capture::after(const SubStep&, const State& state, const StepInfo& info) {
  if (!active_) return;
  std::vector<double> outs;
  read(state, spec_.outputs, 0, spec_.patch, outs);
  in_.insert(in_.end(), pending_in_.begin(), pending_in_.end());
  out_.insert(out_.end(), outs.begin(), outs.end());
  for (size_t s = 0; s < sites_.size(); ++s) {
    dt_.push_back(info.dt);
    step_.push_back(info.step);
  }
  n_ += static_cast<long>(sites_.size());
  active_ = false;
  if (perturbable_) add_perturbed(state, info);
}

void Capture::add_perturbed(const State& state, const StepInfo& info) {
  const int copies = spec_.perturbed_copies;
  // Each copy is the record of the site it perturbs (its local conditions and memory),
  // with the state drawn near the site's.
  PointStates labels(relocatable_->point_layout());
  std::vector<PetscInt> like;
  for (size_t s = 0; s < sites_.size(); ++s)
    for (int c = 0; c < copies; ++c) like.push_back(sites_[s].local);
  relocatable_->take_points(state, like, labels);
  for (size_t s = 0, q = 0; s < sites_.size(); ++s) {
    const PetscInt g = sites_[s].i0 + grid_.n(0) * (sites_[s].j0 + grid_.n(1) * sites_[s].k0);
    for (int c = 0; c < copies; ++c, ++q) {
      std::seed_seq seq{spec_.seed, static_cast<uint64_t>(info.step), static_cast<uint64_t>(g),
                        static_cast<uint64_t>(c)};
      std::mt19937_64 rng(seq);
      double* x = labels.state(q);
      const double* original = pending_in_.data() + static_cast<long>(s) * cin_;  // its own field first
      std::copy(original, original + cout_, x);
      perturbable_->perturb(x, spec_.perturbed_amplitude, rng);
      perturbable_->perturb_conditions(original, x, labels.conditions(q), spec_.perturbed_amplitude, rng);
    }
  }
  const PointStates states = labels;
  std::vector<char> ok;
  relocatable_->apply_states(info, labels, ok);
  for (size_t q = 0; q < like.size(); ++q) {
    if (!ok[q]) continue;  // a state the classical code cannot integrate is no sample
    in_.insert(in_.end(), states.state(q), states.state(q) + cout_);
    for (int c : extra_conditions_) in_.push_back(states.conditions(q)[c]);
    out_.insert(out_.end(), labels.state(q), labels.state(q) + cout_);
    dt_.push_back(info.dt);
    step_.push_back(-info.step);  // negative: a perturbed state, not one the run visited
    ++n_;
  }
}

Dataset Capture::gather(long member) const {
  const auto in = gather_to_root(in_, MPI_DOUBLE, grid_.comm());
  const auto out = gather_to_root(out_, MPI_DOUBLE, grid_.comm());
  const auto dt = gather_to_root(dt_, MPI_DOUBLE, grid_.comm());
  const auto st = gather_to_root(step_, MPI_INT64_T, grid_.comm());
  Dataset ds;
  if (grid_.rank() != 0) return ds;
  const int64_t n = static_cast<int64_t>(dt.size());
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  std::vector<int64_t> ishape{n, cin_}, oshape{n, cout_};
  if (!spec_.pointwise()) {
    const int64_t w = spec_.patch + 2 * spec_.radius;
    ishape = {n, cin_, w, w};
    oshape = {n, cout_, spec_.patch, spec_.patch};
  }
  ds.kind = spec_.pointwise() ? "pointwise" : "stencil";
  ds.radius = spec_.radius;
  ds.substep = spec_.substep;
  ds.inputs = at::from_blob(const_cast<double*>(in.data()), ishape, f64).clone();
  ds.outputs = at::from_blob(const_cast<double*>(out.data()), oshape, f64).clone();
  ds.dt = at::from_blob(const_cast<double*>(dt.data()), {n}, f64).clone();
  ds.step = at::from_blob(const_cast<int64_t*>(st.data()), {n}, at::TensorOptions().dtype(at::kLong)).clone();
  ds.member = at::full({n}, member, at::TensorOptions().dtype(at::kLong));
  ds.input_names = in_names_;
  ds.output_names = out_names_;
  return ds;
}

std::vector<std::shared_ptr<Capture>> Capture::of(const Simulation& sim) {
  const auto a = std::static_pointer_cast<std::vector<std::shared_ptr<Capture>>>(sim.attachment("capture"));
  return a ? *a : std::vector<std::shared_ptr<Capture>>{};
}

std::vector<std::shared_ptr<Capture>> Capture::attach_all(Simulation& sim, bool write_files) {
  std::vector<std::shared_ptr<Capture>> out;
  if (!sim.params().is_set("capture")) return out;
  Schema cs("capture", "captures per sub-step");
  for (const auto& name : sim.coupler().substeps()) declare_capture(cs.add_section(name, "capture of " + name));
  const Params cp = sim.params().validate_entry("capture", cs);
  for (const auto& name : sim.coupler().substeps()) {
    const Params& p = cp.sub(name);
    bool any = false;
    for (const auto& k : p.keys()) any = any || p.is_set(k);
    if (!any) continue;
    CaptureSpec spec;
    spec.substep = name;
    spec.every = p.get<int>("every");
    spec.points = p.get<int>("points");
    spec.patches = p.get<int>("patches");
    spec.patch = p.get<int>("patch");
    spec.radius = p.get<int>("radius");
    spec.seed = static_cast<uint64_t>(p.get<int>("seed"));
    if (p.is_set("inputs")) spec.inputs = p.get<std::vector<std::string>>("inputs");
    if (p.is_set("outputs")) spec.outputs = p.get<std::vector<std::string>>("outputs");
    spec.file = p.is_set("file") ? p.get<std::string>("file") : "capture_" + name;
    if (const std::string why = plain_name_problem(spec.file); !why.empty())
      p.fail("file",
             fmt::format("'{}' is not a plain file name ({}): a capture is written inside the output folder",
                         spec.file.size() > 100 ? spec.file.substr(0, 100) + "..." : spec.file, why),
             "give a name without '/' (at most 100 characters), e.g. file: react_data; choose the folder with -o");
    spec.perturbed_copies = p.sub("perturbed").get<int>("copies");
    spec.perturbed_amplitude = p.sub("perturbed").get<double>("amplitude");
    if ((spec.points > 0) == (spec.patches > 0))
      p.fail("points", "give either points (pointwise data) or patches (stencil data)",
             "e.g. points: 4000, or patches: 8 with patch: 16 and radius: 3");
    try {
      out.push_back(std::make_shared<Capture>(sim.grid(), sim.solver().state(), sim.coupler().substep(name), spec));
    } catch (const UserError& e) {
      // The constructor's message names the key (capture.<sub-step>[.perturbed]: ...); here
      // it gets the file position of that key instead.
      Diagnostic d = e.diagnostics().front();
      const bool perturbed = d.what.find(".perturbed: ") != std::string::npos;
      const std::string prefix = fmt::format("capture.{}{}: ", name, perturbed ? ".perturbed" : "");
      if (d.what.rfind(prefix, 0) == 0) d.what = d.what.substr(prefix.size());
      p.fail(perturbed ? "perturbed" : "inputs", d.what, d.fix);
    }
    sim.coupler().observe(name, out.back().get());
    sim.add_checkpointable("capture/" + name, out.back().get());
  }
  if (write_files) {
    std::vector<std::shared_ptr<Capture>> caps = out;
    Simulation* s = &sim;
    sim.on_end("capture", [caps, s]() {
      nlohmann::ordered_json j = nlohmann::ordered_json::array();
      for (const auto& c : caps) {
        Dataset ds = c->gather(0);
        const std::string stem = (fs::path(s->output_dir()) / c->spec().file).string();
        long samples = 0;
        if (s->grid().rank() == 0) {
          samples = ds.size();
          if (samples > 0) {
            ds.manifest["provenance"]["case"] = s->case_file();
            for (const auto& [k, v] : s->solver().model_context()) ds.manifest["context"][k] = v;
            ds.manifest["provenance"]["tool"] = std::string("simfuse ") + SIMFUSE_VERSION + " run (capture)";
            ds.save(stem);
          }
        }
        MPI_Bcast(&samples, 1, MPI_LONG, 0, s->grid().comm());
        j.push_back({{"substep", c->spec().substep}, {"file", c->spec().file + ".pt"}, {"samples", samples}});
        spdlog::info("captured {} samples of '{}' into {}.pt", samples, c->spec().substep, stem);
      }
      return j;
    });
  }
  return out;
}

void Capture::save_state(CheckpointData& out) const {
  out.put("in", in_);
  out.put("out", out_);
  out.put("dt", dt_);
  out.put("step", step_);
  out.put("n", n_);
}

void Capture::restore_state(const CheckpointData& in) {
  in_ = in.get<std::vector<double>>("in");
  out_ = in.get<std::vector<double>>("out");
  dt_ = in.get<std::vector<double>>("dt");
  step_ = in.get<std::vector<int64_t>>("step");
  n_ = in.get<long>("n");
}

}  // namespace simfuse
