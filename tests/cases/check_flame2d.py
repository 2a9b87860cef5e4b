#!/usr/bin/env python3
"""The 2D low-Mach flame (issue 27): cases/flame2d_h2_lean.yaml shrunk to 64 x 32 cells and
20 steps (0.1 ms), on 1 and on 2 ranks (split across the channel, so the wrinkled front,
the projection and the marching-squares front length all cross a rank boundary). Checked:
  - the flow and the flame are the same on 1 and 2 ranks: consumption speed, front length
    ratio, kinetic energy, hottest cell to 1e-8 relative (only the order of the parallel
    sums in the KSPs differs; measured 1e-10);
  - sum_k Y_k = 1 to 1e-12 and no mass fraction below -1e-12 (CVODE's atol) at the end;
  - the initial wrinkle is there: front length ratio above 1.005 (a straight front is 1; the
    sine of amplitude 0.15 mm over 3.2 mm gives 1.02);
  - the projection keeps the outflow's pressure and the run's CFL number finite (the flow
    does not blow up across the rank boundary): max CFL below 0.5.
Usage: check_flame2d.py SIMFUSE SOURCE_DIR [--mpiexec MPIEXEC]
"""
import json
import os
import subprocess
import sys
import tempfile

SETS = ["grid.n=[64,32]", "time.t_end=1.0e-4", "output.every=20"]
KEYS = ["flame_speed_consumption", "front_length_ratio", "kinetic_energy", "max_temperature"]


def run(exe, src, tmp, ranks, mpiexec):
    out = os.path.join(tmp, f"r{ranks}")
    cmd = [exe, "run", os.path.join(src, "cases", "flame2d_h2_lean.yaml"), "-o", out, "-q", "--no-progress"]
    for s in SETS:
        cmd += ["--set", s]
    if ranks > 1:
        cmd = [mpiexec, "-n", str(ranks), "--oversubscribe"] + cmd
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OPENBLAS_NUM_THREADS="1")
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)}: exit {r.returncode}\n{r.stderr[-3000:]}")
    return json.load(open(os.path.join(out, "summary.json")))["metrics"]


def main():
    exe, src = sys.argv[1], sys.argv[2]
    mpiexec = sys.argv[sys.argv.index("--mpiexec") + 1] if "--mpiexec" in sys.argv else "mpiexec"
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        m = {ranks: run(exe, src, tmp, ranks, mpiexec) for ranks in (1, 2)}
    for k in KEYS:
        d = abs(m[2][k] / m[1][k] - 1)
        print(f"{k}: {m[1][k]:.10g} (1 rank), {m[2][k]:.10g} (2 ranks), relative difference {d:.2e}")
        if not d <= 1e-8:
            problems.append(f"{k} differs by {d:.2e} between 1 and 2 ranks")
    for ranks in (1, 2):
        s, ymin, cfl = m[ranks]["mass_fraction_sum_error"], m[ranks]["min_mass_fraction"], m[ranks]["cfl"]
        print(f"{ranks} rank(s): max |sum Y - 1| = {s:.2e}, min Y = {ymin:.2e}, CFL {cfl:.3f}, "
              f"front length ratio {m[ranks]['front_length_ratio']:.4f}")
        if not s <= 1e-12 or not ymin >= -1e-12:
            problems.append(f"{ranks} rank(s): mass fractions: sum off by {s:.2e}, min {ymin:.2e}")
        if not m[ranks]["front_length_ratio"] > 1.005:
            problems.append(f"{ranks} rank(s): the front is not wrinkled: ratio {m[ranks]['front_length_ratio']}")
        if not cfl < 0.5:
            problems.append(f"{ranks} rank(s): CFL {cfl}")
    if problems:
        print("FAIL:\n  " + "\n  ".join(problems))
        return 1
    print("flame2d check: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
