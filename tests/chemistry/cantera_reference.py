"""The chemistry references of the suite: Cantera itself, live when it can be imported,
otherwise the values it gave when scripts/cantera_refs.py last ran (committed beside this
file in cantera/, with the Cantera version and date).

One module computes every reference, so the committed values and a live comparison are
the same computation: scripts/cantera_refs.py writes them, the checks (check_cantera.py)
call the same functions when Cantera is there and read the files when it is not, and say
which. `SIMFUSE_CANTERA=committed` forces the committed values (tested, so that a machine
without network still runs the suite).

States are set as the issue asks and as simfuse computes them: unnormalised mass fractions
(`set_unnormalized_mass_fractions`, then `TP`, which keeps the composition; `TPY` would
normalise it), Cantera's gas constant (8314.46261815324 J/kmol/K, simfuse's 8.31446261815324
J/mol/K). Cantera's kmol are converted to simfuse's mol (concentrations, rates x 1e3).
"""
import datetime
import hashlib
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DATA = os.path.join(HERE, "cantera")

# The mechanisms, as simfuse reads them (the same files, so both read the same bytes).
MECHANISMS = {
    "h2o2": {"file": "cases/mechanisms/h2o2.yaml", "phase": "ohmech", "fuel": "H2:1", "oxidizer": "O2:1, N2:3.76"},
    "gri30": {"file": "cases/mechanisms/gri30.yaml", "phase": "gri30", "fuel": "CH4:1", "oxidizer": "O2:1, N2:3.76"},
    "nDodecane_Reitz": {"file": "cases/mechanisms/nDodecane_Reitz.yaml", "phase": "nDodecane_IG",
                        "fuel": "c12h26:1", "oxidizer": "o2:1, n2:3.76"},
}


def cantera():
    """The cantera module, or None when it cannot be imported or SIMFUSE_CANTERA=committed."""
    if os.environ.get("SIMFUSE_CANTERA", "") == "committed":
        return None
    try:
        import cantera as ct  # noqa: PLC0415
    except ImportError:
        return None
    ct.suppress_thermo_warnings()
    return ct


def mechanism_path(key):
    return os.path.join(ROOT, MECHANISMS[key]["file"])


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def solution(ct, key):
    m = MECHANISMS[key]
    return ct.Solution(mechanism_path(key), m["phase"])


def set_state(gas, T, p, Y):
    """Unnormalised Y at (T, p): the composition first (it keeps the density), then T and p
    (which keep the composition)."""
    gas.set_unnormalized_mass_fractions(np.asarray(Y, dtype=float))
    gas.TP = T, p


# --- States ---------------------------------------------------------------------------------


