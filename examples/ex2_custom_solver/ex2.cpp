//                  simfuse Example 2: your own solver, run from a YAML case
//
// Sample runs:  ./ex2 ex2.yaml
//               ./ex2 ex2.yaml --set solver.params.rate=5
//               mpirun -n 2 ./ex2 ex2.yaml
//
// Description:  Adds a solver that simfuse does not have -- logistic growth
//               du/dt = r u (1 - u) at every grid point, the simplest model of a
//               population filling its carrying capacity -- registers it by name, and
//               runs it from a case file with the same validation, output (VTK, PNG,
//               summary.json) and audit trail as the built-in solvers. The exact
//               solution u(t) = u0 e^{rt} / (1 - u0 + u0 e^{rt}) is reported as error.
//
// Builds on:    ex1 (grid, fields, sub-steps). The pattern: declare parameters, build
//               fields, expose the time step as named sub-steps, register.
#include <petscsys.h>

#include <cmath>
#include <iostream>
#include <simfuse/simfuse.hpp>  // the public API in one include

namespace {

// 1. The sub-step: one exact step of the logistic equation per point. It declares what
//    it reads and writes, so policies (e.g. a surrogate) could later replace it.
class Grow final : public simfuse::SubStep {
 public:
  explicit Grow(double rate) : rate_(rate) {}
  const std::string& name() const override { return name_; }
  std::vector<std::string> reads() const override { return {"u"}; }
  std::vector<std::string> writes() const override { return {"u"}; }
  void apply(simfuse::State& state, const simfuse::StepInfo& info) override {
    simfuse::Field& u = state.get("u");
    auto v = u.view();
    const double g = std::exp(rate_ * info.dt);
    simfuse::for_each(u.grid().owned(), [&](PetscInt i, PetscInt j, PetscInt k) {
      const double x = v(i, j, k);
      v(i, j, k) = x * g / (1 - x + x * g);
    });
  }

 private:
  double rate_;
  std::string name_ = "grow";
};

// 2. The solver: parameters, fields, initial condition, plan, exact solution.
class LogisticSolver final : public simfuse::Solver {
 public:
  static void declare(simfuse::Schema& s) {
    s.add_real("rate", "growth rate r").def(1.0).positive();
    s.add_block("initial", "function", "initial density u0(x, y, z), in (0, 1)").def("0.1");
  }
  explicit LogisticSolver(const simfuse::SolverContext& c)
      : grid_(c.grid), grow_(c.params.get<double>("rate")), rate_(c.params.get<double>("rate")), t0_(c.t0) {
    u0_ = simfuse::make_function(c.params, "initial", c.constants);
    state_.add(grid_, "u");
    simfuse::sample(grid_, *u0_, c.t0, state_.get("u").vec());
  }
  simfuse::State& state() override { return state_; }
  std::vector<simfuse::PlanEntry> plan() override { return {{&grow_, 1.0, 0.0}}; }
  bool exact_solution(const std::string& field, double t, Vec out) override {
    if (field != "u") return false;
    const double g = std::exp(rate_ * (t - t0_));
    simfuse::ArrayView v(out, grid_.owned(), 1);
    simfuse::for_each(grid_.owned(), [&](PetscInt i, PetscInt j, PetscInt k) {
      const double x0 = (*u0_)(grid_.x(0, i), grid_.x(1, j), grid_.x(2, k), t0_);
      v(i, j, k) = x0 * g / (1 - x0 + x0 * g);
    });
    return true;
  }

 private:
  const simfuse::Grid& grid_;
  simfuse::State state_;
  Grow grow_;
  double rate_, t0_;
  std::shared_ptr<simfuse::Function> u0_;
};

// 3. Register by name: `solver: {type: logistic}` then works in case files. An explicit
//    call from main (a plugin does the same in its SIMFUSE_PLUGIN block): never a static
//    initialiser, which a linker may drop and whose order nobody controls.
void register_logistic() {
  simfuse::solver_registry().add("logistic", "logistic growth du/dt = r u (1 - u) at every point",
                                 &LogisticSolver::declare,
                                 [](const simfuse::SolverContext& c) { return std::make_unique<LogisticSolver>(c); });
}

}  // namespace

int main(int argc, char** argv) {
  // 4. Our arguments come first; PETSc's follow "--" (as for the simfuse tool).
  simfuse::SplitCommandLine cl = simfuse::split_command_line(argc, argv);
  const std::vector<std::string> ours(cl.ours.begin() + 1, cl.ours.end());
  int pargc = cl.petsc_argc();
  char** pargv = cl.petsc.data();
  simfuse::PetscSession session(&pargc, &pargv);
  simfuse::init_logging(session.rank());
  register_logistic();
  if (ours.empty()) {
    PetscPrintf(PETSC_COMM_WORLD, "usage: ex2 CASE.yaml [--set key=value]... [-- PETSc options]\n");
    return 2;
  }
  try {
    // 5. Load the case, apply overrides, build (validates everything), run.
    auto doc = simfuse::ConfigDocument::load_file(ours[0]);
    for (size_t i = 1; i + 1 < ours.size(); i += 2)
      if (ours[i] == "--set") doc.set(ours[i + 1]);
    simfuse::Simulation sim(PETSC_COMM_WORLD, doc);
    sim.run();
    const auto& e = sim.summary()["errors"]["u"];
    PetscPrintf(PETSC_COMM_WORLD, "logistic growth to t = %g: max error %.3e against the exact solution\n", sim.time(),
                e["linf"].get<double>());
  } catch (const simfuse::UserError& ex) {
    if (session.rank() == 0) std::cerr << ex.what() << "\n";
    return 2;
  }
  return 0;
}
