#!/usr/bin/env python3
"""Runs `simfuse run` on every case in a folder of bad case files and checks, for each:
  - the exit code (2 unless the file says `# exit: N`);
  - every `# expect: <text>` line appears in what simfuse printed (once, also on 2 ranks);
  - no crash signature (PETSc traceback, uncaught exception, signal, MPI abort);
  - a refusal writes nothing, anywhere: the output folder given to it already holds another
    case's results (a small heat2d run) and is byte for byte the same afterwards, and the
    folder the command ran in stays empty -- except for a run that fails while running
    (`# exit: 3`), given a fresh folder: its output so far stays, with a summary.json whose
    status is "failed" and whose message is the error. generate and train specs that write
    under /tmp/simfuse_bad_spec_* get `--set output=` into such a folder instead.
`# args: ...` adds command-line arguments; `@missing` runs a case file that does not exist,
`@case:PATH` runs PATH instead of the file (a device, a directory, a binary file);
`@dir` in an argument is this folder; `# min-np: N` runs the file only with --np >= N (errors that only a decomposition makes);
`# command: train|generate` runs that sub-command on the file instead of `run` (its
outputs, named under /tmp/simfuse_bad_spec_*, must not exist afterwards).
With --np > 1 only the files marked `# mpi: yes` run (one per stage where errors arise:
YAML, schema, solver set-up, PETSc options, output, --set), as mpirun starts slowly.
`--command compare` runs the `# mpi: yes` run cases (one per stage where errors arise) with
`simfuse compare` instead.
Usage: run_bad_cases.py SIMFUSE CASE_DIR [--np 2] [--mpiexec mpirun] [--command compare]
"""
import argparse
import hashlib
import shutil
import json
import os
import shlex
import subprocess
import sys
import tempfile

FORBIDDEN = ["PETSC ERROR", "Traceback", "terminate called", "Segmentation", "internal error",
             "MPI_ABORT", "Aborted", "core dumped", "what():"]


def min_np(path):
    with open(path) as f:
        for line in f:
            if line.startswith("# min-np: "):
                return int(line.split()[-1])
    return 1


def parse(path):
    expects, args, code, command = [], [], 2, "run"
    with open(path) as f:
        for line in f:
            if line.startswith("# expect: "):
                expects.append(line[len("# expect: "):].rstrip("\n"))
            elif line.startswith("# args: "):
                args = shlex.split(line[len("# args: "):])
            elif line.startswith("# exit: "):
                code = int(line.split()[-1])
            elif line.startswith("# command: "):
                command = line.split()[-1]
    return expects, args, code, command


