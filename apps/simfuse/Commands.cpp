#include "simfuse/apps/simfuse/Commands.hpp"

#include <dlfcn.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "simfuse/core/Checkpoint.hpp"
#include "simfuse/core/Files.hpp"
#include "simfuse/core/Petsc.hpp"
#include "simfuse/core/Solver.hpp"
#include "simfuse/core/base/Config.hpp"
#include "simfuse/coupling/Coupler.hpp"
#include "simfuse/coupling/Policy.hpp"
#include "simfuse/coupling/Simulation.hpp"
#include "simfuse/coupling/ai/Module.hpp"
#include "simfuse/postproc/Norms.hpp"

namespace simfuse::app {

namespace {

int world_rank() {
  int r = 0;
  MPI_Comm_rank(PETSC_COMM_WORLD, &r);
  return r;
}

ConfigDocument load(const CommonOptions& o) {
  ConfigDocument doc = ConfigDocument::load_file(o.case_file);
  for (const auto& k : o.unsets) doc.unset(k);  // first: --unset time.t_end --set time.steps=10
  for (const auto& s : o.sets) doc.set(s);
  return doc;
}

// The share of out-of-range rejections above which the run's report explains ood_margin.
constexpr double kOodHintShare = 0.05;

std::string duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  if (s < 60) return fmt::format("{:.1f}s", s);
  if (s < 3600) return fmt::format("{}m{:02d}s", static_cast<int>(s / 60), static_cast<int>(s) % 60);
  return fmt::format("{}h{:02d}m", static_cast<int>(s / 3600), static_cast<int>(s / 60) % 60);
}

// A progress bar on a terminal; otherwise a log line every 10% of the run.
class Progress {
 public:
  Progress(bool enabled, long total) : total_(total) {
    tty_ = enabled && world_rank() == 0 && isatty(STDERR_FILENO);
    enabled_ = enabled && world_rank() == 0;
  }
  void operator()(long step, long steps, double t, double elapsed) {
    if (!enabled_) return;
    const double frac = static_cast<double>(step) / static_cast<double>(steps);
    const double eta = step > 0 ? elapsed * (1 - frac) / frac : NAN;
    if (tty_) {
      const int width = 30, filled = static_cast<int>(frac * width);
      std::string bar(filled, '=');
      if (filled < width) bar += '>' + std::string(width - filled - 1, ' ');
      std::cerr << fmt::format("\r  [{}] step {}/{}  t = {:.4g}  elapsed {}  ETA {}   ", bar, step, steps, t,
                               duration(elapsed), duration(eta))
                << std::flush;
      if (step == steps) std::cerr << "\n";
    } else {
      const long decile = static_cast<long>(10 * frac);
      if (decile > last_decile_ || step == steps) {
        last_decile_ = decile;
        spdlog::info("step {}/{} ({:.0f}%), t = {:.6g}, elapsed {}, ETA {}", step, steps, 100 * frac, t,
                     duration(elapsed), duration(eta));
      }
    }
  }

