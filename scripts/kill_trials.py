#!/usr/bin/env python3
"""Kills `simfuse run` at random moments (SIGKILL, as a scheduler or the OOM killer would)
and resumes it with --resume until it finishes, then compares the results with an
uninterrupted run: every VTK file bitwise, steps.csv rows (but timings), summary.json (but
wall times). Prints the tally. The test suite's tests/cli/check_resume.py kills at named
points; this script kills wherever the clock says.

  /usr/bin/python3 scripts/kill_trials.py build/bin/simfuse --trials 50 [--np 2]
      [--case cases/heat2d.yaml --set grid.n=[65,65] ...] [--max-kills 3]
"""
import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "cli"))
from check_resume import compare_runs  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("exe")
    ap.add_argument("--case", default="cases/heat2d.yaml")
    ap.add_argument("--set", action="append", default=None, dest="sets")
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--np", type=int, default=1)
    ap.add_argument("--max-kills", type=int, default=3, help="kills per trial before it may finish")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--mpiexec", default="mpirun")
    a = ap.parse_args()
    sets = a.sets or ["grid.n=[65,65]", "time.t_end=0.1", "output.every=5", "checkpoint.every=3"]
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    rng = random.Random(a.seed)

    def cmd(out, resume=False):
        c = [a.exe, "run", a.case, "-o", out, "-q", "--no-progress"] + [x for s in sets for x in ("--set", s)]
        if resume:
            c.append("--resume")
        if a.np > 1:
            c = [a.mpiexec, "-n", str(a.np), "--oversubscribe"] + c
        return c

    tally = {"trials": 0, "kills": 0, "resumes": 0, "identical": 0, "different": 0, "failed": 0}
    with tempfile.TemporaryDirectory() as tmp:
        full = os.path.join(tmp, "full")
        t0 = time.time()
        subprocess.run(cmd(full), env=env, check=True)
        duration = time.time() - t0
        print(f"uninterrupted run: {duration:.2f} s", flush=True)
        for trial in range(a.trials):
            out = os.path.join(tmp, f"t{trial}")
            kills, resume, finished, resumed = 0, False, False, False
            while not finished:
                resumed = resumed or resume
                p = subprocess.Popen(cmd(out, resume), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
                if kills < a.max_kills:
                    time.sleep(rng.uniform(0.05, 1.0) * duration)
                    if p.poll() is None:
                        os.killpg(p.pid, signal.SIGKILL)  # the whole group: mpirun and its ranks
                        kills += 1
                _, err = p.communicate()
                if p.returncode == 0:
                    finished = True
                elif p.returncode == 2 and b"no valid checkpoint" in err:
                    resume = resumed = False  # killed before its first checkpoint: start again
                    continue
                elif p.returncode not in (-9, 137) and kills == 0:
                    print(f"trial {trial}: exit {p.returncode}: {err.decode()[-400:]}")
                    tally["failed"] += 1
                    break
                resume = True
            tally["trials"] += 1
            tally["kills"] += kills
            if not finished:
                continue
            problems = compare_runs(full, out, f"trial {trial}", resumed)
            tally["identical" if not problems else "different"] += 1
            for pr in problems:
                print(pr)
            shutil.rmtree(out, ignore_errors=True)
            print(f"trial {trial}: {kills} kill(s), {'identical' if not problems else 'DIFFERENT'}", flush=True)
    tally["resumes"] = tally["kills"]
    print("tally:", ", ".join(f"{k} {v}" for k, v in tally.items()))
    return 0 if tally["different"] == 0 and tally["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
