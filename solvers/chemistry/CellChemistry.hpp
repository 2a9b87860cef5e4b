#pragma once
/// \file CellChemistry.hpp
/// What the two chemistry solvers (`reacting`: 1-3D with diffusion; `reactors`: a sweep
/// of independent 0D reactors) share:
///  - the mechanism named in the case (`kinetics: {type: mechanism, file, phase}`),
///  - the initial state [T, Y_1..Y_N] of a point from `initial:` (temperature and a
///    mixture by mole or mass fractions or by equivalence ratio, as expressions of space),
///  - the per-cell integration of the chemistry over a step (CVODE or Rodas3; one
///    integrator memory per rank reused across cells, no history kept between steps),
///    with its cut-off temperature, statistics and the cheap error estimate that guarded
///    policies drive,
///  - the collective report of a failed cell (exit 3 naming cell, state and flag).
#include <mpi.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "simfuse/core/base/Function.hpp"
#include "simfuse/core/base/Schema.hpp"
#include "simfuse/solvers/chemistry/Admissible.hpp"
#include "simfuse/solvers/chemistry/Cvode.hpp"
#include "simfuse/solvers/chemistry/Reactor.hpp"
#include "simfuse/solvers/kinetics/Kinetics.hpp"
#include "simfuse/solvers/kinetics/Rosenbrock.hpp"

namespace simfuse {

/// Declares `kinetics`, `initial`, `integrator` and `check` (the keys both chemistry
/// solvers take) into a solver's schema.
void declare_chemistry(Schema& s);

/// Loads the mechanism of a validated `kinetics:` section (file relative to the case file).
std::shared_ptr<const Mechanism> load_mechanism(const Params& kinetics);

/// The components of a chemistry solver's `gas` field: T, then the species in mechanism order.
std::vector<std::string> gas_components(const Mechanism& mech);
/// summary.json's description of a mechanism (file, phase, species and reaction counts).
nlohmann::ordered_json describe_mechanism(const Mechanism& mech);
/// What a chemistry model depends on (Solver::model_context): the mechanism's content hash
/// (a renamed copy is the same mechanism; species and their order are checked through the
/// field's components) and the reactor type.
std::map<std::string, std::string> chemistry_context(const Mechanism& mech, Reactor::Mode mode);

/// The initial state of a point: temperature and mixture from `initial:`.
class InitialMixture {
 public:
  InitialMixture(const Params& initial, const Mechanism& mech, const Constants& constants);
  /// Writes [T, Y_1..Y_N] at (x, y, z). Throws UserError naming the key and the point when
  /// the temperature is not positive and finite, or fractions are negative or (without
  /// `normalize: true`) do not sum to 1.
  void at(double x, double y, double z, double* out) const;
  std::string describe() const;

 private:
  const Mechanism& mech_;
  Params p_;
  std::unique_ptr<Function> T_, phi_;
  enum class Kind { mole, mass, equivalence_ratio } kind_ = Kind::mole;
  std::vector<std::unique_ptr<Function>> fractions_;  // per species (null: 0), mole or mass
  std::vector<double> fuel_, oxidizer_;               // equivalence ratio: normalised mole fractions
  double fuel_o2_ = 0, oxidizer_o2_ = 0;              // O2 demand per mole (fuel > 0, oxidiser < 0)
  bool normalize_ = false;
};

/// The [T, Y] system of a reactor as Kinetics (components T and the species), for Rodas3.
/// Constant volume has no analytic Jacobian: one-sided differences there.
class ReactorKinetics final : public Kinetics {
 public:
  explicit ReactorKinetics(Reactor& r);
  const std::vector<std::string>& species() const override { return names_; }
  void rhs(const double* y, double* f) const override { r_.rhs(y, f); }
  void jacobian(const double* y, double* J) const override;
  std::string describe() const override { return "mechanism " + r_.mechanism().file(); }

 private:
  Reactor& r_;
  std::vector<std::string> names_;
};

/// Integrator work of the chemistry, summed over cells and steps (reduced over ranks
/// where the solver says so).
struct ChemistryStats {
  CvodeStats cvode;
  RosenbrockStats rodas;
  long cells = 0;    ///< cell integrations
  long skipped = 0;  ///< cells below the cut-off temperature
  double seconds = 0;
};

/// One rank's chemistry integrator.
class CellChemistry {
 public:
  CellChemistry(const Mechanism& mech, Reactor::Mode mode, double pressure, const Params& integrator,
                const Params& check);
  ~CellChemistry();