 private:
  long total_;
  bool tty_ = false, enabled_ = false;
  long last_decile_ = 0;
};

// Many points rejected as out of the training ranges: the ranges are the training data's
// min/max and ood_margin is 0 by default, so a field that goes just past the data loses
// most of its points. Say so, with the numbers and the key to change.
void ood_hint(const nlohmann::ordered_json& st) {
  const nlohmann::ordered_json::json_pointer ood("/fallback/ood");
  if (!st.contains(ood) || !st.contains("points") || !st.contains("model")) return;
  const double points = st["points"].get<double>(), rejected = st[ood].get<double>();
  if (points <= 0 || rejected / points < kOodHintShare) return;
  const auto& m = st["model"];
  if (m.contains("regime")) {  // the card states a regime: the guard judged by it
    std::vector<std::string> reg;
    for (const auto& [k, r] : m["regime"].items())
      reg.push_back(fmt::format("{} [{:.4g}, {:.4g}]", k, r[0].get<double>(), r[1].get<double>()));
    spdlog::warn(
        "{}: {:.1f}% of the points were outside the model's regime ({}; ood_margin {:g}) and ran "
        "classically: the model is not made for this case's states; use one whose regime covers them",
        st["name"].get<std::string>(), 100 * rejected / points, fmt::join(reg, ", "), m.value("ood_margin", 0.0));
    return;
  }
  std::vector<std::string> ranges;
  if (m.contains("training_ranges"))
    for (const auto& [k, r] : m["training_ranges"].items())
      ranges.push_back(fmt::format("{} [{:.4g}, {:.4g}]", k, r[0].get<double>(), r[1].get<double>()));
  spdlog::warn(
      "{}: {:.1f}% of the points were outside the model's training ranges and ran classically (ood_margin {:g}; "
      "ranges {}). If the fields go only a little past the training data, allow a margin, e.g. --set "
      "coupling.{}.ood_margin=0.05 (a fraction of each range); otherwise train on data that covers them",
      st["name"].get<std::string>(), 100 * rejected / points, m.value("ood_margin", 0.0), fmt::join(ranges, ", "),
      st["name"].get<std::string>());
}

void report(Simulation& sim) {
  const auto& s = sim.summary();
  if (s["time"].contains("stop_event"))
    spdlog::warn("stopped at t = {:g} by a physical event the case asked to stop at: {}", s["time"]["t"].get<double>(),
                 s["time"]["stop_event"].get<std::string>());
  spdlog::info("done: {} steps in {} ({} setup, {} output)", sim.steps_done(),
               duration(s["wall_seconds"]["run"].get<double>()), duration(s["wall_seconds"]["setup"].get<double>()),
               duration(s["wall_seconds"]["output"].get<double>()));
  // One line per sub-step, then the counters it has (the audit-counter table decides which).
  for (const auto& st : s["substeps"]) {
    std::string its;
    if (st.contains("iterations_per_call"))
      its = fmt::format(", {:.1f} iterations/call", st["iterations_per_call"].get<double>());
    spdlog::info("  {:<12} {:<10} {} calls, {:.3f} s{}", st["name"].get<std::string>(), st["policy"].get<std::string>(),
                 st["calls"].get<long>(), st["seconds"].get<double>(), its);
    std::vector<std::string> parts;
    if (st.contains("accepted_fraction"))
      parts.push_back(fmt::format("{:.2f}% of points accepted", 100 * st["accepted_fraction"].get<double>()));
    for (const auto& c : substep_counters()) {
      const std::string key = c.key;
      if (key == "calls" || key == "seconds" || key == "iterations") continue;  // on the line above
      const auto* v = st.contains(c.pointer()) ? &st.at(c.pointer()) : nullptr;
      if (!v || (st["policy"] == "classical" && key == "classical_seconds")) continue;
      parts.push_back(c.is_time() ? fmt::format("{} {:.3f} s", c.doc, v->get<double>())
                      : c.seconds ? fmt::format("{} {:.3g}", c.doc, v->get<double>())
                                  : fmt::format("{} {}", c.doc, v->get<long>()));
    }
    if (st.contains("model"))
      parts.push_back(fmt::format("inference path {}", st["model"]["inference_path"].get<std::string>()));
    if (!parts.empty()) spdlog::info("  {:<12} {}", "", fmt::format("{}", fmt::join(parts, "; ")));
    ood_hint(st);
  }
  if (s.contains("errors"))
    for (const auto& [field, e] : s["errors"].items())
      spdlog::info("  error in {} vs exact solution: L2 {:.3e} (relative {:.3e}), max {:.3e}", field,
                   e["l2"].get<double>(), e["rel_l2"].get<double>(), e["linf"].get<double>());
  // What the folder holds: the VTK series, PNGs if any, solver results, the summary.
  std::vector<std::string> files{s["outputs"].contains("pvd") ? s["outputs"]["pvd"].get<std::string>() : "no VTK"};
  if (s["outputs"].contains("png") && !s["outputs"]["png"].empty())
    files.push_back(fmt::format("{} PNG", s["outputs"]["png"].size()));
  if (s["outputs"].contains("results"))
    for (const auto& r : s["outputs"]["results"]) files.push_back(r.get<std::string>());
  files.push_back("summary.json");
  spdlog::info("output in {}/ ({})", sim.output_dir(), fmt::join(files, ", "));
}

}  // namespace

