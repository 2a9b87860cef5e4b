#!/usr/bin/env python3
"""Generates every Cantera reference the suite uses and writes it, with the Cantera version
and the date, to tests/chemistry/cantera/*.json (committed): the suite compares against
live Cantera when it can import it and against these files otherwise.

What is computed, and how, is tests/chemistry/cantera_reference.py (the checks call the same
functions when Cantera is there). Run it after changing a mechanism, a problem or Cantera:
  .venv-cantera/bin/python scripts/cantera_refs.py [--only thermo,transport,jacobian,ignition,sweep,refusals,flames]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "chemistry"))
import cantera_reference as cr  # noqa: E402

SEEDS = {"h2o2": 20261204, "gri30": 20261205, "nDodecane_Reitz": 20261206}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="thermo,transport,jacobian,ignition,sweep,refusals,flames")
    a = ap.parse_args()
    ct = cr.cantera()
    if ct is None:
        sys.exit("cantera is not importable: run scripts/install-deps.sh and use .venv-cantera/bin/python")
    only = set(a.only.split(","))
    for key in cr.MECHANISMS:
        if "thermo" in only:
            t = time.time()
            states = cr.make_states(ct, key, SEEDS[key])
            cr.write_committed(ct, f"thermo_rates_{key}", {"states": states, "results": cr.thermo_rates(ct, key, states)},
                               [key])
            print(f"thermo_rates_{key}: {len(states)} states, {time.time() - t:.1f} s")
        if "transport" in only and key != "nDodecane_Reitz":  # the Reitz file has no transport data
            t = time.time()
            states = cr.transport_states(ct, key, {"h2o2": 20261207, "gri30": 20261208}[key])
            cr.write_committed(ct, f"transport_{key}", dict(states=states, **cr.transport(ct, key, states)), [key])
            print(f"transport_{key}: {len(states)} states, {time.time() - t:.1f} s")
            cr.write_committed(ct, f"transport_species_{key}", cr.transport_species(ct, key), [key])
            print(f"transport_species_{key}: {len(cr.TRANSPORT_TEMPERATURES)} temperatures")
        if "jacobian" in only:
            t = time.time()
            states = cr.jacobian_states(ct, key, SEEDS[key] + 1)
            cr.write_committed(ct, f"jacobian_{key}", {"states": states, "results": cr.jacobian(ct, key, states)}, [key])
            print(f"jacobian_{key}: {len(states)} states, {time.time() - t:.1f} s")
    if "ignition" in only:
        t = time.time()
        res = [cr.ignition(ct, p) for p in cr.IGNITION]
        cr.write_committed(ct, "ignition", {"problems": cr.IGNITION, "results": res}, sorted({p["mech"] for p in cr.IGNITION}))
        print(f"ignition: {len(res)} problems, {time.time() - t:.1f} s")
    if "sweep" in only:
        t = time.time()
        cr.write_committed(ct, "sweep_nc12", {"sweep": cr.SWEEP, "results": cr.sweep(ct)}, [cr.SWEEP["mech"]])
        print(f"sweep_nc12: {time.time() - t:.1f} s")
    if "flames" in only:
        t = time.time()
        res = [cr.flame(ct, p) for p in cr.FLAMES]
        cr.write_committed(ct, "flames", {"problems": cr.FLAMES, "results": res}, sorted({p["mech"] for p in cr.FLAMES}))
        print(f"flames: {len(res)} FreeFlames, {time.time() - t:.1f} s")
    if "refusals" in only:
        t = time.time()
        cr.write_committed(ct, "refusals", {"results": cr.refusals(ct)})
        print(f"refusals: {time.time() - t:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
