#include "simfuse/solvers/navier_stokes/ReactingFlow.hpp"

#include <fmt/format.h>
#include <petscdmda.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "simfuse/core/base/Error.hpp"
#include "simfuse/solvers/common/LinearSolver.hpp"

namespace simfuse {

namespace {

// van Leer's limited slope from the one-sided differences a and b (zero at an extremum).
double van_leer(double a, double b) {
  return a * b > 0 ? 2 * a * b / (a + b) : 0.0;
}

const char* kTransport[] = {"mixture_averaged", "unity_lewis"};

// A negative mass fraction left by diffusion is set to 0; below -kNegligible it is counted.
constexpr double kNegligible = 1e-14;

}  // namespace

struct ReactingFlow::Impl {
  const Grid& grid;
  const Mechanism& mech;
  MacBoundary& b;
  Field& gas;
  Field& density;
  int N = 0, n = 0;  // species, gas components
  PetscInt nx = 0, ny = 0;
  bool px = false, py = false;
  double hx = 1, hy = 1;
  bool unity_lewis = false;
  bool flux_inlet = true;  // inflow_species: total_flux
  int fuel = -1;
  std::unique_ptr<MixtureTransport> transport;

  std::vector<double> in;       // inflow [T, Y]
  std::vector<double> in_phi;   // inflow [h, Y]
  std::vector<double> in_coef;  // inflow coefficients, the layout of `coef`
  double h_in = 0;

  PetscHandle<Vec> phi, coef, ynew, sol, rhs, ediv, hstar, x, s0;
  PetscHandle<Mat> A;
  PetscHandle<KSP> ksp;
  int last_its = 0;                // the scalar solves' iterations in the last diffuse
  std::vector<double> rates;       // forced_split: the transport's rate [T, Y] per owned cell this step
  std::vector<double> react_rate;  // forced: the chemistry's own rate of Y per owned cell, last step
  std::vector<double> h_end;       // forced_split: the enthalpy per owned cell the transport left
  Field* transported = nullptr;    // forced: the state the transport left (react's forcing)
  long clipped = 0;                // cells where diffusion left a negative mass fraction (set to 0)
  double most_negative = 0;

  // Flame diagnostics, one record per step.
  std::vector<double> hist_t, hist_front, hist_sc, hist_length;
  double burnt_T = 0, max_T = 0, u_in = 0;
  double T_behind = 0;                   // mean temperature 1 mm behind the front (NaN: outside the domain)
  double T_max0 = 0;                     // the initial hottest cell
  double fuel_mass0 = 0, fuel_mass = 0;  // the fuel in the domain (kg/m in 2D) at the start, now
  double mass0 = 0;                      // the sum of the initial density field
  std::map<std::string, double> events;  // flame event -> the time it first happened
  std::vector<std::string> stop_when;
  std::string stop_event;

  // hold_front: the inflow velocity that brings the front to hold_x in hold_tau:
  // u_in = s_bar + (hold_x - x_f) / hold_tau, s_bar the consumption speed filtered over
  // hold_tau (NaN before the first step).
  bool hold = false;
  double hold_x = 0, hold_tau = 1;
  double s_bar = std::numeric_limits<double>::quiet_NaN(), u_ctrl = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> hist_uin;  // the inflow velocity of each step (the face's middle)
  std::vector<double> hist_amp;  // the front's wrinkle amplitude: half its peak-to-peak in x
  std::vector<double> hist_p0;   // the thermodynamic pressure (changes on a closed domain)

  Impl(const Grid& g, const Mechanism& m, MacBoundary& bd, Field& gas_, Field& rho_)
      : grid(g), mech(m), b(bd), gas(gas_), density(rho_) {
    N = mech.n_species();
    n = N + 1;
    nx = g.n(0);
    ny = g.n(1);
    px = g.periodic(0);
    py = g.periodic(1);
    hx = g.h(0);
    hy = g.h(1);
  }

  int ncoef() const { return 2 * N + 2; }  // [rho D_k, lambda / cp, ln W, h_k]

  // One cell's new Y_1..Y_N: a negative one is set to 0 (counted in `clipped` when beyond
  // round-off: a mass fraction near 1 carries ~1e-16 of it; the most negative kept), then
  // the fractions are renormalised.
  void clip_normalise(double* Y, long& clipped, double& most_negative) const {
    double sum = 0;
    bool negative = false;
    for (int k = 0; k < N; ++k) {
      if (Y[k] < 0) {
        negative = negative || Y[k] < -kNegligible;
        most_negative = std::min(most_negative, Y[k]);
        Y[k] = 0;
      }
      sum += Y[k];
    }
    clipped += negative;
    for (int k = 0; k < N; ++k) Y[k] /= sum;
  }

  // Transport coefficients of one state into c (ncoef entries); returns mu.
  double coefficients(double T, const double* Y, double rho, double p0, double* c) const {
    const double cp = mech.cp_mass(T, Y);
    const double lambda = transport->thermal_conductivity(T, Y);
    if (unity_lewis) {
      for (int k = 0; k < N; ++k) c[k] = lambda / cp;
    } else {
      transport->mix_diff_coeffs(T, p0, Y, c);
      for (int k = 0; k < N; ++k) c[k] *= rho;
    }
    c[N] = lambda / cp;
    c[N + 1] = std::log(mech.mean_molar_mass(Y));
    std::vector<double> hrt(static_cast<size_t>(N));
    mech.h_RT(T, hrt.data());
    for (int k = 0; k < N; ++k) c[N + 2 + k] = hrt[k] * kGasConstant * T / mech.species()[k].molar_mass;
    return transport->viscosity(T, Y);
  }

