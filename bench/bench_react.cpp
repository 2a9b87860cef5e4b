// Benchmark: the guarded react surrogate of cases/bz2d_guarded.yaml against the classical
// stiff integrator (Rodas3), all runs in one process on the same grid:
//
//   classical      Rodas3 at the case's tolerance (rtol 1e-6): the reference
//   classical dt/2 the same with half the step: reference - this = the splitting error
//   guarded        the shipped MLP with NaN / range / error-estimate guards, per-cell fallback
//   surrogate      the MLP alone (no guard)
//   ..., plain     the same on libtorch's default path (BLAS) instead of oneDNN
//   rtol X         Rodas3 at looser tolerances, to find the classical run whose error
//                  matches the surrogate's (the fair baseline, not a sloppy one)
//
// Prints a markdown table of react time, whole-step time, their ratios to the reference,
// and the relative L2 error of u and v against the reference at the end.
//   build/bench/bench_react [--t-end 4] [--repeat 1]
#include <fmt/format.h>
#include <petscsys.h>

#include <cstring>
#include <iostream>
#include <memory>

#include "simfuse/core/Petsc.hpp"
#include "simfuse/core/Solver.hpp"
#include "simfuse/core/base/Config.hpp"
#include "simfuse/core/base/Error.hpp"
#include "simfuse/core/base/Log.hpp"
#include "simfuse/coupling/Coupler.hpp"
#include "simfuse/coupling/Simulation.hpp"
#include "simfuse/coupling/ai/Builtins.hpp"
#include "simfuse/postproc/Norms.hpp"

using namespace simfuse;

namespace {

struct Result {
  std::string name;
  double react = 0, whole = 0, inference = 0, check = 0, classical = 0;
  long points = 0, accepted = 0;
  PetscHandle<Vec> c;  // final state
};

Result run(const std::string& name, const std::vector<std::string>& sets, double t_end,
           std::unique_ptr<Simulation>* keep = nullptr) {
  auto doc = ConfigDocument::load_file(std::string(SIMFUSE_SOURCE_DIR) + "/cases/bz2d_guarded.yaml");
  doc.set(fmt::format("time.t_end={}", t_end));
  doc.set("output={every: 0}");
  for (const auto& s : sets) doc.set(s);
  RunOptions ro;
  ro.write_output = false;
  auto sim = std::make_unique<Simulation>(PETSC_COMM_WORLD, doc, ro);
  while (!sim->done()) sim->step();
  Result r;
  r.name = name;
  for (const auto& s : sim->coupler().reduced_stats(PETSC_COMM_WORLD)) {
    r.whole += s.seconds;
    if (s.name == "react") {
      r.react = s.seconds;
      r.inference = s.inference_seconds;
      r.check = s.check_seconds;
      r.classical = s.classical_seconds;
      r.points = s.points;
      r.accepted = s.accepted;
    }
  }
  Vec c = sim->solver().state().get("c").vec();
  SIMFUSE_PETSC(VecDuplicate(c, r.c.out()));
  SIMFUSE_PETSC(VecCopy(c, r.c));
  if (keep) *keep = std::move(sim);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  double t_end = 4;
  std::vector<char*> petsc_args{argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--t-end") && i + 1 < argc) {
      t_end = std::atof(argv[++i]);
    } else {
      petsc_args.push_back(argv[i]);
    }
  }
  int pargc = static_cast<int>(petsc_args.size());
  char** pargv = petsc_args.data();
  quick_singleton_start();
  PetscInitialize(&pargc, &pargv, nullptr, nullptr);
  install_petsc_error_handler();
  limit_blas_threads();
  int rank = 0;
  MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
  init_logging(rank, Verbosity::quiet);
  ai::register_builtins();
  int status = 0;
  try {
    std::unique_ptr<Simulation> ref_sim;
    std::vector<Result> rs;
    rs.push_back(run("classical (Rodas3 rtol 1e-6)", {"coupling={}"}, t_end, &ref_sim));
    rs.push_back(run("classical, dt/2", {"coupling={}", "time.dt=0.01"}, t_end));
    rs.push_back(run("guarded surrogate", {}, t_end));
    rs.push_back(run("guarded, 1-step check", {"solver.params.check.substeps=1"}, t_end));
    rs.push_back(run("guarded, plain libtorch path", {"coupling.react.inference=plain"}, t_end));
    rs.push_back(
        run("surrogate, no guard", {"coupling.react={type: surrogate, model: models/bz_react.card.yaml}"}, t_end));
    rs.push_back(run("surrogate, no guard, plain libtorch path",
                     {"coupling.react={type: surrogate, model: models/bz_react.card.yaml, inference: plain}"}, t_end));
    std::vector<std::string> failed;
    for (double rtol : {1e-5, 1e-4, 1e-3, 1e-2, 3e-2, 1e-1}) {
      const std::string name = fmt::format("classical, Rodas3 rtol {:g}", rtol);
      try {
        rs.push_back(run(name,
                         {"coupling={}", fmt::format("solver.params.rtol={:g}", rtol),
                          fmt::format("solver.params.atol={:g}", rtol * 1e-4)},
                         t_end));
      } catch (const RunFailure& e) {
        failed.push_back(fmt::format("| {} | failed: {} | | | | | |", name, e.what()));
      }
    }
    const Grid& g = ref_sim->grid();
    const Result& ref = rs.front();
    if (rank == 0) {
      std::cout << fmt::format(
          "bz2d (161^2, dt 0.02, t = 0..{:g}, {} steps), 1 process; errors vs the reference "
          "at t = {:g}\n\n",
          t_end, static_cast<long>(t_end / 0.02 + 0.5), t_end);
      std::cout << "| run | react s | react / ref | whole step / ref | rel L2 error u | rel L2 error v | accepted |\n"
                   "|---|---|---|---|---|---|---|\n";
    }
    for (const auto& r : rs) {
      const auto eu = error_norms(g, r.c, ref.c, 2, 0), ev = error_norms(g, r.c, ref.c, 2, 1);
      if (rank == 0)
        std::cout << fmt::format("| {} | {:.2f} | {:.3f} | {:.3f} | {:.2e} | {:.2e} | {} |\n", r.name, r.react,
                                 r.react / ref.react, r.whole / ref.whole, eu.rel_l2(), ev.rel_l2(),
                                 r.points ? fmt::format("{:.2f}%", 100.0 * r.accepted / r.points) : "-");
    }
    if (rank == 0) {
      for (const auto& f : failed) std::cout << f << "\n";
      std::cout << "\nWhere the react time of the surrogate runs goes (seconds):\n\n"
                   "| run | inference | checks | classical fallback | other |\n|---|---|---|---|---|\n";
      for (const auto& r : rs)
        if (r.points)
          std::cout << fmt::format("| {} | {:.2f} | {:.2f} | {:.2f} | {:.2f} |\n", r.name, r.inference, r.check,
                                   r.classical, r.react - r.inference - r.check - r.classical);
    }
  } catch (const std::exception& e) {
    if (rank == 0) std::cerr << "bench_react: " << e.what() << "\n";
    status = 1;
  }
  PetscFinalize();
  return status;
}
