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
    does not blow up across the rank boundary): max CFL below 0.5;
  - an inflow through y_lo (the same case turned: x periodic, a Gaussian jet of 2.8 m/s
    peak into a stoichiometric H2-air front, outflow y_hi, 32 x 64, 60 steps, 2 ranks):
    the run completes, mass fractions bounded as above, and the jet pushes the front
    downstream where it is fastest: the front (T = 1300 K) on the jet's axis is at least
    two cells farther from the inflow than at the domain's side;
  - the flame-vortex case (cases/flame_vortex_h2.yaml at h = 100 um, 72 x 40, the pair
    started 1 mm from the front, 100 steps): 1 and 2 ranks agree as above; the pair pushes
    the front downstream on its axis by at least two cells more than at the side, and the
    front length grows above 1.01, while the same run without the pair keeps its front
    straight (length ratio 1 within 1e-6: the grid is uniform across, so only round-off
    could wrinkle it); scripts/plot_flame.py and plot_frames.py draw its figures from the
    1- and the 2-rank output (.vti and .pvti), and refuse a folder without a run (exit 2).
Usage: check_flame2d.py SIMFUSE SOURCE_DIR [--mpiexec MPIEXEC]
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from case_tools import bounded, compare_ranks, point_field, run_case, verdict  # noqa: E402

SETS = ["grid.n=[64,32]", "time.t_end=1.0e-4", "output.every=20"]
KEYS = ["flame_speed_consumption", "front_length_ratio", "kinetic_energy", "max_temperature"]


def run(exe, src, tmp, ranks, mpiexec, case="flame2d_h2_lean.yaml", sets=SETS, name=""):
    """A case of cases/ (or an absolute path) into tmp/r<ranks><name>; its metrics."""
    out = os.path.join(tmp, f"r{ranks}{name}")
    return run_case(exe, os.path.join(src, "cases", case), out, sets, ranks, mpiexec)["metrics"]


JET = """name: jet
grid: {n: [32, 64], centering: cell, periodic: [true, false], upper: [1.6e-3, 3.2e-3]}
solver:
  type: navier_stokes
  params:
    inflow: {face: y_lo, velocity: "2.5*exp(-((x - 0.8e-3)/0.3e-3)^2) + 0.3"}
    outflow: y_hi
    reacting:
      kinetics: {file: MECH, phase: ohmech}
      fuel: H2
      initial:
        temperature: "300 + 2000*s"
        mole_fractions: {H2: "0.2958*(1 - s)", O2: "0.1479*(1 - s)", N2: "0.5563 + 0.0968*s", H2O: "0.3469*s"}
        normalize: true
time: {dt: 5.0e-7, steps: 60}
output: {every: 60}
"""


def jet(exe, src, tmp, mpiexec):
    import numpy as np
    s = "0.5*(1 + tanh((y - 1.6e-3)/1.5e-4))"
    case = os.path.join(tmp, "jet.yaml")
    with open(case, "w") as f:
        f.write(JET.replace("MECH", os.path.join(src, "cases", "mechanisms", "h2o2.yaml"))
                .replace("*s\"", f"*{s}\"").replace("(1 - s)", f"(1 - {s})"))
    m = run(exe, src, tmp, 2, mpiexec, case, [], "jet")  # an absolute case path stays as it is
    gas = point_field(os.path.join(tmp, "r2jet", "jet_000060.pvti"), "T")  # [j, i]

    def front(col):  # the first y where T crosses 1300 K
        return int(np.argmax(gas[:, col] > 1300))
    axis, side = front(16), front(0)
    print(f"jet (y_lo inflow, 2 ranks): front at cell {axis} on the axis, {side} at the side; "
          f"max |sum Y - 1| {m['mass_fraction_sum_error']:.1e}, min Y {m['min_mass_fraction']:.1e}")
    p = []
    if not axis >= side + 2:
        p.append(f"jet: the front on the axis (cell {axis}) is not pushed downstream of the side's ({side})")
    if not bounded(m):
        p.append("jet: mass fractions not bounded")
    return p


VORTEX = ["grid.n=[72,40]", "parameters.xv=3.0e-3", "time.dt=4.0e-6", "time.t_end=4.0e-4", "output.every=100"]


def front_rows(path, field="T"):
    """The front (T = (T_u + T_b)/2 of the row) per row j, in cells from the inflow."""
    import numpy as np
    out = []
    for row in point_field(path, field):
        mid = 0.5 * (row[0] + row[-1])
        k = int(np.argmax(row > mid))
        out.append(k - 1 + (mid - row[k - 1]) / (row[k] - row[k - 1]))
    return out