def make_states(ct, key, seed, n_random=12, n_near_eq=6, n_mixture=4, n_negative=2):
    """Random states for thermo, rates and Jacobians: random compositions over 8 decades of
    mass fraction with two species at 1e-20 (trace), T in 300-3000 K and p in 0.1-100 bar;
    fuel-air mixtures (phi 0.5-2) near equilibrium (equilibrate('HP') perturbed by 1e-6
    relative, so that forward and reverse rates nearly cancel); unburnt fuel-air at 300-1000 K;
    two species at -1e-10 (an integrator's undershoot: Cantera counts a negative
    concentration as itself at order 1 and as 0 at higher orders); and T exactly at the thermo polynomials' common mid temperature (1000 K: Cantera takes the
    low-temperature polynomial there)."""
    gas = solution(ct, key)
    rng = np.random.default_rng(seed)
    K = gas.n_species
    states = []
    for _ in range(n_random):
        Y = 10.0 ** rng.uniform(-8, 0, K)
        Y /= Y.sum()
        Y[rng.choice(K, 2, replace=False)] = 1e-20
        states.append({"kind": "random", "T": float(rng.uniform(300, 3000)), "p": float(10 ** rng.uniform(4, 7)),
                       "Y": Y.tolist()})
    m = MECHANISMS[key]
    for _ in range(n_near_eq):
        phi, T0, p = rng.uniform(0.5, 2.0), rng.uniform(300, 1200), 10 ** rng.uniform(4.5, 6.5)
        gas.set_equivalence_ratio(phi, m["fuel"], m["oxidizer"])
        gas.TP = T0, p
        gas.equilibrate("HP")
        Y = gas.Y * (1 + 1e-6 * rng.standard_normal(K))
        states.append({"kind": "near-equilibrium", "T": float(gas.T * (1 + 1e-6 * rng.standard_normal())),
                       "p": float(p), "Y": np.abs(Y).tolist()})
    for _ in range(n_mixture):
        gas.set_equivalence_ratio(rng.uniform(0.5, 2.0), m["fuel"], m["oxidizer"])
        Y = gas.Y.copy()
        Y[Y == 0] = 1e-20
        states.append({"kind": "fuel-air", "T": float(rng.uniform(300, 1000)), "p": float(10 ** rng.uniform(4, 7)),
                       "Y": Y.tolist()})
    for _ in range(n_negative):
        Y = 10.0 ** rng.uniform(-8, 0, K)
        Y /= Y.sum()
        Y[rng.choice(K, 2, replace=False)] = -1e-10
        states.append({"kind": "negative-trace", "T": float(rng.uniform(800, 2500)),
                       "p": float(10 ** rng.uniform(4, 7)), "Y": Y.tolist()})
    Y = 10.0 ** rng.uniform(-6, 0, K)
    states.append({"kind": "mid-temperature", "T": 1000.0, "p": 101325.0, "Y": (Y / Y.sum()).tolist()})
    return states


def jacobian_states(ct, key, seed):
    """Fewer states for the Jacobian (a full matrix each): 3 random, 2 near equilibrium, 1
    fuel-air, 1 with negative trace species, each at least 2 K from every species' polynomial mid temperature (a difference
    across it would straddle two polynomials)."""
    gas = solution(ct, key)
    mids = sorted({sp.thermo.coeffs[0] for sp in gas.species()})
    states = make_states(ct, key, seed, n_random=3, n_near_eq=2, n_mixture=1, n_negative=1)[:-1]
    for s in states:
        while any(abs(s["T"] - m) < 2 for m in mids):
            s["T"] += 5.0
    return states


# --- Thermo and rates -----------------------------------------------------------------------


def thermo_rates(ct, key, states):
    """Per state: cp/R, h/RT, s/R (at the reference pressure, 1 atm) of every species; the mixture's cp, cv, h, u, s per unit mass
    (J/kg/K, J/kg) and density; concentrations (mol/m^3); net production, creation and
    destruction rates (mol/m^3/s)."""
    gas = solution(ct, key)
    out = []
    for s in states:
        set_state(gas, s["T"], s["p"], s["Y"])
        out.append({
            "cp_R": gas.standard_cp_R.tolist(), "h_RT": gas.standard_enthalpies_RT.tolist(),
            # Cantera's standard state of an ideal gas is at the phase's pressure; simfuse's
            # s/R (and the NASA polynomials) at the reference pressure of the data.
            "s_R": (gas.standard_entropies_R + np.log(gas.P / gas.reference_pressure)).tolist(),
            "cp_mass": gas.cp_mass, "cv_mass": gas.cv_mass, "h_mass": gas.enthalpy_mass,
            "u_mass": gas.int_energy_mass, "s_mass": gas.entropy_mass, "density": gas.density,
            "C": (gas.concentrations * 1e3).tolist(),
            "wdot": (gas.net_production_rates * 1e3).tolist(),
            "creation": (gas.creation_rates * 1e3).tolist(),
            "destruction": (gas.destruction_rates * 1e3).tolist(),
        })
    return out


# --- Transport ------------------------------------------------------------------------------


