#!/usr/bin/env python3
"""The classical chemistry integrators against each other at equal tolerance (issue 26,
first part): CVODE (BDF, analytic Jacobian, LAPACK dense) and Rodas4 (Rosenbrock order 4),
each with and without per-cell step memory (CVODE: its first step a fraction of the cell's
last one), on a case's react sub-step.

  run_classical_chem_bench.py BUILD_DIR [--case cases/ch4_stratified.yaml] [--n 4] [--steps 5]
        [--rtols 1e-3,1e-4,1e-6] [--atol-factor 1e-4]

Every run is `simfuse run` of the case on an n x n grid for --steps steps with the same dt
and splitting; only the integrator changes (atol = rtol * atol-factor). The error is the
relative L2 over the grid of T at the end against CVODE at rtol 1e-9 (atol 1e-15). Prints
one table: react seconds, integrator steps, rejected steps, Jacobians, T error, and the react
time over CVODE's at the same rtol. Ratios within one run are the result (noisy machine).
"""
import argparse
import os
import tempfile

from simfuse_runs import last_fields, rel_l2, run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--case", default=os.path.join(ROOT, "cases/ch4_stratified.yaml"))
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--rtols", default="1e-3,1e-4,1e-6")
    ap.add_argument("--atol-factor", type=float, default=1e-4)
    ap.add_argument("--fraction", type=float, default=0.1, help="CVODE with memory: first step / last step")
    ap.add_argument("--no-rodas", action="store_true", help="CVODE with and without memory only")
    a = ap.parse_args()
    exe = os.path.join(os.path.abspath(a.build), "bin", "simfuse")
    tmp = tempfile.mkdtemp(prefix="simfuse_classical_chem_")
    base = [f"grid.n=[{a.n}, {a.n}]", f"time.steps={a.steps}", "output.every=1000000",
            "output.png=[{field: gas, component: T, every: 1000000}]"]
    extra = ["--unset", "time.t_end", "--no-progress"]

    def one(label, integ):
        out = os.path.join(tmp, "".join(ch if ch.isalnum() else "_" for ch in label))
        s = run(exe, a.case, out, base + [f"solver.params.integrator={integ}"], extra=extra)
        sub = {x["name"]: x for x in s["substeps"]}["react"]
        ri = s["solver"]["react_integrator"]
        return {"label": label, "react": sub["seconds"], "T": last_fields(out, ["T"])["T"],
                "steps": ri.get("steps"), "rejected": ri.get("rejected_steps", "-"),
                "jac": ri.get("jacobian_evals")}

    ref = one("reference", "{type: cvode, rtol: 1.0e-9, atol: 1.0e-15}")
    print(f"case {os.path.relpath(a.case, ROOT)} on {a.n}x{a.n}, {a.steps} steps; T error: relative L2 "
          "against CVODE rtol 1e-9\n")
    print("| integrator | rtol | react s | steps | rejected | Jacobians | rel L2 T | react / CVODE's |")
    print("|---|---|---|---|---|---|---|---|")
    for r in [float(x) for x in a.rtols.split(",")]:
        atol = r * a.atol_factor
        rows = [one(f"cvode {r:g}", f"{{type: cvode, rtol: {r}, atol: {atol}}}"),
                one(f"cvode + step memory x{a.fraction:g} {r:g}",
                    f"{{type: cvode, rtol: {r}, atol: {atol}, step_memory: true, first_step_fraction: {a.fraction}}}")]
        rows += [] if a.no_rodas else [
                one(f"rodas4 {r:g}", f"{{type: rodas4, rtol: {r}, atol: {atol}, max_steps: 1000000}}"),
                one(f"rodas4 + step memory {r:g}",
                    f"{{type: rodas4, rtol: {r}, atol: {atol}, max_steps: 1000000, step_memory: true}}")]
        for c in rows:
            e = rel_l2(c["T"], ref["T"])
            print(f"| {c['label'].rsplit(' ', 1)[0]} | {r:g} | {c['react']:.3f} | {c['steps']} | {c['rejected']} | "
                  f"{c['jac']} | {e:.2e} | {c['react'] / rows[0]['react']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
