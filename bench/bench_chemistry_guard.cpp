// What the react sub-step's guard pieces cost next to the integration they guard, on the
// reacting cases' own states: per cell and step, CVODE (the classical react), the error
// estimate (a loose error-controlled Rodas3 from the step's start) and the Admissible
// projection (element-conserving non-negative projection + T from h), each timed over the
// same cells and steps in this process.
//   build/bench/bench_chemistry_guard CASE.yaml [STEPS] [--set key=value ...]
// Prints one JSON object.
#include <mpi.h>
#include <petscsys.h>

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/Config.hpp"
#include "coupling/Simulation.hpp"
#include "solvers/reacting/ReactingSolver.hpp"

using namespace simfuse;

int main(int argc, char** argv) {
  int petsc_argc = 1;  // our arguments are not PETSc options
  PetscInitialize(&petsc_argc, &argv, nullptr, nullptr);
  int code = 0;
  try {
    if (argc < 2) throw UserError("usage: bench_chemistry_guard CASE.yaml [STEPS] [--set key=value ...]");
    long steps = argc > 2 && argv[2][0] != '-' ? std::stol(argv[2]) : 5;
    std::vector<std::string> sets;
    for (int i = 2; i < argc; ++i)
      if (std::string(argv[i]) == "--set" && i + 1 < argc) sets.push_back(argv[++i]);
    register_builtins();
    ConfigDocument doc = ConfigDocument::load_file(argv[1]);
    for (const auto& s : sets) doc.set(s);
    RunOptions ro;
    ro.write_output = false;
    Simulation sim(PETSC_COMM_WORLD, doc, ro);
    auto* solver = dynamic_cast<ReactingSolver*>(&sim.solver());
    if (!solver) throw UserError("the case must use the reacting solver");
    State& state = solver->state();
    Field& gas = state.get("gas");
    auto& react = solver->react();
    auto& chk = dynamic_cast<Checkable&>(react);
    auto& adm = dynamic_cast<Admissible&>(react);
    PetscHandle<Vec> before, result;
    SIMFUSE_PETSC(VecDuplicate(gas.vec(), before.out()));
    SIMFUSE_PETSC(VecDuplicate(gas.vec(), result.out()));
    using clock = std::chrono::steady_clock;
    double t_react = 0, t_est = 0, t_adm = 0, worst_est = 0;
    long cells = 0, flagged = 0, inadmissible = 0;
    std::vector<double> est;
    std::vector<char> ok;
    for (long s = 0; s < steps && !sim.done(); ++s) {
      StepInfo info;
      info.step = sim.steps_done();
      info.t = sim.time();
      info.dt = sim.dt();
      SIMFUSE_PETSC(VecCopy(gas.vec(), before));
      auto t0 = clock::now();
      react.apply(state, info);
      t_react += std::chrono::duration<double>(clock::now() - t0).count();
      SIMFUSE_PETSC(VecCopy(gas.vec(), result));
      t0 = clock::now();
      adm.make_admissible(state, {before.get()}, info, ok);
      t_adm += std::chrono::duration<double>(clock::now() - t0).count();
      t0 = clock::now();
      chk.estimate(state, {before.get()}, info, est);
      t_est += std::chrono::duration<double>(clock::now() - t0).count();
      for (double e : est) {
        worst_est = std::max(worst_est, e);
        flagged += e > 1;
      }
      for (char o : ok) inadmissible += !o;
      cells += static_cast<long>(est.size());
      // Continue the run from the classical result (the guard pieces must not steer it).
      SIMFUSE_PETSC(VecCopy(result, gas.vec()));
      sim.step();  // the next full step (diffuse, react, diffuse) moves the states on
    }
    nlohmann::ordered_json j{{"case", argv[1]},
                             {"cells_timed", cells},
                             {"react_us_per_cell", 1e6 * t_react / cells},
                             {"estimate_us_per_cell", 1e6 * t_est / cells},
                             {"admissible_us_per_cell", 1e6 * t_adm / cells},
                             {"estimate_over_react", t_est / t_react},
                             {"admissible_over_react", t_adm / t_react},
                             {"classical_results_flagged_by_estimate", flagged},
                             {"classical_results_inadmissible", inadmissible},
                             {"largest_estimate_of_classical_result", worst_est},
                             {"estimate", chk.estimate_description()}};
    std::cout << j.dump(2) << "\n";
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    code = 2;
  }
  PetscFinalize();
  return code;
}
