#!/usr/bin/env python3
"""In the loop: a run that trains its own surrogate (policy `online`) against the run with an
offline-trained model and the all-classical run, at equal error.

  run_online_bench.py BUILD_DIR [--only bz|drift|ch4] [--steps 4000] [--quick]

BZ (cases/bz2d_online.yaml: spiral pair on a 101 x 101 torus, a statistically steady run):
one run per variant to --steps steps; the wall time to step N (sum of the sub-steps'
seconds in steps.csv: the run is causal, so this is the time of an N-step run) and the
error at step N (relative L2 of u and v against the classical run's frame of step N) for
N = steps/8, /4, /2, 1. Variants:
  - classical, Rodas3 at rtol 1e-6 (the reference) and at 1e-4, 1e-3, 1e-2 (the baselines
    at equal error: the loosest whose error is at most the surrogate's);
  - online (training included, from scratch), which saves its model at the end;
  - offline: guarded with that saved model (trained on this case's own data: the offline
    campaign's cost is not counted) and with the shipped bz_react model (trained offline on
    the Neumann bz2d case).
The break-even length: the first step from which the online run's total time stays below
the classical run's.
Drift (steps/2 steps): the Oregonator's f jumps from 2.5 to 3.2 half-way; the events
(switch-in, rollback, switch-in again), and the error against the classical run with the
same drift.
ch4 (cases/ch4_stratified.yaml, 24 x 24, 100 steps of 20 us, the transient autoignition):
CVODE at rtol 1e-6 (the reference), 3e-3 and 1e-2; guarded with the shipped ch4_react model;
online from scratch and fine-tuned from ch4_react; what the online model saw before it
switched in (the hottest cell) and what it met after.
Absolute times are for orientation; ratios within one run of the script are the result.
"""
import argparse
import csv
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simfuse_runs import rel_l2 as rel, run  # noqa: E402

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def frame(out, step, names):
    from vtkmodules.vtkIOXML import vtkXMLImageDataReader
    from vtkmodules.util.numpy_support import vtk_to_numpy
    f = [x for x in os.listdir(out) if x.endswith(f"_{step:06d}.vti")]
    r = vtkXMLImageDataReader()
    r.SetFileName(os.path.join(out, f[0]))
    r.Update()
    pd = r.GetOutput().GetPointData()
    return np.stack([vtk_to_numpy(pd.GetArray(n)).astype(float) for n in names])


def cumulative(out):
    """Wall time to the end of each step: the sub-steps' seconds summed over the rows."""
    rows = list(csv.DictReader(open(os.path.join(out, "steps.csv"))))
    cols = [c for c in rows[0] if c.endswith("_seconds") and c.count("_") == 1]
    t, acc = 0.0, []
    for r in rows:
        t += sum(float(r[c]) for c in cols)
        acc.append(t)
    return acc


def online_facts(summary):
    st = next(s for s in summary["substeps"] if s["name"] == "react")
    return st.get("online", {}), st


