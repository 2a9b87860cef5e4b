#!/usr/bin/env python3
"""Do two simfuse builds give the same output? For refactors that must not change results
(issue 25): runs every shipped case (cases/*.yaml, a few steps each) with both programs and
compares what they wrote, leaving out what may differ: wall times (any summary.json key,
steps.csv column or VTK array whose name holds "seconds"), dates (summary.json "provenance",
a saved model card's "created"), hosts and the program's own path, and the output folder's
name. Checkpoints (binary, holding wall times) are left out; the resume tests check them.

Usage: /usr/bin/python3 scripts/same_output.py SIMFUSE_BEFORE SIMFUSE_AFTER [--steps 3] [--only NAME]
Prints one line per case and "same output: N of N cases" (exit 0) or the differences (exit 1).

With --resume NAME[,NAME...]: a checkpoint written by the build before resumes with the build
after: BEFORE runs each named case for --steps steps (a checkpoint at the end), AFTER resumes
it to twice as many, and the result is compared with AFTER's uninterrupted run (summary.json's
"restarts" and "checkpoint" records of the resume left out).
"""
import argparse
import csv
import glob
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile

import yaml  # python3-yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, OMP_NUM_THREADS="1")


def scrub(x, folder=""):
    """summary.json without what may differ between two runs of the same program (and with
    the output folder's own path taken out of the strings that name files in it)."""
    if isinstance(x, dict):
        return {k: scrub(v, folder) for k, v in x.items()
                if "seconds" not in k and k not in ("provenance", "dir", "twin_output_dir", "written", "restarts")}
    if isinstance(x, list):
        return [scrub(v, folder) for v in x]
    if isinstance(x, str) and folder:
        for f in (os.path.abspath(folder), os.path.relpath(folder)):
            x = x.replace(f + os.sep, "")
        return x
    return x


def without_dates(path):
    """A model card's lines but its creation date."""
    return [line for line in open(path).read().splitlines() if "created:" not in line]


def csv_rows(path):
    with open(path) as f:
        rows = list(csv.reader(io.StringIO(f.read())))
    keep = [i for i, h in enumerate(rows[0]) if "seconds" not in h]
    return [[r[i] for i in keep] for r in rows]


def vtk_arrays(path):
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkIOXML import vtkXMLImageDataReader, vtkXMLPImageDataReader
    r = vtkXMLPImageDataReader() if path.endswith(".pvti") else vtkXMLImageDataReader()
    r.SetFileName(path)
    r.Update()
    d = r.GetOutput().GetPointData()
    return {d.GetArrayName(i): vtk_to_numpy(d.GetArray(i)).tobytes() for i in range(d.GetNumberOfArrays())
            if "seconds" not in d.GetArrayName(i)}


def compare(a, b):
    """The differences between output folders a and b (empty: the same)."""
    diffs = []
    fa = sorted(os.path.relpath(p, a) for p in glob.glob(os.path.join(a, "**"), recursive=True) if os.path.isfile(p))
    fb = sorted(os.path.relpath(p, b) for p in glob.glob(os.path.join(b, "**"), recursive=True) if os.path.isfile(p))
    fa = [f for f in fa if not f.startswith("checkpoints/")]  # binary state, holds wall times
    fb = [f for f in fb if not f.startswith("checkpoints/")]
    if fa != fb:
        return [f"files differ: {sorted(set(fa) ^ set(fb))}"]
    for f in fa:
        pa, pb = os.path.join(a, f), os.path.join(b, f)
        if f.endswith("summary.json"):
            if scrub(json.load(open(pa)), a) != scrub(json.load(open(pb)), b):
                diffs.append(f)
        elif f.endswith(".csv"):
            if csv_rows(pa) != csv_rows(pb):
                diffs.append(f)
        elif f.endswith((".vti", ".pvti")):
            if vtk_arrays(pa) != vtk_arrays(pb):
                diffs.append(f)
        elif f.endswith(".yaml"):
            if without_dates(pa) != without_dates(pb):
                diffs.append(f)
        elif f.endswith(".pvd") or f.endswith(".png") or f.endswith(".pt"):
            if open(pa, "rb").read() != open(pb, "rb").read():
                diffs.append(f)
    return diffs