// A word as a POSIX shell reads it back ('...' quoting where needed).
std::string shell_quote(const std::string& w) {
  if (!w.empty() && w.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,/=:+@%") ==
                        std::string::npos)
    return w;
  std::string q = "'";
  for (char c : w) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The command that continues this run from its checkpoint: the same edits (--unset, then
// --set, as given) and the same number of ranks, which a resume requires.
std::string resume_command(const std::string& verb, const CommonOptions& o, const std::string& dir) {
  int size = 1;
  MPI_Comm_size(PETSC_COMM_WORLD, &size);
  std::string c = size > 1 ? fmt::format("mpirun -n {} ", size) : std::string();
  c += fmt::format("simfuse {} {} -o {} --resume", verb, shell_quote(o.case_file), shell_quote(dir));
  for (const auto& u : o.unsets) c += " --unset " + shell_quote(u);
  for (const auto& v : o.sets) c += " --set " + shell_quote(v);
  return c;
}

int cmd_run(const CommonOptions& o) {
  const ConfigDocument doc = load(o);
  RunOptions ro;
  ro.output_dir = o.output;
  ro.allow_unused_petsc_options = o.allow_unused;
  ro.force = o.force;
  ro.resume = o.resume;
  ro.resume_if_any = o.resume_auto;
  Simulation sim(PETSC_COMM_WORLD, doc, ro);
  int size = 1;
  MPI_Comm_size(PETSC_COMM_WORLD, &size);
  spdlog::info("simfuse: case '{}' on {} rank(s): {} steps of dt = {:g}, output to {}/", sim.name(), size,
               sim.steps_total(), sim.dt(), sim.output_dir());
  Progress progress(o.progress, sim.steps_total());
  sim.run([&](long step, long steps, double t, double el) { progress(step, steps, t, el); });
  if (sim.interrupted()) {
    if (world_rank() == 0)
      spdlog::warn("stopped by a signal after step {} of {}; checkpoint written. Continue with: {}", sim.steps_done(),
                   sim.steps_total(), resume_command("run", o, sim.output_dir()));
    return 4;
  }
  report(sim);
  return 0;
}

// What compare keeps between steps (the error history), saved in the AI run's checkpoints.
struct CompareHistory final : Checkpointable {
  nlohmann::ordered_json history = nlohmann::ordered_json::array();
  std::string csv = "step,t,field,l2,linf,rel_l2\n";
  void save_state(CheckpointData& out) const override {
    out.put("history", history.dump());
    out.put("csv", csv);
  }
  void restore_state(const CheckpointData& in) override {
    history = nlohmann::ordered_json::parse(in.get<std::string>("history"));
    csv = in.get<std::string>("csv");
  }
};

int cmd_compare(const CommonOptions& o) {
  using json = nlohmann::ordered_json;
  const ConfigDocument doc = load(o);
  ConfigDocument twin_doc = load(o);
  twin_doc.set("coupling={}");  // every sub-step classical
  RunOptions ro;
  ro.output_dir = o.output;
  ro.allow_unused_petsc_options = o.allow_unused;
  ro.force = o.force;
  ro.resume = o.resume;
  ro.resume_if_any = o.resume_auto;
  ro.auto_checkpoint = false;  // both runs checkpoint together, at the AI run's schedule
  Simulation ai(PETSC_COMM_WORLD, doc, ro);
  RunOptions rt = ro;
  rt.resume = ai.resuming();  // --resume auto: the AI run decides for both
  rt.resume_if_any = false;
  rt.output_dir = (std::filesystem::path(ai.output_dir()) / "classical_twin").string();
  Simulation twin(PETSC_COMM_WORLD, twin_doc, rt);
  const int rank = world_rank();
  spdlog::info("simfuse compare: '{}' against its all-classical twin, {} steps; output in {}/", ai.name(),
               ai.steps_total(), ai.output_dir());
  CompareHistory hist;
  ai.add_checkpointable("compare", &hist);

  // Both run in lockstep; after every step each field is compared.
  std::vector<std::string> fields = ai.solver().state().names();
  json& history = hist.history;
  auto compare_now = [&]() {
    json at = {{"step", ai.steps_done()}, {"t", ai.time()}};
    for (const auto& name : fields) {
      const Field& a = ai.solver().state().get(name);
      const Field& b = twin.solver().state().get(name);
      for (int c = 0; c < a.ncomp(); ++c) {
        const ErrorNorms n = error_norms(ai.grid(), a.vec(), b.vec(), a.ncomp(), c);
        const std::string label = a.ncomp() == 1 ? name : name + "_" + a.components()[c];  // as in errors
        at[label] = {{"l2", n.l2}, {"linf", n.linf}, {"rel_l2", n.rel_l2()}};
        hist.csv += fmt::format("{},{:.10g},{},{:.6e},{:.6e},{:.6e}\n", ai.steps_done(), ai.time(), label, n.l2, n.linf,
                                n.rel_l2());
      }
    }
    history.push_back(at);
  };
  Progress progress(o.progress, ai.steps_total());
  const double start = MPI_Wtime();
  const StopSignals signals(true);
  // Checkpoints are written twin first, then the AI run: the AI run's newest step is one
  // the twin has too.
  ai.begin();
  if (ai.resuming()) twin.resume_at_most(ai.steps_done());
  twin.begin();
  if (twin.steps_done() != ai.steps_done())
    throw CheckpointError(fmt::format("--resume: the classical twin's checkpoint is at step {}, the run's at {}",
                                      twin.steps_done(), ai.steps_done()),
                          "start the comparison afresh without --resume");
  try {
    while (!ai.done()) {
      ai.advance();
      twin.advance();
      compare_now();
      progress(ai.steps_done(), ai.steps_total(), ai.time(), MPI_Wtime() - start);
      const int due = ai.checkpoint_due();
      if (due) {
        twin.checkpoint();
        ai.checkpoint();
      }
      if (due == 2) {
        const std::string msg = fmt::format(
            "stopped by a signal after step {}; a checkpoint was written: continue with --resume", ai.steps_done());
        twin.end("interrupted", msg);
        ai.end("interrupted", msg);
        if (rank == 0) spdlog::warn("{}. Continue with: {}", msg, resume_command("compare", o, ai.output_dir()));
        return 4;
      }
    }
  } catch (const std::exception& e) {
    // A run that fails while running leaves its output so far with a summary saying so (as
    // simfuse run does), written collectively: only if every rank failed here.
    if (all_ranks_arrive(PETSC_COMM_WORLD, 10.0)) {
      try {
        twin.end("failed", e.what());
        ai.end("failed", e.what());
      } catch (...) {
      }
    }
    throw;
  }
  // Wall-time ratios: each sub-step, and the whole run without output.
  twin.end();
  const auto& ts = twin.summary();
  json ratios = json::object();
  const auto sub_a = ai.coupler().reduced_stats(PETSC_COMM_WORLD);
  const auto sub_t = twin.coupler().reduced_stats(PETSC_COMM_WORLD);
  for (size_t i = 0; i < sub_a.size(); ++i)
    ratios[sub_a[i].name] = sub_t[i].seconds > 0 ? sub_a[i].seconds / sub_t[i].seconds : 0.0;
  double ai_steps = 0, twin_steps = 0;
  for (size_t i = 0; i < sub_a.size(); ++i) {
    ai_steps += sub_a[i].seconds;
    twin_steps += sub_t[i].seconds;
  }
  ratios["all_substeps"] = twin_steps > 0 ? ai_steps / twin_steps : 0.0;
  // The twin's folder relative to this one (the pair stays readable if the folder moves,
  // and a relative -o does not make it relative to a working folder the reader lacks).
  json result = {{"twin_output_dir", std::filesystem::path(rt.output_dir).filename().string()},
                 {"wall_time_ratio", ratios},
                 {"final", history.empty() ? json() : history.back()},
                 {"history_csv", "compare.csv"}};
  ai.add_summary("compare", result);
  ai.end();
  if (rank == 0) write_file_atomic((std::filesystem::path(ai.output_dir()) / "compare.csv").string(), hist.csv);
  (void)ts;
  spdlog::info("wall-time ratio (surrogate case / classical twin):");
  for (const auto& [k, v] : ratios.items()) {
    const double r = v.get<double>();
    const std::string verdict = !(r > 0)     ? "no time recorded"
                                : r < 0.995  ? fmt::format("{:.2f}x faster", 1 / r)
                                : r <= 1.005 ? "the same"
                                             : fmt::format("{:.2f}x slower", r);
    spdlog::info("  {:<14} {:.3f}  ({})", k, r, verdict);
  }
  if (!history.empty())
    for (const auto& [k, v] : history.back().items())
      if (v.is_object())
        spdlog::info("  error in {} at t = {:g}: L2 {:.3e} (relative {:.3e}), max {:.3e}", k, ai.time(),
                     v["l2"].get<double>(), v["rel_l2"].get<double>(), v["linf"].get<double>());
  report(ai);
  return 0;
}

const ai::ModuleApi& ai_module() {
  // libsimfuse_ai lies beside libsimfuse_coupling (build tree and install alike).
  static const ai::ModuleApi* api = [] {
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&case_schema), &info) == 0 || !info.dli_fname)
      throw InternalError("cannot locate libsimfuse_coupling to find the AI layer beside it", __FILE__, __LINE__);
    const std::string path = (std::filesystem::path(info.dli_fname).parent_path() / "libsimfuse_ai.so").string();
    spdlog::debug("loading the AI layer (libtorch): {}", path);
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (!handle)
      throw UserError(fmt::format("cannot load simfuse's AI layer: {}", dlerror()),
                      "the installation is incomplete: libsimfuse_ai.so belongs beside libsimfuse_coupling.so");
    using Entry = const ai::ModuleApi* (*)();
    const auto entry = reinterpret_cast<Entry>(dlsym(handle, "simfuse_ai_module"));
    const ai::ModuleApi* a = entry ? entry() : nullptr;
    if (!a || a->version != ai::kModuleApiVersion)
      throw InternalError(fmt::format("{} is not the AI layer of this simfuse", path), __FILE__, __LINE__);
    a->register_all();
    return a;
  }();
  return *api;
}

