"""Shared by the case checks: running simfuse on a case (1 or more ranks, as root if need
be), reading a run's fields and flame.csv back, comparing 1 and 2 ranks, and the verdict."""
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import simfuse_runs  # noqa: E402

# The bench scripts' own readers, for the cases' checks: a run's flame.csv, a sub-step's
# summary entry and the point arrays of a run's last output.
flame_rows = simfuse_runs.flame_rows
substep = simfuse_runs.substep
last_fields = simfuse_runs.last_fields

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OPENBLAS_NUM_THREADS="1")


def in_pairs(*jobs):
    """Runs the callables two at a time (the checks that run several 1-rank cases hold two
    processors in ctest: this keeps both busy); their results in order. A job's exception
    (a failed run's SystemExit) is raised here."""
    import concurrent.futures as cf
    with cf.ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(j) for j in jobs]
        return [f.result() for f in futures]


def run_status(exe, case, out, sets=(), ranks=1, mpiexec="mpiexec", quiet=True):
    """`simfuse run case -o out --set ...` on `ranks` ranks, whatever its outcome: the
    command and the finished process (exit status, stdout, stderr). Not quiet: the log's
    warnings are in its output."""
    cmd = [exe, "run", case, "-o", out, "--no-progress"] + (["-q"] if quiet else [])
    for s in sets:
        cmd += ["--set", s]
    if ranks > 1:
        cmd = [mpiexec, "-n", str(ranks), "--oversubscribe"] + cmd
    return cmd, subprocess.run(cmd, env=ENV, capture_output=True, text=True)


def run_case(exe, case, out, sets=(), ranks=1, mpiexec="mpiexec", log=None):
    """`simfuse run case -o out --set ...` on `ranks` ranks; its summary.json. A failed run
    ends the check (FAIL, the command and the end of its stderr). With `log`, the run is not
    quiet and its output goes to that file."""
    cmd, r = run_status(exe, case, out, sets, ranks, mpiexec, quiet=not log)
    if log:
        with open(log, "w") as f:
            f.write(r.stdout + r.stderr)
    if r.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)}: exit {r.returncode}\n{r.stderr[-3000:]}")
    with open(os.path.join(out, "summary.json")) as f:
        return json.load(f)


def warning_about(r, word):
    """The first line of a run's output (run_status's process) that says `word` is outside
    (the model card's set-up warning), or None."""
    return next((line.strip() for line in (r.stdout + r.stderr).splitlines() if word in line and "outside" in line),
                None)


def last_T(out):
    """T at the run's last output (flat, in the grid's point order)."""
    return last_fields(out, ["T"])["T"]


def point_field(path, name):
    """One point array of a .vti (one rank) or .pvti (several) as a 2D array [j, i] (cells
    are written as points), components last."""
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkIOXML import vtkXMLImageDataReader, vtkXMLPImageDataReader
    rd = vtkXMLPImageDataReader() if path.endswith(".pvti") else vtkXMLImageDataReader()
    rd.SetFileName(path)
    rd.Update()
    img = rd.GetOutput()
    nx, ny, _ = img.GetDimensions()
    arr = img.GetPointData().GetArray(name)
    if arr is None:
        raise KeyError(f"{path} has no point array '{name}'")
    a = vtk_to_numpy(arr)
    return a.reshape(ny, nx, -1) if a.ndim > 1 else a.reshape(ny, nx)


