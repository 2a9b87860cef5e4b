#!/usr/bin/env python3
"""Laminar flame speeds of simfuse's low-Mach flow against Cantera's FreeFlame (issue 27).

  scripts/cantera-python bench/run_flame_bench.py BUILD_DIR [--only h2o2:1.0,gri30:1.0]
      [--ppt 10,20] [--cfl 0.25,0.125] [--duration 6] [--splitting forced|strang|lie] [--json out.json]

For each flame of tests/chemistry/cantera_reference.FLAMES (hydrogen-air phi 0.5, 1, 2 with
h2o2.yaml; methane-air phi 0.8, 1, 1.2 with GRI-3.0; 300 K, 1 atm, mixture-averaged):
  - Cantera's FreeFlame (refine ratio 2, slope and curve 0.02): S_L, the thermal thickness
    delta, the temperature 1 mm behind the front, the equilibrium (HP) burnt state; then
    refined to slope = curve 0.01, 0.005, 0.0025 (no pruning): the converged S_L, against
    which the errors are given too (the lean hydrogen flame moves 1.7% from 0.02 to 0.0025);
  - simfuse's 1D flame (a strip 3 cells across) over a domain of 10 delta with the front
    at 0.4 of it, started from a tanh profile between the fresh mixture and its
    equilibrium products, the inflow at Cantera's S_L (the measured speed does not depend
    on it: S_L = u_in - dx_f/dt), run for --duration (6) delta / S_L and measured over the
    second half (the fuel consumption speed and the front's speed); the drift of the
    consumption speed between the third and the last quarter says how steady that is;
  - at h = delta / ppt for each ppt and dt = cfl h / u_b (u_b = S_L rho_u / rho_b, the
    burnt gas speed) for each cfl: the flame speed against resolution and dt.
Writes a table (stdout, Markdown) and, with --json, every number.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "chemistry"))
import cantera_reference as cr  # noqa: E402

DURATION = 6  # flame times delta / S_L per run (the second half is measured); --duration
# Cantera refined beyond the slope = curve = 0.02, each from the last: its converged
# S_L (the last), and how much the last refinement moved it.
REFINE = (0.01, 0.005, 0.0025)

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1",
           OPENBLAS_NUM_THREADS="1")


def cantera_flame(ct, problem):
    ref = cr.flame(ct, problem, refine=REFINE)
    m = cr.MECHANISMS[problem["mech"]]
    gas = cr.solution(ct, problem["mech"])
    gas.set_equivalence_ratio(problem["phi"], m["fuel"], m["oxidizer"])
    gas.TP = 300.0, ct.one_atm
    fresh = {s: float(x) for s, x in zip(gas.species_names, gas.X) if x > 0}
    gas.equilibrate("HP")
    burnt = {s: float(x) for s, x in zip(gas.species_names, gas.X) if x > 1e-10}
    return ref, fresh, burnt, float(gas.T)


def case_yaml(problem, ref, fresh, burnt, T_b, ppt, cfl, fuel):
    m = cr.MECHANISMS[problem["mech"]]
    delta = ref["thickness"]
    L = 10 * delta
    h = delta / ppt
    n = int(round(L / h))
    u_b = ref["S_L"] * ref["rho_u"] / ref["rho_b"]
    dt = cfl * h / u_b
    steps = int(math.ceil(DURATION * delta / ref["S_L"] / dt))
    t_end = steps * dt
    s = "0.5*(1 + tanh((x - x0)/d0))"
    fr = {}
    for k in sorted(set(fresh) | set(burnt)):
        a, b = fresh.get(k, 0.0), burnt.get(k, 0.0)
        fr[k] = f"{a!r}*(1 - {s}) + {b!r}*{s}"
    lines = [
        f"name: flame_{problem['mech']}_{problem['phi']}",
        f"parameters: {{x0: {0.4 * L!r}, d0: {0.5 * delta!r}}}",
        f"grid: {{n: [{n}, 3], centering: cell, periodic: [false, true], upper: [{n * h!r}, {3 * h!r}]}}",
        "solver:",
        "  type: navier_stokes",
        "  params:",
        f"    inflow: {{face: x_lo, velocity: {ref['S_L']!r}}}",
        "    outflow: x_hi",
        "    reacting:",
        f"      kinetics: {{file: {cr.mechanism_path(problem['mech'])}, phase: {m['phase']}}}",
        f"      fuel: {fuel}",
        "      initial:",
        f"        temperature: \"300 + ({T_b!r} - 300)*{s}\"",
        "        normalize: true",
        "        mole_fractions:",
    ] + [f"          {k}: \"{v}\"" for k, v in fr.items()] + [
        "      integrator: {type: cvode, rtol: 1.0e-6, atol: 1.0e-12}",
        f"time: {{dt: {dt!r}, steps: {steps}}}",
        f"output: {{every: {10 ** 9}}}",
    ]
    return "\n".join(lines) + "\n", dict(h=h, n=n, dt=dt, t_end=t_end, steps=steps)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build")
    ap.add_argument("--only", default="", help="mech:phi,... (default: all six)")
    ap.add_argument("--ppt", default="10", help="cells per thermal thickness, comma-separated")
    ap.add_argument("--cfl", default="0.25,0.125", help="dt u_b / h, comma-separated")
    ap.add_argument("--json")
    ap.add_argument("--duration", type=float, default=DURATION, help="run length in flame times delta / S_L")
    ap.add_argument("--splitting", default="forced", choices=["forced", "forced_split", "strang", "lie"],
                    help="the chemistry-transport coupling (reacting.splitting)")
    a = ap.parse_args()
    globals()["DURATION"] = a.duration
    ct = cr.cantera()
    if ct is None:
        sys.exit("Cantera is not importable: run with scripts/cantera-python (scripts/install-deps.sh installs it)")
    exe = os.path.join(a.build, "bin", "simfuse")
    problems = cr.FLAMES
    if a.only:
        want = {(p.split(":")[0], float(p.split(":")[1])) for p in a.only.split(",")}
        problems = [p for p in problems if (p["mech"], p["phi"]) in want]
    rows = []
    for problem in problems:
        fuel = cr.MECHANISMS[problem["mech"]]["fuel"].split(":")[0]
        ref, fresh, burnt, T_b = cantera_flame(ct, problem)
        conv = [ref["S_L_refined"][s][0] for s in REFINE]
        ref["S_L_converged"] = conv[-1]
        print(f"{problem['mech']} phi {problem['phi']}: Cantera S_L {ref['S_L']:.4f} m/s at slope 0.02, refined "
              + ", ".join(f"{v:.5f} ({s:g}, {ref['S_L_refined'][s][1]} points)" for s, v in zip(REFINE, conv))
              + f"; delta {ref['thickness'] * 1e3:.3f} mm", flush=True)
        for ppt in [float(x) for x in a.ppt.split(",")]:
            for cfl in [float(x) for x in a.cfl.split(",")]:
                text, run = case_yaml(problem, ref, fresh, burnt, T_b, ppt, cfl, fuel)
                with tempfile.TemporaryDirectory() as tmp:
                    case = os.path.join(tmp, "flame.yaml")
                    with open(case, "w") as f:
                        f.write(text)
                    out = os.path.join(tmp, "out")
                    t0 = time.time()
                    r = subprocess.run([exe, "run", case, "-o", out, "-q", "--no-progress", "--set",
                                        f"solver.params.reacting.splitting={a.splitting}"],
                                       capture_output=True, text=True, env=ENV)
                    wall = time.time() - t0
                    if r.returncode != 0:
                        print(f"  ppt {ppt:g}, cfl {cfl:g}: FAILED (exit {r.returncode}): {r.stderr[-500:]}", flush=True)
                        rows.append(dict(problem=problem, ppt=ppt, cfl=cfl, failed=r.stderr[-2000:], **run))
                        continue
                    s = json.load(open(os.path.join(out, "summary.json")))
                    # Drift: the consumption speed's mean over the third and the last quarter of
                    # the run (how far from steady the measuring window is).
                    with open(os.path.join(out, "flame.csv")) as f:
                        sc = [float(line.split(",")[2]) for line in f.readlines()[1:]]
                    q = len(sc) // 4
                    drift = (sum(sc[3 * q:]) / len(sc[3 * q:])) / (sum(sc[2 * q:3 * q]) / q) - 1
                met = s["metrics"]
                sub = {x["name"]: x for x in s["substeps"]}
                react = sum(x.get("seconds", 0) for x in s["substeps"] if x["name"] == "react")
                total = sum(x.get("seconds", 0) for x in s["substeps"])
                row = dict(problem=problem, ppt=ppt, cfl=cfl, ref=ref, wall=wall, react_share=react / total if total else None,
                           S_c=met.get("flame_speed_consumption"), S_front=met.get("flame_speed_front"),
                           T_1mm=met.get("temperature_1mm_behind_front"), drift=drift, **run)
                row["err_c"] = row["S_c"] / ref["S_L"] - 1 if row["S_c"] else None
                row["err_front"] = row["S_front"] / ref["S_L"] - 1 if row["S_front"] else None
                row["err_c_conv"] = row["S_c"] / ref["S_L_converged"] - 1 if row["S_c"] else None
                row["err_front_conv"] = row["S_front"] / ref["S_L_converged"] - 1 if row["S_front"] else None
                rows.append(row)
                print(f"  ppt {ppt:g} (h {run['h'] * 1e6:.1f} um, {run['n']} cells), cfl {cfl:g} (dt {run['dt']:.3g} s): "
                      f"S_c {row['S_c']:.4f} ({row['err_c']:+.2%}), S_front {row['S_front']:.4f} ({row['err_front']:+.2%}), "
                      f"T(1 mm) {row['T_1mm'] or math.nan:.1f} K vs {ref['T_1mm']:.1f}; drift {drift:+.2%}; "
                      f"react {row['react_share']:.0%} "
                      f"of the step; {wall:.0f} s", flush=True)
                del sub
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    print("\n| flame | Cantera S_L: 0.02, converged (m/s) | h (um) | dt (s) | S_L consumption | S_L front | "
          "vs converged | react share | wall (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        p = r["problem"]
        if "failed" in r:
            print(f"| {p['mech']} phi {p['phi']} | | {r['h'] * 1e6:.1f} | {r['dt']:.3g} | failed | | | | |")
            continue
        print(f"| {p['mech']} phi {p['phi']} | {r['ref']['S_L']:.4f}, {r['ref']['S_L_converged']:.4f} | {r['h'] * 1e6:.1f} | "
              f"{r['dt']:.3g} | {r['S_c']:.4f} ({r['err_c']:+.2%}) | {r['S_front']:.4f} ({r['err_front']:+.2%}) | "
              f"{r['err_c_conv']:+.2%} / {r['err_front_conv']:+.2%} | {r['react_share']:.0%} | {r['wall']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