void load_ai_layer() {
  ai_module();
}

int cmd_train(const CommonOptions& o) {
  const ConfigDocument doc = load(o);
  return ai_module().train(doc, {o.resume, o.force, o.verbosity > 0 && o.progress});
}

int cmd_generate(const CommonOptions& o) {
  const ConfigDocument doc = load(o);
  return ai_module().generate(doc, {o.resume, o.force, o.verbosity > 0 && o.progress});
}

int cmd_validate(const CommonOptions& o) {
  const ConfigDocument doc = load(o);
  // A train or generate spec is checked as one (a case's schema would list its keys as
  // errors): the spec, its data files and paths; member 0's case for generate.
  const YAML::Node& root = doc.root();
  const bool is_train = root.IsMap() && root["dataset"] && root["model"];
  const bool is_generate = root.IsMap() && root["base"] && root["members"];
  if (is_train || is_generate) {
    const char* kind = is_train ? "train" : "generate";
    ai::CommandOptions co;
    co.progress = false;
    co.check_only = true;
    (is_train ? ai_module().train : ai_module().generate)(doc, co);
    if (world_rank() == 0) std::cout << fmt::format("{}: valid {} spec\n", o.case_file, kind);
    return 0;
  }
  RunOptions ro;
  ro.dry_run = true;
  ro.allow_unused_petsc_options = o.allow_unused;
  Simulation sim(PETSC_COMM_WORLD, doc, ro);
  if (world_rank() == 0)
    std::cout << fmt::format("{}: valid ({} steps of dt = {:g}; sub-steps: {})\n", o.case_file, sim.steps_total(),
                             sim.dt(), join(sim.coupler().substeps()));
  return 0;
}

