#!/usr/bin/env python3
"""A row of snapshots of one or more fields from a run's .pvd (serial .vti or parallel
.pvti), without ParaView: one column per frame, one row per field, each field on one colour
scale across the frames. Writes OUT/frames.png (or --out; a temporary file, then renamed).

  /usr/bin/python3 scripts/plot_frames.py OUT [--fields T,vorticity] [--frames 4 | --steps 250,500]
      [--out FILE]

A field is a point array of the files (a component of `gas` is its own array: T, H2, OH...;
`velocity` is drawn as its magnitude). --frames picks that many frames evenly from the .pvd
(the first one included); --steps names them by step number.
"""
import argparse
import glob
import os
import re
import sys
import xml.etree.ElementTree as ET

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

CMAPS = {"T": "inferno", "heat_release": "viridis", "vorticity": "coolwarm", "velocity": "magma"}


def fail(msg):
    """Bad input: the message on stderr, exit 2 (as simfuse's own refusals)."""
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(2)


def read(path, name):
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkIOXML import vtkXMLImageDataReader, vtkXMLPImageDataReader
    r = vtkXMLPImageDataReader() if path.endswith(".pvti") else vtkXMLImageDataReader()
    r.SetFileName(path)
    r.Update()
    img = r.GetOutput()
    arr = img.GetPointData().GetArray(name)
    if arr is None:
        names = [img.GetPointData().GetArrayName(i) for i in range(img.GetPointData().GetNumberOfArrays())]
        fail(f"{path} has no field '{name}'; it has: {', '.join(names)}")
    nx, ny, _ = img.GetDimensions()
    a = vtk_to_numpy(arr)
    if a.ndim > 1:
        a = np.linalg.norm(a, axis=1)
    x0, y0, _ = img.GetOrigin()
    hx, hy, _ = img.GetSpacing()
    return a.reshape(ny, nx), (x0, x0 + (nx - 1) * hx, y0, y0 + (ny - 1) * hy)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--fields", default="T")
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--steps", default="")
    ap.add_argument("--out", dest="file", default="")
    a = ap.parse_args()
    pvd = sorted(glob.glob(os.path.join(a.out, "*.pvd")))
    if not pvd:
        fail(f"{a.out} holds no .pvd: not the output folder of a run")
    frames = []  # (step, time, file)
    for ds in ET.parse(pvd[0]).getroot().iter("DataSet"):
        f = ds.get("file")
        m = re.search(r"_(\d+)\.p?vti$", f)
        frames.append((int(m.group(1)) if m else len(frames), float(ds.get("timestep")), os.path.join(a.out, f)))
    if a.steps:
        want = [int(s) for s in a.steps.split(",")]
        chosen = [fr for fr in frames if fr[0] in want]
        missing = sorted(set(want) - {fr[0] for fr in chosen})
        if missing:
            fail(f"no frame at step(s) {missing}; the .pvd has steps {[fr[0] for fr in frames]}")
    else:
        k = max(1, min(a.frames, len(frames)))
        chosen = [frames[round(q * (len(frames) - 1) / max(1, k - 1))] for q in range(k)]
    fields = a.fields.split(",")
    data = {(f, fr[0]): read(fr[2], f) for f in fields for fr in chosen}
    ny, nx = data[(fields[0], chosen[0][0])][0].shape
    w = 2.6
    fig, axs = plt.subplots(len(fields), len(chosen), figsize=(w * len(chosen) + 1.0, len(fields) * (w * ny / nx + 0.7)),
                            squeeze=False, constrained_layout=True)
    for r, f in enumerate(fields):
        vals = np.concatenate([data[(f, fr[0])][0].ravel() for fr in chosen])
        if f == "vorticity":
            lim = np.percentile(np.abs(vals), 99.5)
            lo, hi = -lim, lim
        else:
            lo, hi = float(vals.min()), float(vals.max())
        for c, fr in enumerate(chosen):
            arr, ext = data[(f, fr[0])]
            ext_mm = [e * 1e3 for e in ext]
            im = axs[r][c].imshow(arr, origin="lower", extent=ext_mm, cmap=CMAPS.get(f, "viridis"), vmin=lo, vmax=hi)
            axs[r][c].set_title(f"{f}, t = {fr[1] * 1e3:.3g} ms", fontsize=9)
            axs[r][c].set_xlabel("x (mm)", fontsize=8)
            axs[r][c].tick_params(labelsize=7)
        fig.colorbar(im, ax=axs[r].tolist(), shrink=0.8)
    path = a.file or os.path.join(a.out, "frames.png")
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    os.replace(tmp, path)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