  double T_of(double h, const double* Y, double guess, Reactor& r, PetscInt i, PetscInt j, const char* what) const {
    try {
      return r.temperature_from_enthalpy(h, Y, guess);
    } catch (const RunFailure& e) {
      throw RunFailure(fmt::format("{}: cell ({}, {}): {}", what, i, j, what_of(e)),
                       "reduce time.dt, or refine the grid where the flame is");
    }
  }
};

void ReactingFlow::declare(Schema& s) {
  declare_chemistry(s);
  s.add_real("pressure",
             "the thermodynamic pressure p0, Pa (uniform; the flow's pressure is a small perturbation); on a closed "
             "domain (no inflow, no outflow) its initial value: p0(t) then keeps the domain's mass")
      .def(101325.0)
      .range(1.0, 1e9);
  s.add_string("transport",
               "species and heat transport: mixture-averaged (Cantera's 'mixture-averaged', from the mechanism's "
               "transport data) or unity Lewis number (every D_k = lambda / (rho cp))")
      .def("mixture_averaged")
      .choices({kTransport[0], kTransport[1]});
  s.add_string("fuel", "the fuel species, for the consumption speed (a species of the mechanism)");
  s.add("stop_when", ParamType::StringList,
        "stop the run (exit 0, summary.json names the event) at a flame event: flashback (the front within two "
        "cells of the inflow), blow_off (within two cells of the outflow), extinction (the hottest cell less "
        "than 10% of the initial temperature rise above the inflow)")
      .def("[]")
      .choices({"flashback", "blow_off", "extinction"});
  s.add_string("splitting",
               "the chemistry's coupling to the transport: forced (react integrates from the state before the "
               "transport with the transport's rate over the step as a constant source, and the species' diffusion "
               "takes the chemistry's rate of the last step as a source: a steady flame is the unsplit one; S_L "
               "independent of dt; the state the transport leaves is the field transported, so a policy on react is a "
               "model that reads it (a forced model, e.g. models/h2_forced.card.yaml), balanced or classical), strang "
               "(half a react step before and after "
               "advect and diffuse: any policy on react; S_L 3% low at CFL 0.25, first order in dt), lie (one "
               "react step after them) or forced_split (forced, but the transport's rate is added in two halves "
               "around a react of the chemistry alone, a Strang split inside the forced step: any policy on react)")
      .def("forced")
      .choices({"strang", "lie", "forced", "forced_split"});
  s.add_string("inflow_species",
               "the species' inflow condition: total_flux (Cantera's inlet: the species enter with the flow's "
               "flux rho u Y_in and no diffusive flux, so the first cell's composition may differ from Y_in) or "
               "fixed (Y = Y_in on the inflow face: fuel that diffuses upstream is replaced through the face, which "
               "speeds a lean hydrogen flame up by 0.5%)")
      .def("total_flux")
      .choices({"total_flux", "fixed"});
  Schema& h = s.add_optional_section(
      "hold_front",
      "active control of the inflow (as PeleLMeX's): the inflow velocity becomes the filtered consumption speed "
      "plus (position - front) / time_scale each step, so a flame that burns faster than S_L (a cellular one) "
      "stays in the domain for as long as one likes; the inflow expression gives the profile at the start");
  h.add_real("position", "where the front (the T = (T_in + T_b)/2 line of the mean profile) is held, m");
  h.add_real("time_scale", "the control's time scale, s (the consumption speed is filtered over it)").positive();
  h.add_check([](const Params& q, Diagnostics& d) {
    for (const char* k : {"position", "time_scale"})
      if (!q.is_set(k))
        d.push_back(q.diag(k, fmt::format("hold_front needs its {}", k),
                           "give both, e.g. hold_front: {position: 3.0e-3, time_scale: 5.0e-4}"));
  });
}

ReactingFlow::ReactingFlow(const Grid& grid, const Params& p, const Constants& constants, State& state,
                           MacBoundary& boundary) {
  mech_ = load_mechanism(p.sub("kinetics"));
  const Mechanism& mech = *mech_;
  p0_ = p0_start_ = p0_next_ = p.get<double>("pressure");
  closed_ = boundary.inflow_face() < 0 && !boundary.any_outflow();
  Field& gas = state.add(grid, "gas", gas_components(mech));
  Field& rho = state.add(grid, "density");
  m_ = std::make_unique<Impl>(grid, mech, boundary, gas, rho);
  Impl& m = *m_;
  m.unity_lewis = p.get<std::string>("transport") == "unity_lewis";
  m.flux_inlet = p.get<std::string>("inflow_species") == "total_flux";
  strang_ = p.get<std::string>("splitting") == "strang";
  split_ = p.get<std::string>("splitting") == "forced_split";
  forced_ = p.get<std::string>("splitting") == "forced" || split_;
  m.stop_when = p.get<std::vector<std::string>>("stop_when");
  try {
    mech.require_transport("a reacting flow (its viscosity, heat conduction and diffusion)");
  } catch (const UserError& e) {
    p.sub("kinetics")
        .fail("file", what_of(e),
              "use a mechanism with transport: entries (Cantera's gri30.yaml, h2o2.yaml); unity Lewis "
              "number needs them too, for the viscosity and the conductivity");
  }
  m.transport = std::make_unique<MixtureTransport>(mech, fit_transport(mech));
  if (p.is_set("fuel")) {
    m.fuel = mech.species_index(p.get<std::string>("fuel"));
    if (m.fuel < 0)
      p.fail("fuel", fmt::format("'{}' is not a species of {}", p.get<std::string>("fuel"), mech.file()),
             "name a species of the mechanism, e.g. fuel: H2");
  }

  if (p.has("hold_front")) {
    const Params& h = p.sub("hold_front");
    if (boundary.inflow_face() != 0)
      h.fail("position",
             boundary.inflow_face() < 0 ? "hold_front controls an inflow, and there is none"
                                        : "hold_front holds the front of the mean profile along x; the inflow is y_lo",
             "add (or move the inflow to) solver.params.inflow: {face: x_lo, velocity: ...}");
    if (m.fuel < 0)
      p.fail("fuel", "hold_front needs the consumption speed, which needs the fuel", "add fuel: H2 (or CH4, ...)");
    m.hold = true;
    m.hold_x = h.get<double>("position");
    m.hold_tau = h.get<double>("time_scale");
    const double lo = grid.lower(0), hi = lo + grid.n(0) * grid.h(0);
    if (!(m.hold_x > lo + 2 * grid.h(0) && m.hold_x < hi - 2 * grid.h(0)))
      h.fail("position",
             fmt::format("{:g} is not inside the domain (x from {:g} to {:g}, two cells kept at each end)", m.hold_x,
                         lo, hi),
             fmt::format("give a position between {:g} and {:g}", lo + 2 * grid.h(0), hi - 2 * grid.h(0)));
  }

  // The initial state, then the inflow state: the initial mixture at the middle of the
  // inflow face.
  const InitialMixture init(p.sub("initial"), mech, constants);
  {
    std::vector<double> y(static_cast<size_t>(m.n));
    for (PetscInt j = 0; j < grid.n(1); ++j)
      for (PetscInt i = 0; i < grid.n(0); ++i) init.at(grid.x(0, i), grid.x(1, j), 0.0, y.data());
    ArrayView v = gas.view();
    for_each(grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
      init.at(grid.x(0, i), grid.x(1, j), 0.0, y.data());
      for (int c = 0; c < m.n; ++c) v(i, j, 0, c) = y[static_cast<size_t>(c)];
    });
  }
  chem_ =
      std::make_unique<CellChemistry>(mech, Reactor::Mode::constant_pressure, p0_, p.sub("integrator"), p.sub("check"));
  {
    std::vector<double> T0;
    const ArrayView v = gas.view_read();
    for_each(grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) { T0.push_back(v(i, j, 0, 0)); });
    chem_->check_initial_temperatures(T0, p.sub("integrator"), grid.comm());
  }
  m.in.assign(static_cast<size_t>(m.n), 0.0);
  const int f = boundary.inflow_face();
  if (f >= 0) {
    const double xf = f == 0 ? grid.lower(0) : grid.lower(0) + 0.5 * grid.n(0) * grid.h(0);
    const double yf = f == 2 ? grid.lower(1) : grid.lower(1) + 0.5 * grid.n(1) * grid.h(1);
    init.at(xf, yf, 0.0, m.in.data());
  } else {
    // Without an inflow the "fresh" state (for the flame diagnostics) is the first cell's.
    const ArrayView v = gas.view_read();
    const Box& o = grid.owned();
    std::vector<double> first(static_cast<size_t>(m.n), 0.0);
    if (o.lo[0] == 0 && o.lo[1] == 0)
      for (int c = 0; c < m.n; ++c) first[static_cast<size_t>(c)] = v(0, 0, 0, c);
    MPI_Allreduce(first.data(), m.in.data(), m.n, MPI_DOUBLE, MPI_SUM, grid.comm());
  }
  rho_in_ = p0_ * mech.mean_molar_mass(m.in.data() + 1) / (kGasConstant * m.in[0]);
  m.h_in = mech.enthalpy_mass(m.in[0], m.in.data() + 1);
  m.in_phi = m.in;
  m.in_phi[0] = m.h_in;
  m.in_coef.assign(static_cast<size_t>(m.ncoef()), 0.0);
  m.coefficients(m.in[0], m.in.data() + 1, rho_in_, p0_, m.in_coef.data());

  Field& hrr = state.add_diagnostic(grid, "heat_release");
  Field& cost = state.add_diagnostic(grid, "react_seconds");
  react_ = std::make_unique<ChemistryStep>(grid, *chem_, "gas", &hrr, &cost);
  react_->update_heat_release(state);
  if (closed_)
    react_->set_classical_only(
        "the domain is closed, so the thermodynamic pressure changes in time, which a policy's model or table "
        "(made at one pressure) does not know (give the domain an outflow, or run react classically)");
  if (forced_ && !split_) {
    // The state the transport leaves each step: react's forcing, and a forced model's input.
    m.transported = &state.add(grid, "transported", gas_components(mech));
    SIMFUSE_PETSC(VecCopy(gas.vec(), m.transported->vec()));
    react_->enable_forcing(*m.transported);
  }
  eos_density(rho.vec());
  {
    const ArrayView v = gas.view_read();
    const ArrayView r = rho.view_read();
    for_each(grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
      m.T_max0 = std::max(m.T_max0, v(i, j, 0, 0));
      if (m.fuel >= 0) m.fuel_mass0 += r(i, j) * v(i, j, 0, m.fuel + 1) * m.hx * m.hy;
    });
    MPI_Allreduce(MPI_IN_PLACE, &m.T_max0, 1, MPI_DOUBLE, MPI_MAX, grid.comm());
    MPI_Allreduce(MPI_IN_PLACE, &m.fuel_mass0, 1, MPI_DOUBLE, MPI_SUM, grid.comm());
    m.fuel_mass = m.fuel_mass0;
    SIMFUSE_PETSC(VecSum(rho.vec(), &m.mass0));
  }

  SIMFUSE_PETSC(DMCreateGlobalVector(grid.dm(m.n), m.phi.out()));
  SIMFUSE_PETSC(DMCreateGlobalVector(grid.dm(m.n), m.ynew.out()));
  SIMFUSE_PETSC(DMCreateGlobalVector(grid.dm(m.n), m.s0.out()));
  SIMFUSE_PETSC(DMCreateGlobalVector(grid.dm(m.ncoef()), m.coef.out()));
  for (auto* v : {&m.sol, &m.rhs, &m.ediv, &m.hstar, &m.x, &nu_})
    SIMFUSE_PETSC(DMCreateGlobalVector(grid.dm(1), v->out()));
  SIMFUSE_PETSC(DMCreateMatrix(grid.dm(1), m.A.out()));
  create_ksp(grid, {"scalar_", 1e-10, 8, false, true}, "the scalars' diffusion solver (species and enthalpy)", m.ksp);
}

