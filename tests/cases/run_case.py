#!/usr/bin/env python3
"""Runs a shipped case (small configuration) and checks its outputs like a user would.

  run_case.py SIMFUSE CASE [--np N] [--command run|compare] [--set k=v]...
              [--expect 'path<value'|'path==value']...

Checks: exit code 0; summary.json status 'completed'; each --expect on summary.json
(dotted paths, list indices as numbers); the .pvd opens and every file it lists is read
with VTK's XML readers (python3-vtk9) with the grid size of the summary; PNGs exist.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET


def lookup(doc, path):
    for part in path.split("."):
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


def check_expect(summary, expr):
    for op in ("<=", ">=", "==", "<", ">"):
        if op in expr:
            path, value = expr.split(op, 1)
            got = lookup(summary, path.strip())
            want = value.strip()
            if op == "==":
                ok = str(got) == want or (isinstance(got, (int, float)) and float(want) == got)
            else:
                ok = eval(f"{float(got)!r} {op} {float(want)!r}")
            return ok, f"{path.strip()} = {got} ({op} {want})"
    raise SystemExit(f"bad --expect {expr!r}")


def check_vtk(out, summary):
    # vtkmodules: python3-vtk9 and ParaView's Python both provide it
    from vtkmodules.vtkIOXML import vtkXMLImageDataReader, vtkXMLPImageDataReader
    pvd = os.path.join(out, summary["outputs"]["pvd"])
    files = [d.get("file") for d in ET.parse(pvd).getroot().iter("DataSet")]
    if len(files) != len(summary["outputs"]["vtk"]):
        return [f"{pvd} lists {len(files)} files, summary {len(summary['outputs']['vtk'])}"]
    problems = []
    n = summary["grid"]["n"] + [1] * (3 - summary["grid"]["dim"])
    for f in files:
        reader = vtkXMLPImageDataReader() if f.endswith(".pvti") else vtkXMLImageDataReader()
        reader.SetFileName(os.path.join(out, f))
        reader.Update()
        img = reader.GetOutput()
        if list(img.GetDimensions()) != n:
            problems.append(f"{f}: dimensions {img.GetDimensions()} != {n}")
        pd = img.GetPointData()
        names = [pd.GetArrayName(i) for i in range(pd.GetNumberOfArrays())]
        # A field is an array of its name; a field of several named components (not a
        # vector) is one array per component, so arrays named after no field must remain.
        fields = summary["outputs"]["fields"]
        unnamed = [n for n in names if n not in fields]
        for field in fields:
            if field not in names and not unnamed:
                problems.append(f"{f}: no array for field {field} (arrays: {names})")
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("simfuse")
    ap.add_argument("case")
    ap.add_argument("--np", type=int, default=1)
    ap.add_argument("--command", default="run", choices=["run", "compare"])
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--expect", action="append", default=[])
    ap.add_argument("--arg", action="append", default=[], help="extra simfuse argument")
    a = ap.parse_args()
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        cmd = [a.simfuse, a.command, a.case, "-o", out, "--no-progress"] + a.arg
        for s in a.set:
            cmd += ["--set", s]
        if a.np > 1:
            cmd = ["mpirun", "-n", str(a.np), "--oversubscribe"] + cmd
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
        print(r.stdout + r.stderr)
        if r.returncode != 0:
            print(f"FAIL: exit code {r.returncode}")
            return 1
        summary = json.load(open(os.path.join(out, "summary.json")))
        problems = []
        if summary["status"] != "completed":
            problems.append(f"status {summary['status']}")
        if summary["ranks"] != a.np:
            problems.append(f"ranks {summary['ranks']} != {a.np}")
        for e in a.expect:
            ok, text = check_expect(summary, e)
            print(("ok   " if ok else "FAIL ") + text)
            if not ok:
                problems.append(text)
        if "pvd" in summary["outputs"]:
            problems += check_vtk(out, summary)
        for p in summary["outputs"]["png"]:
            if not os.path.getsize(os.path.join(out, p["file"])):
                problems.append(f"empty PNG {p['file']}")
        for p in problems:
            print("FAIL " + p)
        return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
