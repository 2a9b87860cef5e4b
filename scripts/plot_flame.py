#!/usr/bin/env python3
"""What matters in a flame run of the low-Mach flow, from its flame.csv: the consumption
speed (and the front's speed, u_in - dx_f/dt, smoothed over 5% of the run) against time,
and the front's length per unit width (1 for a flat front; a wrinkled or cellular front
burns more fuel in proportion) with the wrinkle's amplitude on a log axis (its slope while
straight is the growth rate); for a closed domain the thermodynamic pressure p0(t) in place
of the speeds. Writes OUT/flame.png (temporary file, then renamed).

  /usr/bin/python3 scripts/plot_flame.py OUT [--SL 0.43] [--u-in 0.45]

--SL draws Cantera's 1D flame speed for comparison; --u-in is the inflow velocity (default:
flame.csv's per step, which also draws it: under hold_front it follows the flame).
"""
import argparse
import csv
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def fail(msg):
    """Bad input: the message on stderr, exit 2 (as simfuse's own refusals)."""
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--SL", type=float, help="a reference 1D flame speed, m/s")
    ap.add_argument("--u-in", type=float, help="the inflow velocity, m/s")
    a = ap.parse_args()
    path = os.path.join(a.out, "flame.csv")
    if not os.path.exists(path):
        fail(f"{path} does not exist: the folder is not the output of a reacting navier_stokes run")
    rows = list(csv.DictReader(open(path)))
    t = [float(r["t"]) * 1e3 for r in rows]
    sc = [float(r["consumption_speed"]) for r in rows]
    xf = [float(r["front_position"]) for r in rows]
    ratio = [float(r["front_length_ratio"]) for r in rows] if "front_length_ratio" in rows[0] else None
    u_in = [a.u_in] * len(rows) if a.u_in is not None else None
    if u_in is None and "inflow_velocity" in rows[0]:
        u_in = [float(r["inflow_velocity"]) for r in rows]
    if u_in is None:
        try:
            u = float(json.load(open(os.path.join(a.out, "summary.json")))["solver"]["inflow_velocity"])
            u_in = [u] * len(rows)
        except (KeyError, TypeError, ValueError, OSError):
            u_in = None
    fig, ax = plt.subplots(1, 2 if ratio else 1, figsize=(11 if ratio else 6, 4), squeeze=False)
    ax0 = ax[0][0]
    p0 = [float(r["thermodynamic_pressure"]) for r in rows] if "thermodynamic_pressure" in rows[0] else None
    if p0 and all(v != v for v in sc):
        # A closed domain: no planar front or consumption speed; its pressure rise instead.
        ax0.plot(t, [v / 1e5 for v in p0])
        ax0.set_xlabel("t (ms)")
        ax0.set_ylabel("bar")
        ax0.set_title("thermodynamic pressure p0(t) (closed domain)")
        return finish(fig, ax, a, t, ratio, rows)
    ax0.plot(t, sc, label="consumption speed")
    if u_in is not None and len(t) > 20:
        w = max(1, len(t) // 20)
        tf, sf = [], []
        for q in range(w, len(t)):
            if xf[q] == xf[q] and xf[q - w] == xf[q - w]:  # not NaN
                tf.append(t[q])
                u = sum(u_in[q - w:q]) / w
                sf.append(u - (xf[q] - xf[q - w]) / ((t[q] - t[q - w]) * 1e-3))
        ax0.plot(tf, sf, label="front: u_in - dx_f/dt", alpha=0.7)
        if max(u_in) > min(u_in):
            ax0.plot(t, u_in, label="inflow velocity (controlled)", lw=0.8)
    if a.SL:
        ax0.axhline(a.SL, color="k", ls="--", lw=0.8, label=f"Cantera 1D S_L = {a.SL:g}")
    ax0.set_xlabel("t (ms)")
    ax0.set_ylabel("m/s")
    ax0.legend()
    ax0.set_title("flame speed")
    return finish(fig, ax, a, t, ratio, rows)


def finish(fig, ax, a, t, ratio, rows):
    """The front's length (and amplitude) panel, then the figure written."""
    if ratio:
        ax1 = ax[0][1]
        ax1.plot(t, ratio)
        ax1.set_xlabel("t (ms)")
        ax1.set_ylabel("front length / width")
        ax1.set_title("flame surface (T = (T_u + T_b)/2)")
        amp = [float(r["front_amplitude"]) * 1e3 for r in rows] if "front_amplitude" in rows[0] else None
        if amp and max((v for v in amp if v == v), default=0) > 0:
            # the wrinkle's amplitude on a log axis: a straight line while it grows linearly
            ax2 = ax1.twinx()
            ax2.semilogy(t, amp, color="C1", lw=0.9)
            ax2.set_ylabel("front amplitude, mm (log)", color="C1")
    fig.tight_layout()
    tmp = os.path.join(a.out, "flame.png.tmp.png")
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, os.path.join(a.out, "flame.png"))
    print(os.path.join(a.out, "flame.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
