"""What the chemistry bench scripts share: running `simfuse run` quietly with --set
overrides, reading fields of the last VTK file of a run (python3-vtk9), a sub-step's entry
of summary.json and a reacting flow's flame.csv."""
import csv
import json
import os
import subprocess
import sys

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", OMP_NUM_THREADS="1")


def run(exe, case, out, sets, np=1, verb="run", extra=()):
    """`simfuse VERB CASE -o OUT -q --set ...` on np ranks (VERB: run or compare); its
    summary.json. Exits on failure."""
    cmd = ([] if np == 1 else ["mpirun", "-n", str(np)]) + [exe, verb, case, "-o", out, "-q"] + list(extra)
    for s in sets:
        cmd += ["--set", s]
    r = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")
    with open(os.path.join(out, "summary.json")) as f:
        return json.load(f)


def last_fields(out, names):
    """The named point arrays of the run's last VTK file (a multi-component field is written
    one array per component: T, OH, ...); names it lacks are left out."""
    import numpy as np
    import xml.etree.ElementTree as ET
    from vtkmodules.vtkIOXML import vtkXMLImageDataReader, vtkXMLPImageDataReader
    from vtkmodules.util.numpy_support import vtk_to_numpy
    pvd = [f for f in os.listdir(out) if f.endswith(".pvd")][0]
    files = [d.get("file") for d in ET.parse(os.path.join(out, pvd)).getroot().iter("DataSet")]
    path = os.path.join(out, files[-1])
    reader = vtkXMLPImageDataReader() if path.endswith(".pvti") else vtkXMLImageDataReader()
    reader.SetFileName(path)
    reader.Update()
    pd = reader.GetOutput().GetPointData()
    return {n: np.array(vtk_to_numpy(pd.GetArray(n))) for n in names if pd.GetArray(n) is not None}


def rel_l2(a, b):
    """The relative L2 difference of field a from field b: |a - b| / |b|."""
    import numpy as np
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def substep(summary, name="react"):
    """Sub-step `name`'s entry of a run's summary.json (its seconds, policy, counters)."""
    return next(x for x in summary["substeps"] if x["name"] == name)


def flame_rows(out):
    """A reacting flow's flame.csv in folder `out`: one dict per step, column -> float."""
    with open(os.path.join(out, "flame.csv")) as f:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]


def flame_run_row(name, summary, out, ref_out, fields, ref_fields):
    """One run of a 2D flame bench against the reference run: react and whole-step seconds,
    the consumption speed's mean over the second half and its largest per-step deviation
    from the reference's (flame.csv), the front length ratio and position at the end, T and
    OH relative L2 against the reference's fields, and the guard's accepted fraction,
    fallbacks and counters (None where the run has no guard); react and whole-step seconds
    of the last three quarters of the steps as well (steps.csv: past the start from the
    case's initial profile, where the flame settles)."""
    import numpy as np
    fl, fl_ref = flame_rows(out), flame_rows(ref_out)
    with open(os.path.join(out, "steps.csv")) as f:
        steps = list(csv.DictReader(f))
    late = steps[len(steps) // 4:]
    names = [x["name"] for x in summary["substeps"]]
    half = len(fl) // 2
    sc = np.array([r["consumption_speed"] for r in fl])
    sc_ref = np.array([r["consumption_speed"] for r in fl_ref])
    react = substep(summary)
    pts = react.get("points") or 0
    return dict(run=name, react=react["seconds"], total=sum(x["seconds"] for x in summary["substeps"]),
                react_late=sum(float(r["react_seconds"]) for r in late),
                total_late=sum(float(r[f"{n}_seconds"]) for r in late for n in names),
                S_c=float(sc[half:].mean()), S_c_dev=float(np.max(np.abs(sc[half:] / sc_ref[half:] - 1))),
                length=fl[-1]["front_length_ratio"], front=fl[-1]["front_position"],
                T_l2=rel_l2(fields["T"], ref_fields["T"]), OH_l2=rel_l2(fields["OH"], ref_fields["OH"]),
                accepted=react.get("accepted", 0) / pts if pts else None, fallback=react.get("fallback"),
                counters={c: react.get(c) for c in ("accepted_out_of_range", "outside_support", "inference_seconds",
                                                    "check_seconds")})