def resume_check(a):
    work = tempfile.mkdtemp(prefix="simfuse_resume_")
    problems = []
    names = a.resume.split(",")
    for name in names:
        case = os.path.join(ROOT, "cases", name + ".yaml")
        time = (yaml.safe_load(open(case)) or {}).get("time", {})
        unset = ["--unset", "time.t_end"] if "t_end" in time else []

        def run(exe, out, steps, extra=()):
            cmd = [os.path.abspath(exe), "run", case, "-o", out, "-q", "--no-progress", *unset, "--set",
                   f"time.steps={steps}", *extra]
            return subprocess.run(cmd, env=ENV, capture_output=True, text=True, cwd=work)

        resumed, whole = os.path.join(work, name, "resumed"), os.path.join(work, name, "whole")
        r1 = run(a.before, resumed, a.steps)
        r2 = run(a.after, resumed, 2 * a.steps, ["--resume"])
        r3 = run(a.after, whole, 2 * a.steps)
        if r1.returncode or r2.returncode or r3.returncode:
            problems.append(f"{name}: exits {r1.returncode}, {r2.returncode}, {r3.returncode}\n{r2.stderr[-500:]}")
            continue
        for folder in (resumed, whole):  # the resume's own records
            sp = os.path.join(folder, "summary.json")
            sj = json.load(open(sp))
            for k in ("restarts", "checkpoint"):
                sj.pop(k, None)
            json.dump(sj, open(sp, "w"))
        d = compare(resumed, whole)
        print(f"{name:24s} {'resumes to the same output' if not d else 'DIFFERENT: ' + ', '.join(d[:5])}", flush=True)
        if d:
            problems.append(f"{name}: {d}")
    shutil.rmtree(work, ignore_errors=True)
    print(f"old checkpoints resume: {len(names) - len(problems)} of {len(names)} cases")
    for p in problems:
        print(p)
    return 0 if not problems else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--only")
    ap.add_argument("--resume", help="cases whose old checkpoints must resume with the new build")
    a = ap.parse_args()
    if a.resume:
        return resume_check(a)
    work = tempfile.mkdtemp(prefix="simfuse_same_")
    cases = sorted(glob.glob(os.path.join(ROOT, "cases", "*.yaml")))
    if a.only:
        cases = [c for c in cases if a.only in os.path.basename(c)]
    same, problems = 0, []
    for case in cases:
        name = os.path.splitext(os.path.basename(case))[0]
        time = (yaml.safe_load(open(case)) or {}).get("time", {})
        edits = []  # a few steps of each case (the ignition sweeps are one step already)
        if "t_end" in time:
            edits = ["--unset", "time.t_end", "--set", f"time.steps={a.steps}"]
        elif time.get("steps", 0) > a.steps:
            edits = ["--set", f"time.steps={a.steps}"]
        outs = []
        for label, exe in (("before", a.before), ("after", a.after)):
            out = os.path.join(work, label, name)
            r = subprocess.run([os.path.abspath(exe), "run", case, "-o", out, "-q", "--no-progress"] + edits,
                               env=ENV, capture_output=True, text=True, cwd=work)
            outs.append((r.returncode, out, r.stderr))
        if outs[0][0] != outs[1][0]:
            problems.append(f"{name}: exit {outs[0][0]} before, {outs[1][0]} after\n{outs[1][2][-500:]}")
            continue
        d = compare(outs[0][1], outs[1][1])
        print(f"{name:24s} {'same' if not d else 'DIFFERENT: ' + ', '.join(d[:5])}", flush=True)
        if d:
            problems.append(f"{name}: {d}")
        else:
            same += 1
    shutil.rmtree(work, ignore_errors=True)
    print(f"same output: {same} of {len(cases)} cases")
    for p in problems:
        print(p)
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