def transport(ct, key, states):
    """Cantera's mixture-averaged transport: its own fits of every species (viscosity,
    conductivity, each pair's binary diffusion; the coefficients of 1, ln T, ..., (ln T)^4,
    converted to SI with mol: Cantera's are SI with kmol only through the pressure, which
    carries no mole) and, per state, the species viscosities and conductivities and the
    mixture's viscosity, thermal conductivity and mixture-averaged diffusion coefficients."""
    gas = solution(ct, key)
    K = gas.n_species
    fits = {"viscosity": [gas.get_viscosity_polynomial(k).tolist() for k in range(K)],
            "conductivity": [gas.get_thermal_conductivity_polynomial(k).tolist() for k in range(K)],
            "diffusion": [gas.get_binary_diff_coeffs_polynomial(i, j).tolist()
                          for i in range(K) for j in range(i, K)]}
    out = []
    for s in states:
        set_state(gas, s["T"], s["p"], s["Y"])
        out.append({"species_viscosities": gas.species_viscosities.tolist(),
                    "viscosity": gas.viscosity, "thermal_conductivity": gas.thermal_conductivity,
                    "mix_diff_coeffs": gas.mix_diff_coeffs.tolist()})
    return {"fits": fits, "results": out}


TRANSPORT_TEMPERATURES = [300.0, 600.0, 1000.0, 1500.0, 2000.0, 2500.0]


def transport_species(ct, key):
    """Cantera's species properties at TRANSPORT_TEMPERATURES and 1 atm: viscosities,
    conductivities (each pure species) and binary diffusion coefficients (pairs i <= j,
    packed by rows); and which species are polar (a dipole)."""
    gas = solution(ct, key)
    K = gas.n_species
    out = []
    for T in TRANSPORT_TEMPERATURES:
        gas.TP = T, 101325.0
        D = gas.binary_diff_coeffs
        cond = []
        for k in range(K):
            gas.TPX = T, 101325.0, {gas.species_names[k]: 1.0}
            cond.append(gas.thermal_conductivity)
        gas.TP = T, 101325.0
        out.append({"T": T, "viscosity": gas.species_viscosities.tolist(), "conductivity": cond,
                    "diffusion": [float(D[i, j]) for i in range(K) for j in range(i, K)]})
    polar = [sp.transport.dipole > 0 for sp in gas.species()]
    return {"polar": polar, "results": out}


def transport_states(ct, key, seed):
    """The thermo states (random, near equilibrium, fuel-air, negative traces) in 300-3000 K."""
    return make_states(ct, key, seed, n_random=8, n_near_eq=4, n_mixture=4, n_negative=2)


# --- Jacobian -------------------------------------------------------------------------------


def rhs_pressure(gas, T, p, Y):
    """The constant-pressure adiabatic reactor in [T, Y] from Cantera's rates and thermo:
    dY_k/dt = W_k wdot_k / rho, dT/dt = -sum_k h_k wdot_k / (rho cp)."""
    set_state(gas, T, p, Y)
    w = gas.net_production_rates
    rho = gas.density
    dY = w * gas.molecular_weights / rho
    dT = -np.dot(gas.partial_molar_enthalpies, w) / (rho * gas.cp_mass)
    return np.concatenate([[dT], dY])


def fd_jacobian(gas, T, p, Y):
    """Differences of rhs_pressure, Richardson-extrapolated (error O(h^4) central, O(h^3)
    one-sided): central, except where a step would take Y_j across 0, where they are
    second-order one-sided differences away from 0 (Cantera counts a negative concentration
    as 0 in its second-order terms, so its rates are not smooth across 0). The step is chosen per column
    among 1e-1 ... 1e-7 K in T and 1e-5 ... 1e-11 in Y_j (absolute) as the one whose estimate
    changes least against the next smaller step: large steps carry the curvature of terms
    quadratic in a trace species (2 c3h3 => A1), small ones rounding. Returns J and, per
    column, that change relative to the column's norm (the reference's own error estimate)."""
    y0 = np.concatenate([[T], np.asarray(Y, dtype=float)])
    n = len(y0)
    J = np.zeros((n, n))
    err = np.zeros(n)

    def f(y):
        return rhs_pressure(gas, y[0], p, y[1:])

    f0 = f(y0)
    for j in range(n):
        base = 1e-1 if j == 0 else 1e-5

        def d(hh, central):
            e = np.zeros(n)
            e[j] = hh
            if central:
                return (f(y0 + e) - f(y0 - e)) / (2 * hh)
            return (-3 * f0 + 4 * f(y0 + e) - f(y0 + 2 * e)) / (2 * hh)

        est = []
        for k in range(7):
            h = base * 10.0 ** -k
            central = j == 0 or abs(y0[j]) >= h
            hs = h if central or y0[j] >= 0 else -h  # one-sided away from 0
            est.append((4 * d(hs / 2, central) - d(hs, central)) / 3)
        changes = [np.linalg.norm(est[k] - est[k + 1]) for k in range(len(est) - 1)]
        k = int(np.argmin(changes))
        J[:, j] = est[k + 1]
        err[j] = changes[k] / max(np.linalg.norm(est[k + 1]), 1e-300)
    return J, err