ReactingFlow::~ReactingFlow() = default;

void ReactingFlow::eos_density(Vec out) const {
  const Impl& m = *m_;
  const ArrayView g = m.gas.view_read();
  ArrayView r(out, m.grid.owned(), 1);
  for_each(m.grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
    double s = 0;
    for (int k = 0; k < m.N; ++k) s += g(i, j, 0, k + 1) / m.mech.species()[k].molar_mass;
    r(i, j) = p0_ / (kGasConstant * g(i, j, 0, 0) * s);
  });
}

void ReactingFlow::new_density(Vec out) {
  Impl& m = *m_;
  eos_density(out);
  p0_next_ = p0_;
  if (!closed_) return;
  // The mass before (rho^n, the density field) and at p0^n after the step: p0 scales rho.
  PetscScalar mass[2];
  SIMFUSE_PETSC(VecSum(m.density.vec(), &mass[0]));
  SIMFUSE_PETSC(VecSum(out, &mass[1]));
  const double f = mass[0] / mass[1];
  SIMFUSE_PETSC(VecScale(out, f));
  p0_next_ = p0_ * f;
}

void ReactingFlow::update_coefficients() {
  Impl& m = *m_;
  nu_max_ = 0;
  {
    ArrayView g = m.gas.view_read();  // non-const: &g(...) points into it (read only)
    const ArrayView rho = m.density.view_read();
    ArrayView cv(m.coef, m.grid.owned(), m.ncoef());
    ArrayView nu(nu_, m.grid.owned(), 1);
    for_each(m.grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
      const double mu = m.coefficients(g(i, j, 0, 0), &g(i, j, 0, 1), rho(i, j), p0_, &cv(i, j, 0, 0));
      nu(i, j) = mu / rho(i, j);
      nu_max_ = std::max(nu_max_, nu(i, j));
    });
  }
  MPI_Allreduce(MPI_IN_PLACE, &nu_max_, 1, MPI_DOUBLE, MPI_MAX, m.grid.comm());
}

double ReactingFlow::advect(Vec u, double dt) {
  Impl& m = *m_;
  // Transport coefficients at the step's start: with them at the advected state the
  // implicit fluxes lag by the advection's change (an O(dt) error, 1% in S_L at CFL 0.25).
  update_coefficients();
  const int n = m.n;
  Reactor& reactor = chem_->reactor();
  if (forced_) SIMFUSE_PETSC(VecCopy(m.gas.vec(), m.s0));  // the state the chemistry starts from
  {
    ArrayView g = m.gas.view_read();  // non-const: &g(...) points into it (read only)
    ArrayView ph(m.phi, m.grid.owned(), n);
    for_each(m.grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
      ph(i, j, 0, 0) = m.mech.enthalpy_mass(g(i, j, 0, 0), &g(i, j, 0, 1));
      for (int c = 1; c < n; ++c) ph(i, j, 0, c) = g(i, j, 0, c);
    });
  }
  const Cells P(m.grid, m.phi, n, 2, m.b, m.in_phi.data());
  const Cells R(m.grid, m.density.vec(), 1, 1, m.b, &rho_in_);
  const Faces F(m.grid, u, m.b);
  const double h[2] = {m.hx, m.hy};
  const PetscInt nn[2] = {m.nx, m.ny};
  const bool per[2] = {m.px, m.py};

  // Cell (i, j) shifted by s along d, or false when that is more than one cell beyond a
  // non-periodic boundary (no slope there).
  auto cell = [&](PetscInt i, PetscInt j, int d, PetscInt s, PetscInt& ii, PetscInt& jj) {
    ii = d == 0 ? i + s : i;
    jj = d == 1 ? j + s : j;
    const PetscInt t = d == 0 ? ii : jj;
    return per[d] || (t >= -1 && t <= nn[d]);
  };
  // The mass flux through the face on side `side` of cell (i, j) in direction d (positive
  // along +d) and the face value of component c.
  auto mass_flux = [&](PetscInt i, PetscInt j, int d, int side) {
    const double vel = d == 0 ? F.U(side > 0 ? i : i - 1, j) : F.V(i, side > 0 ? j : j - 1);
    if (vel == 0) return 0.0;
    if (P.boundary_face(i, j, d, side)) return vel * (P.inflow_face(i, j, d, side) ? rho_in_ : R(i, j, 0));
    PetscInt ii, jj;
    cell(i, j, d, side, ii, jj);
    return vel * 0.5 * (R(i, j, 0) + R(ii, jj, 0));
  };
  auto face_value = [&](PetscInt i, PetscInt j, int d, int side, double mf, int c) {
    if (P.inflow_face(i, j, d, side)) return m.in_phi[static_cast<size_t>(c)];
    // The upwind cell U, its upstream neighbour UU and the downstream D (offsets from i, j).
    const PetscInt up = (mf >= 0) == (side > 0) ? 0 : side, dn = up == 0 ? side : 0, uu = up == 0 ? -side : 2 * side;
    PetscInt i1, j1, i2, j2, i3, j3;
    cell(i, j, d, up, i1, j1);
    const double vU = P(i1, j1, c);
    if (!cell(i, j, d, uu, i2, j2)) return vU;
    cell(i, j, d, dn, i3, j3);
    return vU + 0.5 * van_leer(vU - P(i2, j2, c), P(i3, j3, c) - vU);
  };

  ArrayView g = m.gas.view();
  std::vector<double> next(static_cast<size_t>(n));
  double cfl = 0;
  std::string failure;
  for_each(m.grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
    const double rho = R(i, j, 0);
    std::fill(next.begin(), next.end(), 0.0);
    double out = 0;
    for (int d = 0; d < 2; ++d)
      for (int side : {-1, 1}) {
        const double mf = mass_flux(i, j, d, side);
        if (mf == 0) continue;
        const double w = side * mf / h[d];  // outward
        out += std::max(w, 0.0);
        for (int c = 0; c < n; ++c) next[static_cast<size_t>(c)] += w * (face_value(i, j, d, side, mf, c) - P(i, j, c));
      }
    cfl = std::max(cfl, out * dt / rho);
    double sum = 0;
    for (int c = 0; c < n; ++c) {
      next[static_cast<size_t>(c)] = P(i, j, c) - dt / rho * next[static_cast<size_t>(c)];
      if (c > 0) sum += next[static_cast<size_t>(c)];
    }
    for (int c = 1; c < n; ++c) g(i, j, 0, c) = next[static_cast<size_t>(c)] / sum;
    if (failure.empty()) {
      try {
        g(i, j, 0, 0) = m.T_of(next[0], &g(i, j, 0, 1), g(i, j, 0, 0), reactor, i, j, "advect");
      } catch (const RunFailure& e) {
        failure = what_of(e);
      }
    }
  });
  throw_if_any_failed(m.grid.comm(), failure, "reduce time.dt, or refine the grid where the flame is");
  MPI_Allreduce(MPI_IN_PLACE, &cfl, 1, MPI_DOUBLE, MPI_MAX, m.grid.comm());
  return cfl;
}

