#!/usr/bin/python3
"""AI chemistry in the 2D lean H2 flame (issue 28, item 3): cases/flame2d_h2_lean.yaml
(128 x 64, h = 50 um, dt = 5 us, the front wrinkling by the thermodiffusive instability)
with splitting forced_split and the regime model h2_lean guarded (the default guard),
against the same flame with CVODE at the case's rtol 1e-6, the forced coupling (the case's
default), and the error reference: forced_split with CVODE at rtol 1e-8.

  /usr/bin/python3 bench/run_lean_flame_ai_bench.py BUILD_DIR [--t-end 2e-3] [--json out.json]

Runs two at a time (one per core, 1 rank each). For each: react and whole-step seconds, the
consumption speed's mean over the second half and its largest deviation from the reference's
per step (flame.csv), the front length ratio at the end, the relative L2 of T and OH at the
end against the reference, and the guard's accepted fraction and fallbacks.
"""
import argparse
import concurrent.futures as cf
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from simfuse_runs import flame_run_row, last_fields, run  # noqa: E402

RUNS = {
    "reference (forced_split, CVODE rtol 1e-8)": ["solver.params.reacting.splitting=forced_split",
                                                  "solver.params.reacting.integrator={type: cvode, rtol: 1.0e-8, atol: 1.0e-14}"],
    "classical forced (the case's)": [],
    "classical forced_split": ["solver.params.reacting.splitting=forced_split"],
    "guarded h2_lean, forced_split": ["solver.params.reacting.splitting=forced_split",
                                      "coupling.react={type: guarded, model: models/h2_lean.card.yaml}"],
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build")
    ap.add_argument("--t-end", default="2e-3")
    ap.add_argument("--json")
    a = ap.parse_args()
    exe = os.path.join(a.build, "bin", "simfuse")
    case = os.path.join(HERE, "..", "cases", "flame2d_h2_lean.yaml")
    with tempfile.TemporaryDirectory() as tmp, cf.ThreadPoolExecutor(2) as pool:
        outs = {k: os.path.join(tmp, f"run{i}") for i, k in enumerate(RUNS)}
        jobs = {k: pool.submit(run, exe, case, outs[k], [f"time.t_end={a.t_end}", "output.every=100000"] + sets,
                               extra=["--unset", "output.png"]) for k, sets in RUNS.items()}
        s = {k: j.result() for k, j in jobs.items()}
        ref = list(RUNS)[0]
        f = {k: last_fields(outs[k], ["T", "OH"]) for k in RUNS}
        rows = [flame_run_row(k, s[k], outs[k], outs[ref], f[k], f[ref]) for k in RUNS]
        base = rows[2]  # classical forced_split
        print(f"2D lean flame, t_end {a.t_end} s; errors against {ref}\n")
        print("| run | react (s) | whole step (s) | react vs CVODE forced_split | S_c, 2nd half (m/s) | max per-step "
              "S_c deviation | front length ratio | front (mm) | T rel L2 | OH rel L2 | accepted |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            acc = f"{r['accepted']:.1%}" if r["accepted"] is not None else ""
            print(f"| {r['run']} | {r['react']:.1f} | {r['total']:.1f} | {base['react'] / r['react']:.2f}x | "
                  f"{r['S_c']:.4f} | {r['S_c_dev']:.2%} | {r['length']:.4f} | {r['front'] * 1e3:.4f} | "
                  f"{r['T_l2']:.2e} | {r['OH_l2']:.2e} | {acc} |")
        print(f"\nguarded fallbacks: {rows[3]['fallback']}")
        if a.json:
            with open(a.json, "w") as fjs:
                json.dump(rows, fjs, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
