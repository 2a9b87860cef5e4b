#!/usr/bin/env python3
"""Output-folder safety of `simfuse run` (issue 12):
  - a re-run of the same case into its folder leaves no stale frames or PNGs of a longer
    earlier run (the .pvd and the files agree);
  - a symlink planted in the folder (steps.csv -> a file elsewhere) is replaced, and the
    file it pointed to is untouched;
  - another case's files in the folder stay; another case run into the folder is refused
    (exit 2) unless --force.
Usage: check_output_folder.py SIMFUSE CASE.yaml
"""
import os
import subprocess
import sys
import tempfile


def main():
    exe, case = sys.argv[1], sys.argv[2]
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")

        def run(*sets):
            cmd = [exe, "run", case, "-o", out, "-q", "--set", "grid.n=[17,17]"]
            for s in sets:
                cmd += ["--set", s]
            subprocess.run(cmd, check=True)

        run("time.t_end=0.02", "output.every=2")  # 10 steps: frames 0..5
        long_run = sorted(os.listdir(out))
        victim = os.path.join(tmp, "precious.csv")
        with open(victim, "w") as f:
            f.write("precious\n")
        os.remove(os.path.join(out, "steps.csv"))
        os.symlink(victim, os.path.join(out, "steps.csv"))
        with open(os.path.join(out, "other_000001.vti"), "w") as f:  # not this case's file
            f.write("x")
        run("time.t_end=0.004", "output.every=2")  # 2 steps: frames 0..1
        files = sorted(os.listdir(out))
        vti = [f for f in files if f.endswith(".vti") and not f.startswith("other")]
        pvd = open(os.path.join(out, [f for f in files if f.endswith(".pvd")][0])).read()
        if len(vti) != 2:
            problems.append(f"{len(vti)} frames after the 2-step re-run (the 10-step run left {long_run})")
        for f in vti:
            if f not in pvd:
                problems.append(f"{f} is not in the .pvd")
        if pvd.count("<DataSet") != len(vti):
            problems.append(f"the .pvd lists {pvd.count('<DataSet')} frames, the folder has {len(vti)}")
        if os.path.islink(os.path.join(out, "steps.csv")):
            problems.append("steps.csv is still a symlink")
        if open(victim).read() != "precious\n":
            problems.append("the file the planted symlink pointed to was overwritten")
        if "other_000001.vti" not in files:
            problems.append("another file in the folder was removed")
        # Another case into this folder: refused (exit 2) unless --force.
        cmd = [exe, "run", case, "-o", out, "-q", "--set", "grid.n=[17,17]", "--set", "time.t_end=0.004",
               "--set", "name=another_case"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 2 or "holds the results of another case" not in r.stderr + r.stdout:
            problems.append(f"another case into the folder: exit {r.returncode}, {(r.stderr + r.stdout)[:200]!r}")
        if any(f.startswith("another_case") for f in os.listdir(out)):
            problems.append("the refused run wrote into the folder")
        if subprocess.run(cmd + ["--force"], capture_output=True).returncode != 0:
            problems.append("--force did not let the other case write into the folder")
        elif not os.path.exists(os.path.join(out, "another_case.pvd")):
            problems.append("--force: the other case's output is missing")
    for p in problems:
        print("FAIL", p)
    print("ok" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
