// What the react sub-step's guard pieces cost next to the integration they guard, on the
// reacting cases' own states: per cell and step, CVODE (the classical react), the error
// estimate (a loose error-controlled Rodas3 from the step's start) and the Admissible
// projection (element-conserving non-negative projection + T from h), each timed over the
// same cells and steps in this process. Then the guard study: the classical result
// corrupted in five ways (as a bad model could be wrong), and for each what the guard
// pieces do with it: the estimate's recall (cells flagged > 1), and what the projection
// leaves of the corruption (it repairs what breaks element conservation or positivity, and
// recomputes T from h; it cannot see an element-conserving error), what the admissible
// limits refuse, what a source-term check (trapezoidal residual) flags, and what one
// fixed implicit step flags (the Newton correction that implicit trapezoidal rule from the
// step's start would make to the proposal: the residual mapped through (I - dt/2 J)^-1,
// which deflates the stiff components the plain residual over-weights).
//   build/bench/bench_chemistry_guard CASE.yaml [STEPS] [--set key=value ...]
// Prints one JSON object.
// clang-format off
#include <mpi.h>
#include <petscsys.h>
#include <petscblaslapack.h>  // needs petscsys.h first
// clang-format on

#include <chrono>
#include <cmath>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "simfuse/core/Solver.hpp"
#include "simfuse/core/base/Config.hpp"
#include "simfuse/coupling/Simulation.hpp"
#include "simfuse/solvers/chemistry/Admissible.hpp"
#include "simfuse/solvers/reacting/ReactingSolver.hpp"

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
    const Mechanism& mech = solver->chemistry().mechanism();
    const ElementProjection plain(mech);
    const int n = mech.n_species() + 1;
    const int iOH = mech.species_index("OH") + 1, iH2O = mech.species_index("H2O") + 1,
              iH2 = mech.species_index("H2") + 1, iO = mech.species_index("O") + 1;
    // Corruptions of one cell's result y (n values), as a model could get it wrong.
    std::mt19937_64 rng(20261129);
    std::uniform_real_distribution<double> u(-1, 1);
    const std::vector<std::pair<std::string, std::function<void(double*)>>> corruptions{
        {"OH x10", [&](double* y) { y[iOH] *= 10; }},
        {"T + 30 K", [&](double* y) { y[0] += 30; }},
        {"every Y_k x (1 + 5% noise)",
         [&](double* y) {
           for (int k = 1; k < n; ++k) y[k] *= 1 + 0.05 * u(rng);
         }},
        {"OH = -1e-4", [&](double* y) { y[iOH] = -1e-4; }},
        {"element-conserving: 1e-3 of H2O into H2 + O",
         [&](double* y) {
           const double m = std::min(1e-3, y[iH2O]);  // 18 g of H2O -> 2 g of H2 + 16 g of O
           y[iH2O] -= m;
           y[iH2] += m * 2.016 / 18.015;
           y[iO] += m * 15.999 / 18.015;
         }},
    };
    // A third candidate: the source terms at the start and end against the increment (the
    // trapezoidal rule's residual), scaled like the estimate (1 K, 1e-6, 2%): 2 right-hand
    // sides per cell.
    Reactor& reactor = solver->chemistry().reactor();
    std::vector<double> f0(static_cast<size_t>(n)), f1(static_cast<size_t>(n));
    auto rates_check = [&](const double* y0, const double* y1, double dt) {
      reactor.rhs(y0, f0.data());
      reactor.rhs(y1, f1.data());
      double worst = 0;
      for (int k = 0; k < n; ++k) {
        const double r = std::abs(y1[k] - y0[k] - 0.5 * dt * (f0[k] + f1[k]));
        worst = std::max(worst, r / ((k == 0 ? 1.0 : 1e-6) + 0.02 * std::abs(y1[k] - y0[k])));
      }
      return worst;
    };
    // The fixed implicit step: delta = (I - dt/2 J(y1))^-1 (y1 - y0 - dt/2 (f0 + f1)), one
    // analytic Jacobian, one dense LU and 2 right-hand sides per cell, same scale.
    std::vector<double> jac(static_cast<size_t>(n) * n), delta(static_cast<size_t>(n));
    std::vector<PetscBLASInt> piv(static_cast<size_t>(n));
    // Scaled against 2% of the increment (as the source-term check) or, with `of_value`,
    // 2% of the value (as the estimate).
    auto implicit_check = [&](const double* y0, const double* y1, double dt, bool of_value) {
      reactor.rhs(y0, f0.data());
      reactor.rhs(y1, f1.data());
      reactor.jacobian(y1, jac.data());  // row-major: LAPACK sees the transpose
      for (size_t i = 0; i < jac.size(); ++i) jac[i] *= -0.5 * dt;
      for (int k = 0; k < n; ++k) {
        jac[static_cast<size_t>(k) * n + k] += 1;
        delta[k] = y1[k] - y0[k] - 0.5 * dt * (f0[k] + f1[k]);
      }
      PetscBLASInt nn = n, one = 1, info = 0;
      LAPACKgetrf_(&nn, &nn, jac.data(), &nn, piv.data(), &info);
      if (info != 0) return 1e30;  // singular: flag
      LAPACKgetrs_("T", &nn, &one, jac.data(), &nn, piv.data(), delta.data(), &nn, &info);
      double worst = 0;
      for (int k = 0; k < n; ++k)
        worst = std::max(
            worst, std::abs(delta[k]) / ((k == 0 ? 1.0 : 1e-6) + 0.02 * std::abs(of_value ? y1[k] : y1[k] - y0[k])));
      return std::isfinite(worst) ? worst : 1e30;
    };
    double t_rates = 0, t_implicit = 0;
    long rates_flagged = 0, implicit_flagged = 0, implicit_value_flagged = 0;
    struct Study {
      long flagged = 0, cells = 0, inadmissible = 0, harmful = 0, harmful_flagged = 0, harmful_refused = 0,
           harmful_rates = 0, harmful_implicit = 0, harmful_implicit_value = 0;
      double worst_T_after = 0, worst_T_before = 0, worst_Y_after = 0;
    };
    std::vector<Study> study(corruptions.size());
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
      {
        const ArrayView y1(result, gas.grid().owned(), n, true), y0(before, gas.grid().owned(), n, true);
        const double* a1 = y1.data();
        const double* a0 = y0.data();
        t0 = clock::now();
        for (size_t p = 0; p < est.size(); ++p) rates_flagged += rates_check(a0 + p * n, a1 + p * n, info.dt) > 1;
        t_rates += std::chrono::duration<double>(clock::now() - t0).count();
        t0 = clock::now();
        for (size_t p = 0; p < est.size(); ++p)
          implicit_flagged += implicit_check(a0 + p * n, a1 + p * n, info.dt, false) > 1;
        t_implicit += std::chrono::duration<double>(clock::now() - t0).count();
        for (size_t p = 0; p < est.size(); ++p)
          implicit_value_flagged += implicit_check(a0 + p * n, a1 + p * n, info.dt, true) > 1;
      }
      // The guard study on this step's results.
      for (size_t c = 0; c < corruptions.size(); ++c) {
        SIMFUSE_PETSC(VecCopy(result, gas.vec()));
        {
          ArrayView v = gas.view();
          for (PetscInt p = 0; p < gas.grid().owned().size(); ++p) corruptions[c].second(v.data() + p * n);
        }
        PetscHandle<Vec> corrupted;
        SIMFUSE_PETSC(VecDuplicate(gas.vec(), corrupted.out()));
        SIMFUSE_PETSC(VecCopy(gas.vec(), corrupted));
        adm.make_admissible(state, {before.get()}, info, ok);
        chk.estimate(state, {before.get()}, info, est);
        const ArrayView truth(result, gas.grid().owned(), n, true), bad(corrupted, gas.grid().owned(), n, true);
        const double* ta = truth.data();
        const double* ba = bad.data();
        Study& st = study[c];
        const ArrayView start(before, gas.grid().owned(), n, true);
        const double* sa = start.data();
        std::vector<double> y(static_cast<size_t>(n));
        for (size_t p = 0; p < est.size(); ++p) {
          ++st.cells;
          st.flagged += est[p] > 1;
          st.inadmissible += !ok[p];
          // What the plain projection (no limits) leaves of the corruption.
          std::copy(ba + p * n, ba + (p + 1) * n, y.begin());
          if (!make_admissible(solver->chemistry().reactor(), plain, sa + p * n, y.data())) continue;
          st.worst_T_before = std::max(st.worst_T_before, std::abs(ba[p * n] - ta[p * n]));
          const double dT = std::abs(y[0] - ta[p * n]);
          st.worst_T_after = std::max(st.worst_T_after, dT);
          double dY = 0;
          for (int k = 1; k < n; ++k) dY = std::max(dY, std::abs(y[k] - ta[p * n + k]));
          st.worst_Y_after = std::max(st.worst_Y_after, dY);
          // Harmful: what is left after the projection exceeds 5 K or 1e-4 of a mass fraction.
          if (dT > 5 || dY > 1e-4) {
            ++st.harmful;
            st.harmful_flagged += est[p] > 1;
            st.harmful_refused += !ok[p];
            st.harmful_rates += rates_check(sa + p * n, ba + p * n, info.dt) > 1;
            st.harmful_implicit += implicit_check(sa + p * n, ba + p * n, info.dt, false) > 1;
            st.harmful_implicit_value += implicit_check(sa + p * n, ba + p * n, info.dt, true) > 1;
          }
        }
      }
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
                             {"rates_check_us_per_cell", 1e6 * t_rates / cells},
                             {"classical_results_flagged_by_rates_check", rates_flagged},
                             {"implicit_step_check_us_per_cell", 1e6 * t_implicit / cells},
                             {"classical_results_flagged_by_implicit_step_check", implicit_flagged},
                             {"classical_results_flagged_by_implicit_step_check_value_scale", implicit_value_flagged},
                             {"classical_results_inadmissible", inadmissible},
                             {"largest_estimate_of_classical_result", worst_est},
                             {"estimate", chk.estimate_description()},
                             {"admissible", adm.admissible_description()}};
    for (size_t c = 0; c < corruptions.size(); ++c)
      j["guard_study"].push_back(
          {{"corruption", corruptions[c].first},
           {"cells_flagged_by_estimate", static_cast<double>(study[c].flagged) / study[c].cells},
           {"cells_harmful_after_projection", static_cast<double>(study[c].harmful) / study[c].cells},
           {"estimate_recall_of_harmful",
            study[c].harmful ? static_cast<double>(study[c].harmful_flagged) / study[c].harmful : 1.0},
           {"cells_refused_by_admissible_limits", static_cast<double>(study[c].inadmissible) / study[c].cells},
           {"admissible_limits_recall_of_harmful",
            study[c].harmful ? static_cast<double>(study[c].harmful_refused) / study[c].harmful : 1.0},
           {"rates_check_recall_of_harmful",
            study[c].harmful ? static_cast<double>(study[c].harmful_rates) / study[c].harmful : 1.0},
           {"implicit_step_check_recall_of_harmful",
            study[c].harmful ? static_cast<double>(study[c].harmful_implicit) / study[c].harmful : 1.0},
           {"implicit_step_check_value_scale_recall_of_harmful",
            study[c].harmful ? static_cast<double>(study[c].harmful_implicit_value) / study[c].harmful : 1.0},
           {"max_T_error_before_projection", study[c].worst_T_before},
           {"max_T_error_after_projection", study[c].worst_T_after},
           {"max_Y_error_after_projection", study[c].worst_Y_after}});
    std::cout << j.dump(2) << "\n";
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    code = 2;
  }
  PetscFinalize();
  return code;
}
