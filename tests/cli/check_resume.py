#!/usr/bin/env python3
"""Checkpoint and restart of `simfuse run` (issue 12), through the command line:

  - kill trials: a run is killed (SIGKILL, injected with SIMFUSE_FAULT at a named point:
    during a step, during output, during a checkpoint write), resumed with --resume, and
    its results compared with an uninterrupted run's: every VTK file bitwise, the same
    files, the same steps.csv rows (but the timing columns), the same solver results and
    captured dataset, the same summary.json (but wall times, folders and the restart
    record). Classical policies and the guarded surrogate alike are bitwise here: the
    resumed run performs the same operations on the same shapes in the same order.
  - a damaged newest checkpoint is reported and skipped; the older one is used;
  - a checkpoint of another case value, another rank count, or none at all: exit 2 with
    the reason; nothing is changed;
  - a finished run resumed with a later t_end extends it, equal to the longer run;
  - SIGTERM writes a checkpoint, summary.json "interrupted", exit 4; --resume finishes.
Usage: check_resume.py SIMFUSE SOURCE_DIR [--mpiexec MPIEXEC] [--only NAME]
"""
import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

# steps.csv columns ending in these are wall times, or (balance) decided by wall times:
# which points a balanced policy moves follows each point's measured cost.
TIMING = ("seconds", "balance_sent", "balance_imbalance", "balance_unbalanced")


def files_of(d):
    out = []
    for root, _, names in os.walk(d):
        if os.path.basename(root) == "checkpoints":
            continue
        for n in names:
            out.append(os.path.relpath(os.path.join(root, n), d))
    return sorted(out)


def read(p):
    with open(p, "rb") as f:
        return f.read()


def steps_rows(p):
    lines = read(p).decode().splitlines()
    head = lines[0].split(",")
    keep = [i for i, h in enumerate(head) if not h.endswith(TIMING)]
    return [[row.split(",")[i] for i in keep] for row in lines]