  const Mechanism& mechanism() const { return mech_; }
  Reactor& reactor() { return reactor_; }
  int size() const { return reactor_.size(); }
  /// The [T, Y] system as Kinetics (Rodas3 and the estimate integrate it).
  const Kinetics& kinetics() const;
  CvodeIntegrator* cvode() { return cvode_.get(); }
  const std::string& integrator() const { return type_; }
  double cutoff() const { return cutoff_; }
  /// The check's limits on a proposal (check.max_temperature_change, max_element_defect).
  const AdmissibleLimits& admissible_limits() const { return limits_; }
  /// The integrator's absolute tolerance on component c (0: T, 1..: the species): a
  /// value within it of zero is zero to the integration.
  double absolute_tolerance(int c) const { return cv_.atols.empty() ? cv_.atol : cv_.atols[static_cast<size_t>(c)]; }
  /// The temperatures every species' thermo data covers.
  double temperature_min() const { return T_lo_; }
  double temperature_max() const { return T_hi_; }

  /// Sets the pressure (and, at constant volume, the density) of the next cell.
  void set_cell(double pressure, double density = 0);
  /// Advances y by dt; false if the cell was below the cut-off temperature (unchanged).
  /// Throws RunFailure (the integrator's flag and the state) if the integration fails.
  /// With step_memory(), `step` (the cell's memory: 0 at first) is the step to start
  /// from and receives the step proposed at the end; ignored otherwise (may be null).
  bool advance(double* y, double dt, double* step = nullptr);
  /// Whether cells keep their integrator step between calls (integrator.step_memory).
  bool step_memory() const { return step_memory_; }
  /// Deviation of `proposed` from a loose error-controlled integration (CVODE when it is the
  /// integrator, else Rodas3) from
  /// `before` (check.reference_rtol, absolute tolerances 1/1000 of the floors (its error
  /// accumulates over its steps and must stay well below the floors)): the maximum
  /// over components of |proposed - ref| / (floor_c + rtol |ref|), T with its own floor
  /// (K) and each species with its own (mass fraction) floor. Infinite if the reference
  /// fails. Forced chemistry: `source` is the transport's rate [dT/dt, dY_k/dt] over the
  /// step (the reference integrates it too; below the cut-off it is the transport alone)
  /// and `h_end` the enthalpy the step ends at (the reference's T is set from it).
  /// `reference`, if given, receives the reference result when the estimate is finite.
  double estimate(const double* before, const double* proposed, double dt, const double* source = nullptr,
                  const double* h_end = nullptr, double* reference = nullptr);
  std::string estimate_description() const;

  const ChemistryStats& stats() const { return stats_; }
  /// Continues the statistics from `s` (a resumed run).
  void set_stats(const ChemistryStats& s) {
    stats_ = s;
    if (cvode_) cvode_->set_stats(s.cvode);
  }
  /// Adds work done directly on cvode() (ignition runs) to the statistics.
  void add_direct_work(long cells, double seconds) {
    stats_.cells += cells;
    stats_.seconds += seconds;
    if (cvode_) stats_.cvode = cvode_->stats();
  }
  /// The integrator's options and `stats` (already reduced) as JSON numbers.
  nlohmann::ordered_json describe(const ChemistryStats& stats) const;
  /// Sums the statistics of all ranks. Collective.
  ChemistryStats reduced(MPI_Comm comm) const;
  /// Warns once per run (as Cantera does) when T leaves the range of a species' polynomials.
  void check_temperature_range(double T);
  /// The initial temperatures of this rank's cells: range warnings, and a UserError at
  /// integrator.cutoff_temperature if the cut-off is above all of them on every rank.
  /// Collective.
  void check_initial_temperatures(const std::vector<double>& T, const Params& integrator, MPI_Comm comm);

 private:
  const Mechanism& mech_;
  Reactor reactor_;
  std::string type_;
  CvodeOptions cv_;
  RosenbrockOptions ros_;
  std::unique_ptr<CvodeIntegrator> cvode_;
  std::unique_ptr<Kinetics> kinetics_;
  bool step_memory_ = false;
  double first_step_fraction_ = 0.1;
  double cutoff_ = 0;
  RosenbrockOptions ref_;  // the estimate's reference integration (Rodas3; its rtol and atols also CVODE's)
  std::unique_ptr<CvodeIntegrator> ref_cvode_;
  RosenbrockStats check_stats_;
  double check_rtol_ = 0.02;
  AdmissibleLimits limits_;
  std::vector<double> floors_;
  std::vector<double> h_;  // Rodas3 first step (per call, not per cell)
  ChemistryStats stats_;
  double T_lo_ = 0, T_hi_ = 0;
  bool warned_ = false;
};

/// Throws RunFailure on every rank if `message` is non-empty on any: the message of the
/// lowest such rank, with `fix`. Collective.
void throw_if_any_failed(MPI_Comm comm, const std::string& message, const std::string& fix);

/// What a caught error says, without its "error:" prefix and fix line (to be nested in a
/// message that names the cell).
std::string what_of(const UserError& e);

/// "T = 1234.5 K, H2 = 0.028, O2 = 0.22, ..." (the largest mass fractions first).
std::string describe_state(const Mechanism& mech, const double* y, int max_species = 6);

}  // namespace simfuse