def jacobian(ct, key, states):
    """Per state: the central-difference Jacobian of Cantera's constant-pressure reactor in
    [T, Y], and Cantera's own IdealGasConstPressureReactor.finite_difference_jacobian (its
    state is [m, T, Y]; the mass row and column are dropped, the rest maps one to one)."""
    gas = solution(ct, key)
    out = []
    for s in states:
        J, err = fd_jacobian(gas, s["T"], s["p"], s["Y"])
        set_state(gas, s["T"], s["p"], s["Y"])
        r = ct.IdealGasConstPressureReactor(gas, clone=False)
        net = ct.ReactorNet([r])
        net.initialize()
        Jr = np.array(r.finite_difference_jacobian)[1:, 1:]
        out.append({"central": J.tolist(), "central_error": err.tolist(), "reactor_fd": Jr.tolist()})
    return out


# --- Ignition and equilibrium ---------------------------------------------------------------

# The 0D problems: mixture (mole fractions), initial T and p, reactor type, how long, which
# ignition criteria, and how long a run towards equilibrium is (t_eq). `detailed_balance:
# False` marks a mechanism whose kinetics do not end at thermodynamic equilibrium: n-dodecane's
# 285 irreversible reactions are forward/backward pairs with independent rate constants, so
# its long-run end state is compared with Cantera's reactor, not with equilibrate().
IGNITION = [
    {"name": "h2_air_1000K_p", "mech": "h2o2", "phi": 1.0, "T0": 1000.0, "p": 101325.0, "mode": "pressure",
     "t_max": 2e-3, "criteria": [["rise", 400.0], ["max_dTdt"], ["max_dXdt", "OH"], ["threshold", "OH", 1e-3]],
     "t_eq": 1.0},
    {"name": "h2_air_1100K_v", "mech": "h2o2", "phi": 1.0, "T0": 1100.0, "p": 101325.0, "mode": "volume",
     "t_max": 2e-3, "criteria": [["rise", 400.0], ["max_dTdt"]], "t_eq": 1.0},
    {"name": "slack1977_1059K_v", "mech": "h2o2", "X": "H2:0.2958, O2:0.1479, N2:0.5563", "T0": 1059.0,
     "p": 2 * 101325.0, "mode": "volume", "t_max": 1e-3, "criteria": [["max_dXdt", "OH"]]},
    {"name": "ch4_air_1400K_p", "mech": "gri30", "phi": 1.0, "T0": 1400.0, "p": 101325.0, "mode": "pressure",
     "t_max": 5e-3, "criteria": [["rise", 400.0], ["max_dTdt"], ["max_dXdt", "OH"]], "t_eq": 100.0},
    {"name": "ch4_air_1400K_v", "mech": "gri30", "phi": 1.0, "T0": 1400.0, "p": 101325.0, "mode": "volume",
     "t_max": 5e-3, "criteria": [["rise", 400.0], ["max_dTdt"]], "t_eq": 100.0},
    {"name": "nc12_air_800K_60bar_p", "mech": "nDodecane_Reitz", "phi": 1.0, "T0": 800.0, "p": 60e5,
     "mode": "pressure", "t_max": 2e-3, "criteria": [["rise", 50.0], ["rise", 400.0], ["max_dTdt"]], "t_eq": 1.0,
     "detailed_balance": False},
    {"name": "nc12_air_900K_60bar_v", "mech": "nDodecane_Reitz", "phi": 1.0, "T0": 900.0, "p": 60e5,
     "mode": "volume", "t_max": 2e-3, "criteria": [["rise", 50.0], ["max_dTdt"]], "t_eq": 1.0,
     "detailed_balance": False},
]

