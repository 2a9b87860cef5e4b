#!/usr/bin/env python3
"""Benchmarks of the Navier-Stokes pressure projection (issue 5), as ratios in one run.

  A. simfuse's pressure Poisson solve vs PETSc's own tutorial ksp/ksp/tutorials/ex50.c
     (2D Poisson, cell-centred, pure Neumann, on a DMDA) on the same grid with the same
     solver options: KSPSolve time (from -log_view) and iterations, at 256^2 and 1024^2 cells
     (257 and 1025: the DMDA multigrid hierarchy needs n - 1 divisible by 2^levels).
  B. The warm start of the projection (cases/cavity_re1000_ai.yaml, 250 steps of the
     Re 1000 spin-up): KSP iterations and time per call with the model's guess, with the
     previous pressure (the default) and with its linear and quadratic extrapolation in
     time, for CG + Jacobi, CG + ICC and CG + multigrid.
  C. Hybrids through `simfuse compare` (the classical twin in the same run): every_n with
     n = 2 and 4 (the model replaces the projection on the other steps), and guarded.

    python3 bench/run_projection_bench.py [--build build] [--quick]

ex50 is compiled from libpetsc3.18-dev-examples (scripts/install-deps.sh installs it) into
the build folder. Prints markdown tables for docs/benchmarks.md.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EX50_SRC = "/usr/share/petsc/3.18/share/petsc/examples/src/ksp/ksp/tutorials/ex50.c"
ENV = dict(os.environ, OMP_NUM_THREADS="1")


def mg_options(levels, prefix=""):
    o = {
        "ksp_type": "cg", "pc_type": "mg", "pc_mg_levels": str(levels), "pc_mg_galerkin": "both",
        "mg_levels_ksp_type": "chebyshev", "mg_levels_pc_type": "jacobi",
        "mg_levels_ksp_chebyshev_eigenvalues": "0.3,2.0", "mg_coarse_pc_type": "redundant",
        "mg_coarse_redundant_pc_type": "svd", "ksp_rtol": "1e-8", "ksp_converged_reason": None,
    }
    args = []
    for k, v in o.items():
        args.append(f"-{prefix}{k}")
        if v is not None:
            args.append(v)
    return args


def ksp_solve_seconds(log):
    for line in log.splitlines():
        if line.startswith("KSPSolve "):
            return float(line.split()[3])
    raise RuntimeError("no KSPSolve line in -log_view output:\n" + log[-2000:])


def iterations(log):
    m = re.findall(r"solve converged due to \w+ iterations (\d+)", log)
    if not m:
        raise RuntimeError("no converged reason in output:\n" + log[-2000:])
    return int(m[-1])


def build_ex50(build):
    exe = os.path.join(build, "bench", "ex50")
    if os.path.exists(exe):
        return exe
    if not os.path.exists(EX50_SRC):
        sys.exit(f"{EX50_SRC} is missing: apt-get install libpetsc3.18-dev-examples")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "PETSc"], capture_output=True, text=True,
                           check=True).stdout.split()
    subprocess.run(["mpicc", "-O2", EX50_SRC, "-o", exe] + flags + ["-lm"], check=True)
    return exe


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, env=ENV, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return r.stdout + r.stderr


def part_a(simfuse, ex50, tmp, sizes, repeats):
    rows = []
    for n in sizes:
        levels = {257: 7, 1025: 9}.get(n, 5)
        case = os.path.join(tmp, f"poisson{n}.yaml")
        with open(case, "w") as f:
            f.write(f"""name: poisson{n}
grid: {{n: [{n}, {n}], centering: cell}}
solver:
  type: navier_stokes
  params: {{viscosity: 0.01, wall_velocity: {{y_hi: 1.0}}}}
