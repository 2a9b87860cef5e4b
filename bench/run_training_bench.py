#!/usr/bin/env python3
"""The "for AI" side, measured in one script:
  C++ / Python epoch time   simfuse train vs the same loop in PyTorch (same MLP, data,
                            batch, Adam, validation each epoch), 1 thread   (goal <= 1.0)
  data-parallel speedup     simfuse train on 1 rank / on 2 ranks, same global batch (goal >= 1.6)
  generate throughput       samples/s of simfuse generate on 1 and on 2 ranks
Usage: /usr/bin/python3 bench/run_training_bench.py BUILD_DIR [--samples 200000] [--epochs 4]
           [--hidden 64,64] [--channels 2]
(--hidden 128,128,128 --channels 11 is the size of the shipped h2_react chemistry model.)
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import torch

SPEC = """dataset: data.pt
output: model
model:
  name: bench
  architecture: {{type: mlp, hidden: [{hidden}], activation: tanh}}
  predicts: increment
training: {{epochs: {epochs}, batch: {batch}, optimizer: adam, lr: 1.0e-3, validation_fraction: 0.1, seed: 1, threads: 1}}
checkpoint: {{every: 0}}
"""


def make_data(path, n, c):
    torch.manual_seed(0)
    x = torch.rand(n, c, dtype=torch.float64) + 0.1
    y = x + 0.05 * torch.sin(3 * x[:, :1]) * x.roll(1, 1)
    names = [f"c.u{i}" for i in range(c)]
    torch.save({"inputs": x, "outputs": y, "dt": torch.full((n,), 0.02, dtype=torch.float64),
                "step": torch.arange(n), "member": torch.zeros(n, dtype=torch.int64),
                "input_names": names, "output_names": names, "kind": "pointwise",
                "radius": 0, "substep": "react"}, path)


def python_epoch_seconds(path, epochs, batch, hidden):
    # The loop simfuse train runs, in PyTorch: normalise once, shuffle, mini-batches, Adam,
    # a validation pass after every epoch.
    torch.set_num_threads(1)
    torch.manual_seed(1)
    d = torch.load(path, weights_only=True)
    x, y = d["inputs"], d["outputs"] - d["inputs"]
    n = x.shape[0]
    order = torch.randperm(n)
    nval = int(round(0.1 * n))
    val, tr = order[:nval], order[nval:]
    xm, xs = x[tr].mean(0), x[tr].std(0, unbiased=False)
    ym, ys = y[tr].mean(0), y[tr].std(0, unbiased=False)
    xn, yn = ((x - xm) / xs).float().contiguous(), ((y - ym) / ys).float().contiguous()
    c = x.shape[1]
    layers, w = [], c
    for h in hidden:
        layers += [torch.nn.Linear(w, h), torch.nn.Tanh()]
        w = h
    model = torch.nn.Sequential(*layers, torch.nn.Linear(w, c))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = tr[torch.randperm(tr.shape[0])]
        for b in range(0, perm.shape[0], batch):
            idx = perm[b:b + batch]
            opt.zero_grad()
            loss = (model(xn[idx]) - yn[idx]).pow(2).sum() / (idx.shape[0] * c)
            loss.backward()
            opt.step()
        with torch.no_grad():
            (model(xn[val]) - yn[val]).pow(2).sum().item()
    return (time.perf_counter() - t0) / epochs


def simfuse_epoch_seconds(exe, spec, np_, mpiexec, env):
    cmd = [exe, "train", spec]
    if np_ > 1:
        cmd = [mpiexec, "-n", str(np_), "--oversubscribe"] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    m = re.search(r"([0-9.]+) s per epoch", out.stdout + out.stderr)
    split = re.search(r"training time on rank 0: (.*)", out.stdout + out.stderr)
    if split:
        print(f"  simfuse train on {np_} rank(s): {split.group(1)}")
    return float(m.group(1))


def generate_rate(exe, repo, tmp, np_, mpiexec, env):
    spec = os.path.join(tmp, f"gen{np_}.yaml")
    with open(spec, "w") as f:
        f.write(f"base: {repo}/cases/models/bz_react_member.yaml\noutput: gen{np_}\nmembers: 4\n"
                f"parameters:\n  parameters.xf: {{range: [0.3, 0.6]}}\n"
                f"set: [\"grid.n=[81,81]\", \"grid.upper=[20,20]\", \"parameters.L=20\", \"time.t_end=2\"]\n"
                f"capture: {{react: {{every: 2, points: 1000}}}}\n")
    cmd = [exe, "generate", spec]
    if np_ > 1:
        cmd = [mpiexec, "-n", str(np_), "--oversubscribe"] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    m = re.search(r"(\d+) samples in ([0-9.]+) s", out.stdout + out.stderr)
    return int(m.group(1)), float(m.group(2))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--samples", type=int, default=200000)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--mpiexec", default="mpirun")
    ap.add_argument("--hidden", default="64,64", help="hidden layer widths")
    ap.add_argument("--channels", type=int, default=2, help="input (= output) channels")
    ap.add_argument("--no-generate", action="store_true", help="skip the generate throughput")
    a = ap.parse_args()
    hidden = [int(h) for h in a.hidden.split(",")]
    exe = os.path.join(a.build, "bin", "simfuse")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data.pt")
        make_data(data, a.samples, a.channels)
        spec = os.path.join(tmp, "train.yaml")
        with open(spec, "w") as f:
            f.write(SPEC.format(epochs=a.epochs, batch=a.batch, hidden=", ".join(map(str, hidden))))
        cpp1 = simfuse_epoch_seconds(exe, spec, 1, a.mpiexec, env)
        py = python_epoch_seconds(data, a.epochs, a.batch, hidden)
        cpp2 = simfuse_epoch_seconds(exe, spec, 2, a.mpiexec, env)
        if not a.no_generate:
            g1 = generate_rate(exe, repo, tmp, 1, a.mpiexec, env)
            g2 = generate_rate(exe, repo, tmp, 2, a.mpiexec, env)
    arch = "-".join(map(str, [a.channels] + hidden + [a.channels]))
    print(f"MLP {arch} tanh, float32, {a.samples} samples (90% training), batch {a.batch}, Adam, "
          f"{a.epochs} epochs, 1 thread per rank\n")
    print("| measurement | result | goal |\n|---|---|---|")
    print(f"| epoch, simfuse train (C++), 1 rank | {cpp1:.2f} s | |")
    print(f"| epoch, the same loop in PyTorch | {py:.2f} s | |")
    print(f"| **C++ / PyTorch** | **{cpp1 / py:.3f}** | <= 1.0 |")
    print(f"| epoch, simfuse train, 2 ranks (same global batch) | {cpp2:.2f} s | |")
    print(f"| **data-parallel speedup, 2 ranks** | **{cpp1 / cpp2:.2f}x** | >= 1.6x |")
    if a.no_generate:
        return 0
    print(f"| generate, 1 rank (4 members, 81^2, 100 steps) | {g1[0] / g1[1]:.0f} samples/s ({g1[1]:.1f} s) | |")
    print(f"| generate, 2 ranks (2 members side by side) | {g2[0] / g2[1]:.0f} samples/s ({g2[1]:.1f} s) | |")
    print(f"| **generate throughput, 2 ranks / 1 rank** | **{(g2[0] / g2[1]) / (g1[0] / g1[1]):.2f}x** | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