namespace {

// The whole reference as Markdown: docs/reference.md is this output, and a test checks it
// is current.
std::string reference_markdown() {
  const Catalog& cat = Catalog::instance();
  std::ostringstream os;
  os << "# simfuse YAML reference\n\n"
     << "<!-- Generated by `simfuse config doc --markdown > docs/reference.md` from the declarations in the "
        "code; do not edit. A test fails when it is out of date. -->\n\n"
     << "Every key simfuse reads from a case file, a model card, a `generate` spec and a `train` spec, with its "
        "type, default and meaning. `simfuse config doc <part>` prints the same on a terminal; with plugins "
        "loaded (`--plugin`), their solvers and policies are included.\n\n"
     << "Types: `real`, `int`, `bool`, `string`, lists of them (`[real]`, ...), `map` (free-form mapping), "
        "`section` (a mapping of the keys listed below it) and `block` (`{type: <name>, ...}` of a family).\n\n"
     << "## Case file\n\n";
  case_schema().document_markdown(os, "");
  os << "\n## Components\n\nA `block` key names a type of a family; each type has its own keys.\n";
  for (const auto& fam : cat.families()) {
    os << "\n### " << fam << "\n\n";
    const std::string sh = cat.shorthand_doc(fam);
    if (!sh.empty()) os << "Shorthand: " << sh << ".\n\n";
    for (const auto& t : cat.types(fam)) {
      const auto* ty = cat.find(fam, t);
      os << "#### `" << fam << "." << t << "`\n\n" << ty->doc << "\n\n";
      if (ty->schema->params().empty())
        os << "No keys.\n\n";
      else {
        ty->schema->document_markdown(os, fam + "." + t, 5);
        os << "\n";
      }
    }
  }
  const ai::ModuleApi& ai = ai_module();
  os << "## Capture entries\n\n`capture: {<sub-step>: {...}}` records (input, output) pairs of a sub-step while "
        "the run proceeds. Each entry:\n\n";
  ai.document("capture", true, os);
  os << "\n## Model card\n\n`<model>.card.yaml`, written by `simfuse train`, or by hand for a TorchScript model "
        "(docs/models.md):\n\n";
  ai.document("card", true, os);
  os << "\n## generate spec\n\n`simfuse generate SPEC.yaml`:\n\n";
  ai.document("generate", true, os);
  os << "\n## train spec\n\n`simfuse train SPEC.yaml`:\n\n";
  ai.document("train", true, os);
  return os.str();
}

}  // namespace