def snapshot(root):
    """Every file and folder under root: its path, and the sha256 of each file's bytes."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root) + "/"] = "dir"
        for f in filenames:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def changes(before, after):
    return ([f"removed {k}" for k in sorted(set(before) - set(after))] +
            [f"added {k}" for k in sorted(set(after) - set(before))] +
            [f"changed {k}" for k in sorted(k for k in set(before) & set(after) if before[k] != after[k])])


def held_results(simfuse, tmp, env):
    """A folder holding another case's results (heat2d, 9x9, 2 steps): what a refusal must
    leave alone."""
    held = os.path.join(tmp, "held_template")
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    subprocess.run([simfuse, "run", os.path.join(root, "cases", "heat2d.yaml"), "-o", held, "-q", "--set",
                    "grid.n=[9,9]", "--set", "time.t_end=0.004", "--set", "checkpoint.at_end=true"],
                   check=True, env=env, capture_output=True)
    return held


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("simfuse")
    ap.add_argument("case_dir")
    ap.add_argument("--np", type=int, default=1)
    ap.add_argument("--mpiexec", default="mpirun")
    ap.add_argument("--command", choices=["compare"], help="run the `# mpi: yes` run cases through this command")
    a = ap.parse_args()
    if os.path.exists(a.simfuse):  # the commands run in a folder of their own
        a.simfuse = os.path.abspath(a.simfuse)
    a.case_dir = os.path.abspath(a.case_dir)
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    files = sorted(f for f in os.listdir(a.case_dir) if f.endswith(".yaml"))
    if a.np > 1 or a.command:
        files = [f for f in files if "# mpi: yes" in open(os.path.join(a.case_dir, f)).read()]
    files = [f for f in files if min_np(os.path.join(a.case_dir, f)) <= a.np]
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        template = held_results(a.simfuse, tmp, env)
        for name in files:
            path = os.path.join(a.case_dir, name)
            expects, args, code, command = parse(path)
            if a.command and command == "run":
                command = a.command
            out = os.path.join(tmp, name[:-5])
            cwd = os.path.join(tmp, "cwd_" + name[:-5])
            os.makedirs(cwd)
            held = None  # the folder holding another case's results, and its snapshot
            if "@missing" in args:
                args = [x for x in args if x != "@missing"]
                path = os.path.join(tmp, "does_not_exist.yaml")
            args = [x.replace("@dir", os.path.abspath(a.case_dir)) for x in args]  # this folder
            for x in [x for x in args if x.startswith("@case:")]:
                args = [y for y in args if y != x]
                path = x[len("@case:"):]
            cli_args, petsc_args = args, []
            if "--" in args:
                i = args.index("--")
                cli_args, petsc_args = args[:i], args[i:]
            if command in ("run", "compare"):
                cmd = [a.simfuse, command, path, "--no-progress"] + cli_args
                if "-o" not in cli_args:
                    cmd += ["-o", out]
                    if code == 2:
                        shutil.copytree(template, out, symlinks=True)
                        held = (out, snapshot(out))
            else:
                cmd = [a.simfuse, command, path] + cli_args
                if "/tmp/simfuse_bad_spec_" in open(path).read():
                    shutil.copytree(template, out, symlinks=True)
                    held = (out, snapshot(out))
                    cmd += ["--set", f"output={out}/" + ("model" if command == "train" else "gen")]
            cmd += petsc_args
            if a.np > 1:
                cmd = [a.mpiexec, "-n", str(a.np), "--oversubscribe"] + cmd
            r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, cwd=cwd)
            text = r.stdout + r.stderr
            once = None
            if a.np > 1 and min_np(os.path.join(a.case_dir, name)) <= 1:
                # the message must not be repeated by every rank
                serial = subprocess.run(cmd[4:], capture_output=True, text=True, env=env, timeout=120, cwd=cwd)
                once = (serial.stdout + serial.stderr).count(expects[0]) if expects else 0
            problems = []
            if a.np == 1 and r.returncode != code:
                problems.append(f"exit code {r.returncode}, expected {code}")
            if a.np > 1 and r.returncode == 0:
                problems.append("exit code 0 on 2 ranks")
            for e in expects:
                n = text.count(e)
                if n == 0:
                    problems.append(f"missing text: {e!r}")
                elif once is not None and e == expects[0] and n > once:
                    problems.append(f"printed {n} times on {a.np} ranks, {once} on 1: {e!r}")
            for bad in FORBIDDEN:
                if bad in text:
                    problems.append(f"crash signature {bad!r}")
            if code == 3:
                try:
                    with open(os.path.join(out, "summary.json")) as f:
                        summary = json.load(f)
                    if summary.get("status") != "failed" or not summary.get("message"):
                        problems.append(f"summary.json of a failed run says status {summary.get('status')!r}")
                except (OSError, ValueError) as e:
                    problems.append(f"a failed run left no readable summary.json: {e}")
            elif held is not None:
                diff = changes(held[1], snapshot(held[0]))
                if diff:
                    problems.append("the refusal changed a folder holding another case's results: " +
                                    ", ".join(diff[:6]))
            elif os.path.isfile(out) or (os.path.isdir(out) and os.listdir(out)):
                problems.append(f"output written to {out}: {os.listdir(out)}")
            if os.listdir(cwd):
                problems.append(f"written in the folder the command ran in: {os.listdir(cwd)}")
            status = "ok  " if not problems else "FAIL"
            print(f"{status} {name}")
            if problems:
                failures.append(name)
                for p in problems:
                    print(f"     {p}")
                print("     output was:\n" + "\n".join("       | " + l for l in text.splitlines()[:12]))
    print(f"{len(files) - len(failures)}/{len(files)} bad cases handled correctly")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
