#!/usr/bin/env python3
"""CVODE on a 0D constant-pressure reactor: the analytic Jacobian against CVODE's
difference quotients, for both shipped mechanisms, at several tolerances. Each run is
an ignition (T0 + 400 K) of a stoichiometric fuel-air mixture at 1 atm; the two
Jacobians run interleaved in this one script (5 repetitions, medians of the wall time of
the integration alone, as build/tests/reactor_ignition reports it).
Usage: /usr/bin/python3 bench/run_chemistry_bench.py BUILD_DIR [--repetitions 5]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
# Stoichiometric fuel-air by mole fractions (reactor_ignition normalises them).
MIXTURES = {"H2": {"H2": 1.0, "O2": 0.5, "N2": 1.88}, "CH4": {"CH4": 1.0, "O2": 2.0, "N2": 7.52}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--repetitions", type=int, default=5)
    a = ap.parse_args()
    exe = os.path.join(a.build, "tests", "reactor_ignition")
    cases = [("h2o2.yaml", "H2", 1000.0, 5e-3), ("gri30.yaml", "CH4", 1400.0, 5e-3)]
    print("One CVODE call through the ignition:\n")
    print("| mechanism | rtol | analytic: s | steps | Jacobians | RHS | fd: s | steps | Jacobians | RHS | fd / analytic |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    stepped = []
    for mech, fuel, T0, tmax in cases:
        path = os.path.join(ROOT, "cases", "mechanisms", mech)
        for rtol in (1e-4, 1e-6, 1e-8):
            res = {"analytic": [], "fd": []}
            last = {}
            for _ in range(a.repetitions):
                for jac in ("analytic", "fd"):
                    problem = {"T0": T0, "p": 101325.0, "X": MIXTURES[fuel], "dT": 400.0, "t_max": tmax, "rtol": rtol,
                               "atol": 1e-12 * rtol / 1e-6, "jacobian": jac, "dt": tmax / 500}
                    out = json.loads(subprocess.run([exe, path], input=json.dumps(problem), capture_output=True,
                                                    text=True, check=True).stdout)
                    res[jac].append(out["seconds"])
                    res.setdefault(jac + "_stepped", []).append(out["stepped_seconds"])
                    last[jac] = out
            ma, mf = statistics.median(res["analytic"]), statistics.median(res["fd"])
            la, lf = last["analytic"], last["fd"]
            print(f"| {mech} | {rtol:g} | {ma:.4f} | {la['steps']} | {la['jac_evals']} | {la['rhs_evals']} | "
                  f"{mf:.4f} | {lf['steps']} | {lf['jac_evals']} | {lf['rhs_evals']} | {mf / ma:.2f} |")
            sa, sf = statistics.median(res["analytic_stepped"]), statistics.median(res["fd_stepped"])
            stepped.append(f"| {mech} | {rtol:g} | {sa:.4f} | {la['stepped_jacobians']} | {sf:.4f} | "
                           f"{lf['stepped_jacobians']} | {sf / sa:.2f} |")
    print("\nThe same time span in 500 calls of dt = t_max / 500, CVodeReInit before each (as a split solver "
          "calls it per cell and step):\n")
    print("| mechanism | rtol | analytic: s | Jacobians | fd: s | Jacobians | fd / analytic |\n|---|---|---|---|---|---|---|")
    for row in stepped:
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
