#!/usr/bin/python3
"""The regime of a chemistry dataset: the per-sample temperature and local equivalence ratio
of its inputs (the coordinates a card's `regime:` states and the guard checks).

  /usr/bin/python3 bench/dataset_regime.py DATASET.pt MECHANISM.yaml

phi = (2 n_C + n_H / 2) / n_O of the element composition (simfuse's RegimeAware definition,
ChemistryStep::regime_point) of the first input field's channels (gas; a forced model's
dataset also has the transported state's). Prints min, the 0.1% and 99.9% quantiles and max
of each, over all samples and over those above 1000 K (the burning ones).
"""
import sys

import numpy as np
import torch
import yaml


def main():
    data, mech = sys.argv[1], sys.argv[2]
    manifest = yaml.safe_load(open(data[:-3] + ".yaml"))
    fields = [n.split(".", 1) for n in manifest["inputs"]["names"]]
    first = [c for f, c in fields if f == fields[0][0]]
    names = first
    x = torch.load(data)["inputs"].double().numpy()[:, : len(first)]
    # BaseLoader: every scalar a string (safe_load reads the species NO as false)
    species = {s["name"]: s for s in yaml.load(open(mech), Loader=yaml.BaseLoader)["species"]}
    weights = {"H": 1.008, "O": 15.999, "C": 12.011, "N": 14.007, "Ar": 39.95, "He": 4.0026}
    nC = np.zeros(len(x)); nH = np.zeros(len(x)); nO = np.zeros(len(x))
    for c, name in enumerate(names):
        if name == "T":
            continue
        comp = species[name]["composition"]
        comp = {e: float(k) for e, k in comp.items()}
        w = sum(weights[e] * k for e, k in comp.items())
        moles = x[:, c] / w
        nC += comp.get("C", 0) * moles
        nH += comp.get("H", 0) * moles
        nO += comp.get("O", 0) * moles
    phi = (2 * nC + nH / 2) / nO
    T = x[:, names.index("T")]
    for label, sel in (("all", np.ones(len(x), bool)), ("T > 1000 K", T > 1000)):
        print(f"{label} ({sel.sum()} samples):")
        for what, v in (("temperature", T[sel]), ("equivalence_ratio", phi[sel])):
            q = np.quantile(v, [0, 0.001, 0.999, 1])
            print(f"  {what}: min {q[0]:.4g}, 0.1% {q[1]:.4g}, 99.9% {q[2]:.4g}, max {q[3]:.4g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
