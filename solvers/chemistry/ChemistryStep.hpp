#pragma once
/// \file ChemistryStep.hpp
/// The `react` sub-step of the chemistry solvers: every owned cell of a field with
/// components [T, Y_1..Y_N] integrated over the step by CellChemistry. Pointwise (a
/// guarded policy can run it on some cells only) and Checkable (the estimate of
/// CellChemistry), so a surrogate of the chemistry plugs in unchanged; Admissible (a
/// proposal is projected onto non-negative, element-conserving compositions with the
/// energy-conserving temperature). Keeps the heat
/// release rate diagnostic up to date and the per-rank time for the load balance.
/// Relocatable: a cell's record is its [T, Y], its pressure and density when the solver
/// sets them per cell (a sweep), and its integrator step with integrator.step_memory.
/// Differentiable: TDAC's (I - dt J)^-1, for the isat policy.
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>

#include "simfuse/core/Checkpoint.hpp"
#include "simfuse/core/Grid.hpp"
#include "simfuse/core/SubStep.hpp"
#include "simfuse/solvers/chemistry/Admissible.hpp"
#include "simfuse/solvers/chemistry/CellChemistry.hpp"

namespace simfuse {

class ChemistryStep final : public SubStep,
                            public Pointwise,
                            public RegimeAware,
                            public Checkable,
                            public Admissible,
                            public Relocatable,
                            public Perturbable,
                            public Differentiable,
                            public Checkpointable {
 public:
  /// The conditions of one cell that the chemistry borrows.
  struct CellConditions {
    double pressure = 0;  ///< Pa
    double density = 0;   ///< kg/m^3 (used at constant volume)
  };
  /// `conditions(p)` gives owned point p's pressure and density (a sweep's reactors); when
  /// empty, the chemistry's own settings hold for every cell. `heat_release` (may be null) receives -sum h_k wdot_k,
  /// W/m^3; `cost` (may be null) the seconds each cell's integration took in the last call.
  ChemistryStep(const Grid& grid, CellChemistry& chem, std::string field, Field* heat_release, Field* cost = nullptr,
                std::function<CellConditions(PetscInt)> conditions = {});

  const std::string& name() const override { return name_; }
  /// Forced chemistry (a flow's `splitting: forced`): each call integrates point p's
  /// chemistry from its state y0 with the constant source (y1 - y0) / dt, y1 = [T, Y] of the
  /// field `transported` (the state the transport alone leaves over the step, which the
  /// solver writes before each call), and ends at y1's enthalpy (T is set from it: the
  /// chemistry conserves h, the transport changed it). The field is then a required input:
  /// a model must read it, the element projection conserves y1's elements and enthalpy, the
  /// estimate integrates the same source, and a relocated record carries y1.
  void enable_forcing(const Field& transported) { transported_ = &transported; }
  std::vector<std::string> required_inputs() const override {
    return transported_ ? std::vector<std::string>{transported_->name()} : std::vector<std::string>{};
  }
  /// The sub-step runs only classically for another reason (e.g. a pressure that changes in
  /// time, which a model or a table made at one pressure does not know).
  void set_classical_only(std::string why) { classical_only_ = std::move(why); }
  std::string classical_only() const override { return classical_only_; }
  /// RegimeAware: temperature (K) and the equivalence ratio of the element composition,
  /// (2 n_C + n_H / 2) / n_O: the oxygen a complete combustion needs over the oxygen there
  /// (exact for fuels without oxygen; the chemistry conserves it, so a burnt cell keeps the
  /// phi it burnt at; infinite without oxygen).
  std::vector<std::string> regime_coordinates() const override { return {"temperature", "equivalence_ratio"}; }
  void regime_point(const double* components, double* coords) const override;
  std::vector<std::string> reads() const override {
    return transported_ ? std::vector<std::string>{field_, transported_->name()} : std::vector<std::string>{field_};
  }
  std::vector<std::string> writes() const override { return {field_}; }
  void apply(State& state, const StepInfo& info) override;
  void apply_points(State& state, const StepInfo& info, const std::vector<PetscInt>& points) override;
  void estimate(const State& state, const std::vector<Vec>& before, const StepInfo& info,
                std::vector<double>& estimate) override;
  std::string estimate_description() const override { return chem_.estimate_description(); }
  void estimate_points(const State& state, const std::vector<Vec>& before, const StepInfo& info,
                       const std::vector<PetscInt>& points, std::vector<double>& estimate) override;
  /// A loose integration per cell: about 0.4 of the integration it checks (docs/benchmarks.md).
  bool estimate_is_costly() const override { return true; }
  /// The estimate's reference is the cell's step integrated by the same equations at
  /// check.reference_rtol (forced: the same source, T from the same end enthalpy).
  bool estimate_leaves_results() const override { return true; }
  void keep_estimated(State& state, const std::vector<PetscInt>& points) override;
  /// Element-conserving non-negative projection of Y, then T from the conserved energy
  /// (Admissible.hpp); a point that cannot be mapped gets ok = 0.
  void make_admissible(State& state, const std::vector<Vec>& before, const StepInfo& info,
                       std::vector<char>& ok) override;
  std::string admissible_description() const override;
  /// T finite within the thermo data's range and every Y_k >= -atol_k (the integrator's
  /// absolute tolerance: what it leaves itself; a value within it of zero is zero to it).
  bool point_admissible(const double* y) const override;
  void make_points_admissible(State& state, const std::vector<Vec>& before, const StepInfo& info,
                              const std::vector<PetscInt>& points, std::vector<char>& ok) override;
  /// T scaled by (1 + amplitude u), each positive mass fraction raised to the power
  /// (1 + amplitude u_k) (a relative change that is the same in log space whatever the
  /// species' magnitude), u uniform in [-1, 1], the fractions then renormalised; T is kept
  /// inside the thermo data. Zero fractions stay zero.
  void perturb(double* point, double amplitude, std::mt19937_64& rng) const override;
  /// Forced: the transported state y1 of a record perturbed from y0 to y0' becomes
  /// y0' + (1 + amplitude u_c) (y1 - y0) per component (the transport's change kept, each
  /// scaled by its own u uniform in [-1, 1]), its mass fractions then clipped at zero and
  /// renormalised as the transport's are. Not forced: nothing to do.
  void perturb_conditions(const double* original, const double* perturbed, double* conditions, double amplitude,
                          std::mt19937_64& rng) const override;
  PointLayout point_layout() const override;
  void take_points(const State& state, const std::vector<PetscInt>& points, PointStates& out) const override;
  /// Each record integrated over info.dt as apply_points integrates a cell (its pressure
  /// and density set first); ok = 0 where the integration fails.
  void apply_states(const StepInfo& info, PointStates& states, std::vector<char>& ok) override;
  void return_points(State& state, const std::vector<PetscInt>& points, const PointStates& states) override;
  /// TDAC's cheap sensitivity of a cell's step: A = (I - dt J(out))^-1 with J the [T, Y]
  /// Jacobian at the result (analytic at constant pressure), one LU; the identity for a
  /// cell below the cut-off temperature (which the step leaves unchanged).
  void sensitivity(const StepInfo& info, const PointStates& in, size_t q, const double* out, double* A) override;
  std::string sensitivity_description() const override;
  /// 1000 K for T, 1e-3 for a mass fraction: with isat's default tolerance 1e-3, 1 K and
  /// 1e-6 absolute. OpenFOAM's TDAC scales species by 1; with 0.01 (1e-5 absolute) the H2
  /// hot spot's table grew one entry over the induction and the spot never ignited
  /// (docs/benchmarks.md).
  double component_scale(int c) const override { return c == 0 ? 1000.0 : 1e-3; }

  /// Recomputes the heat release field from the current state (a rate evaluation per
  /// cell: the solvers call it before output, not after every react). Collective only in
  /// that every rank calls it.
  void update_heat_release(const State& state);
  /// Integrator statistics summed over ranks at the end of the last call, with the
  /// load balance of react (max and mean over ranks of the time spent integrating).
  nlohmann::ordered_json describe() const;
  /// Reduces the statistics over ranks after work done outside apply() (ignition runs),
  /// `rank_seconds` of it on this rank. Collective.
  void record_work(double rank_seconds);
  /// Checkpoints: the integrator statistics (this rank's) and the time spent.
  void save_state(CheckpointData& out) const override;
  void restore_state(const CheckpointData& in) override;
  /// "cell (i, j) at (x, y)".
  std::string cell_name(PetscInt p) const;

 private:
  void run(State& state, const StepInfo& info, const std::vector<PetscInt>* points);
  const Grid& grid_;
  CellChemistry& chem_;
  std::string name_ = "react";
  std::string field_;
  Field* hrr_;
  Field* cost_;
  /// Owned point p's integrator step (null without step memory).
  double* step_of(PetscInt p);
  std::vector<double> steps_;  // per owned point: the step its integrator proposed last (0: none yet)
  // The last estimate_points call's reference results (n per owned point) and whether each
  // point has one (it was estimated, the estimate finite).
  std::vector<double> estimated_;
  std::vector<char> has_estimated_;
  /// Sets the chemistry's pressure and density to owned point p's (no-op without them).
  void set_cell(PetscInt p) const;
  std::function<CellConditions(PetscInt)> conditions_;
  const Field* transported_ = nullptr;   // forced: the state the transport leaves (null: not forced)
  std::string classical_only_;           // another reason to refuse policies (empty: none)
  std::vector<double> need_o_, have_o_;  // per species, per kg: O atoms needed, there (regime_point)
  /// Forced: a read-only view of the transported state (null when not forced).
  std::unique_ptr<ArrayView> transported_view() const;
  /// Forced: where the transported state starts in a record's conditions (after the
  /// pressure and density of a sweep's cells).
  int transported_at() const { return conditions_ ? 2 : 0; }
  /// Forced: the source (y1 - y0) / dt into `src` and y1's enthalpy, y0 the start, y1 the
  /// transported state.
  void forcing(const double* y0, const double* y1, double dt, double* src, double& h_end) const;
  std::unique_ptr<ElementProjection> projection_;
  ChemistryStats reduced_;
  double rank_seconds_ = 0, max_rank_seconds_ = 0, mean_rank_seconds_ = 0;
};

}  // namespace simfuse