# The n-dodecane sweep (cases/ignition_nc12_diesel.yaml): constant pressure, 60 bar, phi 1.
SWEEP = {"mech": "nDodecane_Reitz", "phi": 1.0, "p": 60e5, "mode": "pressure", "T0": [800.0, 850.0, 900.0, 950.0,
                                                                                      1000.0],
         "t_max": 5e-3, "criteria": [["rise", 50.0], ["max_dTdt"]]}

RTOL, ATOL = 1e-11, 1e-20


def initial_state(ct, problem):
    gas = solution(ct, problem["mech"])
    m = MECHANISMS[problem["mech"]]
    gas.TP = problem["T0"], problem["p"]
    if "X" in problem:
        gas.TPX = problem["T0"], problem["p"], problem["X"]
    else:
        gas.set_equivalence_ratio(problem["phi"], m["fuel"], m["oxidizer"])
        gas.TP = problem["T0"], problem["p"]
    return gas


class _Trajectory:
    """A Cantera reactor followed step by step, with the monitored rates at each step's end."""

    def __init__(self, ct, gas, mode):
        self.gas = gas
        self.mode = mode
        self.reactor = (ct.IdealGasConstPressureReactor if mode == "pressure" else ct.IdealGasReactor)(gas, clone=False)
        self.net = ct.ReactorNet([self.reactor])
        self.net.rtol, self.net.atol = RTOL, ATOL
        self.net.max_steps = 10 ** 6

    def rates(self, k=None):
        """dT/dt, and for species k: dX_k/dt (mole fraction) and d[X_k]/dt (mol/m^3/s)."""
        g = self.gas
        w = g.net_production_rates
        rho = g.density
        if self.mode == "pressure":
            dT = -np.dot(g.partial_molar_enthalpies, w) / (rho * g.cp_mass)
        else:
            dT = -np.dot(g.partial_molar_int_energies, w) / (rho * g.cv_mass)
        if k is None:
            return dT, 0.0, 0.0
        W = g.molecular_weights
        dY = w * W / rho
        wbar = g.mean_molecular_weight
        dlnW = -wbar * np.sum(dY / W)
        X = g.X[k]
        dX = wbar * dY[k] / W[k] + X * dlnW
        C = g.concentrations[k]
        if self.mode == "pressure":
            dC = (w[k] + C * (dlnW - dT / g.T)) * 1e3
        else:
            dC = w[k] * 1e3
        return dT, dX, dC


def _hermite_root(t0, t1, f0, f1, d0, d1, target):
    """The time in [t0, t1] where the cubic Hermite interpolant of (f, df/dt) reaches target."""
    h = t1 - t0

    def H(s):
        return ((2 * s ** 3 - 3 * s ** 2 + 1) * f0 + (s ** 3 - 2 * s ** 2 + s) * h * d0 + (-2 * s ** 3 + 3 * s ** 2) * f1
                + (s ** 3 - s ** 2) * h * d1 - target)

    a, b = 0.0, 1.0
    for _ in range(100):
        c = 0.5 * (a + b)
        if (H(a) <= 0) == (H(c) <= 0):
            a = c
        else:
            b = c
    return t0 + 0.5 * (a + b) * h


def _vertex(t, g):
    """Vertex of the parabola through three points."""
    (t0, t1, t2), (g0, g1, g2) = t, g
    d = (t0 - t1) * (t0 - t2) * (t1 - t2)
    a = (t2 * (g1 - g0) + t1 * (g0 - g2) + t0 * (g2 - g1)) / d
    b = (t2 ** 2 * (g0 - g1) + t1 ** 2 * (g2 - g0) + t0 ** 2 * (g1 - g2)) / d
    return -b / (2 * a)