void ReactingFlow::diffuse(double dt) {
  Impl& m = *m_;
  const int N = m.N, n = m.n, nc = m.ncoef();
  Reactor& reactor = chem_->reactor();
  const double h[2] = {m.hx, m.hy};
  {
    ArrayView g = m.gas.view_read();  // non-const: &g(...) points into it (read only)
    ArrayView hs(m.hstar, m.grid.owned(), 1);
    for_each(m.grid.owned(),
             [&](PetscInt i, PetscInt j, PetscInt) { hs(i, j) = m.mech.enthalpy_mass(g(i, j, 0, 0), &g(i, j, 0, 1)); });
  }
  const Cells C(m.grid, m.coef, nc, 1, m.b, m.in_coef.data());

  // The conductance of the face between cell (i, j) and its neighbour on `side` along d for
  // coefficient c (a component of `coef`): c_f / h_d^2 with c_f the two cells' mean, 2 c_in /
  // h_d^2 at an inflow face (the value sits on the face, half a cell away), 0 on walls and
  // outflows.
  auto conductance = [&](PetscInt i, PetscInt j, int d, int side, int c) {
    if (C.inflow_face(i, j, d, side) && c < N && m.flux_inlet) return 0.0;  // no diffusive species flux
    if (C.inflow_face(i, j, d, side)) return 2 * m.in_coef[static_cast<size_t>(c)] / (h[d] * h[d]);
    if (C.boundary_face(i, j, d, side)) return 0.0;
    const PetscInt ii = d == 0 ? i + side : i, jj = d == 1 ? j + side : j;
    return 0.5 * (C(i, j, c) + C(ii, jj, c)) / (h[d] * h[d]);
  };
  // Implicit Euler for one scalar: (rho/dt - div c grad) x = rhs_vec (+ inflow terms).
  auto solve = [&](int c, double inflow_value, Vec guess, Vec x) {
    SIMFUSE_PETSC(MatZeroEntries(m.A));
    {
      const ArrayView rho = m.density.view_read();
      ArrayView r(m.rhs, m.grid.owned(), 1);
      for_each(m.grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
        MatStencil row{}, col[5]{};
        PetscScalar v[5];
        int k = 1;
        row.i = i;
        row.j = j;
        double diag = rho(i, j) / dt;
        for (int d = 0; d < 2; ++d)
          for (int side : {-1, 1}) {
            const double w = conductance(i, j, d, side, c);
            if (w == 0) continue;
            diag += w;
            if (C.inflow_face(i, j, d, side)) {
              r(i, j) += w * inflow_value;
              continue;
            }
            col[k].i = d == 0 ? i + side : i;
            col[k].j = d == 1 ? j + side : j;
            v[k++] = -w;
          }
        col[0] = row;
        v[0] = diag;
        SIMFUSE_PETSC(MatSetValuesStencil(m.A, 1, &row, k, col, v, INSERT_VALUES));
      });
    }
    SIMFUSE_PETSC(MatAssemblyBegin(m.A, MAT_FINAL_ASSEMBLY));
    SIMFUSE_PETSC(MatAssemblyEnd(m.A, MAT_FINAL_ASSEMBLY));
    SIMFUSE_PETSC(KSPSetOperators(m.ksp, m.A, m.A));
    SIMFUSE_PETSC(VecCopy(guess, x));
    SIMFUSE_PETSC(KSPSolve(m.ksp, m.rhs, x));
    KSPConvergedReason reason;
    SIMFUSE_PETSC(KSPGetConvergedReason(m.ksp, &reason));
    PetscInt its = 0;
    SIMFUSE_PETSC(KSPGetIterationNumber(m.ksp, &its));
    m.last_its += static_cast<int>(its);
    if (reason < 0)
      throw RunFailure(
          fmt::format("the scalar diffusion solve ({}) did not converge: {} after {} iterations",
                      c < N ? m.mech.species()[c].name : std::string("enthalpy"), KSPConvergedReasons[reason], its),
          "reduce time.dt; -scalar_ksp_monitor shows the iterations");
  };

  std::vector<double> js(static_cast<size_t>(N)), div(static_cast<size_t>(N));
  // Fluxes of the species in Y through the face on `side` of (i, j) along d, positive
  // along +d, into js; returns the explicit enthalpy flux. The face's two cells in the
  // order low, high, so both cells compute the same numbers. `lag_only`: without the main
  // term -rho D_k grad Y_k (what the implicit solve does not hold).
  auto face_fluxes = [&](const Cells& Y, PetscInt i, PetscInt j, int d, int side, bool lag_only) {
    const bool inflow = Y.inflow_face(i, j, d, side);
    PetscInt il = i, jl = j, ih = i, jh = j;
    if (side > 0)
      (d == 0 ? ih : jh) += 1;
    else
      (d == 0 ? il : jl) -= 1;
    const double dist = inflow ? 0.5 * h[d] : h[d];
    auto yv = [&](PetscInt a, PetscInt bb, int k) {
      return inflow && (d == 0 ? a < 0 : bb < 0) ? m.in[static_cast<size_t>(k + 1)] : Y(a, bb, k + 1);
    };
    auto cf = [&](int c) { return inflow ? m.in_coef[static_cast<size_t>(c)] : 0.5 * (C(il, jl, c) + C(ih, jh, c)); };
    auto lnW = [&](PetscInt a, PetscInt bb) {
      double s = 0;
      for (int k = 0; k < N; ++k) s += yv(a, bb, k) / m.mech.species()[k].molar_mass;
      return -std::log(s);
    };
    if (inflow && m.flux_inlet) {
      // Total-flux inlet: no species diffusion through the face; the heat flux's part
      // (lambda/cp) sum_k h_k grad Y_k that the implicit enthalpy solve does not hold.
      const double ch = cf(N);
      double e = 0;
      for (int k = 0; k < N; ++k) {
        js[static_cast<size_t>(k)] = 0;
        e += cf(N + 2 + k) * ch * (yv(ih, jh, k) - yv(il, jl, k)) / dist;
      }
      return e;
    }
    const double dlnW = (lnW(ih, jh) - lnW(il, jl)) / dist;
    double sum = 0;
    for (int k = 0; k < N; ++k) {
      const double yl = yv(il, jl, k), yh = yv(ih, jh, k);
      const double yf = inflow ? yl : 0.5 * (yl + yh);
      js[static_cast<size_t>(k)] = -cf(k) * ((yh - yl) / dist + yf * dlnW);
      sum += js[static_cast<size_t>(k)];
    }
    double e = 0;
    const double ch = cf(N);
    for (int k = 0; k < N; ++k) {
      const double yl = yv(il, jl, k), yh = yv(ih, jh, k);
      const double yf = inflow ? yl : 0.5 * (yl + yh);
      js[static_cast<size_t>(k)] -= yf * sum;
      e += cf(N + 2 + k) * (js[static_cast<size_t>(k)] + ch * (yh - yl) / dist);
      if (lag_only) js[static_cast<size_t>(k)] += cf(k) * (yh - yl) / dist;
    }
    return e;
  };
  // The divergence of the species' fluxes in cell (i, j) into div; returns that of the
  // explicit enthalpy flux.
  auto flux_divergence = [&](const Cells& Y, PetscInt i, PetscInt j, bool lag_only) {
    std::fill(div.begin(), div.end(), 0.0);
    double ediv = 0;
    for (int d = 0; d < 2; ++d)
      for (int side : {-1, 1}) {
        if (Y.boundary_face(i, j, d, side) && !Y.inflow_face(i, j, d, side)) continue;
        const double e = face_fluxes(Y, i, j, d, side, lag_only);
        for (int k = 0; k < N; ++k) div[static_cast<size_t>(k)] += side * js[static_cast<size_t>(k)] / h[d];
        ediv += side * e / h[d];
      }
    return ediv;
  };

  // 1. The species: the main term implicitly, the rest (the mean molar mass's gradient and
  // the correction velocity) from the solution below. Forced: with the chemistry's rate of
  // the last step as a source, so that the fluxes are those of the state the step ends in
  // (without it they lag the chemistry by a step: an O(dt) error, 2% in S_L at CFL 0.25).
  m.last_its = 0;
  const bool with_rate = forced_ && !m.react_rate.empty();
  for (int k = 0; k < N; ++k) {
    {
      const ArrayView g = m.gas.view_read();
      const ArrayView rho = m.density.view_read();
      ArrayView r(m.rhs, m.grid.owned(), 1);
      size_t q = 0;
      for_each(m.grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
        r(i, j) =
            rho(i, j) * (g(i, j, 0, k + 1) / dt + (with_rate ? m.react_rate[q * N + static_cast<size_t>(k)] : 0.0));
        ++q;
      });
    }
    SIMFUSE_PETSC(VecStrideGather(m.gas.vec(), k + 1, m.sol, INSERT_VALUES));
    solve(k, m.in[static_cast<size_t>(k + 1)], m.sol, m.x);
    SIMFUSE_PETSC(VecStrideScatter(m.x, k + 1, m.ynew, INSERT_VALUES));
  }

  // 2. The full fluxes of Y** (correction velocity included: they sum to zero on every
  // face), the species update, and the explicit part of the enthalpy flux.
  const Cells Y(m.grid, m.ynew, n, 1, m.b, m.in.data());
  long clipped = 0;
  double most_negative = 0;
  {
    ArrayView g = m.gas.view();
    const ArrayView rho = m.density.view_read();
    ArrayView ed(m.ediv, m.grid.owned(), 1);
    for_each(m.grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
      ed(i, j) = flux_divergence(Y, i, j, false);
      // T still T*: the enthalpy below needs h* from it
      for (int k = 0; k < N; ++k) g(i, j, 0, k + 1) -= dt / rho(i, j) * div[static_cast<size_t>(k)];
      m.clip_normalise(&g(i, j, 0, 1), clipped, most_negative);
    });
  }
  m.clipped += clipped;
  m.most_negative = std::min(m.most_negative, most_negative);

  // 3. Enthalpy, from h* (before this sub-step) with the explicit part from the new Y_k.
  {
    const ArrayView rho = m.density.view_read();
    const ArrayView ph(m.hstar, m.grid.owned(), 1, true);
    const ArrayView ed(m.ediv, m.grid.owned(), 1, true);
    ArrayView r(m.rhs, m.grid.owned(), 1);
    ArrayView s(m.sol, m.grid.owned(), 1);
    for_each(m.grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
      r(i, j) = rho(i, j) * ph(i, j) / dt - ed(i, j) + dp0dt_;
      s(i, j) = ph(i, j);
    });
  }
  solve(N, m.h_in, m.sol, m.x);  // adds the inflow terms to rhs
  std::string failure;
  {
    ArrayView g = m.gas.view();
    const ArrayView hv(m.x, m.grid.owned(), 1, true);
    for_each(m.grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
      if (!failure.empty()) return;
      try {
        g(i, j, 0, 0) = m.T_of(hv(i, j), &g(i, j, 0, 1), g(i, j, 0, 0), reactor, i, j, "diffuse");
      } catch (const RunFailure& e) {
        failure = what_of(e);
      }
    });
  }
  throw_if_any_failed(m.grid.comm(), failure, "reduce time.dt, or refine the grid where the flame is");
  if (!forced_) return;
  if (!split_) {
    // Forced: the state the transport left is react's forcing (ChemistryStep derives its
    // rate and end enthalpy from it); the state goes back to where the chemistry starts.
    SIMFUSE_PETSC(VecCopy(m.gas.vec(), m.transported->vec()));
    SIMFUSE_PETSC(VecCopy(m.s0, m.gas.vec()));
    return;
  }
  // forced_split: the transport's rate over the step and the enthalpy it leaves.
  const PetscInt np = m.grid.owned().size();
  std::vector<double> rates(static_cast<size_t>(np * n)), h_end(static_cast<size_t>(np));
  {
    const ArrayView g1 = m.gas.view_read();
    const ArrayView g0(m.s0, m.grid.owned(), n, true);
    const double *a1 = g1.data(), *a0 = g0.data();
    for (PetscInt q = 0; q < np; ++q) {
      for (int c = 0; c < n; ++c) rates[static_cast<size_t>(q * n + c)] = (a1[q * n + c] - a0[q * n + c]) / dt;
      h_end[static_cast<size_t>(q)] = m.mech.enthalpy_mass(a1[q * n], a1 + q * n + 1);
    }
  }
  // forced_split: the chemistry alone starts half-way, at the mean of the states before and
  // after the transport (non-negative as both are) and the mean enthalpy; finish_forcing()
  // adds the other half after it.
  {
    ArrayView g1 = m.gas.view();
    ArrayView g0(m.s0, m.grid.owned(), n, true);  // non-const: &g0(...) points into it (read only)
    PetscInt q = 0;
    for_each(m.grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
      const double h_mid =
          0.5 * (m.mech.enthalpy_mass(g0(i, j, 0, 0), &g0(i, j, 0, 1)) + h_end[static_cast<size_t>(q++)]);
      for (int c = 1; c < n; ++c) g1(i, j, 0, c) = 0.5 * (g0(i, j, 0, c) + g1(i, j, 0, c));
      if (!failure.empty()) return;
      try {
        g1(i, j, 0, 0) = m.T_of(h_mid, &g1(i, j, 0, 1), 0.5 * (g0(i, j, 0, 0) + g1(i, j, 0, 0)), reactor, i, j,
                                "diffuse (forced_split)");
      } catch (const RunFailure& e) {
        failure = what_of(e);
      }
    });
  }
  throw_if_any_failed(m.grid.comm(), failure, "reduce time.dt, or refine the grid where the flame is");
  m.rates = std::move(rates);
  m.h_end = std::move(h_end);
}

