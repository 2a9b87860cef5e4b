#pragma once
/// \file ReactorSweep.hpp
/// Independent homogeneous reactors, one per point of a 1D grid, each with its own
/// initial state (temperature, pressure and mixture as expressions of x): an ignition-delay
/// sweep run in parallel over ranks. Two ways to run:
///  - `run: ignition` (default): one time step of length time.dt, in which every reactor is
///    followed by CVODE in its own adaptive steps and its ignition time found inside a
///    step (root finding for a temperature rise or a species threshold, CVODE's
///    interpolating polynomial for the maximum of dT/dt or d[X]/dt), so it does not depend
///    on any output interval;
///  - `run: steps`: the reactors advance in steps of time.dt through the `react` sub-step
///    (the same Pointwise/Checkable ChemistryStep as the 2D solver): what capture records
///    for training. The ignition time is then located between steps (linear interpolation:
///    resolution dt).
/// Writes reactors.csv (reactor, x, T0, p, ignition_delay, T_final) and optionally time
/// histories.
#include <memory>

#include "simfuse/core/Checkpoint.hpp"
#include "simfuse/core/Solver.hpp"
#include "simfuse/solvers/chemistry/ChemistryStep.hpp"

namespace simfuse {

class ReactorSweep final : public Solver, public Checkpointable {
 public:
  static void declare(Schema& s);
  explicit ReactorSweep(const SolverContext& ctx);

  State& state() override { return state_; }
  std::vector<PlanEntry> plan() override;
  std::vector<std::string> output_fields() const override { return {"gas"}; }
  nlohmann::ordered_json describe() const override;
  void end_of_step(double t) override;
  void prepare_output() override;
  bool steady() const override { return ignition_mode_ && ignited_run_; }
  std::vector<std::string> write_results(const std::string& dir) override;
  /// mechanism_hash, reactor (the pressure varies between reactors).
  std::map<std::string, std::string> model_context() const override;

  /// Checkpoints: the ignition monitor (previous values and rates, delays found) and the
  /// history rows recorded so far.
  void save_state(CheckpointData& out) const override;
  void restore_state(const CheckpointData& in) override;

  /// The chemistry integrator (its statistics: steps, Jacobians).
  const CellChemistry& chemistry() const { return *chem_; }
  /// `run: steps`: the reactors advance through the `react` sub-step (a model can stand in).
  bool runs_steps() const { return !ignition_mode_; }
  /// Ignition delay of each owned reactor (negative: none within the run).
  const std::vector<double>& ignition_delays() const { return delay_; }

 private:
  class Ignite final : public SubStep {
   public:
    explicit Ignite(ReactorSweep& s) : s_(s) {}
    const std::string& name() const override { return name_; }
    std::vector<std::string> reads() const override { return {"gas"}; }
    std::vector<std::string> writes() const override { return {"gas"}; }
    void apply(State& state, const StepInfo& info) override;

   private:
    ReactorSweep& s_;
    std::string name_ = "ignite";
  };

  const Grid& grid_;
  std::shared_ptr<const Mechanism> mech_;
  Reactor::Mode mode_ = Reactor::Mode::constant_pressure;
  bool ignition_mode_ = true, ignited_run_ = false;
  IgnitionCriterion criterion_;
  std::string criterion_name_;
  std::vector<std::string> history_species_;
  std::vector<std::string> history_rows_;  // owned reactors' history lines
  State state_;
  std::unique_ptr<CellChemistry> chem_;
  std::unique_ptr<ChemistryStep> react_;
  Ignite ignite_{*this};
  std::vector<double> T0_, p_, rho_, delay_;
  std::vector<double> prev_, prev_rate_;  // steps mode: the monitored quantity at the previous step
  double prev_t_ = 0, t0_ = 0;
};

}  // namespace simfuse
