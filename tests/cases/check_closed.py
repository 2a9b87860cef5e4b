#!/usr/bin/env python3
"""A reacting flow in a closed domain (issue 27): the thermodynamic pressure p0(t).

1. A closed box of uniform gas is a constant-volume reactor. Stoichiometric H2-air at
   1000 K and 1 atm in a 4 x 4 doubly periodic box (h2o2.yaml, CVODE rtol 1e-8), 0.4 ms at
   dt = 1e-6 and 5e-7 s, against Cantera's IdealGasReactor (constant volume, rtol 1e-10):
   - the end pressure within 1e-5 (measured -4.3e-6 and -2.3e-6): once p0 stops changing
     the compression heating has returned all the work of the constant-pressure chemistry
     (the internal energy h - p0/rho is conserved), so the end state is the reactor's up
     to the chemistry's tolerance;
   - the ignition delay (p0 half way between start and end) within 1% at dt = 1e-6 s
     (measured +0.38%), and first order in dt: halving dt divides the error by 1.6-2.4
     (measured 2.05; the compression enters the enthalpy a step late).
2. cases/closed_vessel_h2.yaml (a burnt kernel in a closed, walled vessel of fresh
   stoichiometric H2-air) at 40 x 40, dt = 2e-6 s, 50 steps, on 1 and 2 ranks:
   - the vessel's mass, the sum of the density field (metric mass_relative_change), is the
     same at the end as at the start to 1e-12 (p0 is chosen each step to hold it: round-off);
   - p0 rises at every step, and by the end by more than 5% (the kernel is burning);
   - thermodynamic pressure, fuel burnt fraction, kinetic energy and hottest cell equal on
     1 and 2 ranks to 1e-8 (only the order of the parallel sums differs);
   - sum_k Y_k = 1 to 1e-12 and no mass fraction below -1e-12.
Usage: check_closed.py SIMFUSE SOURCE_DIR [--mpiexec MPIEXEC]  (with Cantera: scripts/cantera-python)
"""
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from case_tools import bounded, compare_ranks, flame_rows, run_case, verdict  # noqa: E402

X = {"H2": 0.2958, "O2": 0.1479, "N2": 0.5563}
BOX = """name: box
grid: {n: [4, 4], centering: cell, periodic: [true, true], upper: [1.0e-3, 1.0e-3]}
solver:
  type: navier_stokes
  params:
    reacting:
      kinetics: {file: MECH, phase: ohmech}
      fuel: H2
      initial:
        temperature: "1000"
        mole_fractions: {H2: 0.2958, O2: 0.1479, N2: 0.5563}
        normalize: true
      integrator: {type: cvode, rtol: 1.0e-8, atol: 1.0e-14}
time: {dt: 1.0e-6, t_end: 4.0e-4}
output: {every: 100000}
"""


def pressure_history(out):
    rows = flame_rows(out)
    return np.array([r["t"] for r in rows]), np.array([r["thermodynamic_pressure"] for r in rows])


def half_way(t, p):
    """The time p crosses half way between its start and its end."""
    return float(np.interp(0.5 * (p[0] + p[-1]), p, t))


def cantera_reactor(src):
    import cantera as ct  # noqa: PLC0415
    gas = ct.Solution(os.path.join(src, "cases", "mechanisms", "h2o2.yaml"), "ohmech")
    gas.TPX = 1000.0, 101325.0, X
    try:
        r = ct.IdealGasReactor(gas, clone=False)  # Cantera >= 3.2 (the reactor shares the gas)
    except TypeError:
        r = ct.IdealGasReactor(gas)
    net = ct.ReactorNet([r])
    net.rtol, net.atol = 1e-10, 1e-16
    t = np.linspace(0, 4e-4, 4001)
    p = [101325.0]
    for x in t[1:]:
        net.advance(x)
        p.append(gas.P)
    return t, np.array(p)


def main():
    exe, src = sys.argv[1], sys.argv[2]
    mpiexec = sys.argv[sys.argv.index("--mpiexec") + 1] if "--mpiexec" in sys.argv else "mpiexec"
    problems = []
    tc, pc = cantera_reactor(src)
    t_ref = half_way(tc, pc)
    print(f"Cantera constant-volume reactor: p at 0.4 ms {pc[-1]:.2f} Pa, ignition (p half way) {t_ref * 1e6:.3f} us")
    with tempfile.TemporaryDirectory() as tmp:
        case = os.path.join(tmp, "box.yaml")
        with open(case, "w") as f:
            f.write(BOX.replace("MECH", os.path.join(src, "cases", "mechanisms", "h2o2.yaml")))
        err = {}
        for dt in (1e-6, 5e-7):
            out = os.path.join(tmp, f"box_{dt:g}")
            run_case(exe, case, out, [f"time.dt={dt!r}"])
            t, p = pressure_history(out)
            t, p = np.concatenate([[0.0], t]), np.concatenate([[101325.0], p])
            dp, err[dt] = p[-1] / pc[-1] - 1, half_way(t, p) / t_ref - 1
            print(f"box, dt = {dt:g} s: p at 0.4 ms {p[-1]:.2f} Pa ({dp:+.2e}), ignition {half_way(t, p) * 1e6:.3f} us "
                  f"({err[dt]:+.4%})")
            if not abs(dp) < 1e-5:
                problems.append(f"box at dt = {dt:g}: end pressure off Cantera's by {dp:.2e} (bound 1e-5)")
        if not abs(err[1e-6]) < 0.01:
            problems.append(f"box: ignition delay off by {err[1e-6]:.4%} at dt = 1e-6 (bound 1%)")
        ratio = err[1e-6] / err[5e-7] if err[5e-7] != 0 else float("inf")
        print(f"ignition delay error ratio dt = 1e-6 / 5e-7: {ratio:.3f} (first order: 2)")
        if not 1.6 <= ratio <= 2.4:
            problems.append(f"box: the ignition delay's error shrinks by {ratio:.2f} when dt halves (want 1.6-2.4)")

        vessel = os.path.join(src, "cases", "closed_vessel_h2.yaml")
        sets = ["grid.n=[40,40]", "time.dt=2.0e-6", "time.t_end=1.0e-4", "output.every=50"]
        m = {}
        for ranks in (1, 2):
            out = os.path.join(tmp, f"vessel_r{ranks}")
            m[ranks] = run_case(exe, vessel, out, sets, ranks, mpiexec)["metrics"]
            dm = abs(m[ranks]["mass_relative_change"])
            t, p = pressure_history(out)
            rise = p[-1] / 101325.0 - 1
            print(f"vessel, {ranks} rank(s): mass change {dm:.1e}, p0 {p[-1]:.1f} Pa (+{rise:.1%}), fuel burnt "
                  f"{m[ranks]['fuel_burnt_fraction']:.4f}, hottest {m[ranks]['max_temperature']:.1f} K")
            if not dm < 1e-12:
                problems.append(f"vessel on {ranks} rank(s): the mass changed by {dm:.1e}")
            if not (np.all(np.diff(np.concatenate([[101325.0], p])) > 0) and rise > 0.05):
                problems.append(f"vessel on {ranks} rank(s): p0 does not rise at every step, or by less than 5%")
            if not bounded(m[ranks]):
                problems.append(f"vessel on {ranks} rank(s): mass fractions unbounded")
        problems += compare_ranks(m, ["thermodynamic_pressure", "fuel_burnt_fraction", "kinetic_energy",
                                      "max_temperature"], "vessel: ")
    return verdict(problems, "closed domain")


if __name__ == "__main__":
    sys.exit(main())
