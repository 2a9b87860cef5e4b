#!/usr/bin/python3
"""A methane-air regime model in the flames it is made for (issue 28): the shipped ch4_flames
model (cases/models/ch4_flames.card.yaml: GRI-3.0, 53 species, dt 5 us, trained on 1D
methane-air flames across phi 0.75-1.25 and 300-400 K) guarded with the default guard on
react of cases/flame1d_ch4.yaml (splitting forced_split), against the same flame with CVODE.
A methane flame costs 8.8x a lean H2 one here, so the check is the flame's first 0.5 ms
(100 steps, the start-up from the tanh profile, where the states are farthest from the
data); the settled flames' speeds are in docs/benchmarks.md. Checked:
  - the card states its regime (local equivalence ratio, temperature, pressure) and the
    run's provenance records its data's support file with its SHA-256;
  - inside it (phi 1.0, 300 K): 97% of the cells accepted (measured 98.8%; the rest are
    start-up states the error estimate rejects) and T's relative L2 against CVODE at the
    end below 2.5e-2 (measured 1.28e-2: the start-up's front is 40 um ahead of CVODE's; over
    4 ms the difference settles to 3.6e-3 and S_c to +0.75%, benchmarks.md), and react
    at least 3x cheaper than CVODE's (measured 28x: not a timing threshold, a check that
    the model runs rather than falls back, with room for a noisy machine);
  - the same on 2 ranks: within 1e-4 of 1 rank in T (float32 inference in batches of
    another size is not bitwise; measured 1.8e-5);
  - outside it (phi 0.6, below its local 0.67-1.42), 0.1 ms: set-up warns, naming
    equivalence_ratio, and the run ends (exit 0), not failing, with more than half the
    points judged as outside the regime (by the error estimate, or sent to CVODE; measured
    100%, of which the estimate passed 33%).
Usage: check_ch4_regime.py SIMFUSE SOURCE_DIR [--mpiexec MPIEXEC]
"""
import json
import os
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from case_tools import (guarded_in_flame, regime_problems, run_status, substep, support_problems,  # noqa: E402
                        verdict, warning_about)

MODEL = "coupling.react={type: guarded, model: models/ch4_flames.card.yaml}"


def main():
    exe, src = sys.argv[1], sys.argv[2]
    mpiexec = sys.argv[sys.argv.index("--mpiexec") + 1] if "--mpiexec" in sys.argv else "mpiexec"
    case = os.path.join(src, "cases", "flame1d_ch4.yaml")
    card = yaml.safe_load(open(os.path.join(src, "cases", "models", "ch4_flames.card.yaml")))
    print(f"ch4_flames' regime: {card.get('regime', {})}, conditions {card.get('conditions')}")
    problems = regime_problems(card)
    inside = ["parameters.phi=1.0", "time.t_end=5.0e-4", "output.every=100"]
    with tempfile.TemporaryDirectory() as tmp:
        # the start-up's front is not checked (40 um ahead of CVODE's; T's bound says it)
        s = guarded_in_flame(exe, case, tmp, inside, MODEL, mpiexec, problems, "inside (phi 1.0)", min_accepted=0.97,
                             max_front=None, max_T=2.5e-2, min_react_ratio=3)
        problems += support_problems(s, "ch4_flames.support.npy")

        out = {"outside": os.path.join(tmp, "outside")}
        outside = ["parameters.phi=0.6", "time.t_end=1.0e-4", "output.every=20"]
        _, r = run_status(exe, case, out["outside"], outside + [MODEL], quiet=False)
        warned = warning_about(r, "equivalence_ratio")
        print(f"outside (phi 0.6): exit {r.returncode}; warning: {warned}")
        if r.returncode != 0:
            problems.append(f"outside the regime the run failed (exit {r.returncode}): {r.stderr[-1500:]}")
        else:
            react = substep(json.load(open(os.path.join(out["outside"], "summary.json"))))
            n = react["points"]
            judged = react.get("accepted_out_of_range", 0) + react["fallback"]["ood"] + react["fallback"]["estimate"]
            print(f"  accepted {react['accepted'] / n:.1%}; outside the regime and judged by the estimate or "
                  f"sent to CVODE {judged / n:.1%}")
            if not judged > 0.5 * n:
                problems.append(f"outside the regime only {judged / n:.1%} of the cells were judged as outside")
        if not warned:
            problems.append("outside the regime set-up did not warn about the equivalence ratio")
    return verdict(problems, "methane regime")


if __name__ == "__main__":
    sys.exit(main())
