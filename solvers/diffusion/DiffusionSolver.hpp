#pragma once
/// \file DiffusionSolver.hpp
/// The heat equation du/dt = div(kappa grad u) + f in 1-3D, implicit Euler or
/// Crank-Nicolson in time, one sub-step `diffuse` solved with KSP (options prefix
/// `diffuse_`, so `-diffuse_ksp_type cg -diffuse_pc_type mg` work).
///
/// Case file (`simfuse config doc solver.diffusion` lists every key):
///
///     solver:
///       type: diffusion
///       params:
///         kappa: "1 + 0.5*sin(pi*x)"    # coefficient, > 0
///         source: {type: gaussian, amplitude: 10, center: [0.5, 0.5], width: 0.05}
///         initial: 0
///         bc: {default: dirichlet, x_hi: {type: neumann, flux: 1}}
///         scheme: crank_nicolson
///
/// With `exact: "<expression>"` the solver runs in manufactured-solution mode: source,
/// boundary data and initial condition come from the exact solution, and summary.json
/// reports the error against it.
#include <memory>

#include "simfuse/core/Solver.hpp"
#include "simfuse/solvers/common/DiffusionOperator.hpp"

namespace simfuse {

/// Everything that defines a diffusion problem, for code that builds one directly.
struct DiffusionProblem {
  std::shared_ptr<Function> kappa = constant_function(1.0);
  std::shared_ptr<Function> source;   ///< null: no source
  std::shared_ptr<Function> initial;  ///< null: zero
  std::shared_ptr<Function> exact;    ///< null: unknown
  BoundaryConditions bc;              ///< see BoundaryConditions::all
  double theta = 0.5;                 ///< 0.5 Crank-Nicolson, 1 implicit Euler
  double rtol = 1e-10;                ///< default KSP relative tolerance
};

class DiffusionSolver final : public Solver {
 public:
  /// Declares `solver.params` of type diffusion.
  static void declare(Schema& s);
  /// From validated parameters (the registry factory). Collective.
  explicit DiffusionSolver(const SolverContext& ctx);
  /// From a problem built in code. Collective.
  DiffusionSolver(const Grid& grid, DiffusionProblem problem, double t0 = 0.0);

  State& state() override { return state_; }
  std::vector<PlanEntry> plan() override { return {{&diffuse_, 1.0}}; }
  bool exact_solution(const std::string& field, double t, Vec out) override;
  nlohmann::ordered_json describe() const override;

  Field& u() { return state_.get("u"); }
  ThetaDiffusion& stepper() { return *stepper_; }

 private:
  class Diffuse final : public SubStep, public Iterative {
   public:
    explicit Diffuse(DiffusionSolver& s) : s_(s) {}
    const std::string& name() const override { return name_; }
    std::vector<std::string> reads() const override { return {"u"}; }
    std::vector<std::string> writes() const override { return {"u"}; }
    void apply(State& state, const StepInfo& info) override;
    int last_iterations() const override { return s_.stepper_->last_iterations(); }
    void set_initial_guess(Vec guess) override { guess_ = guess; }

   private:
    DiffusionSolver& s_;
    std::string name_ = "diffuse";
    Vec guess_ = nullptr;
  };

  void build(double t0);

  const Grid& grid_;
  DiffusionProblem problem_;
  State state_;
  std::unique_ptr<DiffusionOperator> op_;
  std::unique_ptr<ThetaDiffusion> stepper_;
  Diffuse diffuse_{*this};
};

}  // namespace simfuse
