#pragma once
/// \file ReactingSolver.hpp
/// A reacting ideal-gas mixture without flow, at a constant pressure given in the case:
/// per grid point the temperature and the N mass fractions, held as one field `gas` with
/// components [T, Y_1..Y_N] (the layout a pointwise model binds to). Transport has unity
/// Lewis number: species and enthalpy diffuse with one diffusivity D,
///
///     dY_k/dt = D Laplacian Y_k + W_k wdot_k / rho,    dh/dt = D Laplacian h   (adiabatic),
///
/// split (Strang by default) into `diffuse` and `react`:
///  - diffuse: one implicit operator (Crank-Nicolson or implicit Euler; one matrix and
///    one preconditioner set up once) applied to h and to every Y_k in turn, T then
///    recovered from h by Newton. With zero-flux walls it conserves the integrals of h
///    and of every Y_k (hence of every element) to the linear-solver tolerance; the
///    density is taken as constant in the transport (no flow, no thermal expansion).
///  - react: per-cell constant-pressure adiabatic chemistry (CellChemistry: CVODE or
///    Rodas3), which conserves elements exactly and h to the integration tolerance.
/// Diagnostic fields `heat_release` (W/m^3) and `react_seconds` (the time each cell's
/// chemistry took in the last step: where the cost is, for ParaView). Metrics: the integrals of h and of each
/// element's mass (conservation checks).
///
///     solver:
///       type: reacting
///       params:
///         kinetics: {file: mechanisms/h2o2.yaml}
///         pressure: 101325
///         diffusivity: 2e-5
///         initial: {temperature: "...", equivalence_ratio: 1, fuel: {H2: 1}, oxidizer: {O2: 1, N2: 3.76}}
#include <memory>

#include "simfuse/core/Solver.hpp"
#include "simfuse/solvers/chemistry/ChemistryStep.hpp"
#include "simfuse/solvers/common/DiffusionOperator.hpp"

namespace simfuse {

class ReactingSolver final : public Solver {
 public:
  static void declare(Schema& s);
  explicit ReactingSolver(const SolverContext& ctx);

  State& state() override { return state_; }
  std::vector<PlanEntry> plan() override;
  std::vector<std::string> output_fields() const override { return {"gas"}; }
  nlohmann::ordered_json describe() const override;
  std::map<std::string, double> metrics() override;
  void prepare_output() override;
  /// mechanism_hash, reactor (constant_pressure), pressure.
  std::map<std::string, std::string> model_context() const override;

  const Mechanism& mechanism() const { return *mech_; }
  CellChemistry& chemistry() { return *chem_; }
  SubStep& react() { return *react_; }
  SubStep& diffuse() { return diffuse_; }

 private:
  class Diffuse final : public SubStep {
   public:
    explicit Diffuse(ReactingSolver& s) : s_(s) {}
    const std::string& name() const override { return name_; }
    std::vector<std::string> reads() const override { return {"gas"}; }
    std::vector<std::string> writes() const override { return {"gas"}; }
    void apply(State& state, const StepInfo& info) override;
    int iterations = 0;

   private:
    ReactingSolver& s_;
    std::string name_ = "diffuse";
  };

  const Grid& grid_;
  std::shared_ptr<const Mechanism> mech_;
  double pressure_ = 101325, D_ = 0;
  bool strang_ = true;
  State state_;
  std::unique_ptr<CellChemistry> chem_;
  std::unique_ptr<ChemistryStep> react_;
  std::unique_ptr<DiffusionOperator> op_;
  std::unique_ptr<ThetaDiffusion> stepper_;
  PetscHandle<Vec> work_;
  Diffuse diffuse_{*this};
  std::string mixture_;
};

}  // namespace simfuse