def ignition_times(ct, problem, refine=40):
    """Ignition times of a problem by each criterion, from Cantera's ReactorNet at rtol 1e-11
    (CVODES' own steps; Cantera has no event location, so the events are found between
    steps): a temperature rise or a mole-fraction threshold by inverse cubic Hermite
    interpolation between the two steps that straddle it (values and exact rates at both);
    a maximum of dT/dt or d[X]/dt by a first pass that finds the step (differences of the
    steps' states), then a second run from the state two steps before, its time step bounded
    to 1/`refine` of the four steps around that maximum, the exact rate at each of its steps
    and a parabola through the three highest. Also the temperature at t_max."""
    gas = initial_state(ct, problem)
    species = {c[1] for c in problem["criteria"] if c[0] in ("max_dXdt", "threshold")}
    k = gas.species_index(species.pop()) if species else None
    T0 = gas.T
    tr = _Trajectory(ct, gas, problem["mode"])
    ts, states = [0.0], [gas.state.copy()]
    while tr.net.time < problem["t_max"]:
        tr.net.step()
        ts.append(tr.net.time)
        states.append(gas.state.copy())
    ts, states = np.array(ts), np.array(states)
    Ts = states[:, 0]

    def rates_at(i):
        gas.state = states[i]
        return tr.rates(k)

    def mole_fraction(i):
        gas.state = states[i]
        return gas.X[k]

    results = []
    for c in problem["criteria"]:
        if c[0] in ("rise", "threshold"):
            if c[0] == "rise":
                f, target, which = Ts, T0 + c[1], 0
            else:
                f, target, which = np.array([mole_fraction(i) for i in range(len(ts))]), c[2], 1
            above = np.nonzero(f >= target)[0]
            if len(above) == 0:
                results.append(-1.0)
                continue
            i = above[0]
            d0, d1 = rates_at(i - 1)[which], rates_at(i)[which]
            results.append(_hermite_root(ts[i - 1], ts[i], f[i - 1], f[i], d0, d1, target))
        else:
            if c[0] == "max_dTdt":
                q = Ts
            else:  # [X_k] = rho Y_k / W_k; the state holds T, rho, Y
                q = states[:, 1] * states[:, 2 + k] / gas.molecular_weights[k]
            i = int(np.argmax(np.diff(q) / np.diff(ts))) + 1
            a, b = max(i - 2, 0), min(i + 2, len(ts) - 1)
            results.append(_refined_maximum(ct, problem, c, k, ts[a], states[a], ts[b], (ts[b] - ts[a]) / refine))
    # T at t_max itself: the last step ends beyond it (Cantera steps past its end), so the
    # cubic Hermite interpolant of the two steps around it.
    h, s = ts[-1] - ts[-2], (problem["t_max"] - ts[-2]) / (ts[-1] - ts[-2])
    dTa, dTb = rates_at(len(ts) - 2)[0], rates_at(len(ts) - 1)[0]
    T_end = ((2 * s ** 3 - 3 * s ** 2 + 1) * Ts[-2] + (s ** 3 - 2 * s ** 2 + s) * h * dTa
             + (-2 * s ** 3 + 3 * s ** 2) * Ts[-1] + (s ** 3 - s ** 2) * h * dTb)
    return {"tau": results, "T_end": float(T_end), "steps": int(len(ts) - 1)}


def _refined_maximum(ct, problem, criterion, k, t_lo, state_lo, t_hi, dt_max):
    gas = initial_state(ct, problem)
    gas.state = state_lo
    tr = _Trajectory(ct, gas, problem["mode"])
    tr.net.initial_time = t_lo
    tr.net.max_time_step = dt_max
    ts, gs = [], []
    while tr.net.time < t_hi:
        tr.net.step()
        r = tr.rates(k)
        ts.append(tr.net.time)
        gs.append(r[0] if criterion[0] == "max_dTdt" else r[2])
    i = int(np.argmax(gs))
    i = min(max(i, 1), len(ts) - 2)
    return float(_vertex(ts[i - 1:i + 2], gs[i - 1:i + 2]))