def same_arrays(pa, pb):
    """The VTK files hold the same arrays bitwise, but for wall-time arrays (*seconds)."""
    import numpy as np
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkIOXML import vtkXMLImageDataReader

    def arrays(p):
        r = vtkXMLImageDataReader()
        r.SetFileName(p)
        r.Update()
        d = r.GetOutput().GetPointData()
        return {d.GetArrayName(i): vtk_to_numpy(d.GetArray(i)) for i in range(d.GetNumberOfArrays())
                if not d.GetArrayName(i).endswith("seconds")}

    a, b = arrays(pa), arrays(pb)
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def summary_diff(a, b, path=""):
    """Differences of two summaries but for what may differ: wall times, folders, restarts."""
    # provenance: a resumed run is another invocation (its own start time and command line)
    free = ("seconds", "wall_seconds", "dir", "restarts", "twin_output_dir", "react_seconds_max_rank", "provenance",
            "react_seconds_mean_rank", "wall_time_ratio", "react_load_imbalance",
            "balance")  # what a balanced policy moved follows measured times
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in set(a) | set(b):
            if k in free or "seconds" in k:
                continue
            if k not in a or k not in b:
                out.append(f"{path}/{k} only in one")
            else:
                out += summary_diff(a[k], b[k], f"{path}/{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} against {len(b)} entries"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in summary_diff(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a} against {b}"]


def compare_runs(full, other, label, resumed=True):
    problems = []
    fa, fb = files_of(full), files_of(other)
    if fa != fb:
        problems.append(f"{label}: files differ: only uninterrupted {sorted(set(fa) - set(fb))}, "
                        f"only resumed {sorted(set(fb) - set(fa))}")
    frames = 0
    for f in sorted(set(fa) & set(fb)):
        if f.endswith((".vti", ".pvti", ".pvd", ".csv", ".pt")) and os.path.basename(f) != "steps.csv":
            frames += f.endswith((".vti", ".pvti"))
            if read(os.path.join(full, f)) != read(os.path.join(other, f)):
                # A per-cell cost field (react_seconds) is a wall time: the rest must be equal.
                if not f.endswith(".vti") or not same_arrays(os.path.join(full, f), os.path.join(other, f)):
                    problems.append(f"{label}: {f} differs")
    for f in [x for x in sorted(set(fa) & set(fb)) if os.path.basename(x) == "steps.csv"]:
        if steps_rows(os.path.join(full, f)) != steps_rows(os.path.join(other, f)):
            problems.append(f"{label}: {f} rows differ")
    if frames == 0:
        problems.append(f"{label}: no VTK files compared")
    sa = json.loads(read(os.path.join(full, "summary.json")))
    sb = json.loads(read(os.path.join(other, "summary.json")))
    problems += [f"{label}: summary.json {d}" for d in summary_diff(sa, sb)]
    if sa.get("status") != "completed" or sb.get("status") != "completed":
        problems.append(f"{label}: status {sa.get('status')} / {sb.get('status')}")
    if resumed and "restarts" not in sb:
        problems.append(f"{label}: the resumed summary has no 'restarts'")
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("exe")
    ap.add_argument("src")
    ap.add_argument("--mpiexec", default="mpirun")
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    env.pop("SIMFUSE_FAULT", None)

    def cmd(np, case, out, sets, extra=(), fault=None):
        c = [a.exe, "run", os.path.join(a.src, case), "-o", out, "-q", "--no-progress"]
        for s in sets:
            c += ["--set", s]
        c += list(extra)
        if np > 1:
            c = [a.mpiexec, "-n", str(np), "--oversubscribe"] + (["-x", "SIMFUSE_FAULT"] if fault else []) + c
        return c

    def run(np, case, out, sets, extra=(), fault=None):
        e = dict(env)
        if fault:
            e["SIMFUSE_FAULT"] = fault
        return subprocess.run(cmd(np, case, out, sets, extra, fault), env=e, capture_output=True, text=True)

    # (name, ranks, case, sets, faults): each fault is one kill trial.
    heat = ["grid.n=[33,33]", "time.t_end=0.04", "output.every=3", "checkpoint.every=4"]
    groups = [
        ("heat2d", 1, "cases/heat2d.yaml", heat, ["step:7", "output:11", "checkpoint:2", "step:19"]),
        ("cavity", 2, "cases/cavity_re100.yaml",
         ["grid.n=[33,33]", "time.t_end=0.06", "output.every=8", "checkpoint.every=10"],
         ["step:23", "checkpoint:3@1", "output:27"]),
        ("default (guarded surrogate, CVODE)", 1, "cases/default.yaml",
         ["grid.n=[31,31]", "time.t_end=4e-5", "output.every=3", "checkpoint.every=4"], ["step:11", "output:14"]),
        ("bz2d (Rodas3)", 2, "cases/bz2d.yaml",
         ["grid.n=[41,41]", "time.t_end=0.6", "output.every=4", "checkpoint.every=7"], ["step:19", "output:17@1"]),
        # Issue 26: the isat policy's table and the per-cell integrator steps are checkpointed.
        ("ch4 isat and step memory", 2, "cases/ch4_stratified.yaml",
         ["grid.n=[8,8]", "time.t_end=3e-4", "output.every=4", "checkpoint.every=5", "coupling.react={type: isat}",
          "solver.params.integrator.step_memory=true"], ["step:12"]),
        ("ch4 half balanced", 2, "cases/ch4_half.yaml",
         ["grid.n=[8,8]", "time.t_end=2e-4", "output.every=4", "checkpoint.every=5"], ["step:7"]),
        # Issue 27: the low-Mach flame; the forced coupling's lagged chemistry rate and the
        # inflow control's state (hold_front: the filtered speed, the inflow asked for) are
        # checkpointed (without either the resumed step differs).
        ("flame1d low Mach", 2, "cases/flame1d_h2.yaml",
         ["time.t_end=2e-5", "output.every=8", "checkpoint.every=10",
          "solver.params.reacting.hold_front={position: 1.52e-3, time_scale: 1.0e-5}"], ["step:23"]),
        ("capture", 1, "cases/models/heat_diffuse_capture.yaml",
         ["grid.n=[33,33]", "time.steps=12", "output.every=4", "checkpoint.every=5"], ["step:8"]),
    ]
    problems, trials, clean = [], 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, np, case, sets, faults in groups:
            if a.only and a.only not in name:
                continue
            full = os.path.join(tmp, f"{name[:6]}_full")
            r = run(np, case, full, sets)
            if r.returncode != 0:
                problems.append(f"{name}: the uninterrupted run failed ({r.returncode}): {r.stderr[-500:]}")
                continue
            for fault in faults:
                trials += 1
                out = os.path.join(tmp, f"{name[:6]}_{fault.replace(':', '_').replace('@', '_')}")
                k = run(np, case, out, sets, fault=fault)
                if k.returncode == 0:
                    problems.append(f"{name} {fault}: the fault did not stop the run")
                    continue
                r = run(np, case, out, sets, ["--resume"])
                if r.returncode != 0:
                    problems.append(f"{name} {fault}: resume failed ({r.returncode}): {r.stderr[-800:]}")
                    continue
                p = compare_runs(full, out, f"{name} {fault}")
                problems += p
                clean += not p
            print(f"{name}: {len(faults)} kill trials done", flush=True)

        if not a.only:
            # A damaged newest checkpoint is skipped, the older one used.
            out = os.path.join(tmp, "damaged")
            run(1, "cases/heat2d.yaml", out, heat, fault="step:14")  # checkpoints at 4, 8, 12
            ck = os.path.join(out, "checkpoints")
            newest = os.path.join(ck, "checkpoint_00000012.rank0.bin")
            data = bytearray(read(newest))
            data[len(data) // 2] ^= 0x55
            with open(newest, "wb") as f:
                f.write(data)
            r = run(1, "cases/heat2d.yaml", out, heat, ["--resume"])
            full = os.path.join(tmp, "heat2d_full")
            if r.returncode != 0 or "checkpoint_00000012.json" not in r.stderr or "checksum" not in r.stderr:
                problems.append(f"damaged checkpoint: exit {r.returncode}, not reported as skipped: {r.stderr[-600:]}")
            else:
                problems += compare_runs(full, out, "damaged newest checkpoint")

            # A rank file that is a link to /dev/zero or a FIFO: skipped at once, never read
            # for ever or blocked on (it used to hang, deaf to SIGTERM).
            for kind in ("/dev/zero", "fifo"):
                trials += 1
                out = os.path.join(tmp, "special_" + kind.strip("/").replace("/", "_"))
                run(1, "cases/heat2d.yaml", out, heat, fault="step:14")
                newest = os.path.join(out, "checkpoints", "checkpoint_00000012.rank0.bin")
                os.remove(newest)
                if kind == "fifo":
                    os.mkfifo(newest)
                else:
                    os.symlink(kind, newest)
                try:
                    r = subprocess.run(cmd(1, "cases/heat2d.yaml", out, heat, ["--resume"]), env=env,
                                       capture_output=True, text=True, timeout=60)
                    if r.returncode != 0 or "not a regular file" not in r.stderr:
                        problems.append(f"a checkpoint file that is {kind}: exit {r.returncode}: {r.stderr[-400:]}")
                    else:
                        p = compare_runs(full, out, f"checkpoint file {kind}, the older one used")
                        problems += p
                        clean += not p
                except subprocess.TimeoutExpired:
                    problems.append(f"a checkpoint file that is {kind}: --resume hung")

            # Refusals: exit 2, a reason, nothing changed.
            before = {f: read(os.path.join(full, f)) for f in files_of(full)}
            for label, np, sets, want in [
                ("another case value", 1, heat + ["solver.params.kappa=2"], "solver.params.kappa"),
                ("another rank count", 2, heat, "written by 1 MPI rank"),
            ]:
                r = run(np, "cases/heat2d.yaml", full, sets, ["--resume"])
                if r.returncode != 2 or want not in r.stderr:
                    problems.append(f"resume with {label}: exit {r.returncode}, expected 2 and '{want}': "
                                    f"{r.stderr[-500:]}")
            after = {f: read(os.path.join(full, f)) for f in files_of(full)}
            if before != after:
                problems.append("a refused resume changed the output folder")
            r = run(1, "cases/heat2d.yaml", os.path.join(tmp, "empty"), heat, ["--resume"])
            if r.returncode != 2 or "no valid checkpoint" not in r.stderr:
                problems.append(f"resume without checkpoints: exit {r.returncode}: {r.stderr[-300:]}")

            # Numerical faults: the solution poisoned with NaN after step 9 (the solve of step 10
            # fails) or step 8 (a checkpoint is due: it is refused): exit 3, summary.json
            # "failed" with the message, the last good checkpoint kept; --resume from it
            # finishes with the uninterrupted result.
            for fault, kept in [("blowup:9", 8), ("blowup:8", 4)]:
                trials += 1
                out = os.path.join(tmp, fault.replace(":", "_"))
                k = run(1, "cases/heat2d.yaml", out, heat, fault=fault)
                summ = json.loads(read(os.path.join(out, "summary.json")))
                newest = sorted(f for f in os.listdir(os.path.join(out, "checkpoints")) if f.endswith(".json"))
                if k.returncode != 3 or summ.get("status") != "failed" or not summ.get("message") or \
                        newest[-1] != f"checkpoint_{kept:08d}.json" or summ.get("checkpoint", {}).get("last_step") != kept:
                    problems.append(f"{fault}: exit {k.returncode}, status {summ.get('status')}, checkpoints {newest}, "
                                    f"summary {summ.get('checkpoint')}: {k.stderr[-400:]}")
                    continue
                r = run(1, "cases/heat2d.yaml", out, heat, ["--resume"])
                pr = compare_runs(full, out, f"{fault} then --resume") if r.returncode == 0 else [
                    f"{fault} resume: exit {r.returncode}: {r.stderr[-400:]}"]
                problems += pr
                clean += not pr

            # An error found on one rank only (the other waits in the next step's collective
            # calls): every rank ends with exit 2 and the message, no hang.
            trials += 1
            e = dict(env, SIMFUSE_FAULT="usererror:3@1")
            c = [a.mpiexec, "-n", "2", "--oversubscribe", "-x", "SIMFUSE_FAULT"] + cmd(
                1, "cases/heat2d.yaml", os.path.join(tmp, "one_rank"), heat)
            try:
                r = subprocess.run(c, env=e, capture_output=True, text=True, timeout=120)
                if r.returncode != 2 or "rank 1 of 2: error: injected error at step 3" not in r.stderr:
                    problems.append(f"one-rank error: exit {r.returncode}: {r.stderr[-500:]}")
                else:
                    clean += 1
            except subprocess.TimeoutExpired:
                problems.append("one-rank error: hung (no exit within 120 s)")

            # A finished run extended with a later t_end equals the longer run.
            ext_sets = ["grid.n=[33,33]", "output.every=5", "checkpoint.every=0"]
            long_out, ext = os.path.join(tmp, "long"), os.path.join(tmp, "extended")
            run(1, "cases/heat2d.yaml", long_out, ext_sets + ["time.t_end=0.04"])
            run(1, "cases/heat2d.yaml", ext, ext_sets + ["time.t_end=0.02"])
            r = run(1, "cases/heat2d.yaml", ext, ext_sets + ["time.t_end=0.04"], ["--resume"])
            if r.returncode != 0:
                problems.append(f"extension: exit {r.returncode}: {r.stderr[-500:]}")
            else:
                problems += compare_runs(long_out, ext, "extended with a later t_end")

            # SIGTERM: checkpoint, "interrupted", exit 4; then --resume finishes.
            trials += 1
            sig_sets = ["grid.n=[65,65]", "time.t_end=2", "output.every=100", "checkpoint.seconds=0"]
            sig_full, sig = os.path.join(tmp, "sig_full"), os.path.join(tmp, "sig")
            run(1, "cases/heat2d.yaml", sig_full, sig_sets)
            p = subprocess.Popen(cmd(1, "cases/heat2d.yaml", sig, sig_sets), env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            csv = os.path.join(sig, "steps.csv")
            deadline = time.time() + 60
            while time.time() < deadline and (not os.path.exists(csv) or read(csv).count(b"\n") < 20):
                time.sleep(0.02)
            p.send_signal(signal.SIGTERM)
            _, err = p.communicate(timeout=120)
            status = json.loads(read(os.path.join(sig, "summary.json"))).get("status")
            if p.returncode != 4 or status != "interrupted":
                problems.append(f"SIGTERM: exit {p.returncode}, status {status}: {err[-500:]}")
            else:
                # The command it prints, exactly as printed (its --set edits included: without
                # them the resume was refused, "beyond this case's steps").
                m = re.search(r"Continue with: (.*)", err)
                if not m:
                    problems.append(f"SIGTERM: no 'Continue with' command printed: {err[-500:]}")
                else:
                    argv = shlex.split(m.group(1))
                    r = subprocess.run([a.exe] + argv[1:], env=env, capture_output=True, text=True) if argv[0] == \
                        "simfuse" else None
                    pr = [f"SIGTERM: the printed command does not start with simfuse: {m.group(1)}"] if r is None \
                        else compare_runs(sig_full, sig, "SIGTERM then the printed resume command") \
                        if r.returncode == 0 else [f"SIGTERM resume as printed: exit {r.returncode}: {r.stderr[-500:]}"]
                    problems += pr
                    clean += not pr

        if not a.only or "compare" in a.only:
            # compare: both runs checkpoint together; a kill anywhere resumes both, in lockstep.
            cmp_sets = ["grid.n=[31,31]", "time.t_end=4e-5", "output.every=5", "checkpoint.every=4"]

            def compare(out, extra=(), fault=None):
                c = [a.exe, "compare", os.path.join(a.src, "cases/default.yaml"), "-o", out, "--no-progress"]
                c += [x for st in cmp_sets for x in ("--set", st)] + list(extra)
                e = dict(env, SIMFUSE_FAULT=fault) if fault else env
                return subprocess.run(c, env=e, capture_output=True, text=True)

            cfull = os.path.join(tmp, "cmp_full")
            compare(cfull)
            for fault in ["step:23", "checkpoint:5"]:  # a step of the twin; between twin's and run's checkpoint
                trials += 1
                out = os.path.join(tmp, f"cmp_{fault.replace(':', '_')}")
                k = compare(out, fault=fault)
                r = compare(out, ["--resume"])
                if k.returncode == 0 or r.returncode != 0:
                    problems.append(f"compare {fault}: exit {k.returncode} then {r.returncode}: {r.stderr[-600:]}")
                    continue
                p = compare_runs(cfull, out, f"compare {fault}")
                p += compare_runs(os.path.join(cfull, "classical_twin"), os.path.join(out, "classical_twin"),
                                  f"compare {fault} (twin)")
                problems += p
                clean += not p

        if not a.only or "generate" in a.only:
            # generate --resume skips the members finished before the kill; the dataset is the same.
            spec = os.path.join(tmp, "gen.yaml")
            with open(spec, "w") as f:
                f.write(f"base: {os.path.join(os.path.abspath(a.src), 'cases/models/bz_react_member.yaml')}\n"
                        "output: gen_out\nmembers: 4\nsampling: {method: latin_hypercube, seed: 5}\n"
                        "parameters:\n  parameters.xf: {range: [0.3, 0.6]}\n"
                        "set: ['grid.n=[25,25]', 'time.t_end=0.4']\ncapture:\n  react: {every: 2, points: 100}\n")

            def generate(extra=(), fault=None):
                e = dict(env, SIMFUSE_FAULT=fault) if fault else env
                return subprocess.run([a.exe, "generate", spec] + list(extra), env=e, capture_output=True,
                                      text=True)

            trials += 1
            gen = os.path.join(tmp, "gen_out")
            generate()
            ref = read(os.path.join(gen, "react.pt"))
            shutil.rmtree(gen)
            k = generate(fault="step:50")  # in the third member (20 steps each)
            done = sorted(f for f in os.listdir(os.path.join(gen, "members")) if f.endswith(".done"))
            r = generate(["--resume"])
            if k.returncode == 0 or r.returncode != 0 or len(done) != 2 or "2 of 4 members were finished" not in \
                    r.stderr + r.stdout:
                problems.append(f"generate --resume: exit {k.returncode} then {r.returncode}, finished before {done}: "
                                f"{(r.stderr + r.stdout)[-600:]}")
            elif read(os.path.join(gen, "react.pt")) != ref:
                problems.append("generate --resume: the dataset differs from an uninterrupted generate's")
            else:
                clean += 1
            # A finished member's data deleted: --resume runs that member again and says so,
            # instead of building the dataset from the others without a word.
            trials += 1
            os.remove(os.path.join(gen, "members", "member_00001_react.pt"))
            r = generate(["--resume"])
            text = r.stderr + r.stdout
            if r.returncode != 0 or "member 1: its data" not in text or "3 of 4 members were finished" not in text:
                problems.append(f"generate --resume after a member's data was deleted: exit {r.returncode}: "
                                f"{text[-600:]}")
            elif read(os.path.join(gen, "react.pt")) != ref:
                problems.append("generate --resume after a deleted member: the dataset differs")
            else:
                clean += 1

    print(f"{trials} fault trials (kills, a signal, blow-ups, a one-rank error), {clean} handled as required")
    for p in problems:
        print("FAIL:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
