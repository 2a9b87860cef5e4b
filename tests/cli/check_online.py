#!/usr/bin/env python3
"""The online policy, end to end, on a small periodic BZ spiral (cases/bz2d_online.yaml on
a 51 x 51 grid):
  - switch-in: the model trains from the run's own classical calls, passes validation and
    serves under the guard, training on and replacing itself with a better model; steps.csv
    and summary.json carry the audit trail; the saved
    model and card are usable by `guarded` in another run; report.py draws the figure;
  - fine-tuning: starting from the shipped offline model, it switches in sooner;
  - drift: the kinetics parameter f jumps at t = 6; the model rolls back to the classical
    code after the jump, keeps training and switches in again;
  - 2 ranks agree with 1 rank: the same switch-in step (the model differs in rounding only:
    gradients are summed in another order), validation errors to 1e-3 relative, the final
    field to 1e-4 (relative L2; the guard may decide a borderline point differently);
  - resume: killed in phase 1 (classical), the resumed run is identical to the uninterrupted
    one (validation history, events, final field bitwise); killed in phase 2 (model serving),
    it is identical within 1e-6 (relative L2).
Usage: check_online.py SIMFUSE SOURCE_DIR [--mpiexec mpirun]
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from vtkmodules.util.numpy_support import vtk_to_numpy  # python3-vtk9 or ParaView's Python
from vtkmodules.vtkIOXML import vtkXMLImageDataReader, vtkXMLPImageDataReader

# An easy problem: the small grid, a looser target and smaller batches than the shipped case,
# so that the model switches in after ~160 steps.
SMALL = ["grid.n=[51,51]", "output.every=100", "output.png.every=400", "checkpoint.every=50",
         "coupling.react.validation.target=0.05", "coupling.react.training.batch=256"]


def final_field(out):
    frames = sorted(f for f in os.listdir(out) if f.endswith(".vti") or f.endswith(".pvti"))
    r = vtkXMLPImageDataReader() if frames[-1].endswith(".pvti") else vtkXMLImageDataReader()
    r.SetFileName(os.path.join(out, frames[-1]))
    r.Update()
    pd = r.GetOutput().GetPointData()
    return np.stack([vtk_to_numpy(pd.GetArray(n)).astype(float) for n in ("u", "v")])


def rel_l2(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def online_of(out):
    s = json.load(open(os.path.join(out, "summary.json")))
    st = next(x for x in s["substeps"] if x["name"] == "react")
    return s, st


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("exe")
    ap.add_argument("src")
    ap.add_argument("--mpiexec", default="mpirun")
    a = ap.parse_args()
    case = os.path.join(a.src, "cases", "bz2d_online.yaml")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    env.pop("SIMFUSE_FAULT", None)
    problems = []

    def check(cond, what):
        if not cond:
            problems.append(what)
            print("FAIL", what, flush=True)
        return cond

    def run(out, sets, np_=1, fault=None, extra=(), verb="run", case_file=case):
        c = [a.exe, verb, case_file, "-o", out, "-q", "--no-progress"]
        for s in SMALL + sets:
            c += ["--set", s]
        c += list(extra)
        e = dict(env)
        if fault:
            e["SIMFUSE_FAULT"] = fault
        if np_ > 1:
            c = [a.mpiexec, "-n", str(np_), "--oversubscribe"] + (["-x", "SIMFUSE_FAULT"] if fault else []) + c
        return subprocess.run(c, env=e, capture_output=True, text=True)

    with tempfile.TemporaryDirectory() as tmp:
        # --- switch-in on an easy problem, the audit trail, the saved model ---------------
        base = os.path.join(tmp, "base")
        # path_field: true, as config doc policy.online documents it (it used to fail with
        # "no field named ''": the online policy has no model card to name the field yet).
        r = run(base, ["time.t_end=6", "coupling.react.path_field=true"])
        if not check(r.returncode == 0, f"the online run failed ({r.returncode}): {r.stderr[-1500:]}"):
            return report(problems)
        s, st = online_of(base)
        check("react_path" in s["outputs"].get("diagnostic_fields", []),
              f"no react_path field: {s['outputs'].get('diagnostic_fields')}")
        o = st["online"]
        ev = o["events"]
        first = o["first_switch_in"]
        check(first is not None and ev and ev[0]["event"] == "switch_in", f"no switch-in: events {ev}")
        check(o["phase"] == "guarded", f"the model does not serve at the end: phase {o['phase']}")
        check(o["served_fraction"] > 0.4, f"the model served only {o['served_fraction']:.2f} of the calls")
        check(st["accepted_fraction"] > 0.9, f"the guard accepted only {st['accepted_fraction']:.3f} of the points")
        check(st["online"]["training"]["iterations"] > 0 and st["online"]["training"]["samples_seen"] > 0,
              "no training recorded")
        hist = o["validation_history"]
        check(len(hist) > 5 and hist[0][1] > hist[-1][1], f"the validation error did not fall: {hist[:3]} ... {hist[-3:]}")
        check(o.get("shadow_points", 0) > 0, "no shadow checks while the model served")
        # Training went on while the model served, and a better model replaced the first.
        check(o.get("serving_model_refreshes", 0) > 0, f"the serving model was never refreshed: {o.get('serving_model_refreshes')}")
        rows = list(csv.DictReader(open(os.path.join(base, "steps.csv"))))
        cols = ["react_online_guarded_steps", "react_online_train_iterations", "react_online_train_seconds",
                "react_online_validation_error", "react_online_shadow_points", "react_online_switch_ins",
                "react_online_rollbacks", "react_online_buffer_samples"]
        check(all(c in rows[0] for c in cols), f"steps.csv lacks online columns: {[c for c in cols if c not in rows[0]]}")
        check("diffuse_online_guarded_steps" not in rows[0], "steps.csv has online columns for a classical sub-step")
        if first:
            g = [int(rw["react_online_guarded_steps"]) for rw in rows]
            check(sum(g[:first["step"]]) == 0 and all(g[first["step"]:]),
                  f"steps.csv: the model serves from step {g.index(1) + 1 if 1 in g else None}, "
                  f"summary says after step {first['step']}")
        card = os.path.join(base, "bz_react_online.card.yaml")
        check(os.path.exists(card) and os.path.exists(os.path.join(base, "bz_react_online.pt")),
              "the trained model was not saved")
        check(o.get("saved", {}).get("card", "").endswith("bz_react_online.card.yaml"), "summary does not name the saved card")
        # The saved model serves a later run under `guarded`.
        later = os.path.join(tmp, "later")
        r = run(later, ["time.t_end=1", f"coupling.react={{type: guarded, model: {card}}}"])
        if check(r.returncode == 0, f"guarded with the saved model failed: {r.stderr[-800:]}"):
            _, gst = online_of(later)
            check(gst["accepted_fraction"] > 0.9, f"the saved model: accepted {gst['accepted_fraction']:.3f}")
        # The figure.
        r = subprocess.run([sys.executable, os.path.join(a.src, "scripts", "report.py"), base], capture_output=True,
                           text=True)
        check(r.returncode == 0 and os.path.exists(os.path.join(base, "report.png")), f"report.py: {r.stderr[-500:]}")
        print(f"switch-in: after step {first and first['step']}, served {o['served_fraction']:.2f}, accepted "
              f"{st['accepted_fraction']:.4f}", flush=True)

        # --- fine-tuning from the offline model switches in sooner ------------------------
        ft = os.path.join(tmp, "finetune")
        model = os.path.join(a.src, "cases", "models", "bz_react.card.yaml")
        r = run(ft, ["time.t_end=6", f"coupling.react.model={model}"], extra=["--unset", "coupling.react.architecture"])
        if check(r.returncode == 0, f"fine-tuning failed: {r.stderr[-800:]}"):
            _, fst = online_of(ft)
            ff = fst["online"]["first_switch_in"]
            check(ff is not None and first is not None and ff["step"] < first["step"],
                  f"fine-tuning switched in at {ff}, from scratch at {first}")
            print(f"fine-tuning: switch-in after step {ff and ff['step']}", flush=True)

        # --- drift: rollback, training goes on, switch-in again ---------------------------
        drift = os.path.join(tmp, "drift")
        r = run(drift, ["time.t_end=14", 'solver.params.kinetics.f="2.5 + 0.7*(t > 6)"'])
        if check(r.returncode == 0, f"the drift run failed: {r.stderr[-800:]}"):
            _, dst = online_of(drift)
            dev = dst["online"]["events"]
            kinds = [(e["event"], e["t"]) for e in dev]
            before = [e for e in dev if e["event"] == "switch_in" and e["t"] < 6]
            back = [e for e in dev if e["event"] == "rollback" and e["t"] > 6]
            again = [e for e in dev if e["event"] == "switch_in" and back and e["t"] > back[0]["t"]]
            check(before and back and again, f"drift: expected switch-in, rollback after t = 6, switch-in: {kinds}")
            check(dst["online"]["phase"] == "guarded", "drift: not serving at the end")
            print(f"drift: events {kinds}", flush=True)

        # --- 2 ranks against 1 ------------------------------------------------------------
        two = os.path.join(tmp, "two")
        r = run(two, ["time.t_end=6"], np_=2)
        if check(r.returncode == 0, f"2 ranks failed: {r.stderr[-800:]}"):
            _, tst = online_of(two)
            t_first = tst["online"]["first_switch_in"]
            check(t_first == first, f"2 ranks switch in at {t_first}, 1 rank at {first}")
            h1, h2 = dict(map(tuple, hist)), dict(map(tuple, tst["online"]["validation_history"]))
            worst = max(abs(h1[k] - h2[k]) / h1[k] for k in h1 if k in h2)
            check(worst < 1e-3, f"2 ranks: validation errors differ by {worst:.2e} (relative)")
            d = rel_l2(final_field(two), final_field(base))
            check(d < 1e-4, f"2 ranks: final field differs by {d:.2e} (relative L2)")
            print(f"2 ranks: validation errors within {worst:.1e}, final field within {d:.1e}", flush=True)

        # --- resume: killed in phase 1 (identical), in phase 2 (within tolerance) ----------
        sw = first["step"] if first else 0
        for label, fault, tol in (("phase 1", f"step:{max(60, sw - 40)}", 0.0), ("phase 2", f"step:{sw + 70}", 1e-6)):
            out = os.path.join(tmp, label.replace(" ", ""))
            k = run(out, ["time.t_end=6"], fault=fault)
            if not check(k.returncode != 0, f"resume {label}: the fault {fault} did not stop the run"):
                continue
            r = run(out, ["time.t_end=6"], extra=["--resume"])
            if not check(r.returncode == 0, f"resume {label}: {r.stderr[-800:]}"):
                continue
            _, rst = online_of(out)
            ro = rst["online"]
            if tol == 0.0:
                check(ro["validation_history"] == hist, f"resume {label}: the validation history differs")
                check(ro["events"] == ev, f"resume {label}: the events differ: {ro['events']} against {ev}")
                check(np.array_equal(final_field(out), final_field(base)), f"resume {label}: the final field differs")
            else:
                check([e["step"] for e in ro["events"]] == [e["step"] for e in ev],
                      f"resume {label}: events at other steps: {ro['events']}")
                d = rel_l2(final_field(out), final_field(base))
                check(d <= tol, f"resume {label}: final field differs by {d:.2e}")
            print(f"resume {label} ({fault}): ok", flush=True)
    return report(problems)


def report(problems):
    if problems:
        print(f"{len(problems)} problem(s)")
        return 1
    print("online: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
