#!/usr/bin/env python3
"""The growth rate of a single-wavelength wrinkle on the lean hydrogen flame (issue 27), at
two resolutions: cases/flame2d_h2_lean.yaml in a strip one wavelength wide (W = 3.2 mm,
periodic across, 4 mm long, the front held at 1.5 mm by the inflow control), started with a
wrinkle of amplitude 0.05 mm (k A = 0.1: linear), run for 1.3 ms at dt = 5e-6 s, at
h = 100 um (40 x 32, 1 rank) and h = 50 um (80 x 64, 2 ranks split across the strip).
The amplitude is flame.csv's front_amplitude (half the peak-to-peak of the T = (T_u + T_b)/2
front across the strip); its growth rate omega is the least-squares slope of ln(amplitude)
over 0.6-1.3 ms (before 0.6 ms the tanh start relaxes into a flame). Checked:
  - the wrinkle grows (omega > 0: phi = 0.5 hydrogen at this wavelength is unstable, by
    thermal expansion and differential diffusion together), exponentially: the fit's
    residual below 2% of the amplitude (a linear mode), and still linear at the end
    (k A < 1);
  - the growth rate is resolved: omega at h = 50 um within 3% of h = 100 um. Measured
    1324 and 1331 1/s (0.5%; docs/verification.md); 3% is six times that and far below
    what the physics moves it by (next);
  - differential diffusion drives it: the same run (h = 100 um) with unity Lewis numbers
    grows at most a third as fast (measured 215 1/s, a sixth: H2 diffusing ahead of heat
    into the front's bulges is the thermodiffusive instability).
Printed for the record, not checked: omega against the Darrieus-Landau rate with the run's
density ratio and consumption speed (measured 0.94 of it). The base flame is still relaxing
at 1 ms (its consumption speed is ~0.58 m/s, Cantera's S_L 0.43), so omega is this flame's,
not yet the published dispersion relation's (that needs a converged planar flame to start
from).
Usage: check_wrinkle_growth.py SIMFUSE SOURCE_DIR [--mpiexec MPIEXEC]
"""
import math
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from case_tools import flame_rows, in_pairs, point_field, run_case, verdict  # noqa: E402

W = 3.2e-3
STRIP = ["grid.upper=[4.0e-3,3.2e-3]", "parameters.A=5.0e-5", "parameters.x0=1.5e-3",
         "solver.params.reacting.hold_front.position=1.5e-3", "time.t_end=1.3e-3", "output.every=100000"]
WINDOW = (0.6e-3, 1.3e-3 + 1e-9)


def growth(exe, src, tmp, n, ranks, mpiexec, extra=(), name=""):
    out = os.path.join(tmp, f"n{n}{name.replace(' ', '_')}")
    s = run_case(exe, os.path.join(src, "cases", "flame2d_h2_lean.yaml"), out,
                 STRIP + [f"grid.n=[{n},{n * 4 // 5}]"] + list(extra), ranks, mpiexec)
    rows = [r for r in flame_rows(out) if WINDOW[0] <= r["t"] <= WINDOW[1]]
    t = np.array([r["t"] for r in rows])
    a = np.array([r["front_amplitude"] for r in rows])
    slope, icept = np.polyfit(t, np.log(a), 1)
    resid = float(np.max(np.abs(np.log(a) - (slope * t + icept))))
    # The Darrieus-Landau rate, omega = S k / (s + 1) (sqrt(s^3 + s^2 - s) - s), with the
    # run's density ratio s (inflow column over outflow column) and mean inflow speed S.
    ext = ".pvti" if ranks > 1 else ".vti"
    rho = point_field(os.path.join(out, f"flame2d_h2_lean_{round(1.3e-3 / 5e-6):06d}{ext}"), "density")
    sig = float(rho[:, 0].mean() / rho[:, -1].mean())
    S, k = s["metrics"]["flame_speed_consumption"], 2 * math.pi / W
    dl = S * k / (sig + 1) * (math.sqrt(sig**3 + sig**2 - sig) - sig)
    print(f"{name or 'mixture-averaged'}, h = {4.0e-3 / n * 1e6:.0f} um ({ranks} rank(s)): amplitude {a[0] * 1e3:.4f} -> {a[-1] * 1e3:.4f} mm, "
          f"omega = {slope:.1f} 1/s (log residual {resid:.4f}); density ratio {sig:.3f}, consumption speed "
          f"{S:.3f} m/s, Darrieus-Landau {dl:.1f} 1/s, omega/DL = {slope / dl:.3f}")
    return slope, resid, float(a[-1])


def main():
    exe, src = sys.argv[1], sys.argv[2]
    mpiexec = sys.argv[sys.argv.index("--mpiexec") + 1] if "--mpiexec" in sys.argv else "mpiexec"
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        # The two 1-rank runs side by side (the test holds two processors), then the 2-rank one.
        r40, ule = in_pairs(lambda: growth(exe, src, tmp, 40, 1, mpiexec),
                            lambda: growth(exe, src, tmp, 40, 1, mpiexec,
                                           ["solver.params.reacting.transport=unity_lewis"], "unity Lewis")[0])
        r = {40: r40, 80: growth(exe, src, tmp, 80, 2, mpiexec)}
    for n, (om, resid, a_end) in r.items():
        if not om > 0:
            problems.append(f"h = {4.0e-3 / n * 1e6:.0f} um: the wrinkle does not grow (omega {om:.1f} 1/s)")
        if not resid < 0.02:
            problems.append(f"h = {4.0e-3 / n * 1e6:.0f} um: ln(amplitude) departs from a line by {resid:.4f}")
        if not 2 * math.pi / W * a_end < 1:
            problems.append(f"h = {4.0e-3 / n * 1e6:.0f} um: k A = {2 * math.pi / W * a_end:.2f} at the end: not linear")
    d = abs(r[80][0] / r[40][0] - 1)
    print(f"growth rate: {r[40][0]:.1f} 1/s (h = 100 um), {r[80][0]:.1f} 1/s (h = 50 um): relative difference {d:.4f}")
    if not d < 0.03:
        problems.append(f"the growth rate changes by {d:.3f} from h = 100 to 50 um (bound 0.03)")
    print(f"unity Lewis: {ule:.1f} 1/s, {ule / r[40][0]:.3f} of the mixture-averaged rate")
    if not ule < r[40][0] / 3:
        problems.append(f"with unity Lewis numbers the wrinkle grows at {ule:.1f} 1/s, not below a third of {r[40][0]:.1f}")
    return verdict(problems, "wrinkle growth")


if __name__ == "__main__":
    sys.exit(main())
