#!/usr/bin/env python3
"""Checks simfuse's adiabatic reactor under CVODE against an independent one: the numpy
rates of check_mechanism.py in scipy's BDF integrator (solve_ivp), for a stoichiometric
mixture (H2-air by default) at constant pressure or volume.

Checks, with the tolerance each one's reason:
- ignition delay (time of a temperature rise by dT, found by root finding inside a step
  on both sides) within 1e-3 relative: both integrate to rtol 1e-10, far below it;
- elements conserved to 1e-12 relative over the whole run (the rates conserve them
  exactly; only rounding is left);
- enthalpy (constant pressure) or internal energy (constant volume: checked through the
  final temperature against the independent run) to 1e-6 of cp T0.

Usage: check_reactor.py REACTOR_IGNITION_EXE MECHANISM.yaml [--phase P] [--fuel H2]
       [--T0 1000] [--p 101325] [--mode pressure|volume]
"""
import argparse
import json
import math
import os
import subprocess
import sys

import numpy as np
from scipy.integrate import solve_ivp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_mechanism as cm  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("exe")
    ap.add_argument("mechanism")
    ap.add_argument("--phase")
    ap.add_argument("--fuel", default="H2")
    ap.add_argument("--T0", type=float, default=1000.0)
    ap.add_argument("--p", type=float, default=101325.0)
    ap.add_argument("--dT", type=float, default=400.0)
    ap.add_argument("--t-max", type=float, default=5e-3)
    ap.add_argument("--mode", default="pressure", choices=["pressure", "volume"])
    ap.add_argument("--jacobian", choices=["analytic", "fd"])
    ap.add_argument("--criterion", choices=["max_dTdt", "max_dXdt", "threshold"],
                    help="also check the ignition time by this criterion (simfuse: inside CVODE's steps)")
    ap.add_argument("--species", default="OH")
    ap.add_argument("--value", type=float, default=1e-3)
    ap.add_argument("--mole-fractions", help="H2:0.2958,O2:0.1479,N2:0.5563 instead of stoichiometric fuel-air")
    a = ap.parse_args()
    names, species, reactions = cm.load(a.mechanism, a.phase)
    idx = {n: i for i, n in enumerate(names)}
    W = np.array([sum(c * cm.WEIGHTS[e] for e, c in s["composition"].items()) * 1e-3 for s in species])
    # Stoichiometric fuel-air: fuel + (x + y/4 - z/2) (O2 + 3.76 N2).
    comp = species[idx[a.fuel]]["composition"]
    o2 = comp.get("C", 0) + comp.get("H", 0) / 4 - comp.get("O", 0) / 2
    X = np.zeros(len(names))
    X[idx[a.fuel]], X[idx["O2"]], X[idx["N2"]] = 1.0, o2, 3.76 * o2
    if a.mole_fractions:
        X[:] = 0
        for item in a.mole_fractions.split(","):
            k, v = item.split(":")
            X[idx[k]] = float(v)
    X /= X.sum()
    Y = X * W / (X @ W)

    def thermo(T, Y):
        cp, h, s = cm.nasa(species, T)
        return cp, h

    rho0 = a.p * (1 / (Y / W).sum()) / (cm.R * a.T0)

    def f(t, y):
        T, Yk = y[0], y[1:]
        rho = rho0 if a.mode == "volume" else a.p / ((Yk / W).sum() * cm.R * T)
        C = rho * Yk / W
        cp, h = thermo(T, Yk)
        wdot = cm.rates(names, species, reactions, T, C)[5]
        if a.mode == "volume":
            cp, h = cp - 1.0, h - 1.0
        dT = -(h * wdot).sum() * T / (rho * (Yk / W * cp).sum())
        return np.concatenate([[dT], W * wdot / rho])

    def rise(t, y):
        return y[0] - (a.T0 + a.dT)
    rise.terminal = True

    y0 = np.concatenate([[a.T0], Y])
    sol = solve_ivp(f, (0, a.t_max), y0, method="BDF", rtol=1e-10, atol=1e-16, events=rise)
    tau_py = sol.t_events[0][0] if len(sol.t_events[0]) else -1.0
    full = solve_ivp(f, (0, a.t_max), y0, method="BDF", rtol=1e-10, atol=1e-16)

    # The criterion on scipy's solution: its own BDF steps and dense output (an independent
    # interpolant), the maximum refined by golden-section search.
    tau_c_py = None
    if a.criterion:
        dense = solve_ivp(f, (0, a.t_max), y0, method="BDF", rtol=1e-10, atol=1e-16, dense_output=True)
        k = idx[a.species]

        def rate(t):
            y = dense.sol(t)
            dy = f(t, y)
            T, Yk = y[0], y[1:]
            if a.criterion == "max_dTdt":
                return dy[0]
            # [X] = rho Y_k / W_k; d/dt with rho from the ideal gas at constant p (or fixed).
            if a.mode == "volume":
                return rho0 * dy[1 + k] / W[k]
            rho = a.p / ((Yk / W).sum() * cm.R * T)
            wbar = 1 / (Yk / W).sum()
            drho = rho * (-wbar * (dy[1:] / W).sum() - dy[0] / T)
            return (rho * dy[1 + k] + Yk[k] * drho) / W[k]

        if a.criterion == "threshold":
            def hit(t, y):
                Yk = y[1:]
                return Yk[k] / W[k] / (Yk / W).sum() - a.value
            hit.terminal = True
            ev = solve_ivp(f, (0, a.t_max), y0, method="BDF", rtol=1e-10, atol=1e-16, events=hit)
            tau_c_py = ev.t_events[0][0] if len(ev.t_events[0]) else -1.0
        else:
            ts = dense.t
            r = np.array([rate(t) for t in ts])
            i = int(np.argmax(r))
            lo, hi = ts[max(i - 1, 0)], ts[min(i + 1, len(ts) - 1)]
            g = (np.sqrt(5) - 1) / 2
            for _ in range(200):
                x1, x2 = hi - g * (hi - lo), lo + g * (hi - lo)
                if rate(x1) < rate(x2):
                    lo = x1
                else:
                    hi = x2
            tau_c_py = 0.5 * (lo + hi)

    problem = {"T0": a.T0, "p": a.p, "Y": Y.tolist(), "dT": a.dT, "t_max": a.t_max, "rtol": 1e-10,
               "atol": 1e-16, "mode": a.mode}
    if a.jacobian:
        problem["jacobian"] = a.jacobian
    if a.criterion:
        problem.update({"criterion": a.criterion, "species": a.species, "value": a.value})
    cmd = [a.exe, a.mechanism] + ([a.phase] if a.phase else [])
    out = subprocess.run(cmd, input=json.dumps(problem), capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr)
        return 1
    got = json.loads(out.stdout)
    ok = True

    def report(what, value, bound):
        nonlocal ok
        good = value <= bound
        ok = ok and good
        print(f"  {what}: {value:.2e} (bound {bound:.0e}) {'ok' if good else 'FAIL'}")

    mix = a.mole_fractions or f"stoichiometric {a.fuel}-air"
    print(f"{os.path.basename(a.mechanism)}: {mix}, T0 = {a.T0} K, p = {a.p} Pa, "
          f"constant {a.mode}; ignition = T0 + {a.dT} K")
    print(f"  ignition delay: simfuse/CVODE {got['tau'] * 1e3:.6f} ms, scipy BDF {tau_py * 1e3:.6f} ms "
          f"({got['steps']} CVODE steps, {got['jac_evals']} Jacobians, {got['rhs_evals']} right-hand sides)")
    if tau_py <= 0 or got["tau"] <= 0:
        print("  no ignition within t_max")
        return 1
    report("ignition delay, relative difference", abs(got["tau"] - tau_py) / tau_py, 1e-3)
    if a.criterion:
        what = a.criterion + (f" of {a.species}" if a.criterion != "max_dTdt" else "")
        if a.criterion == "threshold":
            what = f"mole fraction of {a.species} = {a.value:g}"
        print(f"  ignition by {what}: simfuse/CVODE {got['tau_criterion'] * 1e3:.6f} ms, "
              f"scipy BDF {tau_c_py * 1e3:.6f} ms")
        if tau_c_py <= 0 or got["tau_criterion"] <= 0:
            print("  no ignition by the criterion within t_max")
            return 1
        report(f"ignition by {a.criterion}, relative difference", abs(got["tau_criterion"] - tau_c_py) / tau_c_py,
               1e-3)
    ye = np.array(got["y_end"])
    report("final temperature vs scipy, relative", abs(ye[0] - full.y[0, -1]) / full.y[0, -1], 1e-5)
    # Elements: sum_k Y_k a_ek / W_k.
    for e in sorted({e for s in species for e in s["composition"]}):
        a_e = np.array([s["composition"].get(e, 0.0) for s in species])
        before, after = (Y * a_e / W).sum(), (ye[1:] * a_e / W).sum()
        if before > 0:
            report(f"element {e}, relative change", abs(after - before) / before, 1e-12)
    report("sum of mass fractions - 1", abs(ye[1:].sum() - 1.0), 1e-12)
    if a.mode == "pressure":
        report("enthalpy change / (cp T0)", abs(got["h_end"] - got["h0"]) / (got["cp0"] * a.T0), 1e-6)
    print("reactor check: " + ("OK" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
