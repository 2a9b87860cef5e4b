#include "simfuse/solvers/reacting/ReactingSolver.hpp"

#include <fmt/format.h>

#include <cmath>

#include "simfuse/core/base/Error.hpp"

namespace simfuse {

void ReactingSolver::declare(Schema& s) {
  declare_chemistry(s);
  s.add_real("pressure", "the (constant, uniform) pressure, Pa (1 Pa to 1e9 Pa: an ideal gas in the continuum)")
      .def(101325.0)
      .range(1.0, 1e9);
  s.add_real("diffusivity", "diffusivity of species and enthalpy (unity Lewis number), m^2/s; 0: no transport")
      .required()
      .non_negative();
  s.add_string("scheme", "time integration of the diffusion")
      .def("crank_nicolson")
      .choices({"crank_nicolson", "implicit_euler"});
  s.add_string("splitting", "operator splitting").def("strang").choices({"strang", "lie"});
}

namespace {
// Fills every owned point from the initial mixture; every rank also checks every other
// point, so a bad value anywhere is the same UserError on all ranks (no rank waits for
// another that has failed).
void fill_initial(const Grid& grid, const InitialMixture& init, int n, Field& f) {
  std::vector<double> y(static_cast<size_t>(n));
  const Box& b = grid.owned();
  for (PetscInt k = 0; k < grid.n(2); ++k)
    for (PetscInt j = 0; j < grid.n(1); ++j)
      for (PetscInt i = 0; i < grid.n(0); ++i)
        init.at(grid.x(0, i), grid.dim() > 1 ? grid.x(1, j) : 0.0, grid.dim() > 2 ? grid.x(2, k) : 0.0, y.data());
  ArrayView v = f.view();
  for (PetscInt k = b.lo[2]; k < b.lo[2] + b.n[2]; ++k)
    for (PetscInt j = b.lo[1]; j < b.lo[1] + b.n[1]; ++j)
      for (PetscInt i = b.lo[0]; i < b.lo[0] + b.n[0]; ++i) {
        init.at(grid.x(0, i), grid.dim() > 1 ? grid.x(1, j) : 0.0, grid.dim() > 2 ? grid.x(2, k) : 0.0, y.data());
        for (int c = 0; c < n; ++c) v(i, j, k, c) = y[c];
      }
}
}  // namespace

ReactingSolver::ReactingSolver(const SolverContext& ctx) : grid_(ctx.grid) {
  const Params& p = ctx.params;
  mech_ = load_mechanism(p.sub("kinetics"));
  pressure_ = p.get<double>("pressure");
  D_ = p.get<double>("diffusivity");
  strang_ = p.get<std::string>("splitting") == "strang";
  const int n = mech_->n_species() + 1;
  Field& gas = state_.add(grid_, "gas", gas_components(*mech_));
  const InitialMixture init(p.sub("initial"), *mech_, ctx.constants);
  mixture_ = init.describe();
  fill_initial(grid_, init, n, gas);
  chem_ = std::make_unique<CellChemistry>(*mech_, Reactor::Mode::constant_pressure, pressure_, p.sub("integrator"),
                                          p.sub("check"));
  {
    std::vector<double> T0(static_cast<size_t>(grid_.owned().size()));
    const ArrayView v = gas.view_read();
    const double* a = v.data();
    for (size_t q = 0; q < T0.size(); ++q) T0[q] = a[q * n];
    chem_->check_initial_temperatures(T0, p.sub("integrator"), grid_.comm());
  }
  Field& hrr = state_.add_diagnostic(grid_, "heat_release");
  Field& cost = state_.add_diagnostic(grid_, "react_seconds");
  react_ = std::make_unique<ChemistryStep>(grid_, *chem_, "gas", &hrr, &cost);
  react_->update_heat_release(state_);
  if (D_ > 0) {
    SIMFUSE_PETSC(DMCreateGlobalVector(grid_.dm(1), work_.out()));
    op_ = std::make_unique<DiffusionOperator>(grid_, constant_function(D_),
                                              BoundaryConditions::all(grid_, BcKind::neumann, constant_function(0.0)),
                                              "solver.params.diffusivity");
    ThetaOptions opt;
    opt.theta = p.get<std::string>("scheme") == "implicit_euler" ? 1.0 : 0.5;
    stepper_ = std::make_unique<ThetaDiffusion>(*op_, nullptr, opt);
    stepper_->prepare(strang_ ? 0.5 * ctx.dt : ctx.dt);
  }
}

std::vector<PlanEntry> ReactingSolver::plan() {
  if (!stepper_) return {{react_.get(), 1.0, 0.0}};
  if (strang_) return {{&diffuse_, 0.5, 0.0}, {react_.get(), 1.0, 0.0}, {&diffuse_, 0.5, 0.5}};
  return {{react_.get(), 1.0, 0.0}, {&diffuse_, 1.0, 0.0}};
}

void ReactingSolver::Diffuse::apply(State& state, const StepInfo& info) {
  Field& gas = state.get("gas");
  Vec g = gas.vec();
  const int n = s_.mech_->n_species() + 1;
  Reactor& r = s_.chem_->reactor();
  const PetscInt np = s_.grid_.owned().size();
  Vec w = s_.work_;
  // Enthalpy into the work vector, diffused, then held while the mass fractions diffuse.
  std::vector<double> h(static_cast<size_t>(np)), T0(static_cast<size_t>(np));
  {
    const ArrayView v = gas.view_read();
    const double* a = v.data();
    for (PetscInt q = 0; q < np; ++q) {
      T0[q] = a[q * n];
      h[q] = r.enthalpy_mass(a[q * n], a + q * n + 1);
    }
  }
  double* wa = nullptr;
  SIMFUSE_PETSC(VecGetArray(w, &wa));
  std::copy(h.begin(), h.end(), wa);
  SIMFUSE_PETSC(VecRestoreArray(w, &wa));
  iterations = 0;
  s_.stepper_->step(w, info.t, info.dt);
  iterations += s_.stepper_->last_iterations();
  const double* ra = nullptr;
  SIMFUSE_PETSC(VecGetArrayRead(w, &ra));
  std::copy(ra, ra + np, h.begin());
  SIMFUSE_PETSC(VecRestoreArrayRead(w, &ra));
  for (int c = 1; c < n; ++c) {
    SIMFUSE_PETSC(VecStrideGather(g, c, w, INSERT_VALUES));
    s_.stepper_->step(w, info.t, info.dt);
    iterations += s_.stepper_->last_iterations();
    SIMFUSE_PETSC(VecStrideScatter(w, c, g, INSERT_VALUES));
  }
  std::string failure;
  {
    ArrayView v = gas.view();
    double* a = v.data();
    for (PetscInt q = 0; q < np; ++q) {
      try {
        a[q * n] = r.temperature_from_enthalpy(h[q], a + q * n + 1, T0[q]);
      } catch (const RunFailure& e) {
        failure = fmt::format("diffuse: {}: {}", s_.react_->cell_name(q), what_of(e));
        break;
      }
    }
  }
  throw_if_any_failed(s_.grid_.comm(), failure, "reduce time.dt or check the initial state");
}

nlohmann::ordered_json ReactingSolver::describe() const {
  nlohmann::ordered_json d{{"mechanism", describe_mechanism(*mech_)},
                           {"pressure", pressure_},
                           {"initial_mixture", mixture_},
                           {"diffusivity", D_},
                           {"splitting", strang_ ? "strang" : "lie"},
                           {"react_integrator", react_->describe()}};
  if (stepper_) d["diffuse_solver"] = stepper_->solver_description();
  return d;
}

std::map<std::string, std::string> ReactingSolver::model_context() const {
  auto c = chemistry_context(*mech_, Reactor::Mode::constant_pressure);
  c["pressure"] = fmt::format("{:g} Pa", pressure_);
  return c;
}

void ReactingSolver::prepare_output() {
  react_->update_heat_release(state_);
}

std::map<std::string, double> ReactingSolver::metrics() {
  // Integrals (trapezoidal weights) of h and of each element's mass fraction: what the
  // scheme conserves with zero-flux walls (per unit density).
  const int n = mech_->n_species() + 1;
  const auto& elements = mech_->elements();
  std::vector<double> local(elements.size() + 1, 0.0), all(local.size());
  Vec wv = grid_.weights();
  const double* w = nullptr;
  SIMFUSE_PETSC(VecGetArrayRead(wv, &w));
  {
    const ArrayView v = state_.get("gas").view_read();
    const double* a = v.data();
    for (PetscInt q = 0; q < grid_.owned().size(); ++q) {
      const double* y = a + q * n;
      local[0] += w[q] * chem_->reactor().enthalpy_mass(y[0], y + 1);
      for (size_t e = 0; e < elements.size(); ++e) {
        double m = 0;
        for (int k = 0; k < mech_->n_species(); ++k) {
          const auto& s = mech_->species()[k];
          auto it = s.composition.find(elements[e]);
          if (it != s.composition.end()) m += y[k + 1] / s.molar_mass * it->second;
        }
        local[e + 1] += w[q] * m;
      }
    }
  }
  SIMFUSE_PETSC(VecRestoreArrayRead(wv, &w));
  MPI_Allreduce(local.data(), all.data(), static_cast<int>(local.size()), MPI_DOUBLE, MPI_SUM, grid_.comm());
  std::map<std::string, double> m{{"enthalpy_integral", all[0]}};
  for (size_t e = 0; e < elements.size(); ++e) m["element_moles_integral_" + elements[e]] = all[e + 1];
  return m;
}

}  // namespace simfuse
