#!/usr/bin/env python3
"""The cost of detailed chemistry in the reacting cases, measured by running them.

  run_reacting_bench.py BUILD_DIR [--quick] [--only h2|ch4|ranks]

For each 2D case (h2_hotspot: h2o2.yaml, 10 species; ch4_stratified: GRI-3.0, 53 species),
shrunk to a size that runs in about a minute and over its chemically active period, the
react sub-step's cost per cell and step (summary.json: react seconds / cells integrated):
  - CVODE at rtol 1e-4, 1e-6, 1e-8 (atol 1e-12 scaled with rtol: 1e-10, 1e-12, 1e-14);
  - analytic vs finite-difference Jacobian, LAPACK dense vs SUNDIALS dense vs KLU;
  - the cut-off temperature on (set above the cold background) and off, with the error it
    makes (max |T - T_off| at the end);
  - its distribution over unburnt, front and burnt cells at the last step (from the
    react_seconds field of the last VTK file: unburnt = below the initial maximum
    temperature + 50 K, burnt = within 150 K of the hottest cell, front = between);
  - the share of a whole step spent in react (the ceiling of any surrogate of it);
and the load imbalance of react over 2 ranks (max/mean rank time) on the hot spot.
Ratios within one run of this script are the result (this machine is noisy); absolute
times are for orientation.
"""
import argparse
import os
import sys
import tempfile

from simfuse_runs import last_fields, run


def react(summary):
    sub = {s["name"]: s for s in summary["substeps"]}
    ri = summary["solver"]["react_integrator"]
    cells = ri["cells_integrated"] + ri["cells_skipped"]
    total = sum(s["seconds"] for s in summary["substeps"])
    return sub["react"]["seconds"] / cells, sub["react"]["seconds"] / total, ri


def hrr_fields(out):
    """T, heat release and react_seconds of the last VTK file."""
    f = last_fields(out, ["T", "heat_release", "react_seconds"])
    return f["T"], f["heat_release"], f["react_seconds"]


def distribution(out, T_init_max):
    """Cells by state at the last step: unburnt (below the initial maximum + 50 K: cold
    background and induction), burnt (within 150 K of the hottest cell) and front (between)."""
    T, q, cost = hrr_fields(out)
    unburnt = T < T_init_max + 50
    burnt = ~unburnt & (T > T.max() - 150)
    front = ~unburnt & ~burnt
    rows = []
    for name, m in (("unburnt", unburnt), ("front", front), ("burnt", burnt)):
        n = int(m.sum())
        rows.append((name, n, cost[m].mean() * 1e6 if n else 0.0, cost[m].sum() / cost.sum() if n else 0.0))
    return rows


CASES = {
    # name: (file, sets for the benchmark size, initial maximum temperature, cut-off)
    "h2": ("h2_hotspot.yaml", ["grid.n=[51,51]", "time.t_end=1.2e-4", "time.dt=4.0e-6", "output.every=0",
                               "output.png={enabled: false}"], 1500.0, 850.0),
    "ch4": ("ch4_stratified.yaml", ["grid.n=[16,16]", "time.t_end=2.4e-3", "time.dt=1.2e-4", "output.every=0",
                                    "output.png={enabled: false}"], 1500.0, 1350.0),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--quick", action="store_true", help="only rtol 1e-6, dense and analytic")
    ap.add_argument("--only", choices=["h2", "ch4", "ranks"])
    a = ap.parse_args()
    exe = os.path.join(a.build, "bin", "simfuse")
    src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tmp = tempfile.mkdtemp(prefix="simfuse_reacting_bench_")
    for key, (case, base, T_init_max, cutoff) in CASES.items():
        if a.only and a.only != key:
            continue
        path = os.path.join(src, "cases", case)
        print(f"\n## {case} ({' '.join(base)})")
        print("| rtol | jacobian | linear solver | cut-off | react us/cell/step | vs analytic+dense | react share of step | "
              "CVODE steps/cell | Jacobians/cell |")
        print("|---|---|---|---|---|---|---|---|---|")
        rtols = [1e-6] if a.quick else [1e-4, 1e-6, 1e-8]
        for rtol in rtols:
            atol = rtol * 1e-6
            configs = [("analytic", "dense", 0)]
            if not a.quick:
                configs += [("fd", "dense", 0), ("analytic", "sundials_dense", 0), ("analytic", "klu", 0),
                            ("analytic", "dense", cutoff)]
            base_cost = None
            T_ref = None
            for jac, ls, cut in configs:
                out = os.path.join(tmp, f"{key}_{rtol:g}_{jac}_{ls}_{cut:g}")
                sets = base + [f"solver.params.integrator.rtol={rtol}", f"solver.params.integrator.atol={atol}",
                               f"solver.params.integrator.jacobian={jac}",
                               f"solver.params.integrator.linear_solver={ls}",
                               f"solver.params.integrator.cutoff_temperature={cut}"]
                s = run(exe, path, out, sets)
                per_cell, share, ri = react(s)
                base_cost = base_cost or per_cell
                cells = ri["cells_integrated"] + ri["cells_skipped"]
                T, _, _ = hrr_fields(out)
                note = ""
                if cut == 0 and jac == "analytic" and ls == "dense":
                    T_ref = T
                    dist = distribution(out, T_init_max)
                elif cut > 0:
                    note = f" (max abs T error {abs(T - T_ref).max():.2g} K, {ri['cells_skipped'] / cells:.0%} skipped)"
                print(f"| {rtol:g} | {jac} | {ls} | {cut:g}{note} | {per_cell * 1e6:.1f} | {per_cell / base_cost:.2f} | "
                      f"{share:.1%} | {ri['steps'] / cells:.1f} | {ri['jacobian_evals'] / cells:.2f} |")
            print(f"\n  rtol {rtol:g}, last step, analytic + dense: " +
                  "; ".join(f"{n}: {c} cells, {us:.1f} us/cell, {frac:.0%} of react" for n, c, us, frac in dist) + "\n")
    if not a.only or a.only == "ranks":
        case, base, _, _ = CASES["h2"]
        print(f"\n## Load balance of react on 2 ranks ({case}; the grid is split in x)\n")
        print("| hot spot at | max rank s | mean rank s | imbalance (max/mean) |\n|---|---|---|---|")
        for where, sets in (("the centre (symmetric halves)", []),
                            ("x = L/4 (in one half)", ["parameters.x0=0.25e-3"])):
            out = os.path.join(tmp, "ranks" + str(len(sets)))
            s = run(exe, os.path.join(src, "cases", case), out, base + sets, np=2)
            ri = s["solver"]["react_integrator"]
            print(f"| {where} | {ri['react_seconds_max_rank']:.2f} | {ri['react_seconds_mean_rank']:.2f} | "
                  f"{ri['react_load_imbalance']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