def equilibrium(ct, problem):
    """Cantera's equilibrium of the problem's initial state at constant h and p (constant
    pressure) or u and v (constant volume): T, p and mole fractions; and the end state of
    Cantera's own reactor after t_eq (the same long run simfuse makes)."""
    gas = initial_state(ct, problem)
    gas.equilibrate("HP" if problem["mode"] == "pressure" else "UV")
    out = {"T": gas.T, "p": gas.P, "X": gas.X.tolist()}
    gas = initial_state(ct, problem)
    tr = _Trajectory(ct, gas, problem["mode"])
    tr.net.advance(problem["t_eq"])
    out["reactor"] = {"T": gas.T, "X": gas.X.tolist(), "dTdt": tr.rates()[0]}
    return out


def ignition(ct, problem):
    gas = initial_state(ct, problem)
    out = {"Y0": gas.Y.tolist(), "T0": gas.T, "p": gas.P, "species": gas.species_names}
    out.update(ignition_times(ct, problem))
    if "t_eq" in problem:
        out["equilibrium"] = equilibrium(ct, problem)
    return out


def sweep(ct):
    out = []
    for T0 in SWEEP["T0"]:
        problem = dict(SWEEP, T0=T0)
        out.append({"T0": T0, **ignition_times(ct, problem)})
    return out


# --- Mechanism refusals ---------------------------------------------------------------------


def load_verdict(ct, path, phase):
    """What Cantera does with a mechanism file: 'accepts' or 'refuses', and the first line of
    its message (its exception type and the start of the text)."""
    try:
        ct.Solution(path, phase) if phase else ct.Solution(path)
        return {"cantera": "accepts", "message": ""}
    except Exception as e:  # Cantera raises CanteraError, YAML errors or ValueError
        text = " ".join(line.strip() for line in str(e).splitlines() if line.strip() and not set(line.strip()) <= {"*"})
        # Cantera names the file by its absolute path: the checkout's folder is not part of
        # the verdict (a fresh clone elsewhere must find the committed values current).
        text = text.replace(os.path.dirname(os.path.abspath(path)) + os.sep, "")
        return {"cantera": "refuses", "message": f"{type(e).__name__}: {text[:300]}"}


REFUSALS = os.path.join(ROOT, "tests", "fixtures", "mechanisms", "bad", "corpus.yaml")


def refusal_corpus():
    """The malformed-mechanism corpus: a list of {file, phase, what, simfuse, cantera, why}."""
    with open(REFUSALS) as f:
        text = f.read()
    try:
        import yaml  # noqa: PLC0415 (Debian's python3-yaml)
        return yaml.safe_load(text)
    except ImportError:  # the Cantera venv has ruamel.yaml (Cantera's own YAML reader) instead
        from ruamel.yaml import YAML  # noqa: PLC0415
        return YAML(typ="safe").load(text)


def refusals(ct):
    out = []
    for entry in refusal_corpus():
        path = os.path.join(os.path.dirname(REFUSALS), entry["file"])
        out.append({"file": entry["file"], "phase": entry.get("phase"), **load_verdict(ct, path, entry.get("phase"))})
    return out


# --- Committed values -----------------------------------------------------------------------


# Freely propagating premixed flames in air at 300 K and 1 atm (Cantera's FreeFlame,
# mixture-averaged transport, the refinement the issue names): the flame speeds simfuse's
# low-Mach flames are checked against.
FLAMES = [{"mech": "h2o2", "phi": phi} for phi in (0.5, 1.0, 2.0)] + \
         [{"mech": "gri30", "phi": phi} for phi in (0.8, 1.0, 1.2)]


