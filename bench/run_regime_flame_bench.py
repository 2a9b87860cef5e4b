#!/usr/bin/python3
"""A regime model in the flames of its regime (issue 28): the lean-H2 model h2_lean
(cases/models/h2_lean_train.yaml) as the guarded react of 1D lean flames
(cases/flame1d_h2_lean.yaml, splitting forced_split, dt = 5 us, h = 50 um) at each phi of its
regime and outside it, against the same flame with CVODE (rtol 1e-6, the case's).

  /usr/bin/python3 bench/run_regime_flame_bench.py BUILD_DIR [--flames 0.35:300,0.45:300,...]
      [--t-end 8e-3] [--model models/h2_lean.card.yaml] [--splitting forced] [--json out.json]
      [--case flame1d_ch4.yaml --model models/ch4_flames.card.yaml --flames 0.8:300,1.0:300,...]
  /usr/bin/python3 bench/run_regime_flame_bench.py BUILD_DIR --flames 0.5:300 --classical 1e-3,1e-4,1e-5,1e-6
  ... --case flame1d_ch4.yaml --model models/ch4_flames.card.yaml --flames 1.0:300 --t-end 2e-3 --classical 3e-3
      --rivals-only --set "grid.n=[128,16]" --set "grid.upper=[6.4e-3,8e-4]" --set parameters.A=1.5e-4 --set parameters.W=8e-4
      (the 2D methane flame: the reference, the rival and the model only)

Each flame runs classically and guarded (the default guard, `coupling.react={type: guarded,
model: ...}`), side by side on the two cores; the speeds are the second half's means
(summary.json), the T profile's error the relative L2 of the last row-averaged profile
(flame.csv has none: the last VTK's T). Printed: S_c and S_front of both and their
difference, T rel L2, react seconds and their ratio, the guard's accepted fraction and its
fallbacks (out of range, estimate, inadmissible) and the points found far from the data (the
card's support; judged as out of range).
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
from simfuse_runs import last_fields, rel_l2, run, substep  # noqa: E402

FLAMES = "0.35:300,0.4:300,0.45:300,0.5:300,0.55:300,0.35:375,0.55:375,0.7:300"


def classical_study(a, exe, case):
    """--classical: one flame (the first of --flames) with the forced coupling by CVODE with
    per-cell step memory at each rtol, by forced_split's CVODE and by the guarded model (in
    --splitting's coupling if given), all
    against the forced coupling with CVODE at rtol 1e-8 (atol 1e-14): the speed-vs-error
    table of the best classical method against the model."""
    phi, Tu = a.flames.split(",")[0].split(":")
    base = [f"parameters.phi={phi}", f"parameters.Tu={Tu}", f"time.t_end={a.t_end}", "output.every=100000"] + a.set
    cv = "solver.params.reacting.integrator={{type: cvode, rtol: {r}, atol: {t}{m}}}"
    forced = "solver.params.reacting.splitting=forced"
    # The reference: the forced coupling (S_L independent of dt) with CVODE at 1e-8.
    runs = {"reference": [forced, cv.format(r="1.0e-8", t="1.0e-14", m="")]}
    for r in a.classical.split(","):
        atol = f"{float(r) * 1e-6:.1e}"
        runs[f"forced, cvode {r} + step memory"] = [forced, cv.format(r=r, t=atol, m=", step_memory: true")]
    if not a.rivals_only:
        runs["forced, cvode 1e-6 (the flame cases')"] = [forced]
        runs["forced_split, cvode 1e-6 (this case's)"] = []
        runs["forced_split, cvode 1e-6 + step memory"] = [cv.format(r="1.0e-6", t="1.0e-12", m=", step_memory: true")]
    # the model in its own coupling: the case's forced_split, or --splitting's (forced for a forced model)
    guarded = f"{a.splitting or 'forced_split'}, guarded {os.path.basename(a.model).split('.')[0]}"
    runs[guarded] = [f"coupling.react={{type: guarded, model: {a.model}}}"] + (
        [f"solver.params.reacting.splitting={a.splitting}"] if a.splitting else [])
    with tempfile.TemporaryDirectory() as tmp, cf.ThreadPoolExecutor(2) as pool:
        outs = {k: os.path.join(tmp, f"r{i}") for i, k in enumerate(runs)}
        jobs = {k: pool.submit(run, exe, case, outs[k], base + v, extra=["--unset", "output.png"])
                for k, v in runs.items()}
        s = {k: j.result() for k, j in jobs.items()}
        f = {k: last_fields(outs[k], ["T", "OH"]) for k in runs}
    ref = s["reference"]["metrics"]
    print(f"\nphi {phi}, Tu {Tu}, {a.t_end} s; errors against the forced coupling with CVODE at rtol 1e-8 (S_c {ref['flame_speed_consumption']:.5f}, "
          f"S_front {ref['flame_speed_front']:.5f} m/s)\n")
    print("| react by | S_c error | S_front error | T rel L2 | OH rel L2 | front length ratio | react (s) | whole step (s) "
          "| model's react ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    model = substep(s[guarded])["seconds"]
    for k in runs:
        if k == "reference":
            continue
        m = s[k]["metrics"]
        row = dict(run=k, dS_c=m["flame_speed_consumption"] / ref["flame_speed_consumption"] - 1,
                   dS_f=m["flame_speed_front"] / ref["flame_speed_front"] - 1,
                   T_l2=rel_l2(f[k]["T"], f["reference"]["T"]), OH_l2=rel_l2(f[k]["OH"], f["reference"]["OH"]),
                   length=m["front_length_ratio"],
                   react=substep(s[k])["seconds"], total=sum(x["seconds"] for x in s[k]["substeps"]))
        rows.append(row)
        print(f"| {k} | {row['dS_c']:+.3%} | {row['dS_f']:+.3%} | {row['T_l2']:.2e} | {row['OH_l2']:.2e} | "
              f"{row['length']:.4f} (ref {ref['front_length_ratio']:.4f}) | {row['react']:.1f} | {row['total']:.1f} | "
              f"{row['react'] / model:.1f}x |")
    g = substep(s[guarded])
    print(f"\n{guarded}: " + ", ".join(f"{k} {g[k]}" for k in ("points", "accepted_fraction", "fallback",
                                                                "outside_support", "inference_seconds",
                                                                "check_seconds") if k in g))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build")
    ap.add_argument("--flames", default=FLAMES, help="phi:Tu,... (default: the regime's corners and one outside)")
    ap.add_argument("--t-end", default="8e-3")
    ap.add_argument("--model", default="models/h2_lean.card.yaml", help="relative to cases/")
    ap.add_argument("--case", default="flame1d_h2_lean.yaml",
                    help="the 1D flame (relative to cases/; parameters phi and Tu), e.g. flame1d_ch4.yaml")
    ap.add_argument("--splitting", default="",
                    help="both runs with this splitting instead of the case's forced_split (forced: for a forced "
                         "model such as models/h2_forced.card.yaml)")
    ap.add_argument("--classical", default="",
                    help="rtols: instead, the first flame by CVODE at each (with and without step memory) and the "
                         "model, against CVODE at 1e-8")
    ap.add_argument("--set", action="append", default=[],
                    help="a --set for every run (e.g. grid.n=[128,16]: the 2D flame of flame1d_ch4.yaml)")
    ap.add_argument("--rivals-only", action="store_true",
                    help="--classical: only the reference, the --classical rows and the model (not the rtol 1e-6 rows)")
    ap.add_argument("--json")
    a = ap.parse_args()
    exe = os.path.join(a.build, "bin", "simfuse")
    case = os.path.join(HERE, "..", "cases", a.case)
    if a.classical:
        rows = classical_study(a, exe, case)
        if a.json:
            with open(a.json, "w") as f:
                json.dump(rows, f, indent=1)
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp, cf.ThreadPoolExecutor(2) as pool:
        # Every run queued at once, two at a time.
        queued = []
        for flame in a.flames.split(","):
            phi, Tu = flame.split(":")
            sets = [f"parameters.phi={phi}", f"parameters.Tu={Tu}", f"time.t_end={a.t_end}",
                    "output.every=100000"]
            if a.case == "flame1d_h2_lean.yaml" and float(phi) > 0.6:  # faster than its max_cfl allows
                sets.append("solver.params.max_cfl=0.95")
            if a.splitting:
                sets.append(f"solver.params.reacting.splitting={a.splitting}")
            outs = {k: os.path.join(tmp, f"{k}_{phi}_{Tu}") for k in ("classical", "guarded")}
            jobs = {
                "classical": pool.submit(run, exe, case, outs["classical"], sets, extra=["--unset", "output.png"]),
                "guarded": pool.submit(run, exe, case, outs["guarded"],
                                       sets + [f"coupling.react={{type: guarded, model: {a.model}}}"],
                                       extra=["--unset", "output.png"]),
            }
            queued.append((phi, Tu, outs, jobs))
        for phi, Tu, outs, jobs in queued:
            s = {k: j.result() for k, j in jobs.items()}
            T = {k: last_fields(outs[k], ["T"])["T"] for k in outs}
            err = rel_l2(T["guarded"], T["classical"])
            Tmax = float(np.max(np.abs(T["guarded"] - T["classical"])))
            m = {k: s[k]["metrics"] for k in s}
            r = {k: substep(s[k]) for k in s}
            g = r["guarded"]
            pts = g.get("points") or 1
            row = dict(phi=float(phi), Tu=float(Tu),
                       S_c=m["classical"]["flame_speed_consumption"], S_f=m["classical"]["flame_speed_front"],
                       S_c_ai=m["guarded"]["flame_speed_consumption"], S_f_ai=m["guarded"]["flame_speed_front"],
                       T_rel_l2=err, T_max=Tmax, react_classical=r["classical"]["seconds"], react_ai=g["seconds"],
                       accepted=g.get("accepted", 0) / pts, fallback_ood=g.get("fallback", {}).get("ood", 0) / pts,
                       fallback_estimate=g.get("fallback", {}).get("estimate", 0) / pts,
                       fallback_inadmissible=g.get("fallback", {}).get("inadmissible", 0) / pts,
                       outside_support=g.get("outside_support", 0) / pts,
                       total_classical=sum(x["seconds"] for x in s["classical"]["substeps"]),
                       total_ai=sum(x["seconds"] for x in s["guarded"]["substeps"]))
            row["dS_c"] = row["S_c_ai"] / row["S_c"] - 1
            row["dS_f"] = row["S_f_ai"] / row["S_f"] - 1
            rows.append(row)
            print(f"phi {phi}, Tu {Tu}: S_c {row['S_c']:.4f} -> {row['S_c_ai']:.4f} ({row['dS_c']:+.2%}), S_front "
                  f"{row['S_f']:.4f} -> {row['S_f_ai']:.4f} ({row['dS_f']:+.2%}); T rel L2 {err:.2e} (max {Tmax:.1f} K); "
                  f"react {row['react_classical']:.1f} -> {row['react_ai']:.1f} s "
                  f"({row['react_classical'] / row['react_ai']:.2f}x), whole step "
                  f"{row['total_classical'] / row['total_ai']:.2f}x; accepted {row['accepted']:.1%} (out of range "
                  f"{row['fallback_ood']:.1%}, estimate {row['fallback_estimate']:.1%}, inadmissible "
                  f"{row['fallback_inadmissible']:.1%}; far from the data {row['outside_support']:.1%})", flush=True)
    print("\n| phi | T_u (K) | S_c classical (m/s) | S_c guarded | S_front classical | S_front guarded | T rel L2 | "
          "react | whole step | accepted | out of range | estimate | far from the data |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['phi']:g} | {r['Tu']:g} | {r['S_c']:.4f} | {r['S_c_ai']:.4f} ({r['dS_c']:+.2%}) | {r['S_f']:.4f} | "
              f"{r['S_f_ai']:.4f} ({r['dS_f']:+.2%}) | {r['T_rel_l2']:.1e} | "
              f"{r['react_classical'] / r['react_ai']:.2f}x | {r['total_classical'] / r['total_ai']:.2f}x | "
              f"{r['accepted']:.1%} | {r['fallback_ood']:.1%} | {r['fallback_estimate']:.1%} | "
              f"{r['outside_support']:.1%} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
