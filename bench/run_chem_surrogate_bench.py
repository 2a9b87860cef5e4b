#!/usr/bin/env python3
"""The guarded chemistry surrogate against CVODE at equal error, on a 2D reacting case.

  run_chem_surrogate_bench.py BUILD_DIR [--case cases/h2_hotspot.yaml]
        [--model cases/models/h2_react.card.yaml[,another.card.yaml]] [--n 51] [--np 1] [--quick]

Every run is `simfuse run` of the case on an n x n grid up to --t-end (the chemically
active period: ignition of the spot and the front half way across), with the same dt and
Strang splitting; only react changes:
  - the reference: CVODE at rtol 1e-10 (atol 1e-16);
  - CVODE at rtol 1e-3 ... 1e-7 (atol = rtol * 1e-6; analytic Jacobian, LAPACK dense), and
    with the cut-off temperature at 850 K (below it cells are not integrated);
  - the model: `surrogate` (unchecked), `guarded` without the error estimate (NaN/Inf,
    training ranges, the Admissible projection: element defect, T from h), `guarded`
    with the estimate (a loose CVODE integration per cell), and `guarded` with the cheap
    energy-consistency limit (check.max_temperature_change: the model's T against the T
    that conserves the energy with its projected composition). Fallback cells use the
    case's CVODE settings.
The error metric, used throughout: relative L2 over the grid of T and of OH at the end
against the reference, and the front position error (the radius of the region hotter
than the mean of the initial and burnt temperatures, r = sqrt(A / pi), against the
reference's). The equal-error ratio is read off CVODE's speed-vs-error curve: CVODE's react
time interpolated (log-log) at the model's T error, over the model's react time. Where
the model is less accurate than CVODE's loosest tolerance, the ratio is against that
tolerance and is an upper bound (CVODE would be faster still at the model's error).
Ratios within one run of this script are the result (this machine is noisy).
"""
import argparse
import json
import math
import os
import tempfile

from simfuse_runs import last_fields, rel_l2, run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def front_radius(T, h, T_mid):
    return math.sqrt(float((T > T_mid).sum()) * h * h / math.pi)


def interp_time(curve, err):
    """CVODE's react time at error `err` (log-log between the bracketing tolerances);
    (time, exact) with exact False when err is outside the curve (the nearest end)."""
    pts = sorted(curve)  # (error, time), by error
    if err < pts[0][0] * (1 - 1e-9):  # a curve's own end point is on it
        return pts[0][1], False
    if err > pts[-1][0] * (1 + 1e-9):
        return pts[-1][1], False
    for (e0, t0), (e1, t1) in zip(pts, pts[1:]):
        if e0 <= err <= e1:
            w = (math.log(err) - math.log(e0)) / (math.log(e1) - math.log(e0)) if e1 > e0 else 0
            return math.exp(math.log(t0) + w * (math.log(t1) - math.log(t0))), True
    return pts[-1][1], False


def best_classical(classical, models, cvode):
    """Each classical method's react time at an error (its curve interpolated log-log, never
    extrapolated: a method whose curve does not reach the error is left out and said so), the
    best of them, and the model's ratio against that best; at the model's T error and at
    CVODE's error at rtol 1e-4."""
    targets = [(f"the model's T error ({m['label']})", m["eT"], m) for m in models]
    at4 = [c for c in cvode if c["label"] == "cvode 0.0001"]
    if at4:
        targets.append(("CVODE's error at rtol 1e-4", at4[0]["eT"], None))
    print("\nAgainst the best classical method (react time at equal T error, interpolated log-log):")
    for what, err, m in targets:
        times = {}
        for name, rows in classical.items():
            t, exact = interp_time([(c["eT"], c["react"]) for c in rows], err)
            times[name] = t if exact else None
        reach = {k: v for k, v in times.items() if v is not None}
        parts = ", ".join(f"{k} {v:.2f} s" if v is not None else f"{k} does not reach it" for k, v in times.items())
        print(f"  at {what} = {err:.2e}: {parts}")
        if not reach:
            print("    no classical curve reaches this error")
            continue
        best = min(reach, key=reach.get)
        line = f"    best classical: {best} ({reach[best]:.2f} s)"
        if "cvode" in reach:
            line += f", {reach['cvode'] / reach[best]:.2f}x faster than plain CVODE"
        if m is not None:
            line += f"; the model {reach[best] / m['react']:.2f}x faster than it (react)"
        print(line)