int cmd_doc(const std::string& component, bool markdown) {
  const Schema& cs = case_schema();
  const Catalog& cat = Catalog::instance();
  if (markdown) {
    if (!component.empty())
      throw UserError("--markdown documents everything; it takes no component",
                      "run 'simfuse config doc --markdown' (or 'simfuse config doc " + component + "' for text)");
    if (world_rank() == 0) std::cout << reference_markdown();
    return 0;
  }
  std::ostringstream os;
  auto family = [&](const std::string& fam, const std::string& only) {
    for (const auto& t : cat.types(fam)) {
      if (!only.empty() && t != only) continue;
      const auto* ty = cat.find(fam, t);
      os << fam << "." << t << ": " << ty->doc << "\n";
      ty->schema->document(os, fam + "." + t, 2);
    }
    const std::string sh = cat.shorthand_doc(fam);
    if (!sh.empty() && only.empty()) os << "  (shorthand: " << sh << ")\n";
  };
  const auto fams = cat.families();
  if (component.empty()) {
    os << "Case file keys (simfuse config doc <section|family|family.type> for one part; 'config doc capture' "
       << "for a capture entry; 'config doc train', 'config doc generate' and 'config doc card' for those files):\n";
    cs.document(os, "", 2);
    for (const auto& f : fams) {
      os << "\n";
      family(f, "");
    }
  } else {
    const auto dot = component.find('.');
    const std::string head = component.substr(0, dot);
    const std::string tail = dot == std::string::npos ? "" : component.substr(dot + 1);
    if (component == "train" || component == "generate") {  // the spec files of those commands
      os << component << " spec (simfuse " << component << " SPEC.yaml):\n";
      ai_module().document(component, false, os);
    } else if (component == "capture") {  // one entry of the case's capture: map
      os << "capture: {<sub-step>: {...}, ...}: record (input, output) pairs of sub-steps while the run proceeds; "
            "each entry:\n";
      ai_module().document("capture", false, os);
    } else if (component == "card") {  // model cards (<model>.card.yaml)
      os << "model card (<model>.card.yaml, written by simfuse train or by hand for a TorchScript model):\n";
      ai_module().document("card", false, os);
    } else if (std::find(fams.begin(), fams.end(), head) != fams.end()) {
      if (!tail.empty() && !cat.find(head, tail)) {
        auto near = nearest(tail, cat.types(head));
        throw UserError(fmt::format("no {} type '{}'", head, tail),
                        (near ? fmt::format("did you mean '{}.{}'? ", head, *near) : std::string()) +
                            "Types: " + join(cat.types(head)) +
                            fmt::format(". A type a plugin provides is documented with the plugin loaded: "
                                        "simfuse --plugin lib.so config doc {}",
                                        component));
      }
      family(head, tail);
    } else if (const ParamSpec* p = cs.find(head); p && p->section && tail.empty()) {
      os << head << ": " << p->doc << "\n";
      p->section->document(os, head, 2);
    } else {
      std::vector<std::string> all = fams;
      for (const auto& p : cs.params())
        if (p.section) all.push_back(p.key);
      for (const char* extra : {"capture", "card", "train", "generate"}) all.push_back(extra);
      auto near = nearest(component, all);
      throw UserError(fmt::format("nothing to document under '{}'", component),
                      (near ? fmt::format("did you mean '{}'? ", *near) : std::string()) + "Try one of: " + join(all) +
                          ", or family.type such as solver.diffusion");
    }
  }
  if (world_rank() == 0) std::cout << os.str();
  return 0;
}

}  // namespace simfuse::app