void ReactingFlow::finish_forcing(double dt) {
  Impl& m = *m_;
  if (!split_) return;
  const int n = m.n, N = m.N;
  Reactor& reactor = chem_->reactor();
  ArrayView g = m.gas.view();
  long clipped = 0;
  double most_negative = 0;
  std::string failure;
  PetscInt q = 0;
  for_each(m.grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
    double* y = &g(i, j, 0, 0);
    const PetscInt p = q++;
    for (int k = 1; k <= N; ++k) y[k] += 0.5 * dt * m.rates[static_cast<size_t>(p * n + k)];
    m.clip_normalise(y + 1, clipped, most_negative);
    if (!failure.empty()) return;
    try {
      y[0] = m.T_of(m.h_end[static_cast<size_t>(p)], y + 1, y[0], reactor, i, j, "forcing");
    } catch (const RunFailure& e) {
      failure = what_of(e);
    }
  });
  m.clipped += clipped;
  m.most_negative = std::min(m.most_negative, most_negative);
  throw_if_any_failed(m.grid.comm(), failure, "reduce time.dt, or refine the grid where the flame is");
}

void ReactingFlow::end_step(double dt) {
  Impl& m = *m_;
  if (closed_) {
    dp0dt_ = (p0_next_ - p0_) / dt;
    p0_ = p0_next_;
    chem_->reactor().set_pressure(p0_);
  }
  if (!forced_) return;
  // The chemistry's own rate over the step: the change less the transport's forcing.
  const int N = m.N, n = m.n;
  const PetscInt np = m.grid.owned().size();
  m.react_rate.assign(static_cast<size_t>(np * N), 0.0);
  const ArrayView g = m.gas.view_read();
  const ArrayView g0(m.s0, m.grid.owned(), n, true);
  const double *a = g.data(), *a0 = g0.data();
  // The transport's rate: forced_split's, or forced's from the state it left.
  std::unique_ptr<ArrayView> tv;
  if (!split_) tv = std::make_unique<ArrayView>(m.transported->vec(), m.grid.owned(), n, true);
  for (PetscInt q = 0; q < np; ++q)
    for (int k = 0; k < N; ++k) {
      const size_t c = static_cast<size_t>(q * n + k + 1);
      const double transport = tv ? (tv->data()[c] - a0[c]) / dt : m.rates[c];
      m.react_rate[static_cast<size_t>(q * N + k)] = (a[c] - a0[c]) / dt - transport;
    }
}