def reactors_csv(out):
    import csv
    with open(os.path.join(out, "reactors.csv")) as f:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]


def zero_d(exe, model, member, tmp):
    """The model applied step after step (autoregressive) to 0D reactors at every T0 of the
    training range: ignition delay (T rise of 400 K, located between steps) against CVODE
    (rtol 1e-10) at the same dt."""
    runs = {}
    common = ["solver.params.integrator={rtol: 1.0e-10, atol: 1.0e-16}", "grid.n=[27]", "output={every: 0}"]
    for label, policy in [("cvode", None), ("surrogate (unchecked)", f"{{type: surrogate, model: {model}}}"),
                          ("guarded, T consistency 10 K", f"{{type: guarded, model: {model}, estimate: false}}"),
                          ("guarded + estimate", f"{{type: guarded, model: {model}}}")]:
        out = os.path.join(tmp, "0d_" + "".join(ch if ch.isalnum() else "_" for ch in label))
        sets = common + ([f"coupling.react={policy}"] if policy else [])
        s = run(exe, member, out, sets, 1)
        runs[label] = (reactors_csv(out), s)
    ref = runs["cvode"][0]
    print(f"\n0D reactors of {os.path.relpath(member, ROOT)} (27 of them over its T0 range), the model stepped "
          "autoregressively at its dt; ignition delay against CVODE rtol 1e-10 at the same dt:\n")
    print("| T0 (K) | CVODE delay (us) | " + " | ".join(k for k in runs if k != "cvode") + " |")
    print("|---|---|" + "---|" * (len(runs) - 1))
    worst = {k: 0.0 for k in runs}
    for i, r in enumerate(ref):
        if not math.isfinite(r["ignition_delay"]):
            continue
        cells = []
        for k, (rows, _) in runs.items():
            if k == "cvode":
                continue
            d = rows[i]["ignition_delay"]
            e = (d - r["ignition_delay"]) / r["ignition_delay"] if math.isfinite(d) else float("inf")
            worst[k] = max(worst[k], abs(e))
            cells.append(f"{d * 1e6:.1f} ({e * 100:+.1f}%)" if math.isfinite(d) else "no ignition")
        print(f"| {r['T0']:.0f} | {r['ignition_delay'] * 1e6:.1f} | " + " | ".join(cells) + " |")
    for k, (rows, s) in runs.items():
        if k == "cvode":
            continue
        sub = {x["name"]: x for x in s["substeps"]}["react"]
        print(f"  {k}: worst |delay error| {worst[k] * 100:.1f}%, accepted {sub.get('accepted_fraction', 1) * 100:.1f}%")
    never = sum(1 for r in ref if not math.isfinite(r["ignition_delay"]))
    if never:
        print(f"  ({never} reactors do not ignite within the run in CVODE)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--case", default=os.path.join(ROOT, "cases/h2_hotspot.yaml"))
    ap.add_argument("--model", default=os.path.join(ROOT, "cases/models/h2_react.card.yaml"))
    ap.add_argument("--n", type=int, default=51)
    ap.add_argument("--t-end", default="8.0e-5",
                    help="end time (default: the hot spot's front half way across the domain; by 1.4e-4 all "
                         "has burnt and there is no front left to place)")
    ap.add_argument("--np", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="two CVODE tolerances and the guarded model only")
    ap.add_argument("--cutoff", type=float, default=850.0, help="0: no cut-off rows")
    ap.add_argument("--member", default=os.path.join(ROOT, "cases/models/h2_react_member.yaml"),
                    help="the 0D reactor case of the autoregressive test")
    ap.add_argument("--only", choices=["2d", "0d"])
    ap.add_argument("--classical", action="store_true",
                    help="also the stronger classical methods (issue 26): CVODE with per-cell step memory at the same "
                         "rtols, and ISAT (over CVODE at --isat-rtol with memory) at --isat-tols; the model's ratio "
                         "is then read against the best of them")
    ap.add_argument("--isat-tols", default="1e-2,3e-3,1e-3,1e-4")
    ap.add_argument("--isat-rtol", type=float, default=1e-5)
    ap.add_argument("--isat-no-memory", action="store_true",
                    help="ISAT over plain CVODE (where step memory is slower, as on n-dodecane)")
    ap.add_argument("--json", help="also write every row (method, errors, times) here, for bench/plot_speed_error.py")
    ap.add_argument("--klu", action="store_true", help="with --classical: also CVODE with the sparse KLU solver")
    ap.add_argument("--species", default="OH", help="the radical whose error is reported beside T's (oh: n-dodecane)")
    ap.add_argument("--rtols", default="1e-3,1e-4,1e-5,1e-6,1e-7", help="CVODE tolerances of the curve")
    a = ap.parse_args()
    exe = os.path.join(os.path.abspath(a.build), "bin", "simfuse")
    # several: compared in one run; "none": the classical methods only (a case without a model)
    all_models = [] if a.model == "none" else [os.path.abspath(m) for m in a.model.split(",")]
    model = all_models[0] if all_models else None  # the 0D study's
    tmp = tempfile.mkdtemp(prefix="simfuse_chem_surrogate_")
    base = [f"grid.n=[{a.n}, {a.n}]", "output.png=[{field: gas, component: T, every: 1000000}]",
            "output.every=1000000", f"time.t_end={a.t_end}"]
    if a.only != "2d":
        zero_d(exe, model, a.member, tmp)
    if a.only == "0d":
        return

    def config(label, sets):
        out = os.path.join(tmp, label.replace(" ", "_").replace("/", "_"))
        s = run(exe, a.case, out, base + sets, a.np)
        f = last_fields(out, ["T", a.species, "react_path"])
        f["OH"] = f[a.species]  # the reported radical, by the column name the tables use
        sub = {x["name"]: x for x in s["substeps"]}
        total = sum(x["seconds"] for x in s["substeps"])
        return {"label": label, "summary": s, "fields": f, "react": sub["react"]["seconds"], "step": total,
                "sub": sub["react"]}

    integ = "solver.params.integrator"
    print(f"case {os.path.relpath(a.case, ROOT)} on {a.n}x{a.n}, {a.np} rank(s); model(s) "
          f"{', '.join(os.path.relpath(m, ROOT) for m in all_models)}")
    ref = config("reference", [f"{integ}={{type: cvode, rtol: 1.0e-10, atol: 1.0e-16}}"])
    T_ref, OH_ref = ref["fields"]["T"], ref["fields"]["OH"]
    grid = ref["summary"]["grid"]
    h = grid["h"][0]
    T0 = float(T_ref.min())  # the cold background, untouched by the end
    T_mid = 0.5 * (T0 + float(T_ref.max()))
    r_ref = front_radius(T_ref, h, T_mid)
    print(f"reference: react {ref['react']:.1f} s; T {T_ref.min():.0f}-{T_ref.max():.0f} K; front radius "
          f"{r_ref * 1e6:.1f} um (T > {T_mid:.0f} K); h = {h * 1e6:.1f} um\n")

    def errors(c):
        f = c["fields"]
        c["eT"] = rel_l2(f["T"], T_ref)
        c["eOH"] = rel_l2(f["OH"], OH_ref)
        c["front_um"] = (front_radius(f["T"], h, T_mid) - r_ref) * 1e6
        return c

    rtols = [1e-3, 1e-5] if a.quick else [float(r) for r in a.rtols.split(",")]
    cvode = [errors(config(f"cvode {r:g}", [f"{integ}={{type: cvode, rtol: {r}, atol: {r * 1e-6}}}"])) for r in rtols]
    cut = [] if a.quick or a.cutoff <= 0 else [
        errors(config(f"cvode {r:g} cut-off {a.cutoff:g} K",
                      [f"{integ}={{type: cvode, rtol: {r}, atol: {r * 1e-6}, cutoff_temperature: {a.cutoff}}}"]))
        for r in (1e-3, 1e-5)]
    classical = {"cvode": cvode}
    if a.classical:
        classical["cvode + step memory"] = [
            errors(config(f"cvode {r:g} + step memory",
                          [f"{integ}={{type: cvode, rtol: {r}, atol: {r * 1e-6}, step_memory: true}}"]))
            for r in rtols]
        if a.klu:
            classical["cvode klu"] = [
                errors(config(f"cvode {r:g} klu",
                              [f"{integ}={{type: cvode, rtol: {r}, atol: {r * 1e-6}, linear_solver: klu}}"]))
                for r in rtols]
        ir = a.isat_rtol
        mem = "" if a.isat_no_memory else " + memory"
        classical["isat"] = [
            errors(config(f"isat {t:g} (cvode {ir:g}{mem})",
                          [f"{integ}={{type: cvode, rtol: {ir}, atol: {ir * 1e-6}, step_memory: {str(not a.isat_no_memory).lower()}}}",
                           f"coupling.react={{type: isat, tolerance: {t}}}"]))
            for t in [float(x) for x in a.isat_tols.split(",")]]
    models = []
    pol = "coupling.react"
    for model in all_models:
        variants = [("guarded, no estimate", f"{{type: guarded, model: {model}, estimate: false, path_field: true}}")]
        if not a.quick:
            variants = [("surrogate (unchecked)", f"{{type: surrogate, model: {model}}}")] + variants + [
                ("guarded + estimate", f"{{type: guarded, model: {model}, estimate: true, path_field: true}}")]
        variants.append(("guarded, T consistency 10 K",
                         f"{{type: guarded, model: {model}, estimate: false, path_field: true}}",
                         "solver.params.check.max_temperature_change=10"))
        name = os.path.basename(model).replace(".card.yaml", "")
        for label, policy, *extra in variants:
            label = f"{name}, {label}" if len(all_models) > 1 else label
            models.append(errors(config(label, [f"{pol}={policy}"] + extra)))

    curve = [(c["eT"], c["react"]) for c in cvode]
    curve_step = [(c["eT"], c["step"]) for c in cvode]
    print("| react by | rel L2 T | rel L2 OH | front error (um) | react s | whole step s | accepted | "
          "fallbacks (NaN / range / estimate / inadmissible) |")
    print("|---|---|---|---|---|---|---|---|")
    for c in cvode + cut + [c for k, v in classical.items() if k != "cvode" for c in v] + models:
        sub = c["sub"]
        acc = f"{sub['accepted_fraction'] * 100:.1f}%" if "accepted_fraction" in sub else "-"
        if "isat" in sub:
            i = sub["isat"]
            acc = f"{i['retrieved'] / max(1, i['retrieved'] + i['grown'] + i['added'] + i['direct']) * 100:.1f}% " \
                  f"retrieved ({i['entries']} entries)"
        fb = sub.get("fallback")
        fbs = f"{fb['nan']} / {fb['ood']} / {fb['estimate']} / {fb['inadmissible']}" if fb else "-"
        print(f"| {c['label']} | {c['eT']:.2e} | {c['eOH']:.2e} | {c['front_um']:+.1f} | {c['react']:.2f} | "
              f"{c['step']:.2f} | {acc} | {fbs} |")
    print()
    print("Equal error (CVODE's curve at the model's T error):")
    for m in models:
        t_eq, exact = interp_time(curve, m["eT"])
        s_eq, _ = interp_time(curve_step, m["eT"])
        note = "" if exact else (" (the model is less accurate than CVODE's loosest tolerance: an upper bound)"
                                 if m["eT"] > max(e for e, _ in curve) else " (more accurate than CVODE's tightest)")
        print(f"  {m['label']}: react {t_eq / m['react']:.2f}x, whole step {s_eq / m['step']:.2f}x{note}")
        sub = m["sub"]
        print(f"    inference {sub.get('inference_seconds', 0):.2f} s, guard {sub.get('check_seconds', 0):.2f} s, "
              f"classical fallback {sub.get('classical_seconds', 0):.2f} s")
        path = m["fields"].get("react_path")
        if path is not None:
            T = m["fields"]["T"]
            cls = {"unburnt": T < T0 + 50, "front": (T >= T0 + 50) & (T < T.max() - 150), "burnt": T >= T.max() - 150}
            parts = []
            for name, mask in cls.items():
                n = int(mask.sum())
                nf = int(((path > 0) & mask).sum())
                parts.append(f"{name} {nf}/{n}")
            print(f"    fallback cells in the last step by region: {', '.join(parts)}")
    if a.classical:
        best_classical(classical, models, cvode)
    if a.json:
        rows = [dict(group=g, label=c["label"], eT=c["eT"], eOH=c["eOH"], react=c["react"], step=c["step"])
                for g, v in classical.items() for c in v]
        rows += [dict(group="model", label=c["label"], eT=c["eT"], eOH=c["eOH"], react=c["react"], step=c["step"])
                 for c in models]
        doc = {"case": os.path.relpath(a.case, ROOT), "n": a.n, "t_end": a.t_end, "species": a.species,
               "reference": "CVODE rtol 1e-10, the same dt and splitting", "rows": rows}
        tmpname = a.json + ".tmp"
        with open(tmpname, "w") as f:
            json.dump(doc, f, indent=1)
        os.replace(tmpname, a.json)
        print(f"rows in {a.json}")
    print(f"\noutputs in {tmp}")


if __name__ == "__main__":
    main()
