#!/usr/bin/env python3
"""Surrogate-path benchmarks with their ratios, all measured by this one script:
  bridge ratio   = forward through FieldBridge / same forward on a prepared tensor (goal <= 1.05)
  identity call  = one call of an identity model through the bridge, in us     (goal <= 20 us)
  C++ / Python   = bare TorchScript forward in C++ / the same file in PyTorch, 1 thread,
                   batch 1k and 1M                                              (goal <= 0.8, <= 1.0)
Exports the models (an MLP 2 -> 64 -> 64 -> 2 tanh, and an identity) with /usr/bin/python3
and python3-torch into a temporary folder, runs build/bench/bench_surrogate on them with
interleaved repetitions, then times Python on the same files in between.
Both sides run as child processes with the same environment; --malloc-tunables sets
GLIBC_TUNABLES so that large activations are not mmapped and page-faulted on every call
(../shared/STACK.md), for both.
Usage: /usr/bin/python3 bench/run_surrogate_bench.py BUILD_DIR [--repetitions 5] [--malloc-tunables]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

CARD = """name: {name}
kind: pointwise
radius: 0
format: torchscript
weights: {name}.pt
dtype: float32
substep: react
inputs: [{{field: c, components: [u, v]}}]
outputs: [{{field: c, components: [u, v]}}]
predicts: state
normalisation: {{input_mean: [0.2, 0.1], input_std: [0.3, 0.1], output_mean: [0.0, 0.0], output_std: [1.0, 1.0]}}
training_ranges: {{min: [0.0, 0.0], max: [1.0, 1.0]}}
validation: {{metric: none, value: -1, samples: 0}}
provenance: {{tool: bench/run_surrogate_bench.py}}
"""


class Identity(torch.nn.Module):
    def forward(self, x):
        return x


PATH_SHAPES = [(2, 24, 2), (2, 64, 2), (11, 64, 10), (54, 256, 53)]  # in, hidden (2 layers), out


def path_card(i, cin, cout):
    ins = ", ".join(f"x{k}" for k in range(cin))
    outs = ", ".join(f"x{k}" for k in range(cout))
    return (f"name: path_{i}\nkind: pointwise\nradius: 0\nformat: torchscript\nweights: path_{i}.pt\n"
            f"dtype: float32\nsubstep: react\ninputs: [{{field: c, components: [{ins}]}}]\n"
            f"outputs: [{{field: c, components: [{outs}]}}]\npredicts: state\n"
            f"normalisation: {{input_mean: {[0.0] * cin}, input_std: {[1.0] * cin}, output_mean: {[0.0] * cout}, "
            f"output_std: {[1.0] * cout}}}\ntraining_ranges: {{min: {[-1.0] * cin}, max: {[1.0] * cin}}}\n"
            f"validation: {{metric: none, value: -1, samples: 0}}\n")


def export(d):
    torch.manual_seed(0)
    for i, (cin, h, cout) in enumerate(PATH_SHAPES):
        m = torch.nn.Sequential(torch.nn.Linear(cin, h), torch.nn.Tanh(), torch.nn.Linear(h, h), torch.nn.Tanh(),
                                torch.nn.Linear(h, cout)).eval()
        torch.jit.script(m).save(os.path.join(d, f"path_{i}.pt"))
        with open(os.path.join(d, f"path_{i}.card.yaml"), "w") as f:
            f.write(path_card(i, cin, cout))
    mlp = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.Tanh(), torch.nn.Linear(64, 64), torch.nn.Tanh(),
                              torch.nn.Linear(64, 2)).eval()
    torch.jit.script(mlp).save(os.path.join(d, "mlp.pt"))
    torch.jit.script(Identity()).save(os.path.join(d, "identity.pt"))
    for name in ("mlp", "identity"):
        with open(os.path.join(d, name + ".card.yaml"), "w") as f:
            f.write(CARD.format(name=name))


def python_forward_us(path, n, repeats):
    torch.set_num_threads(1)
    m = torch.jit.load(path).eval()
    x = torch.rand(n, 2)
    times = []
    with torch.inference_mode():
        for _ in range(3):
            m(x)
        for _ in range(repeats):
            reps = max(1, int(2e5 // n))
            t0 = time.perf_counter()
            for _ in range(reps):
                m(x)
            times.append((time.perf_counter() - t0) / reps * 1e6)
    return statistics.median(times)


TUNABLES = "glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824"


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--python-forward":  # child: time Python
        print(python_forward_us(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--repetitions", type=int, default=5)
    ap.add_argument("--malloc-tunables", action="store_true")
    a = ap.parse_args()
    env = dict(os.environ)
    if a.malloc_tunables:
        env["GLIBC_TUNABLES"] = TUNABLES
    with tempfile.TemporaryDirectory() as d:
        export(d)
        cmd = [os.path.join(a.build, "bench", "bench_surrogate"), "--model-dir", d,
               f"--benchmark_repetitions={a.repetitions}", "--benchmark_enable_random_interleaving=true",
               "--benchmark_format=json"]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
        runs = [b for b in json.loads(out)["benchmarks"] if b.get("run_type") == "iteration"]
        py = {}
        for n in (1000, 1000000):
            child = [sys.executable, os.path.abspath(__file__), "--python-forward", os.path.join(d, "mlp.pt"), str(n),
                     str(3 * a.repetitions)]
            py[n] = float(subprocess.run(child, capture_output=True, text=True, check=True, env=env).stdout)

    def med(name):
        return statistics.median(b["real_time"] for b in runs if b["run_name"] == name)

    rows = [
        ("bare forward, C++, batch 1k", f"{med('BM_Model/1000'):.1f} us", ""),
        ("bare forward, Python, batch 1k", f"{py[1000]:.1f} us", ""),
        ("**C++ / Python, batch 1k**", f"**{med('BM_Model/1000') / py[1000]:.3f}**", "<= 0.8"),
        ("bare forward, C++, batch 1M", f"{med('BM_Model/1000000') / 1e3:.1f} ms", ""),
        ("bare forward, Python, batch 1M", f"{py[1000000] / 1e3:.1f} ms", ""),
        ("**C++ / Python, batch 1M**", f"**{med('BM_Model/1000000') / py[1000000]:.3f}**", "<= 1.0"),
        ("Surrogate::predict, prepared tensor, 1M points", f"{med('BM_Prepared/1000000') / 1e3:.1f} ms", ""),
        ("the same through FieldBridge from/to PETSc fields", f"{med('BM_Bridge/1000000') / 1e3:.1f} ms", ""),
        ("**bridge / prepared, 1M points**", f"**{med('BM_Bridge/1000000') / med('BM_Prepared/1000000'):.3f}**",
         "<= 1.05"),
        ("**identity model, one call through the bridge (16 points)**", f"**{med('BM_IdentityCall'):.1f} us**",
         "<= 20 us"),
    ]
    print("Per-cell cost of Surrogate::predict, 65536 points, 1 thread, float32 tanh MLPs, both paths "
          f"in one process ({a.repetitions} interleaved repetitions, medians)\n")
    print("| MLP | plain libtorch (BLAS) us/cell | oneDNN us/cell | plain / oneDNN |\n|---|---|---|---|")
    for i, (cin, h, cout) in enumerate(PATH_SHAPES):
        plain, fast = med(f"BM_Path/{i}/0") / 65536, med(f"BM_Path/{i}/1") / 65536
        label = next(b.get("label", "") for b in runs if b["run_name"] == f"BM_Path/{i}/1")
        print(f"| {cin}-{h}-{h}-{cout} | {plain:.3f} | {fast:.3f} ({label}) | {plain / fast:.2f} |")
    print()
    print(f"MLP 2-64-64-2 tanh (TorchScript nn.Sequential, float32: the oneDNN path in C++; Python runs it "
          f"through libtorch's default path), 1 thread, {a.repetitions} interleaved repetitions (medians)"
          f"{', GLIBC_TUNABLES=' + TUNABLES if a.malloc_tunables else ''}\n")
    print("| measurement | result | goal |\n|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
