#!/usr/bin/env python3
"""A figure of a simfuse run for a slide: what the surrogate saved and what it cost.

    /usr/bin/python3 scripts/report.py OUT_DIR [-o FILE.png]

OUT_DIR is the output folder of `simfuse compare` (or of `simfuse run`). The figure
(default OUT_DIR/report.png) has four panels:
  - error over time: per field, relative L2 against the classical twin (compare.csv), or
    against the exact solution (a run's summary.json error history);
  - wall time per sub-step: this run and the twin side by side, with the ratio;
  - accepted fraction per step of every surrogate sub-step, and why points fell back;
  - wall time per step of each sub-step, both runs;
  - for a sub-step under the `online` policy, two more: its validation error over time
    with the steps the model served, switch-ins and rollbacks; where its time went.
Needs python3-matplotlib (scripts/install-deps.sh installs it). Exit code 2 with a message
when the folder is not a simfuse output folder.
"""
import argparse
import csv
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")  # no display
import matplotlib.pyplot as plt  # noqa: E402

REASONS = [("fallback_nan", "NaN/Inf"), ("fallback_ood", "out of range"), ("fallback_estimate", "error estimate"),
           ("fallback_inadmissible", "not admissible")]


def read_csv(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def column(rows, key):
    return [float(r[key]) for r in rows]


def online_panels(v, w, online, steps):
    """(e) validation error over time, with the steps the model served and the switches;
    (f) where the sub-step's time went: classical, training, inference and checks."""
    dt = float(steps[1]["t"]) - float(steps[0]["t"]) if len(steps) > 1 else 1.0
    for st in online:
        n, o = st["name"], st["online"]
        hist = o["validation_history"]
        if hist:
            v.semilogy([h[0] * dt for h in hist], [max(h[1], 1e-16) for h in hist], label=f"{n}: validation error")
        v.axhline(o["settings"]["target"], color="k", ls=":", lw=1, label="target")
        col = f"{n}_online_guarded_steps"
        if steps and col in steps[0]:
            t, g = column(steps, "t"), column(steps, col)
            v.fill_between(t, 0, 1, where=[x > 0 for x in g], transform=v.get_xaxis_transform(), color="tab:green",
                           alpha=0.15, label="model serves")
        for e in o["events"]:
            colour = {"switch_in": "tab:green", "rollback": "tab:red"}.get(e["event"], "tab:orange")
            v.axvline(e["t"], color=colour, lw=1)
    v.set_xlabel("t")
    v.set_ylabel("RMS error / RMS change")
    v.set_title("online: validation (lines: green switch-in, red rollback, orange training rollback)")
    v.legend(fontsize=8)
    v.grid(True, which="both", alpha=0.3)
    for st in online:
        n = st["name"]
        if not steps or f"{n}_online_train_seconds" not in steps[0]:
            continue
        t = column(steps, "t")
        for key, label in [("classical_seconds", "classical"), ("online_train_seconds", "training + shadow"),
                           ("inference_seconds", "inference"), ("check_seconds", "guard")]:
            if f"{n}_{key}" in steps[0]:
                acc, run = [], 0.0
                for x in column(steps, f"{n}_{key}"):
                    run += x
                    acc.append(run)
                w.plot(t, acc, label=f"{n}: {label}")
    w.set_xlabel("t")
    w.set_ylabel("cumulative wall time [s]")
    share = ", ".join(f"{st['name']} {100 * st['online']['served_fraction']:.0f}%" for st in online)
    w.set_title(f"online: where the time went (calls served by the model: {share})")
    if w.get_legend_handles_labels()[0]:
        w.legend(fontsize=8)
    w.grid(True, alpha=0.3)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="output folder of simfuse compare or run")
    ap.add_argument("-o", "--output", help="the figure (default: OUT/report.png)")
    a = ap.parse_args()
    summary_path = os.path.join(a.out, "summary.json")
    if not os.path.exists(summary_path):
        print(f"report: {a.out} has no summary.json; give the output folder of simfuse run or compare",
              file=sys.stderr)
        return 2
    s = json.load(open(summary_path))
    steps = read_csv(os.path.join(a.out, "steps.csv"))
    twin_dir = s.get("compare", {}).get("twin_output_dir")
    if twin_dir and not os.path.isabs(twin_dir):  # relative to this output folder
        twin_dir = os.path.join(a.out, twin_dir)
    if "compare" in s and not (twin_dir and os.path.exists(os.path.join(twin_dir, "summary.json"))):
        twin_dir = os.path.join(a.out, "classical_twin")  # where compare puts it
    twin = json.load(open(os.path.join(twin_dir, "summary.json"))) if twin_dir and os.path.exists(
        os.path.join(twin_dir, "summary.json")) else None
    twin_steps = read_csv(os.path.join(twin_dir, "steps.csv")) if twin else []
    subs = [st["name"] for st in s["substeps"]]
    policies = {st["name"]: st["policy"] for st in s["substeps"]}

    online = [st for st in s["substeps"] if "online" in st]
    fig, ax = plt.subplots(3 if online else 2, 2, figsize=(13, 12.5 if online else 8.5))
    title = f"{s['case']}: " + ", ".join(f"{n} {p}" for n, p in policies.items())
    title += f"   ({s['ranks']} rank{'s' if s['ranks'] > 1 else ''}, {s['grid']['points']} points, " \
             f"{s['time']['steps_done']} steps)"
    fig.suptitle(title, fontsize=13)

    # (a) error over time
    e = ax[0][0]
    rows = read_csv(os.path.join(a.out, "compare.csv"))
    if rows:
        for field in sorted({r["field"] for r in rows}):
            rr = [r for r in rows if r["field"] == field]
            e.semilogy(column(rr, "t"), [max(v, 1e-16) for v in column(rr, "rel_l2")], label=field)
        e.set_title("error against the classical twin")
    elif s.get("error_history"):
        fields = sorted(s["error_history"][0]["errors"].keys())
        for field in fields:
            e.semilogy([h["t"] for h in s["error_history"]],
                       [max(h["errors"][field]["rel_l2"], 1e-16) for h in s["error_history"]], label=field)
        e.set_title("error against the exact solution")
    else:
        e.text(0.5, 0.5, "no reference: run simfuse compare", ha="center", va="center", transform=e.transAxes)
        e.set_title("error")
    e.set_xlabel("t")
    e.set_ylabel("relative L2 error")
    if e.get_legend_handles_labels()[0]:
        e.legend(fontsize=8)
    e.grid(True, which="both", alpha=0.3)

    # (b) wall time per sub-step
    b = ax[0][1]
    x = range(len(subs))
    mine = [st["seconds"] for st in s["substeps"]]
    width = 0.38 if twin else 0.6
    b.bar([i - (width / 2 if twin else 0) for i in x], mine, width, label="this run")
    if twin:
        theirs = [next((t["seconds"] for t in twin["substeps"] if t["name"] == n), 0.0) for n in subs]
        b.bar([i + width / 2 for i in x], theirs, width, label="classical twin")
        for i, (m, t) in enumerate(zip(mine, theirs)):
            if m > 0 and t > 0:
                b.annotate(f"{t / m:.1f}x faster" if t >= m else f"{m / t:.1f}x slower",
                           (i, max(m, t)), ha="center", va="bottom", fontsize=9)
    b.set_xticks(list(x))
    b.set_xticklabels([f"{n}\n({policies[n]})" for n in subs])
    b.set_ylabel("wall time [s]")
    b.set_title("time per sub-step")
    b.legend(fontsize=8)

    # (c) accepted fraction per step
    c = ax[1][0]
    shown = False
    for n in subs:
        pk, ak = f"{n}_points", f"{n}_accepted"
        if not steps or pk not in steps[0]:
            continue
        pts, acc = column(steps, pk), column(steps, ak)
        if sum(pts) == 0:
            continue
        t = column(steps, "t")
        c.plot(t, [100 * q / p if p else float("nan") for q, p in zip(acc, pts)], label=f"{n}: accepted")
        for key, label in REASONS:
            col = f"{n}_{key}"
            if col in steps[0] and sum(column(steps, col)) > 0:
                c.plot(t, [100 * q / p if p else float("nan") for q, p in zip(column(steps, col), pts)], "--",
                       label=f"{n}: {label}")
        shown = True
    if not shown:
        c.text(0.5, 0.5, "no surrogate sub-step", ha="center", va="center", transform=c.transAxes)
    c.set_ylim(-2, 102)
    c.set_xlabel("t")
    c.set_ylabel("% of points")
    c.set_title("points accepted from the model, and why the others fell back")
    if shown:
        c.legend(fontsize=8)
    c.grid(True, alpha=0.3)

    # (d) time per step
    d = ax[1][1]
    for n in subs:
        if steps and f"{n}_seconds" in steps[0]:
            d.plot(column(steps, "t"), column(steps, f"{n}_seconds"), label=f"{n} ({policies[n]})")
        if twin_steps and f"{n}_seconds" in twin_steps[0]:
            d.plot(column(twin_steps, "t"), column(twin_steps, f"{n}_seconds"), ":", label=f"{n} (twin)")
    d.set_yscale("log")
    d.set_xlabel("t")
    d.set_ylabel("wall time per step [s]")
    d.set_title("time per step")
    if d.get_legend_handles_labels()[0]:
        d.legend(fontsize=8)
    d.grid(True, which="both", alpha=0.3)

    if online:
        online_panels(ax[2][0], ax[2][1], online, steps)

    fig.tight_layout(rect=(0, 0, 1, 0.96))
    out = a.output or os.path.join(a.out, "report.png")
    fig.savefig(out, dpi=110)
    print(f"report: {out} (" + ("this run beside its classical twin, " + twin_dir if twin else
                                "this run alone: " + ("its classical twin was not found" if "compare" in s
                                                      else "a run, not a compare")) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
