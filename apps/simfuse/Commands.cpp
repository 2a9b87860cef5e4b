#include "apps/simfuse/Commands.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cmath>
#include <iostream>
#include <sstream>

#include "core/Config.hpp"
#include "coupling/Simulation.hpp"

namespace simfuse::app {

namespace {

int world_rank() {
  int r = 0;
  MPI_Comm_rank(PETSC_COMM_WORLD, &r);
  return r;
}

ConfigDocument load(const CommonOptions& o) {
  ConfigDocument doc = ConfigDocument::load_file(o.case_file);
  for (const auto& s : o.sets) doc.set(s);
  return doc;
}

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

void report(Simulation& sim) {
  const auto& s = sim.summary();
  spdlog::info("done: {} steps in {} ({} setup, {} output)", sim.steps_done(),
               duration(s["wall_seconds"]["run"].get<double>()), duration(s["wall_seconds"]["setup"].get<double>()),
               duration(s["wall_seconds"]["output"].get<double>()));
  for (const auto& st : s["substeps"]) {
    std::string its;
    if (st.contains("iterations"))
      its = fmt::format(", {:.1f} iterations/call", st["iterations_per_call"].get<double>());
    spdlog::info("  {:<12} {:<10} {} calls, {:.3f} s{}", st["name"].get<std::string>(), st["policy"].get<std::string>(),
                 st["calls"].get<long>(), st["seconds"].get<double>(), its);
  }
  if (s.contains("errors"))
    for (const auto& [field, e] : s["errors"].items())
      spdlog::info("  error in {} vs exact solution: L2 {:.3e} (relative {:.3e}), max {:.3e}", field,
                   e["l2"].get<double>(), e["rel_l2"].get<double>(), e["linf"].get<double>());
  spdlog::info("output in {}/ ({}, PNG, summary.json)", sim.output_dir(),
               s["outputs"].contains("pvd") ? s["outputs"]["pvd"].get<std::string>() : "no VTK");
}

}  // namespace

int cmd_run(const CommonOptions& o) {
  const ConfigDocument doc = load(o);
  RunOptions ro;
  ro.output_dir = o.output;
  ro.allow_unused_petsc_options = o.allow_unused;
  Simulation sim(PETSC_COMM_WORLD, doc, ro);
  int size = 1;
  MPI_Comm_size(PETSC_COMM_WORLD, &size);
  spdlog::info("simfuse: case '{}' on {} rank(s): {} steps of dt = {:g}, output to {}/", sim.name(), size,
               sim.steps_total(), sim.dt(), sim.output_dir());
  Progress progress(o.progress, sim.steps_total());
  sim.run([&](long step, long steps, double t, double el) { progress(step, steps, t, el); });
  report(sim);
  return 0;
}

int cmd_validate(const CommonOptions& o) {
  const ConfigDocument doc = load(o);
  RunOptions ro;
  ro.dry_run = true;
  ro.allow_unused_petsc_options = o.allow_unused;
  Simulation sim(PETSC_COMM_WORLD, doc, ro);
  if (world_rank() == 0)
    std::cout << fmt::format("{}: valid ({} steps of dt = {:g}; sub-steps: {})\n", o.case_file, sim.steps_total(),
                             sim.dt(), join(sim.coupler().substeps()));
  return 0;
}

int cmd_doc(const std::string& component) {
  const Schema& cs = case_schema();
  const Catalog& cat = Catalog::instance();
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
    os << "Case file keys (simfuse "
       << "config doc <section|family|family.type> for one part):\n";
    cs.document(os, "", 2);
    for (const auto& f : fams) {
      os << "\n";
      family(f, "");
    }
  } else {
    const auto dot = component.find('.');
    const std::string head = component.substr(0, dot);
    const std::string tail = dot == std::string::npos ? "" : component.substr(dot + 1);
    if (std::find(fams.begin(), fams.end(), head) != fams.end()) {
      if (!tail.empty() && !cat.find(head, tail)) {
        auto near = nearest(tail, cat.types(head));
        throw UserError(fmt::format("no {} type '{}'", head, tail),
                        (near ? fmt::format("did you mean '{}.{}'? ", head, *near) : std::string()) +
                            "Types: " + join(cat.types(head)));
      }
      family(head, tail);
    } else if (const ParamSpec* p = cs.find(head); p && p->section && tail.empty()) {
      os << head << ": " << p->doc << "\n";
      p->section->document(os, head, 2);
    } else {
      std::vector<std::string> all = fams;
      for (const auto& p : cs.params())
        if (p.section) all.push_back(p.key);
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