time: {{dt: 1.0e-5, steps: 1}}
output: {{vtk: false}}
""")
        # To rtol 1e-8 (each its own right-hand side), and the same work: 6 iterations each
        # (-ksp_convergence_test skip), which removes the right-hand side from the comparison.
        fixed = ["-ksp_max_it", "6", "-ksp_convergence_test", "skip"]
        best = {}
        for _ in range(repeats):
            for key, extra in (("", []), ("fixed ", fixed)):
                prefixed = ["-project_" + x[1:] if x.startswith("-") else x for x in extra]
                log = run([simfuse, "run", case, "-q", "-o", os.path.join(tmp, f"out{n}"), "--"]
                          + mg_options(levels, "project_") + ["-log_view"] + prefixed)
                s = (ksp_solve_seconds(log), 6 if extra else iterations(log))
                log = run([ex50, "-da_grid_x", str(n), "-da_grid_y", str(n)] + mg_options(levels) + ["-log_view"]
                          + extra)
                e = (ksp_solve_seconds(log), 6 if extra else iterations(log))
                best[key + "simfuse"] = min(best.get(key + "simfuse", (1e9, 0)), s)
                best[key + "ex50"] = min(best.get(key + "ex50", (1e9, 0)), e)
        rows.append((n, levels, best["simfuse"], best["ex50"], best["fixed simfuse"], best["fixed ex50"]))
    print("\n### A. Poisson solve: simfuse vs PETSc ex50 (same grid, CG + MG, rtol 1e-8, 1 rank)\n")
    print("| cells | levels | simfuse KSPSolve s (its) | ex50 KSPSolve s (its) | time per iteration simfuse / ex50 "
          "| 6 iterations each: simfuse s | ex50 s | simfuse / ex50 |")
    print("|---|---|---|---|---|---|---|---|")
    for n, lv, s, e, fs, fe in rows:
        print(f"| {n}^2 | {lv} | {s[0]:.4f} ({s[1]}) | {e[0]:.4f} ({e[1]}) | {(s[0] / s[1]) / (e[0] / e[1]):.2f} "
              f"| {fs[0]:.4f} | {fe[0]:.4f} | {fs[0] / fe[0]:.2f} |")
    if len(rows) == 2:
        print(f"\nmultigrid iterations {rows[1][0]}^2 / {rows[0][0]}^2: simfuse {rows[1][2][1] / rows[0][2][1]:.2f}, "
              f"ex50 {rows[1][3][1] / rows[0][3][1]:.2f}")


def summary_of(out):
    with open(os.path.join(out, "summary.json")) as f:
        return json.load(f)


def part_b(simfuse, tmp, t_end):
    case = os.path.join(ROOT, "cases", "cavity_re1000_ai.yaml")
    model = '{project: {type: warm_start, model: models/ns_project.card.yaml}}'
    cnn = '{project: {type: warm_start, model: models/ns_project_cnn.card.yaml}}'
    print(f"\n### B. Warm start of the projection (cavity Re 1000 spin-up, 129^2, t = 0 .. {t_end})\n")
    print("| solver | guess | iterations / call | project s | inference s | iterations / previous | "
          "(inference + solve) / previous solve |")
    print("|---|---|---|---|---|---|---|")
    for pc in ("jacobi", "icc", "mg"):
        base = None
        for label, coupling, guess in (("previous pressure", "{}", "previous"),
                                       ("linear extrapolation 2p^n - p^(n-1)", "{}", "extrapolate"),
                                       ("quadratic extrapolation 3p^n - 3p^(n-1) + p^(n-2)", "{}", "extrapolate2"),
                                       ("pointwise model (warm_start)", model, "previous"),
                                       ("stencil CNN (warm_start)", cnn, "previous")):
            out = os.path.join(tmp, f"ws_{pc}_{guess}_{abs(hash(coupling))}")
            run([simfuse, "run", case, "-q", "-o", out, "--set", f"time.t_end={t_end}", "--set",
                 f"coupling={coupling}", "--set", f"solver.params.projection.guess={guess}", "--set", "output.vtk=false",
                 "--", "-project_pc_type", pc])
            p = summary_of(out)["substeps"][2]
            its, secs, inf = p["iterations_per_call"], p["seconds"], p.get("inference_seconds", 0.0)
            if base is None:
                base = (its, secs)
            print(f"| cg + {pc} | {label} | {its:.1f} | {secs:.3f} | {inf:.3f} | {its / base[0]:.2f} | "
                  f"{secs / base[1]:.2f} |")


def part_c(simfuse, tmp, t_end):
    case = os.path.join(ROOT, "cases", "cavity_re1000_ai.yaml")
    print(f"\n### C. Hybrids against the all-classical twin (`simfuse compare`, cavity Re 1000, t = 0 .. {t_end})\n")
    print("| policy on project | wall time / classical | project time / classical | velocity rel. L2 error "
          "| max divergence | model accepted |")
    print("|---|---|---|---|---|---|")
    for label, coupling in (("every_n n=2", "{project: {type: every_n, n: 2, model: models/ns_project.card.yaml}}"),
                            ("every_n n=4", "{project: {type: every_n, n: 4, model: models/ns_project.card.yaml}}"),
                            ("guarded (check_rtol 1e-3)",
                             "{project: {type: guarded, model: models/ns_project.card.yaml}}")):
        out = os.path.join(tmp, "hy" + str(abs(hash(label))))
        try:
            run([simfuse, "compare", case, "-o", out, "--set", f"time.t_end={t_end}", "--set",
                 f"coupling={coupling}", "--set", "output.vtk=false"])
        except RuntimeError as e:
            why = [line for line in str(e).splitlines() if line.startswith("error:")]
            print(f"| {label} | failed: {why[0][7:] if why else 'see the log'} | | | | |")
            continue
        s = summary_of(out)
        c = s["compare"]
        err = c["final"]["velocity_u"]["rel_l2"], c["final"]["velocity_v"]["rel_l2"]
        p = s["substeps"][2]
        print(f"| {label} | {c['wall_time_ratio']['all_substeps']:.2f} | {c['wall_time_ratio']['project']:.2f} | "
              f"{max(err):.2e} | {s['metrics']['max_divergence']:.1e} | {p.get('accepted_fraction', 0):.2f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--quick", action="store_true", help="256^2 only in A, shorter runs in B and C")
    ap.add_argument("--parts", default="abc")
    a = ap.parse_args()
    simfuse = os.path.join(a.build, "bin", "simfuse")
    tmp = tempfile.mkdtemp(prefix="simfuse_projection_bench_")
    try:
        if "a" in a.parts:
            part_a(simfuse, build_ex50(a.build), tmp, [257] if a.quick else [257, 1025], 1 if a.quick else 3)
        if "b" in a.parts:
            part_b(simfuse, tmp, 0.1 if a.quick else 0.5)
        if "c" in a.parts:
            part_c(simfuse, tmp, 0.1 if a.quick else 1.0)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
