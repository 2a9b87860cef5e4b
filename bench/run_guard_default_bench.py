#!/usr/bin/env python3
"""Which guard is the default: `simfuse compare` of guarded chemistry against its classical
twin, for each setting of the error estimate (`estimate: never | auto | always`), on the
shipped cases and on the cases a new user makes of them (a hot spot at phi 0.7, outside the
H2 model's phi 0.8-1.25 training data; a hot spot peaking at 1200 K). Everything else is
the shipped guard: NaN/Inf, training ranges, the projection onto admissible compositions
and the 10 K energy-consistency limit.

Per case and setting: react and whole-step wall-time ratio (twin / guarded, both in the same
compare run), T and OH relative L2 error and the largest T difference against the twin at
the end, the accepted share, the points outside the training ranges and what became of
them (estimated, accepted by the estimate, rejected).

Usage: /usr/bin/python3 bench/run_guard_default_bench.py build [--only TEXT] [--keep DIR]
(about 12 minutes on one core here).
"""
import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simfuse_runs  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SPOT = "exp(-((x - x0)^2 + (y - y0)^2)/r0^2)"
H2_GUARD = "models/h2_react.card.yaml"
CASES = [
    # name, case file, --set edits, model card (relative to the case)
    ("H2 hot spot (default case)", "cases/default.yaml", [], H2_GUARD),
    ("H2 hot spot, phi 0.7", "cases/default.yaml", ["solver.params.initial.equivalence_ratio=0.7"], H2_GUARD),
    ("H2 hot spot peaking at 1200 K", "cases/default.yaml",
     [f"solver.params.initial.temperature=\"800 + 400*{SPOT}\""], H2_GUARD),
    # Outside the training ranges (H2 up to Y = 0.042, T up to 3014 K): what `auto` is for.
    ("H2 hot spot, phi 2 (H2 outside the ranges)", "cases/default.yaml",
     ["solver.params.initial.equivalence_ratio=2.0"], H2_GUARD),
    ("H2 hot spot, phi 2, CVODE at rtol 1e-6 (H2 outside the ranges)", "cases/default.yaml",
     ["solver.params.initial.equivalence_ratio=2.0", "solver.params.integrator.rtol=1.0e-6",
      "solver.params.integrator.atol=1.0e-12"], H2_GUARD),
    ("CH4 stratified 24x24, to 2 ms", "cases/ch4_stratified.yaml",
     ["grid.n=[24,24]", "time.t_end=2.0e-3", "solver.params.integrator.rtol=3.0e-3",
      "solver.params.integrator.atol=1.0e-9", "output.every=1000",
      "solver.params.check.max_temperature_change=10"], "models/ch4_react.card.yaml"),
]
MODES = ["never", "auto", "always"]


def compare(exe, case, sets, out):
    return simfuse_runs.run(exe, os.path.join(ROOT, case), out, sets, verb="compare", extra=["--force"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build")
    ap.add_argument("--only", help="run only the cases whose name contains this text")
    ap.add_argument("--keep", help="keep the runs in this folder")
    a = ap.parse_args()
    exe = os.path.join(os.path.abspath(a.build), "bin", "simfuse")
    work = a.keep or tempfile.mkdtemp(prefix="simfuse_guard_")
    rows = []
    for name, case, sets, card in CASES:
        if a.only and a.only.lower() not in name.lower():
            continue
        for mode in MODES:
            out = os.path.join(work, f"{len(rows)}_{mode}")
            guard = f"coupling.react={{type: guarded, model: {card}, estimate: {mode}, path_field: true}}"
            s = compare(exe, case, sets + [guard], out)
            sub = next(x for x in s["substeps"] if x["name"] == "react")
            c = s["compare"]
            fin = c["final"]
            fb = sub.get("fallback", {})
            # Points outside the ranges: rejected as such, or (auto) judged by the estimate.
            ood = fb.get("ood", 0) + (sub.get("estimated", 0) if mode == "auto" else 0)
            rows.append({
                "case": name, "estimate": mode,
                "react": 1.0 / c["wall_time_ratio"]["react"],
                "step": 1.0 / c["wall_time_ratio"]["all_substeps"],
                "T": fin["gas_T"]["rel_l2"], "Tmax": fin["gas_T"]["linf"], "OH": fin["gas_OH"]["rel_l2"],
                "accepted": sub["accepted_fraction"], "points": sub["points"], "ood": ood,
                "estimated": sub.get("estimated", 0), "ood_kept": sub.get("accepted_out_of_range", 0),
                "rejected_estimate": fb.get("estimate", 0), "rejected_ood": fb.get("ood", 0),
                "runs_on": sub.get("guard", {}).get("error_estimate", {}).get("runs_on", "?"),
            })
            r = rows[-1]
            print(f"{name:32s} {mode:6s} react {r['react']:6.2f}x step {r['step']:5.2f}x  T {r['T']:.2e} "
                  f"(max {r['Tmax']:.1f} K) OH {r['OH']:.2e}  accepted {100 * r['accepted']:.2f}%  "
                  f"out of range {r['ood']} (kept by the estimate {r['ood_kept']}, rejected {r['rejected_ood']}"
                  f" + {r['rejected_estimate']})", flush=True)
    print("\n| case | estimate | react ratio | whole step | rel L2 T | max abs T (K) | rel L2 OH | accepted | "
          "points outside the ranges: kept by the estimate / rejected |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['estimate']} | {r['react']:.1f}x | {r['step']:.1f}x | {r['T']:.2e} | "
              f"{r['Tmax']:.1f} | {r['OH']:.2e} | {100 * r['accepted']:.2f}% | "
              f"{r['ood_kept']} / {r['rejected_ood'] + (r['rejected_estimate'] if r['estimate'] == 'auto' else 0)} "
              f"of {r['ood']} |")
    with open(os.path.join(work, "guard_default.json"), "w") as f:
        json.dump(rows, f, indent=1)
    print(f"\n(runs in {work})")


if __name__ == "__main__":
    main()
