#!/usr/bin/python3
"""A regime model in the flames it is made for (issue 28): the shipped h2_lean model
(cases/models/h2_lean.card.yaml: lean H2-air, dt 5 us, trained on 1D lean flames across
phi 0.35-0.55 and 300-375 K) guarded with the default guard on react of
cases/flame1d_h2_lean.yaml (splitting forced_split), against the same flame with CVODE.
Checked:
  - the card states its regime (local equivalence ratio, temperature, pressure); the run's
    provenance records its data's support file with its SHA-256;
  - inside it (phi 0.45, 300 K), 2 ms (400 steps, the start-up of the flame from its tanh
    profile: the states change most there): 99% of the cells accepted (measured 99.98%),
    the front position at every step within 5 um of CVODE's (a tenth of a cell, three steps
    of its motion; measured 3.4 um, in the start-up) and the T profile's relative L2 at the
    end below 1e-3 (measured 2.3e-4);
  - the same on 2 ranks: within 1e-4 of 1 rank in T (the model's float32 inference in
    batches of another size is not bitwise; measured 5e-9 on the T profile);
  - outside it (phi 0.7, above its local 0.23-0.66), 1 ms: set-up warns, naming
    equivalence_ratio, and the run ends (exit 0), not failing: the default guard judges
    a point outside the regime by its error estimate (accepted so: measured 72% of the
    points) and sends those that fail it to CVODE (measured 28%); the points of the
    reaction zone that lie inside the regime's box but far from the data (the card's
    support) are judged so too (at least 1%: measured 5.7%); T within 2e-3 of CVODE's
    (measured 1.5e-3; 2.4e-3 with `support: false`, where those points ran by the model
    and over 8 ms this flame's speed was 2.0% low, -0.01% with the support,
    docs/benchmarks.md). max_cfl 0.95 for both runs: this flame is faster than the
    regime's dt allows under the case's 0.7.
Usage: check_lean_regime.py SIMFUSE SOURCE_DIR [--mpiexec MPIEXEC]
"""
import json
import os
import sys
import tempfile

import numpy as np
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from case_tools import (guarded_in_flame, in_pairs, last_T, regime_problems, run_case, run_status,  # noqa: E402
                        substep, support_problems, verdict, warning_about)

MODEL = "coupling.react={type: guarded, model: models/h2_lean.card.yaml}"


def main():
    exe, src = sys.argv[1], sys.argv[2]
    mpiexec = sys.argv[sys.argv.index("--mpiexec") + 1] if "--mpiexec" in sys.argv else "mpiexec"
    case = os.path.join(src, "cases", "flame1d_h2_lean.yaml")
    card = yaml.safe_load(open(os.path.join(src, "cases", "models", "h2_lean.card.yaml")))
    print(f"h2_lean's regime: {card.get('regime', {})}, conditions {card.get('conditions')}")
    problems = regime_problems(card)
    inside = ["parameters.phi=0.45", "time.t_end=2.0e-3", "output.every=400"]
    with tempfile.TemporaryDirectory() as tmp:
        s = guarded_in_flame(exe, case, tmp, inside, MODEL, mpiexec, problems, "inside (phi 0.45)")
        problems += support_problems(s, "h2_lean.support.npy")
        out = {k: os.path.join(tmp, k) for k in ("out_cl", "out_ai")}

        outside = ["parameters.phi=0.7", "solver.params.max_cfl=0.95", "time.t_end=1.0e-3", "output.every=200"]
        _, (_, r) = in_pairs(lambda: run_case(exe, case, out["out_cl"], outside),
                             lambda: run_status(exe, case, out["out_ai"], outside + [MODEL], quiet=False))
        warned = warning_about(r, "equivalence_ratio")
        print(f"outside (phi 0.7): exit {r.returncode}; warning: {warned}")
        if r.returncode != 0:
            problems.append(f"outside the regime the run failed (exit {r.returncode}): {r.stderr[-1500:]}")
        else:
            s = json.load(open(os.path.join(out["out_ai"], "summary.json")))
            react = substep(s)
            n = react["points"]
            fb = react["fallback"]["ood"] + react["fallback"]["estimate"]
            judged = react.get("accepted_out_of_range", 0)
            far = react.get("outside_support", 0)
            T_cl = last_T(out["out_cl"])
            e = float(np.linalg.norm(last_T(out["out_ai"]) - T_cl) / np.linalg.norm(T_cl))
            print(f"  accepted {react['accepted'] / n:.1%}, of them outside the regime but passed by the error "
                  f"estimate {judged / n:.1%}; sent to CVODE {fb / n:.1%} (out of range "
                  f"{react['fallback']['ood'] / n:.1%}, estimate {react['fallback']['estimate'] / n:.1%}); "
                  f"inside the regime but far from the data {far / n:.1%}; T rel L2 against CVODE {e:.2e}")
            if not judged > 0.5 * n:
                problems.append(f"outside the regime only {judged / n:.1%} of the cells were judged by the estimate")
            if not fb > 0.05 * n:
                problems.append(f"outside the regime only {fb / n:.1%} of the cells fell back to CVODE")
            if not far > 0.01 * n:
                problems.append(f"only {far / n:.1%} of the cells were found far from the data (the card's support)")
            if not e <= 2e-3:
                problems.append(f"outside the regime T rel L2 {e:.2e} against CVODE (bound 2e-3)")
        if not warned:
            problems.append("outside the regime set-up did not warn about the equivalence ratio")
    return verdict(problems, "lean regime")


if __name__ == "__main__":
    sys.exit(main())