void ReactingFlow::record(double t) {
  Impl& m = *m_;
  const PetscInt nx = m.nx, ny = m.ny;
  // Row-averaged temperature along x, and the outflow column's mean T and fuel.
  std::vector<double> T(static_cast<size_t>(nx), 0.0);
  // consumed fuel mass rate, outflow T sum, outflow fuel sum, fuel mass, max T
  double local[5] = {0, 0, 0, 0, 0};
  {
    const ArrayView g = m.gas.view_read();
    const ArrayView rho = m.density.view_read();
    std::vector<double> conc(static_cast<size_t>(m.N)), wdot(static_cast<size_t>(m.N));
    // forced_split: the fuel react consumed over the step (its own rate, end_step), with the
    // density of the step's start. The rate at the end state would see the transport's second
    // half, which brings fuel into the reaction zone: S_c 6% high on the lean H2 flame.
    const bool by_step = split_ && !m.react_rate.empty();
    std::unique_ptr<ArrayView> start;
    if (by_step) start = std::make_unique<ArrayView>(m.s0, m.grid.owned(), m.n, true);
    PetscInt q = 0;
    for_each(m.grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
      const PetscInt p = q++;
      T[static_cast<size_t>(i)] += g(i, j, 0, 0) / ny;
      local[4] = std::max(local[4], g(i, j, 0, 0));
      if (m.fuel >= 0) local[3] += rho(i, j) * g(i, j, 0, m.fuel + 1) * m.hx * m.hy;
      if (i == nx - 1) {
        local[1] += g(i, j, 0, 0) / ny;
        if (m.fuel >= 0) local[2] += g(i, j, 0, m.fuel + 1) / ny;
      }
      if (m.fuel >= 0 && by_step) {
        ArrayView& g0 = *start;  // non-const: &g0(...) points into it (read only)
        const double rho0 = p0_ * m.mech.mean_molar_mass(&g0(i, j, 0, 1)) / (kGasConstant * g0(i, j, 0, 0));
        local[0] -= rho0 * m.react_rate[static_cast<size_t>(p * m.N + m.fuel)] * m.hx * m.hy;
      } else if (m.fuel >= 0) {  // - W_F wdot_F, kg/(m^3 s)
        for (int k = 0; k < m.N; ++k)
          conc[static_cast<size_t>(k)] = rho(i, j) * g(i, j, 0, k + 1) / m.mech.species()[k].molar_mass;
        m.mech.net_production_rates(g(i, j, 0, 0), conc.data(), wdot.data());
        local[0] -= wdot[static_cast<size_t>(m.fuel)] * m.mech.species()[m.fuel].molar_mass * m.hx * m.hy;
      }
    });
  }
  MPI_Allreduce(MPI_IN_PLACE, T.data(), static_cast<int>(nx), MPI_DOUBLE, MPI_SUM, m.grid.comm());
  double glob[4];
  MPI_Allreduce(local, glob, 4, MPI_DOUBLE, MPI_SUM, m.grid.comm());
  MPI_Allreduce(&local[4], &m.max_T, 1, MPI_DOUBLE, MPI_MAX, m.grid.comm());
  // Closed: no outflow to take the burnt state from, no planar front; the hottest cell is
  // the burnt state, and the fuel burnt so far is the measure of progress.
  m.burnt_T = closed_ ? m.max_T : glob[1];
  m.fuel_mass = glob[3];
  // The front: where the mean temperature first crosses (T_in + T_b) / 2 from the inflow side.
  const double Tmid = 0.5 * (m.in[0] + m.burnt_T);
  double front = std::numeric_limits<double>::quiet_NaN();
  for (PetscInt i = 0; i + 1 < nx && !closed_; ++i) {
    const double a = T[static_cast<size_t>(i)], bb = T[static_cast<size_t>(i + 1)];
    if ((a - Tmid) * (bb - Tmid) <= 0 && a != bb) {
      front = m.grid.x(0, i) + (Tmid - a) / (bb - a) * m.hx;
      break;
    }
  }
  double sc = std::numeric_limits<double>::quiet_NaN();
  if (m.fuel >= 0 && !closed_) {
    const double yu = m.in[static_cast<size_t>(m.fuel + 1)], yb = glob[2];
    const double width = m.grid.n(1) * m.hy;
    if (yu - yb > 0) sc = glob[0] / (rho_in_ * (yu - yb) * width);
  }
  m.T_behind = std::numeric_limits<double>::quiet_NaN();
  if (std::isfinite(front)) {
    const double xb = front + 1e-3;
    for (PetscInt i = 0; i + 1 < nx; ++i)
      if (m.grid.x(0, i) <= xb && xb < m.grid.x(0, i + 1)) {
        const double w = (xb - m.grid.x(0, i)) / m.hx;
        m.T_behind = (1 - w) * T[static_cast<size_t>(i)] + w * T[static_cast<size_t>(i + 1)];
      }
  }
  // The front's length (the T = Tmid iso-line by marching squares over the squares between
  // cell centres) per unit width: the flame surface ratio of a wrinkled front.
  double length = 0;
  // The wrinkle's amplitude: per row, the first crossing of Tmid from the inflow side (x_f(y));
  // half of max_y x_f - min_y x_f. For a single-wavelength wrinkle in its linear regime this
  // is the mode's amplitude, whose growth rate is the dispersion relation's.
  std::vector<double> xf(static_cast<size_t>(ny), std::numeric_limits<double>::infinity());
  {
    const Cells Tc(m.grid, m.gas.vec(), m.n, 1, m.b, m.in.data(), true);
    for_each(m.grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
      if (i >= nx - 1) return;
      const double a = Tc(i, j, 0) - Tmid, c = Tc(i + 1, j, 0) - Tmid;
      if ((a < 0) != (c < 0)) {
        const double x = m.grid.x(0, i) + a / (a - c) * m.hx;
        xf[static_cast<size_t>(j)] = std::min(xf[static_cast<size_t>(j)], x);
      }
    });
    for_each(m.grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
      if ((!m.px && i >= nx - 1) || (!m.py && j >= ny - 1)) return;
      const double c[4] = {Tc(i, j, 0) - Tmid, Tc(i + 1, j, 0) - Tmid, Tc(i + 1, j + 1, 0) - Tmid,
                           Tc(i, j + 1, 0) - Tmid};
      const double px[4] = {0, m.hx, m.hx, 0}, py[4] = {0, 0, m.hy, m.hy};
      double xs[4], ys[4];
      int k = 0;
      for (int e = 0; e < 4; ++e) {
        const int f = (e + 1) % 4;
        if ((c[e] < 0) != (c[f] < 0)) {
          const double w = c[e] / (c[e] - c[f]);
          xs[k] = px[e] + w * (px[f] - px[e]);
          ys[k++] = py[e] + w * (py[f] - py[e]);
        }
      }
      for (int s = 0; s + 1 < k; s += 2) length += std::hypot(xs[s + 1] - xs[s], ys[s + 1] - ys[s]);
    });
    MPI_Allreduce(MPI_IN_PLACE, &length, 1, MPI_DOUBLE, MPI_SUM, m.grid.comm());
    MPI_Allreduce(MPI_IN_PLACE, xf.data(), static_cast<int>(ny), MPI_DOUBLE, MPI_MIN, m.grid.comm());
  }
  m.hist_length.push_back(length / (ny * m.hy));
  {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (double x : xf)
      if (std::isfinite(x)) lo = std::min(lo, x), hi = std::max(hi, x);
    m.hist_amp.push_back(hi >= lo && !closed_ ? 0.5 * (hi - lo) : std::numeric_limits<double>::quiet_NaN());
  }

  // Flame events (physics, not errors): each one's first time, and a stop if asked for.
  const bool extinct = m.max_T < m.in[0] + 0.1 * (m.T_max0 - m.in[0]);
  const double x_lo = m.grid.lower(0), x_hi = x_lo + nx * m.hx;
  auto event = [&](const char* name, bool happened) {
    if (!happened || m.events.count(name)) return;
    m.events[name] = t;
    if (m.stop_event.empty() && std::find(m.stop_when.begin(), m.stop_when.end(), name) != m.stop_when.end())
      m.stop_event = name;
  };
  event("extinction", extinct);
  if (m.b.kind[0] == FaceKind::inflow) {
    event("flashback", std::isfinite(front) && front < x_lo + 2 * m.hx);
    event("blow_off", !extinct && (!std::isfinite(front) || front > x_hi - 2 * m.hx));
  }
  m.u_in = m.b.inflow.empty() ? 0.0 : m.b.inflow[m.b.inflow.size() / 2];
  if (m.hold) {
    const double dt = m.hist_t.empty() ? 0.0 : t - m.hist_t.back();
    // The filter starts from the inflow velocity given (the user's estimate of the speed;
    // the first steps' consumption speed is the initial profile's, not the flame's).
    if (!std::isfinite(m.s_bar)) m.s_bar = m.u_in;
    if (std::isfinite(sc)) m.s_bar += std::min(1.0, dt / m.hold_tau) * (sc - m.s_bar);
    if (std::isfinite(front) && std::isfinite(m.s_bar)) m.u_ctrl = m.s_bar + (m.hold_x - front) / m.hold_tau;
  }
  m.hist_t.push_back(t);
  m.hist_front.push_back(front);
  m.hist_sc.push_back(sc);
  m.hist_uin.push_back(m.u_in);
  m.hist_p0.push_back(p0_);
}

