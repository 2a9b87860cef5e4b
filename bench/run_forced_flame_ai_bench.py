#!/usr/bin/python3
"""A forced chemistry model in the 2D lean H2 flame (issue 28, item 3):
cases/flame2d_h2_lean.yaml (128 x 64, h = 50 um, dt = 5 us, the front going cellular) in its
own coupling, splitting: forced, with the forced regime model h2_forced guarded (the default
guard; it reads the state the transport leaves), against the best classical chemistry of
the same coupling (CVODE with per-cell step memory at rtol 1e-4 to 1e-2, and the case's
1e-6: the classical cost-error curve), all with the error reference: forced with CVODE at
rtol 1e-8 on the same grid.

  /usr/bin/python3 bench/run_forced_flame_ai_bench.py BUILD_DIR [--t-end 2e-3] [--json out.json]
      [--runs "3e-3, step memory;1e-2, step memory;guarded h2_forced"]   # a subset (+ the reference, rtol 1e-3)

Runs two at a time (one per core, 1 rank each). For each: react and whole-step seconds, the
consumption speed's mean over the second half and its largest deviation from the reference's
per step (flame.csv), react and whole-step seconds over the last three quarters of the steps
(the flame settled from the case's initial profile; steps.csv), the front length ratio at the end, the relative L2 of T and OH at the
end against the reference, and the guard's accepted fraction and fallbacks. Ratios are
against CVODE at rtol 1e-3 with step memory; for each model run, the equal-error classical
run is the cheapest whose T and OH errors are both at most the model's (none: the cheapest
of all, which is then more accurate).
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

CVODE = "solver.params.reacting.integrator={{type: cvode, rtol: {}, atol: {}{}}}"
MODEL = "coupling.react={{type: guarded, model: models/h2_forced.card.yaml{}}}"
RUNS = {
    "reference (forced, CVODE rtol 1e-8)": [CVODE.format("1.0e-8", "1.0e-14", "")],
    "classical forced, rtol 1e-6 (the case's)": [],
    "classical forced, rtol 1e-4, step memory": [CVODE.format("1.0e-4", "1.0e-10", ", step_memory: true")],
    "classical forced, rtol 1e-3, step memory": [CVODE.format("1.0e-3", "1.0e-9", ", step_memory: true")],
    "classical forced, rtol 3e-3, step memory": [CVODE.format("3.0e-3", "3.0e-9", ", step_memory: true")],
    "classical forced, rtol 1e-2, step memory": [CVODE.format("1.0e-2", "1.0e-8", ", step_memory: true")],
    "guarded h2_forced": [MODEL.format("")],
    "guarded h2_forced, support: false": [MODEL.format(", support: false")],
    "guarded h2_forced, reuse_estimate: false": [MODEL.format(", reuse_estimate: false")],
}
BASE = "classical forced, rtol 1e-3, step memory"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build")
    ap.add_argument("--t-end", default="2e-3")
    ap.add_argument("--json")
    ap.add_argument("--runs", default="",
                    help="';'-separated ends of run names: only the runs whose name ends with one (the reference and "
                         "the rtol 1e-3 run, the ratios' base, always run)")
    a = ap.parse_args()
    runs = {k: v for i, (k, v) in enumerate(RUNS.items())
            if i == 0 or k == BASE or not a.runs or any(p and k.endswith(p) for p in a.runs.split(";"))}
    exe = os.path.join(a.build, "bin", "simfuse")
    case = os.path.join(HERE, "..", "cases", "flame2d_h2_lean.yaml")
    with tempfile.TemporaryDirectory() as tmp, cf.ThreadPoolExecutor(2) as pool:
        outs = {k: os.path.join(tmp, f"run{i}") for i, k in enumerate(runs)}
        jobs = {k: pool.submit(run, exe, case, outs[k], [f"time.t_end={a.t_end}", "output.every=100000"] + sets,
                               extra=["--unset", "output.png"]) for k, sets in runs.items()}
        s = {k: j.result() for k, j in jobs.items()}
        ref = list(runs)[0]
        f = {k: last_fields(outs[k], ["T", "OH"]) for k in runs}
        rows = {k: flame_run_row(k, s[k], outs[k], outs[ref], f[k], f[ref]) for k in runs}
        base = rows[BASE]
        print(f"2D lean flame, splitting forced, t_end {a.t_end} s; errors against {ref}\n")
        print("| run | react (s) | whole step (s) | react, last 3/4 of the steps (s) | whole step, last 3/4 (s) | "
              "react vs best classical | whole step vs best | S_c, 2nd half (m/s) | max per-step S_c deviation | "
              "front length ratio | T rel L2 | OH rel L2 | accepted |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rows.values():
            acc = f"{r['accepted']:.1%}" if r["accepted"] is not None else ""
            print(f"| {r['run']} | {r['react']:.1f} | {r['total']:.1f} | {r['react_late']:.1f} | {r['total_late']:.1f} | "
                  f"{base['react'] / r['react']:.2f}x | {base['total'] / r['total']:.2f}x | {r['S_c']:.4f} | "
                  f"{r['S_c_dev']:.2%} | {r['length']:.4f} | {r['T_l2']:.2e} | {r['OH_l2']:.2e} | {acc} |")
        classical = [r for k, r in rows.items() if k.startswith("classical")]
        for k in [k for k in runs if k.startswith("guarded")]:
            m = rows[k]
            fair = [r for r in classical if r["T_l2"] <= m["T_l2"] and r["OH_l2"] <= m["OH_l2"]]
            eq = min(fair or classical, key=lambda r: r["react"])
            print(f"\n{k}: at equal error ({'T and OH at most its' if fair else 'none as inaccurate: the cheapest'}) "
                  f"{eq['run']}: react {eq['react'] / m['react']:.2f}x, whole step {eq['total'] / m['total']:.2f}x; "
                  f"Amdahl bound of the whole step (react free) {eq['total'] / (eq['total'] - eq['react']):.2f}x "
                  f"({eq['total'] / m['total'] * (eq['total'] - eq['react']) / eq['total']:.2f} of it)")
            late_bound = eq["total_late"] / (eq["total_late"] - eq["react_late"])
            print(f"  over the last 3/4 of the steps (the flame settled): react {eq['react_late'] / m['react_late']:.2f}x, "
                  f"whole step {eq['total_late'] / m['total_late']:.2f}x, Amdahl bound {late_bound:.2f}x "
                  f"({eq['total_late'] / m['total_late'] / late_bound:.2f} of it)")
            print(f"  fallbacks {m['fallback']}, {m['counters']}")
        if a.json:
            with open(a.json, "w") as fjs:
                json.dump(list(rows.values()), fjs, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
