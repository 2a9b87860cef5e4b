#pragma once
/// \file ReactionDiffusionSolver.hpp
/// dc/dt = D Laplacian(c) + R(c) for N species c = (c_0, ..., c_{N-1}) with pluggable
/// kinetics R (Kinetics.hpp), by operator splitting (Strang by default):
///
///     diffuse(dt/2) -- react(dt) -- diffuse(dt/2)
///
/// `diffuse` is an implicit (Crank-Nicolson) solve per species with its own KSP (options
/// prefix `diffuse_`); `react` integrates each grid point's stiff ODE with Rodas3 and
/// error control. `react` is Pointwise (fallback can be per point) and Checkable (the
/// estimate compares a proposed result with a cheap fixed-step Rodas3 solution).
///
///     solver:
///       type: reaction_diffusion
///       params:
///         kinetics: {type: oregonator, eps: 0.02}
///         diffusion: [1.0, 0.6]
///         initial: {u: "...", v: "..."}
#include <memory>

#include "simfuse/core/Checkpoint.hpp"
#include "simfuse/core/Solver.hpp"
#include "simfuse/solvers/common/DiffusionOperator.hpp"
#include "simfuse/solvers/kinetics/Kinetics.hpp"
#include "simfuse/solvers/kinetics/Rosenbrock.hpp"

namespace simfuse {

class ReactionDiffusionSolver final : public Solver {
 public:
  static void declare(Schema& s);
  explicit ReactionDiffusionSolver(const SolverContext& ctx);

  State& state() override { return state_; }
  std::vector<PlanEntry> plan() override;
  nlohmann::ordered_json describe() const override;

  const Kinetics& kinetics() const { return *kinetics_; }
  Field& c() { return state_.get("c"); }
  SubStep& react() { return react_; }
  SubStep& diffuse() { return diffuse_; }
  /// Work of the classical reaction integrator so far.
  const RosenbrockStats& react_stats() const { return react_.stats_; }

 private:
  class Diffuse final : public SubStep, public Iterative {
   public:
    explicit Diffuse(ReactionDiffusionSolver& s) : s_(s) {}
    const std::string& name() const override { return name_; }
    std::vector<std::string> reads() const override { return {"c"}; }
    std::vector<std::string> writes() const override { return {"c"}; }
    void apply(State& state, const StepInfo& info) override;
    int last_iterations() const override { return its_; }
    void set_initial_guess(Vec guess) override { guess_ = guess; }

   private:
    ReactionDiffusionSolver& s_;
    std::string name_ = "diffuse";
    int its_ = 0;
    Vec guess_ = nullptr;
  };

  class React final : public SubStep, public Pointwise, public Checkable, public Checkpointable {
   public:
    explicit React(ReactionDiffusionSolver& s) : s_(s) {}
    const std::string& name() const override { return name_; }
    std::vector<std::string> reads() const override { return {"c"}; }
    std::vector<std::string> writes() const override { return {"c"}; }
    void apply(State& state, const StepInfo& info) override;
    void apply_points(State& state, const StepInfo& info, const std::vector<PetscInt>& points) override;
    void estimate(const State& state, const std::vector<Vec>& before, const StepInfo& info,
                  std::vector<double>& estimate) override;
    std::string estimate_description() const override;
    /// Checkpoints: the per-point step-size memory of the Rosenbrock integrator.
    void save_state(CheckpointData& out) const override {
      out.put("h", h_);
      out.put("stats", stats_);
    }
    void restore_state(const CheckpointData& in) override {
      h_ = in.get<std::vector<double>>("h");
      stats_ = in.get<RosenbrockStats>("stats");
    }

    RosenbrockStats stats_;

   private:
    void integrate_point(double* y, PetscInt p, double dt);
    ReactionDiffusionSolver& s_;
    std::string name_ = "react";
    std::vector<double> h_;  // per-point step-size memory
  };

  const Grid& grid_;
  std::unique_ptr<Kinetics> kinetics_;
  std::vector<double> D_;
  std::vector<std::shared_ptr<Function>> initial_;
  BoundaryConditions bc_;
  double theta_ = 0.5;
  bool strang_ = true;
  RosenbrockOptions ros_;
  int check_substeps_ = 2;
  double check_rtol_ = 0.05, check_floor_ = 1e-3;
  State state_;
  std::vector<std::unique_ptr<DiffusionOperator>> ops_;
  std::vector<std::unique_ptr<ThetaDiffusion>> steppers_;  // null for species that do not diffuse
  PetscHandle<Vec> work_, guess_work_;
  Diffuse diffuse_{*this};
  React react_{*this};
};

}  // namespace simfuse