def flame(ct, problem, width=0.03, refine=()):
    """S_L (velocity at the inlet), the burnt temperature (at the domain's end and 1 mm behind
    the front, where T = (T_u + T_b) / 2), the thermal thickness
    (T_b - T_u) / max dT/dx, the densities and the number of grid points of one flame, all at
    the refine criteria slope = curve = 0.02 (the issue's reference). `refine`: further
    slopes (= curves), each solved from the last without pruning (Cantera's Newton solver
    fails from 0.007 on when points may be pruned): "S_L_refined" maps each to its S_L and
    its number of points (the lean hydrogen flame is not converged at 0.02)."""
    import numpy as np  # noqa: PLC0415
    m = MECHANISMS[problem["mech"]]
    gas = solution(ct, problem["mech"])
    gas.set_equivalence_ratio(problem["phi"], m["fuel"], m["oxidizer"])
    gas.TP = 300.0, ct.one_atm
    f = ct.FreeFlame(gas, width=width)
    f.transport_model = "mixture-averaged"
    f.set_refine_criteria(ratio=2, slope=0.02, curve=0.02)
    f.solve(loglevel=0, auto=True)
    dTdx = np.gradient(f.T, f.grid)
    front = float(np.interp(0.5 * (f.T[0] + f.T[-1]), f.T, f.grid))  # T rises monotonically
    out = {"S_L": float(f.velocity[0]), "T_b": float(f.T[-1]), "T_1mm": float(np.interp(front + 1e-3, f.grid, f.T)), "thickness": float((f.T[-1] - f.T[0]) / dTdx.max()),
           "rho_u": float(f.density[0]), "rho_b": float(f.density[-1]), "points": int(len(f.grid))}
    if refine:
        out["S_L_refined"] = {}
        f.set_max_grid_points(f.flame, 20000)
        for s in refine:
            f.set_refine_criteria(ratio=2, slope=s, curve=s, prune=0)
            f.solve(loglevel=0, auto=False)
            out["S_L_refined"][s] = (float(f.velocity[0]), int(len(f.grid)))
    return out


def committed_path(name):
    return os.path.join(DATA, name + ".json")


def load_committed(name):
    with open(committed_path(name)) as f:
        return json.load(f)


def write_committed(ct, name, payload, mechanisms=()):
    os.makedirs(DATA, exist_ok=True)
    doc = {"cantera_version": ct.__version__, "generated": datetime.date.today().isoformat(),
           "generator": "scripts/cantera_refs.py",
           "mechanisms": {k: {"file": MECHANISMS[k]["file"], "sha256": sha256(mechanism_path(k))} for k in mechanisms}}
    doc.update(payload)
    tmp = committed_path(name) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=None, separators=(",", ":"))
        f.write("\n")
    os.replace(tmp, committed_path(name))


class Reference:
    """The reference named `name`: live Cantera when available, else the committed file.
    `describe()` says which; `stale(live, committed)` lets a live run flag committed values
    that no longer match."""

    def __init__(self, name):
        self.name = name
        self.ct = cantera()
        self.committed = load_committed(name) if os.path.exists(committed_path(name)) else None
        if self.ct is None and self.committed is None:
            raise SystemExit(f"no Cantera and no committed reference {committed_path(name)}: "
                             "run scripts/install-deps.sh, then scripts/cantera_refs.py")
        for key, m in (self.committed or {}).get("mechanisms", {}).items():
            if sha256(os.path.join(ROOT, m["file"])) != m["sha256"]:
                raise SystemExit(f"{m['file']} changed since the committed references were made: "
                                 "regenerate them with scripts/cantera_refs.py")

    @property
    def live(self):
        return self.ct is not None

    def describe(self):
        if self.live:
            return f"reference: live Cantera {self.ct.__version__}"
        c = self.committed
        return (f"reference: committed values of Cantera {c['cantera_version']} ({os.path.relpath(committed_path(self.name), ROOT)}, "
                f"generated {c['generated']}); Cantera is not importable here (scripts/install-deps.sh installs it)")

    def same_version(self):
        return self.live and self.committed is not None and self.committed["cantera_version"] == self.ct.__version__