std::optional<double> ReactingFlow::controlled_inflow() const {
  if (!m_->hold || !std::isfinite(m_->u_ctrl)) return std::nullopt;
  return m_->u_ctrl;
}

std::string ReactingFlow::stop_event() const {
  return m_->stop_event;
}

std::map<std::string, double> ReactingFlow::metrics() const {
  const Impl& m = *m_;
  std::map<std::string, double> out{{"thermodynamic_pressure", p0_},
                                    {"max_temperature", m.max_T},
                                    {"diffusion_negative_clips", static_cast<double>(m.clipped)},
                                    {"diffusion_most_negative", m.most_negative},
                                    {"scalar_solver_iterations", static_cast<double>(m.last_its)}};
  {
    // What the scalars' treatment guarantees: sum_k Y_k = 1 (to round-off), Y_k >= 0.
    double e[2] = {0, 0};  // max |sum Y - 1|, max(-min Y)
    const ArrayView g = m.gas.view_read();
    for_each(m.grid.owned(), [&](PetscInt i, PetscInt j, PetscInt) {
      double sum = 0;
      for (int k = 0; k < m.N; ++k) {
        sum += g(i, j, 0, k + 1);
        e[1] = std::max(e[1], -g(i, j, 0, k + 1));
      }
      e[0] = std::max(e[0], std::abs(sum - 1));
    });
    MPI_Allreduce(MPI_IN_PLACE, e, 2, MPI_DOUBLE, MPI_MAX, m.grid.comm());
    for (const auto& [name, when] : m.events) out[name + "_time"] = when;
    if (!closed_) out["outflow_temperature"] = m.burnt_T;
    if (closed_ && m.fuel >= 0 && m.fuel_mass0 > 0) out["fuel_burnt_fraction"] = 1 - m.fuel_mass / m.fuel_mass0;
    if (closed_) {  // what p0(t) holds: the domain's mass
      PetscScalar mass = 0;
      SIMFUSE_PETSC(VecSum(m.density.vec(), &mass));
      out["mass_relative_change"] = mass / m.mass0 - 1;
    }
    out["mass_fraction_sum_error"] = e[0];
    out["min_mass_fraction"] = -e[1];
  }
  const size_t n = m.hist_t.size();
  if (n >= 4) {
    // Over the second half of the run: the mean consumption speed and the front's speed
    // (least squares), S_L = u_in - dx_f/dt.
    const size_t a = n / 2;
    double st = 0, sx = 0, stt = 0, stx = 0, sc = 0, su = 0;
    size_t k = 0, kc = 0;
    for (size_t q = a; q < n; ++q) {
      su += m.hist_uin[q];
      if (std::isfinite(m.hist_front[q])) {
        st += m.hist_t[q];
        sx += m.hist_front[q];
        stt += m.hist_t[q] * m.hist_t[q];
        stx += m.hist_t[q] * m.hist_front[q];
        ++k;
      }
      if (std::isfinite(m.hist_sc[q])) {
        sc += m.hist_sc[q];
        ++kc;
      }
    }
    if (k >= 2) {
      const double slope = (k * stx - st * sx) / (k * stt - st * st);
      out["flame_front_velocity"] = slope;
      out["flame_speed_front"] = su / static_cast<double>(n - a) - slope;
      out["flame_front_position"] = m.hist_front.back();
    }
    if (kc > 0) out["flame_speed_consumption"] = sc / kc;
    if (m.b.inflow_face() >= 0) out["inflow_velocity_mean"] = su / static_cast<double>(n - a);
    if (std::isfinite(m.T_behind)) out["temperature_1mm_behind_front"] = m.T_behind;
    out["front_length_ratio"] = m.hist_length.back();
    if (std::isfinite(m.hist_amp.back())) out["front_amplitude"] = m.hist_amp.back();
  }
  return out;
}