def vortex(exe, src, tmp, mpiexec):
    m = {r: run(exe, src, tmp, r, mpiexec, "flame_vortex_h2.yaml", VORTEX, "vortex") for r in (1, 2)}
    p = compare_ranks(m, KEYS, "vortex ")
    f = front_rows(os.path.join(tmp, "r1vortex", "flame_vortex_h2_000100.vti"))
    axis, side = f[20], f[0]
    calm = run(exe, src, tmp, 1, mpiexec, "flame_vortex_h2.yaml", VORTEX + ["solver.params.initial_streamfunction=0"],
               "calm")
    print(f"vortex: front at cell {axis:.2f} on the pair's axis, {side:.2f} at the side; front length ratio "
          f"{m[1]['front_length_ratio']:.4f} (without the pair {calm['front_length_ratio']:.8f}); "
          f"max |sum Y - 1| {m[1]['mass_fraction_sum_error']:.1e}, min Y {m[1]['min_mass_fraction']:.1e}")
    if not axis >= side + 2:
        p.append(f"vortex: the front on the axis ({axis:.2f}) is not pushed two cells past the side's ({side:.2f})")
    if not m[1]["front_length_ratio"] > 1.01:
        p.append(f"vortex: the front did not grow: {m[1]['front_length_ratio']}")
    if not abs(calm["front_length_ratio"] - 1) <= 1e-6:
        p.append(f"without the pair the front is not straight: {calm['front_length_ratio']}")
    for r in (1, 2):
        if not bounded(m[r]):
            p.append(f"vortex, {r} rank(s): mass fractions not bounded")
    # The figures of the README's commands, from the serial and the parallel output; a folder
    # that is not a run's output is exit 2.
    scripts = os.path.join(src, "scripts")
    for r in (1, 2):
        out = os.path.join(tmp, f"r{r}vortex")
        for cmd, png in (([sys.executable, os.path.join(scripts, "plot_flame.py"), out, "--SL", "0.43"], "flame.png"),
                         ([sys.executable, os.path.join(scripts, "plot_frames.py"), out, "--fields",
                           "T,vorticity,velocity", "--frames", "2"], "frames.png")):
            q = subprocess.run(cmd, capture_output=True, text=True)
            if q.returncode != 0 or not os.path.getsize(os.path.join(out, png)) > 10000:
                p.append(f"{' '.join(cmd[1:])}: exit {q.returncode}, {q.stderr[-300:]}")
    q = subprocess.run([sys.executable, os.path.join(scripts, "plot_frames.py"), tmp], capture_output=True, text=True)
    if q.returncode != 2 or "holds no .pvd" not in q.stderr:
        p.append(f"plot_frames.py on a folder without a run: exit {q.returncode}, {q.stderr[-200:]}")
    print("plot_flame.py and plot_frames.py: figures from 1 and 2 ranks; a wrong folder exit "
          f"{q.returncode}")
    return p


def main():
    exe, src = sys.argv[1], sys.argv[2]
    mpiexec = sys.argv[sys.argv.index("--mpiexec") + 1] if "--mpiexec" in sys.argv else "mpiexec"
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        m = {ranks: run(exe, src, tmp, ranks, mpiexec) for ranks in (1, 2)}
    problems += compare_ranks(m, KEYS)
    for ranks in (1, 2):
        s, ymin, cfl = m[ranks]["mass_fraction_sum_error"], m[ranks]["min_mass_fraction"], m[ranks]["cfl"]
        print(f"{ranks} rank(s): max |sum Y - 1| = {s:.2e}, min Y = {ymin:.2e}, CFL {cfl:.3f}, "
              f"front length ratio {m[ranks]['front_length_ratio']:.4f}")
        if not bounded(m[ranks]):
            problems.append(f"{ranks} rank(s): mass fractions: sum off by {s:.2e}, min {ymin:.2e}")
        if not m[ranks]["front_length_ratio"] > 1.005:
            problems.append(f"{ranks} rank(s): the front is not wrinkled: ratio {m[ranks]['front_length_ratio']}")
        if not cfl < 0.5:
            problems.append(f"{ranks} rank(s): CFL {cfl}")
    with tempfile.TemporaryDirectory() as tmp:
        problems += jet(exe, src, tmp, mpiexec)
    with tempfile.TemporaryDirectory() as tmp:
        problems += vortex(exe, src, tmp, mpiexec)
    return verdict(problems, "flame2d")


if __name__ == "__main__":
    sys.exit(main())
