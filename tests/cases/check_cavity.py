#!/usr/bin/env python3
"""Compares the centreline profiles of a lid-driven cavity run with Ghia, Ghia & Shin (1982).

    python3 tests/cases/check_cavity.py OUT_DIR --re 100 [--tol 0.02]

Reads OUT_DIR/centerline_u.csv and centerline_v.csv (written by the navier_stokes solver),
interpolates them linearly to Ghia's points (adding the wall values: u = 0 at y = 0, u = lid
at y = 1, v = 0 at x = 0 and 1), prints a table and the largest deviation, and exits 1 when
it exceeds --tol (in units of the lid velocity), 2 on unreadable input.
"""
import argparse
import csv
import json
import os
import sys

# Reported but not counted: Ghia's Re 400 v at x = 0.9063 (-0.23827) is inconsistent with its
# neighbours (-0.22847 at x = 0.9453, -0.44993 at x = 0.8594) on a profile that is monotone
# there; we read it as a misprint. simfuse gives -0.3875 at 129^2 (docs/verification.md).
EXCLUDED = {(400, "v", 0.9063)}

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "..", "..", "cases", "reference")


def read_csv(path):
    with open(path) as f:
        rows = [r for r in csv.reader(line for line in f if not line.startswith("#"))]
    header, data = rows[0], rows[1:]
    return header, [[float(x) for x in r] for r in data]


def interp(xs, ys, x):
    for k in range(len(xs) - 1):
        if xs[k] <= x <= xs[k + 1]:
            w = (x - xs[k]) / (xs[k + 1] - xs[k])
            return (1 - w) * ys[k] + w * ys[k + 1]
    raise ValueError(f"{x} outside [{xs[0]}, {xs[-1]}]")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--re", type=int, choices=[100, 400, 1000], required=True)
    ap.add_argument("--tol", type=float, default=0.02)
    ap.add_argument("--lid", type=float, default=1.0)
    ap.add_argument("--json", help="write the deviations here")
    a = ap.parse_args()
    col = f"re{a.re}"
    try:
        result = {}
        worst = 0.0
        for comp, axis, wall_lo, wall_hi in (("u", "y", 0.0, a.lid), ("v", "x", 0.0, 0.0)):
            _, sim = read_csv(os.path.join(a.out, f"centerline_{comp}.csv"))
            xs = [0.0] + [r[0] for r in sim] + [1.0]
            ys = [wall_lo] + [r[1] for r in sim] + [wall_hi]
            header, ref = read_csv(os.path.join(REF, f"ghia1982_{comp}.csv"))
            k = header.index(col)
            print(f"{comp} along the centreline, Re {a.re}:   {axis}     Ghia      simfuse   diff")
            devs = []
            for r in ref:
                s = interp(xs, ys, r[0])
                skip = (a.re, comp, r[0]) in EXCLUDED
                if not skip:
                    devs.append(abs(s - r[k]))
                note = "  (not counted: see EXCLUDED)" if skip else ""
                print(f"                                {r[0]:.4f}  {r[k]:+.5f}  {s:+.5f}  {s - r[k]:+.5f}{note}")
            result[comp] = {"max_abs_deviation": max(devs), "points": len(devs)}
            worst = max(worst, max(devs))
    except (OSError, ValueError, IndexError) as e:
        print(f"check_cavity: cannot compare: {e}", file=sys.stderr)
        return 2
    print(f"largest deviation from Ghia et al. (1982): {worst:.4f} (tolerance {a.tol})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0 if worst <= a.tol else 1


if __name__ == "__main__":
    sys.exit(main())
