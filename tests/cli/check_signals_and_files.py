#!/usr/bin/env python3
"""What a scheduler, a terminal and a full disk do to a run (issue 24, points 16, 17, 19):
  - SIGINT (Ctrl-C) and SIGHUP (a closed terminal) stop a run like SIGTERM: a checkpoint,
    summary.json "interrupted", exit 4, no temporary left; --resume then finishes it;
  - a second SIGTERM while the first is being handled still exits 4;
  - on 2 ranks, SIGUSR1 to mpirun (which forwards it) ends with exit 4 and a checkpoint;
  - SIGTERM to mpirun (which ends the job itself, exit 1) still leaves the checkpoint;
  - a file-size limit (ulimit -f) ends the run with one message naming the file (exit 2), and
    no truncated file under a final name, no temporary;
  - `--resume auto` starts afresh in an empty folder and continues from a checkpoint;
  - a UTF-16 case file (with its byte-order mark) runs as its UTF-8 text does.
Usage: check_signals_and_files.py SIMFUSE SRC [--mpiexec mpirun]
"""
import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

problems = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what.splitlines()[0])
    if not ok:
        problems.append(what)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("exe")
    ap.add_argument("src")
    ap.add_argument("--mpiexec", default="mpirun")
    a = ap.parse_args()
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    env.pop("SIMFUSE_FAULT", None)
    tmp = tempfile.mkdtemp(prefix="simfuse_signals_")
    heat = os.path.join(a.src, "cases", "heat2d.yaml")
    # Long enough to be signalled mid-run; a checkpoint only when stopped (or at the end).
    long_sets = ["grid.n=[65,65]", "time.t_end=5000", "output.every=2000", "checkpoint.seconds=0"]

    def cmd(out, sets, extra=(), np=1):
        c = [a.exe, "run", heat, "-o", out, "-q", "--no-progress"]
        for s in sets:
            c += ["--set", s]
        c += list(extra)
        return ([a.mpiexec, "-n", str(np)] if np > 1 else []) + c

    def wait_rows(out, rows, p, limit=90):
        csv = os.path.join(out, "steps.csv")
        deadline = time.time() + limit
        while time.time() < deadline and p.poll() is None:
            # steps.csv is written with the frames: the first frame (step 0) means it runs.
            if os.path.exists(csv) and os.path.exists(os.path.join(out, "heat2d.pvd")):
                time.sleep(rows)
                return True
            time.sleep(0.05)
        return False

    def status(out):
        try:
            with open(os.path.join(out, "summary.json")) as f:
                return json.load(f).get("status")
        except (OSError, ValueError):
            return None

    def temporaries(out):
        return [f for f in os.listdir(out) if ".tmp." in f or f.startswith(".tmp_")]

    # SIGINT, SIGHUP, and SIGTERM twice: exit 4, interrupted, a checkpoint; then --resume.
    for name, sigs in [("SIGINT", [signal.SIGINT]), ("SIGHUP", [signal.SIGHUP]),
                       ("SIGTERM twice", [signal.SIGTERM, signal.SIGTERM])]:
        out = os.path.join(tmp, name.replace(" ", "_"))
        p = subprocess.Popen(cmd(out, long_sets), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started = wait_rows(out, 1.0, p)
        for s in sigs:
            p.send_signal(s)
            time.sleep(0.01)
        _, err = p.communicate(timeout=120)
        ck = os.path.join(out, "checkpoints")
        has_ck = os.path.isdir(ck) and any(f.endswith(".json") for f in os.listdir(ck))
        check(started and p.returncode == 4 and status(out) == "interrupted" and has_ck and not temporaries(out),
              f"{name}: exit {p.returncode} (4), status {status(out)}, checkpoint {has_ck}, "
              f"temporaries {temporaries(out)}\n{err[-800:]}")
        if p.returncode == 4:
            # The run is long: resuming it whole is the resume test's job. Here the
            # checkpoint must be found and read: a t_end before it is refused as "beyond".
            r = subprocess.run(cmd(out, [x if not x.startswith("time.t_end") else "time.t_end=0.01" for x in long_sets], ["--resume"]),
                               env=env, capture_output=True, text=True, timeout=120)
            check(r.returncode == 2 and "beyond" in r.stderr,
                  f"{name}: the checkpoint is read back (a shorter t_end is refused as beyond it): "
                  f"exit {r.returncode}\n{r.stderr[-600:]}")

    # Two ranks. mpirun forwards SIGUSR1: the ranks checkpoint and exit 4, and so does mpirun.
    # SIGTERM to mpirun: OpenMPI's mpirun ends the job itself (SIGTERM to the ranks, then
    # SIGKILL) and exits 1 whatever the ranks do; the ranks must still leave a checkpoint and
    # an "interrupted" summary within its grace period (docs/user-guide.md says so).
    for sig, want_exit in [(signal.SIGUSR1, 4), (signal.SIGTERM, None)]:
        out = os.path.join(tmp, f"mpi_{sig.name}")
        p = subprocess.Popen(cmd(out, long_sets, np=2), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        started = wait_rows(out, 2.0, p, limit=120)
        p.send_signal(sig)
        _, err = p.communicate(timeout=180)
        ck = os.path.join(out, "checkpoints")
        has_ck = os.path.isdir(ck) and any(f.endswith(".json") for f in os.listdir(ck))
        check(started and want_exit in (None, p.returncode) and status(out) == "interrupted" and has_ck
              and not temporaries(out),
              f"mpirun -n 2 and {sig.name}: exit {p.returncode} ({want_exit or 'mpirun decides'}), status "
              f"{status(out)}, checkpoint {has_ck}\n{err[-800:]}")

    # A file-size limit: one message naming the file, exit 2, nothing truncated left under a
    # final name. The limit (6 MiB) is above what MPI's start-up writes (~4 MiB of PMIx
    # segments) and below one frame of a 1025x1025 grid (8.4 MB).
    out = os.path.join(tmp, "fsize")
    limit = 6 << 20

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    r = subprocess.run(cmd(out, ["grid.n=[1025,1025]", "time.t_end=0.004", "checkpoint.every=0"]),
                       env=env, capture_output=True, text=True, timeout=300, preexec_fn=small_files)
    frames = [f for f in os.listdir(out) if f.endswith(".vti")] if os.path.isdir(out) else ["(no folder)"]
    errs = [line for line in r.stderr.splitlines() if "ERR" in line or "error" in line.lower()]
    check(r.returncode == 2 and "could not write VTK output heat2d_000000.vti" in r.stderr and not frames
          and "ERR|" not in r.stderr and len(errs) == 1 and not temporaries(out) and "Traceback" not in r.stderr,
          f"ulimit -f: exit {r.returncode} (2), one message naming the frame ({len(errs)} error lines), frames "
          f"left {frames}, temporaries {temporaries(out) if os.path.isdir(out) else []}\n{r.stderr[-1200:]}")

    # --resume auto: a fresh start in an empty folder, then a continuation.
    out = os.path.join(tmp, "auto")
    short = ["grid.n=[33,33]", "output.every=5", "checkpoint.every=5"]
    r = subprocess.run(cmd(out, short + ["time.t_end=0.02"], ["--resume", "auto"]) + ["-v"], env=env,
                       capture_output=True, text=True, timeout=120)
    check(r.returncode == 0 and "starting afresh" in r.stderr + r.stdout,
          f"--resume auto in an empty folder starts afresh: exit {r.returncode}\n{r.stderr[-600:]}")
    r = subprocess.run(cmd(out, short + ["time.t_end=0.04"], ["--resume", "auto"]) + ["-v"], env=env,
                       capture_output=True, text=True, timeout=120)
    check(r.returncode == 0 and "resumed from checkpoint" in r.stderr + r.stdout,
          f"--resume auto with a checkpoint continues from it: exit {r.returncode}\n{r.stderr[-600:]}")
    r = subprocess.run(cmd(out, short, ["--resume=sometimes"]), env=env, capture_output=True, text=True, timeout=60)
    check(r.returncode == 2 and "the only value --resume takes is 'auto'" in r.stderr,
          f"--resume=sometimes is refused: exit {r.returncode}\n{r.stderr[-300:]}")

    # A UTF-16 case file runs as its UTF-8 text does (it used to; then it was "a binary file").
    text = open(heat, encoding="utf-8").read()
    u16 = os.path.join(tmp, "heat_utf16.yaml")
    with open(u16, "wb") as f:
        f.write(text.encode("utf-16"))  # with the byte-order mark
    outs = []
    for case in (heat, u16):
        out = os.path.join(tmp, "enc_" + os.path.basename(case))
        c = [a.exe, "run", case, "-o", out, "-q", "--no-progress", "--set", "grid.n=[33,33]", "--set",
             "time.t_end=0.01"]
        r = subprocess.run(c, env=env, capture_output=True, text=True, timeout=120)
        check(r.returncode == 0, f"{os.path.basename(case)} runs: exit {r.returncode}\n{r.stderr[-400:]}")
        outs.append(out)
    if all(os.path.exists(os.path.join(o, "summary.json")) for o in outs):
        s = [json.load(open(os.path.join(o, "summary.json"))) for o in outs]
        check(s[0]["metrics"] == s[1]["metrics"] if "metrics" in s[0] else s[0]["time"] == s[1]["time"],
              "the UTF-16 file gives the same run")

    shutil.rmtree(tmp, ignore_errors=True)
    if problems:
        print("\n\n".join(problems))
        print(f"{len(problems)} problem(s)")
        return 1
    print("signals and files: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
