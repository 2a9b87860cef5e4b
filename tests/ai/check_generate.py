#!/usr/bin/env python3
"""simfuse generate as a user runs it, read back by Python as a user would:
  - a small ensemble of the bz_react base case on 1 rank, on 2 ranks (two members side by
    side) and on 2 ranks with one member over both: torch.load reads each dataset with
    the right keys, shapes, names, dt and members; the manifest lists every member with
    its sampled parameters; all three hold the same samples (order aside);
  - a member with a bad sampled value fails, is reported, and the others complete.
Usage: check_generate.py SIMFUSE REPO_ROOT [--mpiexec mpirun]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import torch
import yaml

SMALL = ["grid.n=[41,41]", "grid.upper=[10,10]", "parameters.L=10", "time.t_end=0.4"]


def spec(tmp, name, base, extra):
    path = os.path.join(tmp, name + ".yaml")
    with open(path, "w") as f:
        f.write(f"base: {base}\noutput: {name}\nmembers: 3\nsampling: {{method: latin_hypercube, seed: 5}}\n"
                f"parameters:\n  parameters.xf: {{range: [0.3, 0.6]}}\n  parameters.yf: {{range: [0.35, 0.65]}}\n"
                f"set: {SMALL}\ncapture:\n  react: {{every: 2, points: 200}}\n{extra}")
    return path


def run(cmd, env):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    print(" ".join(cmd), "->", r.returncode)
    print(r.stdout + r.stderr)
    return r


def load(folder):
    # weights_only: the default from PyTorch 2.6 (issue 13, point 5): tensors, dicts, lists, strings only
    d = torch.load(os.path.join(folder, "react.pt"), weights_only=True)
    m = yaml.safe_load(open(os.path.join(folder, "react.yaml")))
    return d, m


def canonical(d):
    # rows sorted by (member, step, inputs): the order within a member may differ
    key = torch.cat([d["member"].double().view(-1, 1), d["step"].double().view(-1, 1), d["inputs"]], 1)
    order = sorted(range(key.shape[0]), key=lambda i: tuple(key[i].tolist()))
    return d["inputs"][order], d["outputs"][order], d["member"][order]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("simfuse")
    ap.add_argument("repo")
    ap.add_argument("--mpiexec", default="mpirun")
    a = ap.parse_args()
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    base = os.path.join(os.path.abspath(a.repo), "cases", "models", "bz_react_member.yaml")
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = {"1 rank": ([], ""), "2 ranks, 2 groups": (["-n", "2"], ""),
                "2 ranks, 1 member on both": (["-n", "2"], "ranks_per_member: 2\n")}
        data = {}
        for i, (label, (mpi, extra)) in enumerate(runs.items()):
            s = spec(tmp, f"gen{i}", base, extra)
            cmd = ([a.mpiexec] + mpi + ["--oversubscribe"] if mpi else []) + [a.simfuse, "generate", s]
            r = run(cmd, env)
            if r.returncode != 0:
                problems.append(f"{label}: exit code {r.returncode}")
                continue
            d, m = load(os.path.join(tmp, f"gen{i}"))
            data[label] = d
            # What torch.load sees.
            n = d["inputs"].shape[0]
            expect = 3 * 10 * 200  # members x captured steps (every 2nd of 20) x points
            checks = [
                (set(d.keys()) >= {"inputs", "outputs", "dt", "step", "member", "input_names", "output_names"},
                 f"keys {sorted(d.keys())}"),
                (tuple(d["inputs"].shape) == (expect, 2), f"inputs shape {tuple(d['inputs'].shape)}"),
                (tuple(d["outputs"].shape) == (expect, 2), f"outputs shape {tuple(d['outputs'].shape)}"),
                (d["inputs"].dtype == torch.float64, f"dtype {d['inputs'].dtype}"),
                (list(d["input_names"]) == ["c.u", "c.v"], f"names {d['input_names']}"),
                (bool(torch.all(d["dt"] == 0.02)), "dt values"),
                (sorted(set(d["member"].tolist())) == [0, 1, 2], f"members {set(d['member'].tolist())}"),
                (m["samples"] == n, f"manifest samples {m['samples']} vs {n}"),
                (len(m["members"]) == 3 and all(x["status"] == "completed" for x in m["members"]),
                 f"manifest members {m['members']}"),
                (all(0.3 <= x["parameters"]["parameters.xf"] <= 0.6 for x in m["members"]), "sampled xf in range"),
                (abs(m["inputs"]["ranges"]["min"][0] - d["inputs"][:, 0].min().item()) < 1e-12, "manifest ranges"),
                (bool(torch.all(d["inputs"] > 0)), "concentrations positive"),
            ]
            for ok, what in checks:
                print(("ok   " if ok else "FAIL ") + f"{label}: {what}")
                if not ok:
                    problems.append(f"{label}: {what}")
        ref = data.get("1 rank")
        for label, d in data.items():
            if ref is None or d is ref:
                continue
            ri, ro, rm = canonical(ref)
            di, do, dm = canonical(d)
            same = ri.shape == di.shape and torch.equal(rm, dm) and torch.allclose(ri, di, rtol=0, atol=1e-10) \
                and torch.allclose(ro, do, rtol=0, atol=1e-10)
            print(("ok   " if same else "FAIL ") + f"{label}: the same samples as on 1 rank")
            if not same:
                problems.append(f"{label}: samples differ from 1 rank")

        # A failing member: list sampling with an invalid diffusion coefficient for member 1.
        path = os.path.join(tmp, "fail.yaml")
        with open(path, "w") as f:
            f.write(f"base: {base}\noutput: fail\nmembers: 3\nsampling: {{method: list}}\nparameters:\n"
                    f"  solver.params.diffusion: {{values: [[1.0, 0.6], [-1.0, 0.6], [1.0, 0.5]]}}\n"
                    f"set: {SMALL}\ncapture:\n  react: {{every: 2, points: 200}}\n")
        r = run([a.simfuse, "generate", path], env)
        ok = r.returncode == 0 and "member 1 failed" in (r.stdout + r.stderr)
        if ok:
            d, m = load(os.path.join(tmp, "fail"))
            ok = sorted(set(d["member"].tolist())) == [0, 2] and [x["status"] for x in m["members"]] == [
                "completed", "failed", "completed"]
        print(("ok   " if ok else "FAIL ") + "a failing member is reported and the others complete")
        if not ok:
            problems.append("failing member handling")
    for p in problems:
        print("FAIL " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
