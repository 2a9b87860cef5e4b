#!/usr/bin/env python3
"""simfuse Example 4: a dataset into PyTorch, a model back into simfuse as TorchScript.

Sample run (after example 3 made its dataset and plugin, in its work folder):
    /usr/bin/python3 train_torchscript.py data/react.pt torch_model
    simfuse compare allen_cahn.yaml --set 'coupling.react={type: guarded, model: torch_model/react.card.yaml}'

Description: simfuse datasets are plain dicts of tensors that the safe loader reads
(torch.load(..., weights_only=True), PyTorch's default from 2.6). This script trains a
small MLP in PyTorch on one, exports it with torch.jit.script, and writes the model card
that tells simfuse what the network computes (docs/models.md): the network sees inputs
normalised per channel, (x - input_mean) / input_std, as float32 [N, C_in], and returns
normalised outputs [N, C_out]; simfuse de-normalises them and, for predicts: increment,
adds them to the inputs. Any architecture TorchScript can hold works; an nn.Sequential of
Linear layers and activations runs through oneDNN.

Builds on: ex3 (the Allen-Cahn plugin and its training data).
"""
import argparse
import os
import sys

import torch


def channels(names):
    """simfuse channel names ("c.u" or "u") -> card entries [{field, components}]."""
    entries = []
    for n in names:
        field, comp = n.split(".", 1) if "." in n else (n, n)
        if entries and entries[-1]["field"] == field:
            entries[-1]["components"].append(comp)
        else:
            entries.append({"field": field, "components": [comp]})
    return "[" + ", ".join(f"{{field: {e['field']}, components: [{', '.join(e['components'])}]}}"
                           for e in entries) + "]"


def floats(t):
    return "[" + ", ".join(repr(float(v)) for v in t) + "]"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", help="a simfuse dataset (.pt) of a pointwise sub-step")
    ap.add_argument("out", help="folder for <substep>.pt (TorchScript) and <substep>.card.yaml")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=32)
    a = ap.parse_args()
    torch.manual_seed(1)

    d = torch.load(a.dataset, weights_only=True)  # tensors, lists, strings: nothing executable
    if d["kind"] != "pointwise":
        print(f"{a.dataset} holds a {d['kind']} dataset; this example trains pointwise models", file=sys.stderr)
        return 2
    if d["input_names"] != d["output_names"]:
        print("this example predicts the increment of its inputs: input and output channels must match",
              file=sys.stderr)
        return 2
    dts = torch.unique(d["dt"])
    if dts.numel() != 1:
        print(f"the dataset mixes time steps {dts.tolist()}: train one model per dt", file=sys.stderr)
        return 2
    x = d["inputs"].double()
    y = d["outputs"].double() - x  # the increment over one sub-step
    n = x.shape[0]
    perm = torch.randperm(n)
    val, train = perm[: n // 10], perm[n // 10:]
    in_mean, in_std = x[train].mean(0), x[train].std(0).clamp_min(1e-12)
    out_mean, out_std = y[train].mean(0), y[train].std(0).clamp_min(1e-12)
    xn = ((x - in_mean) / in_std).float()
    yn = ((y - out_mean) / out_std).float()

    c_in, c_out = x.shape[1], y.shape[1]
    net = torch.nn.Sequential(torch.nn.Linear(c_in, a.hidden), torch.nn.Tanh(), torch.nn.Linear(a.hidden, a.hidden),
                              torch.nn.Tanh(), torch.nn.Linear(a.hidden, c_out))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    steps = a.epochs * (len(train) // 1024)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=1e-5)
    for epoch in range(a.epochs):
        order = train[torch.randperm(len(train))]
        for b in range(0, len(order) - 1023, 1024):
            idx = order[b:b + 1024]
            loss = torch.nn.functional.mse_loss(net(xn[idx]), yn[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        with torch.no_grad():
            err = (net(xn[val]).double() * out_std + out_mean - y[val]).abs()
        print(f"epoch {epoch + 1}: training loss {loss.item():.3e}, validation max |error| {err.max().item():.3e}")

    os.makedirs(a.out, exist_ok=True)
    name = d["substep"]
    torch.jit.script(net.eval()).save(os.path.join(a.out, name + ".pt"))
    with torch.no_grad():
        err = (net(xn[val]).double() * out_std + out_mean - y[val]).abs()
    card = f"""# Written by examples/ex4_pytorch/train_torchscript.py from {os.path.basename(a.dataset)} (PyTorch {torch.__version__})
name: {name}_torchscript
kind: pointwise
format: torchscript
weights: {name}.pt
dtype: float32
substep: {name}
inputs: {channels(d['input_names'])}
outputs: {channels(d['output_names'])}
conditions: {{dt: {float(dts[0])!r}}}
predicts: increment
normalisation: {{input_mean: {floats(in_mean)}, input_std: {floats(in_std)}, output_mean: {floats(out_mean)}, output_std: {floats(out_std)}}}
training_ranges: {{min: {floats(x.min(0).values)}, max: {floats(x.max(0).values)}}}
validation: {{metric: max_abs, value: {err.max().item()!r}, samples: {len(val)}}}
provenance: {{tool: examples/ex4_pytorch/train_torchscript.py, dataset: {a.dataset}, torch: '{torch.__version__}'}}
"""
    with open(os.path.join(a.out, name + ".card.yaml"), "w") as f:
        f.write(card)
    print(f"wrote {a.out}/{name}.pt (TorchScript) and {a.out}/{name}.card.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