nlohmann::ordered_json ReactingFlow::describe() const {
  const Impl& m = *m_;
  return {
      {"mechanism", describe_mechanism(*mech_)},
      {"thermodynamic_pressure", closed_ ? nlohmann::ordered_json{{"initial", p0_start_},
                                                                  {"in_time",
                                                                   "p0(t): the closed domain's mass "
                                                                   "conserved, compression heating"}}
                                         : nlohmann::ordered_json(p0_)},
      {"transport", m.unity_lewis ? "unity Lewis number" : "mixture-averaged (simfuse's fits)"},
      {"scalar_advection", "upwind, van Leer limited slopes, forward Euler"},
      {"scalar_diffusion", "implicit Euler per species, fluxes with the correction velocity"},
      {"scalar_solver", describe_ksp(m.ksp)},
      {"splitting", strang_   ? "strang (react half, transport, react half)"
                    : split_  ? "forced_split (transport, then from half its change react alone, then its other half)"
                    : forced_ ? "forced (transport, then react from the state before it with its rate as a source)"
                              : "lie (transport, react)"},
      {"react_integrator", react_->describe()},
      {"inflow_species", m.flux_inlet ? "total flux (no diffusive flux through the face)" : "fixed on the face"},
      {"inflow_temperature", m.in[0]},
      {"inflow_density", rho_in_},
      {"hold_front", m.hold ? nlohmann::ordered_json{{"position", m.hold_x}, {"time_scale", m.hold_tau}}
                            : nlohmann::ordered_json(nullptr)}};
}

std::vector<std::string> ReactingFlow::write_results(const std::string& dir) const {
  const Impl& m = *m_;
  if (m.grid.rank() == 0) {
    const std::string tmp = dir + "/flame.csv.tmp";
    {
      std::ofstream f(tmp, std::ios::trunc);
      f << "t,front_position,consumption_speed,front_length_ratio,inflow_velocity,front_amplitude,"
           "thermodynamic_pressure\n";
      for (size_t q = 0; q < m.hist_t.size(); ++q)
        f << fmt::format("{:.10g},{:.10g},{:.10g},{:.10g},{:.10g},{:.10g},{:.10g}\n", m.hist_t[q], m.hist_front[q],
                         m.hist_sc[q], m.hist_length[q], m.hist_uin[q], m.hist_amp[q], m.hist_p0[q]);
      if (!f) throw RunFailure("cannot write " + dir + "/flame.csv", "check the output folder is writable");
    }
    std::rename(tmp.c_str(), (dir + "/flame.csv").c_str());
  }
  return {"flame.csv"};
}

std::map<std::string, std::string> ReactingFlow::model_context() const {
  auto c = chemistry_context(*mech_, Reactor::Mode::constant_pressure);
  c["pressure"] = fmt::format("{:g} Pa", p0_);
  return c;
}

void ReactingFlow::save_state(CheckpointData& out) const {
  const Impl& m = *m_;
  out.put("flame_t", m.hist_t);
  out.put("flame_front", m.hist_front);
  out.put("flame_sc", m.hist_sc);
  out.put("flame_length", m.hist_length);
  out.put("flame_inflow", m.hist_uin);
  out.put("flame_amplitude", m.hist_amp);
  out.put("flame_pressure", m.hist_p0);
  out.put("hold_front", std::vector<double>{m.s_bar, m.u_ctrl});
  out.put("react_rate", m.react_rate);  // forced: the next diffuse's source
  out.put("thermodynamic_pressure", std::vector<double>{p0_, dp0dt_});
  out.put("clipped", m.clipped);
  out.put("most_negative", m.most_negative);
  std::string ev;
  for (const auto& [name, when] : m.events) ev += fmt::format("{} {:.17g}\n", name, when);
  out.put("events", ev);
}

void ReactingFlow::restore_state(const CheckpointData& in) {
  Impl& m = *m_;
  m.hist_t = in.get<std::vector<double>>("flame_t");
  m.hist_front = in.get<std::vector<double>>("flame_front");
  m.hist_sc = in.get<std::vector<double>>("flame_sc");
  m.hist_length = in.get<std::vector<double>>("flame_length");
  m.hist_uin = in.get<std::vector<double>>("flame_inflow");
  // (a checkpoint from before the amplitude was recorded: unknown for its steps)
  m.hist_amp = in.has("flame_amplitude") ? in.get<std::vector<double>>("flame_amplitude")
                                         : std::vector<double>(m.hist_t.size(), std::nan(""));
  m.hist_p0 = in.has("flame_pressure") ? in.get<std::vector<double>>("flame_pressure")
                                       : std::vector<double>(m.hist_t.size(), p0_start_);
  const auto hold = in.get<std::vector<double>>("hold_front");
  m.s_bar = hold.at(0);
  m.u_ctrl = hold.at(1);
  m.react_rate = in.get<std::vector<double>>("react_rate");
  if (in.has("thermodynamic_pressure")) {
    const auto p = in.get<std::vector<double>>("thermodynamic_pressure");
    p0_ = p0_next_ = p.at(0);
    dp0dt_ = p.at(1);
    chem_->reactor().set_pressure(p0_);
  }
  m.clipped = in.get<long>("clipped");
  m.most_negative = in.get<double>("most_negative");
  m.events.clear();
  std::istringstream ev(in.get<std::string>("events"));
  std::string name;
  double when = 0;
  while (ev >> name >> when) m.events[name] = when;
}

}  // namespace simfuse
