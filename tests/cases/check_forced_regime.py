#!/usr/bin/python3
"""A forced regime model in the flames it is made for (issue 28): the shipped h2_forced model
(cases/models/h2_forced.card.yaml: lean H2-air, dt 5 us, trained on 1D lean flames across
phi 0.35-0.55 and 300-375 K under splitting: forced; it reads the cell's state and the state
the transport leaves, field `transported`) guarded with the default guard on react of
cases/flame1d_h2_lean.yaml with splitting: forced, against the same flame with CVODE.
Checked, inside its regime (phi 0.45, 300 K), 2 ms (400 steps, the flame's start-up from
its tanh profile, where the states change most):
  - the card reads `transported` and adds its increment to it (increment_of);
  - 99% of the cells accepted (measured 99.94%), the front position at every step within
    5 um of CVODE's (a tenth of a cell; measured 1.2 um) and T's relative L2 at the end
    below 1e-3 (measured 1.7e-4): the bounds of the chemistry-alone model (h2_lean) under
    forced_split, check_lean_regime.py;
  - the same on 2 ranks: within 1e-4 of 1 rank in T (float32 inference in batches of
    another size is not bitwise; measured 1.2e-7).
Usage: check_forced_regime.py SIMFUSE SOURCE_DIR [--mpiexec MPIEXEC]
"""
import os
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from case_tools import guarded_in_flame, verdict  # noqa: E402

MODEL = "coupling.react={type: guarded, model: models/h2_forced.card.yaml}"


def main():
    exe, src = sys.argv[1], sys.argv[2]
    mpiexec = sys.argv[sys.argv.index("--mpiexec") + 1] if "--mpiexec" in sys.argv else "mpiexec"
    case = os.path.join(src, "cases", "flame1d_h2_lean.yaml")
    card = yaml.safe_load(open(os.path.join(src, "cases", "models", "h2_forced.card.yaml")))
    problems = []
    fields = [i.get("field") for i in card["inputs"]]
    print(f"h2_forced reads {fields}, increment_of {card.get('increment_of')}, regime {card.get('regime')}")
    if fields != ["gas", "transported"] or card.get("increment_of") != "transported":
        problems.append("the card does not read gas and transported, or does not add to transported")
    inside = ["parameters.phi=0.45", "time.t_end=2.0e-3", "output.every=400",
              "solver.params.reacting.splitting=forced"]
    with tempfile.TemporaryDirectory() as tmp:
        guarded_in_flame(exe, case, tmp, inside, MODEL, mpiexec, problems, "inside (phi 0.45)")
    return verdict(problems, "forced regime")


if __name__ == "__main__":
    sys.exit(main())
