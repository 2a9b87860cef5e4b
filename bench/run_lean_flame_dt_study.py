#!/usr/bin/python3
"""Which coupling of chemistry and transport is the more accurate on the 2D lean H2 flame
(issue 28, item 3)? cases/flame2d_h2_lean.yaml (128 x 64, h = 50 um) run to the same time
with splitting forced (the case's) and forced_split (the one a model of the chemistry alone
can run in) at dt = 5, 2.5 and 1.25 us, CVODE at the case's rtol 1e-6 throughout. Both
couplings tend to the same unsplit answer as dt -> 0; the one whose result moves least when
dt is halved, and lies nearer the other's extrapolated limit, has the smaller coupling error
at the case's step, which is the step the models are trained for.

  /usr/bin/python3 bench/run_lean_flame_dt_study.py BUILD_DIR [--t-end 2e-3] [--skip-split-fine]
      [--json out.json]

Runs two at a time (one per core, 1 rank each). For each: react and whole-step seconds, the
consumption speed's mean over the second half (flame.csv), the front length ratio and front
position at the end, and the relative L2 of T and OH at the end against the finest forced run
(the fields at the same time on the same grid).
"""
import argparse
import concurrent.futures as cf
import json
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from simfuse_runs import flame_rows, last_fields, rel_l2, run, substep  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build")
    ap.add_argument("--t-end", default="2e-3")
    ap.add_argument("--skip-split-fine", action="store_true",
                    help="leave out forced_split at 1.25 us (the costliest run: about half an hour)")
    ap.add_argument("--json")
    a = ap.parse_args()
    exe = os.path.join(a.build, "bin", "simfuse")
    case = os.path.join(HERE, "..", "cases", "flame2d_h2_lean.yaml")
    runs = []
    for split in ("forced", "forced_split"):
        for dt in (5e-6, 2.5e-6, 1.25e-6):
            if split == "forced_split" and dt == 1.25e-6 and a.skip_split_fine:
                continue
            runs.append((split, dt))
    # The costliest first, so that the two cores finish together.
    cost = {("forced", 5e-6): 1, ("forced", 2.5e-6): 2, ("forced", 1.25e-6): 4,
            ("forced_split", 5e-6): 3, ("forced_split", 2.5e-6): 6, ("forced_split", 1.25e-6): 12}
    order = sorted(runs, key=lambda r: -cost[r])
    with tempfile.TemporaryDirectory() as tmp, cf.ThreadPoolExecutor(2) as pool:
        outs = {r: os.path.join(tmp, f"{r[0]}_{r[1]:g}") for r in runs}
        jobs = {r: pool.submit(run, exe, case, outs[r],
                               [f"time.t_end={a.t_end}", f"time.dt={r[1]!r}", "output.every=100000000",
                                f"solver.params.reacting.splitting={r[0]}"], extra=["--unset", "output.png"])
                for r in order}
        s = {r: jobs[r].result() for r in runs}
        ref = ("forced", 1.25e-6)
        f = {r: last_fields(outs[r], ["T", "OH"]) for r in runs}
        rows = []
        for r in runs:
            fl = flame_rows(outs[r])
            t = np.array([x["t"] for x in fl])
            sc = np.array([x["consumption_speed"] for x in fl])
            half = t > 0.5 * float(a.t_end)
            react = substep(s[r])
            rows.append(dict(splitting=r[0], dt=r[1], react=react["seconds"],
                             total=sum(x["seconds"] for x in s[r]["substeps"]), steps=len(fl),
                             S_c=float(sc[half].mean()), length=fl[-1]["front_length_ratio"],
                             front=fl[-1]["front_position"], t_last=float(t[-1]),
                             T_l2=rel_l2(f[r]["T"], f[ref]["T"]), OH_l2=rel_l2(f[r]["OH"], f[ref]["OH"])))
        print(f"2D lean flame to t = {a.t_end} s; field errors against forced at dt 1.25 us\n")
        print("| splitting | dt (us) | steps | react (s) | whole step (s) | S_c, 2nd half (m/s) | front length ratio "
              "| front (mm) | T rel L2 | OH rel L2 |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for x in rows:
            print(f"| {x['splitting']} | {x['dt'] * 1e6:g} | {x['steps']} | {x['react']:.1f} | {x['total']:.1f} | "
                  f"{x['S_c']:.4f} | {x['length']:.4f} | {x['front'] * 1e3:.4f} | {x['T_l2']:.2e} | "
                  f"{x['OH_l2']:.2e} |")
        # First-order (in dt) extrapolation of each coupling's S_c from its two finest steps.
        print()
        for split in ("forced", "forced_split"):
            xs = sorted((x for x in rows if x["splitting"] == split), key=lambda x: x["dt"])
            if len(xs) >= 2:
                lim = 2 * xs[0]["S_c"] - xs[1]["S_c"]
                print(f"{split}: S_c extrapolated to dt -> 0 (first order, dt {xs[0]['dt'] * 1e6:g} and "
                      f"{xs[1]['dt'] * 1e6:g} us): {lim:.4f} m/s")
        if a.json:
            with open(a.json, "w") as fjs:
                json.dump(rows, fjs, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
