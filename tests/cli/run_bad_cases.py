#!/usr/bin/env python3
"""Runs `simfuse run` on every case in a folder of bad case files and checks, for each:
  - the exit code (2 unless the file says `# exit: N`);
  - every `# expect: <text>` line appears in what simfuse printed (once, also on 2 ranks);
  - no crash signature (PETSc traceback, uncaught exception, signal, MPI abort);
  - nothing was written: the output folder does not exist afterwards -- except for a run
    that fails while running (`# exit: 3`): its output so far stays, with a summary.json
    whose status is "failed" and whose message is the error.
`# args: ...` adds command-line arguments; `@missing` runs a case file that does not exist,
`@case:PATH` runs PATH instead of the file (a device, a directory, a binary file);
`@dir` in an argument is this folder; `# min-np: N` runs the file only with --np >= N (errors that only a decomposition makes);
`# command: train|generate` runs that sub-command on the file instead of `run` (its
outputs, named under /tmp/simfuse_bad_spec_*, must not exist afterwards).
With --np > 1 only the files marked `# mpi: yes` run (one per stage where errors arise:
YAML, schema, solver set-up, PETSc options, output, --set), as mpirun starts slowly.
Usage: run_bad_cases.py SIMFUSE CASE_DIR [--np 2] [--mpiexec mpirun]
"""
import argparse
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("simfuse")
    ap.add_argument("case_dir")
    ap.add_argument("--np", type=int, default=1)
    ap.add_argument("--mpiexec", default="mpirun")
    a = ap.parse_args()
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    files = sorted(f for f in os.listdir(a.case_dir) if f.endswith(".yaml"))
    if a.np > 1:
        files = [f for f in files if "# mpi: yes" in open(os.path.join(a.case_dir, f)).read()]
    files = [f for f in files if min_np(os.path.join(a.case_dir, f)) <= a.np]
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in files:
            path = os.path.join(a.case_dir, name)
            expects, args, code, command = parse(path)
            out = os.path.join(tmp, name[:-5])
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
            if command == "run":
                cmd = [a.simfuse, "run", path, "--no-progress"] + cli_args
                if "-o" not in cli_args:
                    cmd += ["-o", out]
            else:
                cmd = [a.simfuse, command, path] + cli_args
                out = "/tmp/simfuse_bad_spec_model.pt" if command == "train" else "/tmp/simfuse_bad_spec_gen"
            cmd += petsc_args
            if a.np > 1:
                cmd = [a.mpiexec, "-n", str(a.np), "--oversubscribe"] + cmd
            r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
            text = r.stdout + r.stderr
            once = None
            if a.np > 1 and min_np(os.path.join(a.case_dir, name)) <= 1:
                # the message must not be repeated by every rank
                serial = subprocess.run(cmd[4:], capture_output=True, text=True, env=env, timeout=120)
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
            elif os.path.isfile(out) or (os.path.isdir(out) and os.listdir(out)):
                problems.append(f"output written to {out}: {os.listdir(out)}")
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