def bz(exe, tmp, steps, quick):
    case = os.path.join(SRC, "cases", "bz2d_online.yaml")
    t_end = steps * 0.02
    lengths = [steps // 8, steps // 4, steps // 2, steps]
    every = steps // 8
    common = [f"time.t_end={t_end:g}", f"output.every={every}", "output.png={enabled: false}",
              "checkpoint.enabled=false"]
    runs = {}

    def go(label, sets):
        out = os.path.join(tmp, label.replace(" ", "_").replace(",", ""))
        s = run(exe, case, out, common + sets)
        runs[label] = (out, s)
        print(f"  {label}: {s['wall_seconds'] if 'wall_seconds' in s else ''} done", file=sys.stderr, flush=True)

    go("classical 1e-6", ["coupling.react=classical"])
    rtols = [1e-3] if quick else [1e-4, 1e-3, 1e-2]
    for r in rtols:
        go(f"classical {r:g}", ["coupling.react=classical", f"solver.params.rtol={r}"])
    go("online", [])
    card = os.path.join(runs["online"][0], "bz_react_online.card.yaml")
    go("offline, this case's model", [f"coupling.react={{type: guarded, model: {card}}}"])
    if not quick:
        shipped = os.path.join(SRC, "cases", "models", "bz_react.card.yaml")
        go("offline, shipped bz_react", [f"coupling.react={{type: guarded, model: {shipped}}}"])

    ref_out = runs["classical 1e-6"][0]
    cum = {k: cumulative(v[0]) for k, v in runs.items()}
    err = {k: {n: rel(frame(v[0], n, ["u", "v"]), frame(ref_out, n, ["u", "v"])) for n in lengths}
           for k, v in runs.items()}
    o, st = online_facts(runs["online"][1])
    print(f"\n### BZ spiral pair, periodic 101x101, {steps} steps of dt = 0.02\n")
    print(f"Online: first switch-in after step {o['first_switch_in'] and o['first_switch_in']['step']}; "
          f"events {[(e['event'], e['step']) for e in o['events']]}; calls served by the model "
          f"{100 * o['served_fraction']:.1f}%; points accepted {100 * st.get('accepted_fraction', 0):.2f}%; "
          f"training {o['training']['iterations']} iterations, {st['online']['train_seconds']:.1f} s "
          f"(with the shadow checks) of the react sub-step's {st['seconds']:.1f} s.\n")
    print("| variant | " + " | ".join(f"time to step {n} (s)" for n in lengths) + " | " +
          " | ".join(f"rel L2 at {n}" for n in lengths) + " |")
    print("|---|" + "---|" * (2 * len(lengths)))
    for k in runs:
        print(f"| {k} | " + " | ".join(f"{cum[k][n - 1]:.1f}" for n in lengths) + " | " +
              " | ".join(f"{err[k][n]:.2e}" for n in lengths) + " |")
    classical = ["classical 1e-6"] + [f"classical {r:g}" for r in rtols]
    print("\nSpeedup over the classical run at equal error (the loosest Rodas3 rtol whose error at that "
          "length is at most the variant's; in brackets: over rtol 1e-6):\n")
    print("| variant | " + " | ".join(f"step {n}" for n in lengths) + " |")
    print("|---|" + "---|" * len(lengths))
    speed = {}
    for k in runs:
        if k in classical:
            continue
        cells = []
        for n in lengths:
            ok = [c for c in classical if err[c][n] <= max(err[k][n], 1e-300)]
            base = max(ok, key=lambda c: err[c][n]) if ok else "classical 1e-6"
            sp, sp6 = cum[base][n - 1] / cum[k][n - 1], cum["classical 1e-6"][n - 1] / cum[k][n - 1]
            speed[(k, n)] = sp
            cells.append(f"{sp:.2f}x vs {base.split()[-1]} ({sp6:.2f}x)")
        print(f"| {k} | " + " | ".join(cells) + " |")
    ref, onl = cum["classical 1e-6"], cum["online"]
    be = next((i + 1 for i in range(len(onl)) if all(onl[j] < ref[j] for j in range(i, len(onl)))), None)
    print(f"\nBreak-even (the online run's total time below the classical 1e-6 run's from then on): step {be}.")
    off = "offline, this case's model"
    for n in lengths:
        print(f"- step {n}: online reaches {100 * speed[('online', n)] / speed[(off, n)]:.0f}% of the offline "
              f"model's speedup at equal error ({speed[('online', n)]:.2f}x against {speed[(off, n)]:.2f}x); "
              f"over rtol 1e-6: {100 * (ref[n - 1] / onl[n - 1]) / (ref[n - 1] / cum[off][n - 1]):.0f}%")


def drift(exe, tmp, steps):
    """The kinetics parameter f jumps from 2.5 to 3.2 half-way: rollback, training on the
    new chemistry, switch-in again; errors against the classical run with the same drift."""
    case = os.path.join(SRC, "cases", "bz2d_online.yaml")
    t_jump = steps * 0.02 / 2
    common = [f"time.t_end={steps * 0.02:g}", f"output.every={steps // 4}", "output.png={enabled: false}",
              "checkpoint.enabled=false", f'solver.params.kinetics.f="2.5 + 0.7*(t > {t_jump:g})"']
    ref = os.path.join(tmp, "drift_classical")
    sref = run(exe, case, ref, common + ["coupling.react=classical"])
    out = os.path.join(tmp, "drift_online")
    s = run(exe, case, out, common)
    o, st = online_facts(s)
    cr, co = cumulative(ref), cumulative(out)
    print(f"\n### Drift: f = 2.5, then 3.2 from t = {t_jump:g} (step {steps // 2}), {steps} steps\n")
    print("| event | step | t | reason |")
    print("|---|---|---|---|")
    for e in o["events"]:
        print(f"| {e['event']} | {e['step']} | {e['t']:.2f} | {e['reason']} |")
    print(f"\nCalls served by the model {100 * o['served_fraction']:.1f}%, points accepted "
          f"{100 * st.get('accepted_fraction', 0):.2f}%, shadow checks {o.get('shadow_points', 0)} "
          f"({o.get('shadow_failures', 0)} failed); wall time {co[-1]:.1f} s against {cr[-1]:.1f} s classical "
          f"({cr[-1] / co[-1]:.2f}x).")
    for n in (steps // 4, steps // 2, 3 * steps // 4, steps):
        print(f"- rel L2 (u, v) at step {n}: {rel(frame(out, n, ['u', 'v']), frame(ref, n, ['u', 'v'])):.2e}")
    del sref


def ch4(exe, tmp, quick):
    case = os.path.join(SRC, "cases", "ch4_stratified.yaml")
    model = os.path.join(SRC, "cases", "models", "ch4_react.card.yaml")
    common = ["grid.n=[24,24]", "time.t_end=2.0e-3", "output.every=10", "output.png={enabled: false}", "checkpoint.enabled=false",
              "solver.params.check.max_temperature_change=10"]
    integ = "solver.params.integrator"
    runs = {}

    def go(label, sets):
        out = os.path.join(tmp, "ch4_" + label.replace(" ", "_").replace(",", ""))
        runs[label] = (out, run(exe, case, out, common + sets))
        print(f"  {label} done", file=sys.stderr, flush=True)

    go("cvode 1e-6", [f"{integ}={{type: cvode, rtol: 1.0e-6, atol: 1.0e-12}}"])
    for r in ([] if quick else [3e-3, 1e-2]):
        go(f"cvode {r:g}", [f"{integ}={{type: cvode, rtol: {r}, atol: {r * 1e-6}}}"])
    go("guarded ch4_react (offline)", [f"coupling.react={{type: guarded, model: {model}, estimate: false}}"])
    tr = json.dumps(["none"] + ["boxcox"] * 53)
    online = ("{type: online, estimate: false, transform: " + tr + ", architecture: {type: mlp, hidden: [128, 128]}, "
              "buffer: {points: 576}, training: {min_samples: 1000, iterations: 40}, validation: {every: 5}}")
    go("online from scratch", [f"coupling.react={online}"])
    ft = ("{type: online, estimate: false, model: " + model + ", buffer: {points: 576}, "
          "training: {min_samples: 1000, iterations: 40, lr: 2.0e-4}, validation: {every: 5}}")
    go("online fine-tuned from ch4_react", [f"coupling.react={ft}"])
    ref = runs["cvode 1e-6"][0]
    print("\n### Methane autoignition (ch4_stratified, 24x24, 100 steps of 20 us, T consistency guard 10 K)\n")
    print("| react by | rel L2 T | rel L2 OH | react s | whole step s | accepted | switch-in | served |")
    print("|---|---|---|---|---|---|---|---|")
    for k, (out, s) in runs.items():
        o, st = online_facts(s)
        eT = rel(frame(out, 100, ["T"]), frame(ref, 100, ["T"]))
        eOH = rel(frame(out, 100, ["OH"]), frame(ref, 100, ["OH"]))
        total = sum(x["seconds"] for x in s["substeps"])
        acc = f"{100 * st['accepted_fraction']:.1f}%" if "accepted_fraction" in st else "-"
        sw = o.get("first_switch_in") if o else None
        served = f"{100 * o['served_fraction']:.0f}%" if o else "-"
        print(f"| {k} | {eT:.2e} | {eOH:.2e} | {st['seconds']:.2f} | {total:.2f} | {acc} | "
              f"{'step ' + str(sw['step']) if sw else ('never' if o else '-')} | {served} |")
    for k, (out, s) in runs.items():
        o, _ = online_facts(s)
        if not o:
            continue
        sw = o.get("first_switch_in")
        hist = o["validation_history"]
        print(f"- {k}: validation error {hist[0][1]:.3g} at step {hist[0][0]} -> {hist[-1][1]:.3g} at step "
              f"{hist[-1][0]}; events {[(e['event'], e['step']) for e in o['events']]}")
        if sw:
            n = max(10, (sw["step"] // 10) * 10)
            seen = frame(out, n, ["T"]).max()
            met = frame(out, 100, ["T"]).max()
            print(f"  before switch-in (step {sw['step']}) the hottest cell was {seen:.0f} K; by the end "
                  f"{met:.0f} K: the model met {'the ignition it never saw' if met > seen + 200 else 'states like those it saw'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build")
    ap.add_argument("--only", choices=["bz", "drift", "ch4"])
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    exe = os.path.join(a.build, "bin", "simfuse")
    with tempfile.TemporaryDirectory() as tmp:
        if a.only in (None, "bz"):
            bz(exe, tmp, a.steps, a.quick)
        if a.only in (None, "drift"):
            drift(exe, tmp, a.steps // 2)
        if a.only in (None, "ch4"):
            ch4(exe, tmp, a.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