def guarded_in_flame(exe, case, tmp, sets, model, mpiexec, problems, label, min_accepted=0.99, max_front=5e-6,
                     max_T=1e-3, min_react_ratio=None):
    """A guarded model against CVODE in a 1D flame (cases/flame1d_h2_lean.yaml's kind), inside
    the model's regime: both on 1 rank side by side, then the guarded run on 2 ranks. Appends
    to `problems` where under `min_accepted` of the points are accepted (default 99%), the
    front is ever more than `max_front` from CVODE's (default 5 um, a tenth of a cell; None:
    not checked), T's relative L2 at the end exceeds `max_T` (default 1e-3), react is less
    than `min_react_ratio` times cheaper than CVODE's (None: not checked; a check that the
    model runs rather than falls back, not a timing), or 2 ranks differ from 1 by more than
    1e-4 in T (float32 inference in batches of another size is not bitwise). Returns the
    guarded run's summary."""
    out = {k: os.path.join(tmp, k) for k in ("classical", "guarded", "guarded2")}
    c, s = in_pairs(lambda: run_case(exe, case, out["classical"], sets),
                    lambda: run_case(exe, case, out["guarded"], sets + [model]))
    react = substep(s)
    acc = react["accepted"] / react["points"]
    fc, fa = flame_rows(out["classical"]), flame_rows(out["guarded"])
    dx = max(abs(a["front_position"] - c["front_position"]) for a, c in zip(fa, fc))
    Tc, Ta = last_T(out["classical"]), last_T(out["guarded"])
    err = float(np.linalg.norm(Ta - Tc) / np.linalg.norm(Tc))
    ratio = substep(c)["seconds"] / react["seconds"]
    print(f"{label}: accepted {acc:.2%}, front within {dx * 1e6:.3f} um of CVODE's at every step, T rel L2 {err:.2e}, "
          f"react {ratio:.1f}x cheaper")
    if not acc >= min_accepted:
        problems.append(f"inside the regime only {acc:.2%} of the cells were accepted")
    if max_front is not None and not dx <= max_front:
        problems.append(f"the front is {dx * 1e6:.3f} um from CVODE's (bound {max_front * 1e6:g} um)")
    if not err <= max_T:
        problems.append(f"T rel L2 {err:.2e} against CVODE (bound {max_T:g})")
    if min_react_ratio is not None and not ratio >= min_react_ratio:
        problems.append(f"react only {ratio:.1f}x cheaper than CVODE's: the model does not run")
    two_ranks_agree(exe, case, out["guarded2"], sets + [model], Ta, mpiexec, problems)
    return s


def two_ranks_agree(exe, case, out, sets, T1, mpiexec, problems):
    """The run on 2 ranks against its 1-rank T (T1): appends to `problems` where they differ
    by more than 1e-4 (relative L2; float32 inference in batches of another size is not
    bitwise)."""
    run_case(exe, case, out, sets, ranks=2, mpiexec=mpiexec)
    d2 = float(np.linalg.norm(last_T(out) - T1) / np.linalg.norm(T1))
    print(f"2 ranks against 1: T rel L2 {d2:.2e}")
    if not d2 <= 1e-4:
        problems.append(f"2 ranks differ from 1 by {d2:.2e} in T (bound 1e-4)")


def regime_problems(card):
    """A regime model's card: a problem for each of local equivalence ratio, temperature and
    pressure that its regime does not state."""
    regime = card.get("regime", {})
    return [f"the card states no {k} in its regime" for k in ("equivalence_ratio", "temperature", "pressure")
            if k not in regime]


def support_problems(summary, support_file):
    """A run's provenance of its react model: a problem unless it records the data's support
    file (named support_file) and its SHA-256."""
    model = summary["provenance"]["models"]["react"]
    if model.get("support", "").endswith(support_file) and len(model.get("support_sha256", "")) == 64:
        return []
    return [f"the run's provenance does not record the data's support file and its SHA-256: {model}"]


def compare_ranks(m, keys, label=""):
    """Metrics `keys` on 1 and 2 ranks (m: ranks -> metrics) within 1e-8 (only the order of
    the parallel sums differs): the problems."""
    p = []
    for k in keys:
        d = abs(m[2][k] / m[1][k] - 1)
        print(f"{label}{k}: {m[1][k]:.10g} (1 rank), {m[2][k]:.10g} (2 ranks), relative difference {d:.2e}")
        if not d <= 1e-8:
            p.append(f"{label}{k} differs by {d:.2e} between 1 and 2 ranks")
    return p


def bounded(m):
    """sum_k Y_k = 1 to 1e-12 and no mass fraction below -1e-12 (CVODE's atol)."""
    return m["mass_fraction_sum_error"] <= 1e-12 and m["min_mass_fraction"] >= -1e-12


def verdict(problems, what):
    """The check's last lines: FAIL and the problems (exit status 1), or '<what> check: OK' (0)."""
    if problems:
        print("FAIL:\n  " + "\n  ".join(problems))
        return 1
    print(f"{what} check: OK")
    return 0
