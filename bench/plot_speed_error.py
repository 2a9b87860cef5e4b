#!/usr/bin/env python3
"""One speed-vs-error figure of the chemistry comparison (issue 26, item 7): a panel per
case, react wall time against the relative L2 error of T at the end (against CVODE at
rtol 1e-10 with the same dt and splitting), every classical method as a curve and every
model variant as a point, from the rows that run_chem_surrogate_bench.py --json wrote.

  plot_speed_error.py OUT.png ROWS.json [ROWS.json ...]

A method faster at equal error lies lower at the same abscissa. The figure is written to a
temporary file beside OUT.png and renamed.
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STYLE = {
    "cvode": dict(color="black", marker="o", label="CVODE (dense LAPACK)"),
    "cvode + step memory": dict(color="tab:gray", marker="s", label="CVODE + step memory"),
    "cvode klu": dict(color="tab:brown", marker="v", label="CVODE, KLU"),
    "isat": dict(color="tab:blue", marker="^", label="ISAT"),
}
MODEL_MARKERS = ["*", "P", "X", "h", "p"]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, files = sys.argv[1], sys.argv[2:]
    docs = []
    for f in files:
        with open(f) as fh:
            docs.append(json.load(fh))
    fig, axes = plt.subplots(1, len(docs), figsize=(5.2 * len(docs), 4.4), squeeze=False)
    for ax, doc in zip(axes[0], docs):
        groups = {}
        for r in doc["rows"]:
            groups.setdefault(r["group"], []).append(r)
        for g, rows in groups.items():
            if g == "model":
                continue
            rows = sorted(rows, key=lambda r: r["eT"])
            st = STYLE.get(g, dict(marker="o", label=g))
            ax.plot([r["eT"] for r in rows], [r["react"] for r in rows], "-", **st)
        for i, r in enumerate(groups.get("model", [])):
            ax.plot([r["eT"]], [r["react"]], linestyle="none", marker=MODEL_MARKERS[i % len(MODEL_MARKERS)],
                    markersize=11, color="tab:red", label=f"model: {r['label']}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("relative L2 error of T at the end")
        ax.set_ylabel("react wall time, s")
        ax.set_title(f"{os.path.basename(doc['case'])} ({doc['n']}x{doc['n']}, to {doc['t_end']} s)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Chemistry: speed against error, every classical method and the models (1 core)")
    fig.tight_layout()
    tmp = out + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, out)
    print(f"figure in {out}")


if __name__ == "__main__":
    main()
