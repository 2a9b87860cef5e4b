#!/usr/bin/env python3
"""Checks simfuse's mechanism reader and kinetics against this independent numpy
implementation of the same model (Cantera's YAML conventions): NASA-7 thermodynamics,
forward rate constants (Arrhenius, three-body, Lindemann and Troe falloff), reverse rate
constants from the equilibrium constant, and net production rates, at random states.

The C++ side is build/tests/mechanism_rates (what simfuse's Mechanism computes). Written
from the format's definition, sharing no code with it: its own YAML parsing (python3-yaml),
unit conversion and equation parsing.

Tolerances: thermodynamics and rate constants 1e-10 relative (both evaluate the same
closed forms in double precision, so they agree to a few ulps times the exponent's size);
production rates 1e-10 relative to the sum of the magnitudes of the terms they add up
(wdot_k = sum_i nu_ki q_i cancels near equilibrium, so its own size is no scale).

Usage: check_mechanism.py MECHANISM_RATES_EXE MECHANISM.yaml [PHASE] [--states N]
"""
import argparse
import json
import math
import re
import subprocess
import sys

import numpy as np
import yaml

R = 8.31446261815324
P0 = 101325.0
WEIGHTS = {"H": 1.008, "He": 4.002602, "C": 12.011, "N": 14.007, "O": 15.999, "Ar": 39.95}

LENGTH = {"m": 1.0, "cm": 1e-2, "mm": 1e-3}
QUANTITY = {"mol": 1.0, "kmol": 1e3}
TIME = {"s": 1.0, "ms": 1e-3, "min": 60.0}
ENERGY = {"J/mol": 1.0, "kJ/mol": 1e3, "J/kmol": 1e-3, "cal/mol": 4.184, "kcal/mol": 4184.0}


class Loader(yaml.SafeLoader):
    """YAML 1.2 booleans only: the species NO must stay the string 'NO' (as in yaml-cpp)."""


Loader.yaml_implicit_resolvers = {k: [(t, r) for t, r in v if t != "tag:yaml.org,2002:bool"]
                                  for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                             list("tTfF"))


def load(path, phase):
    doc = yaml.load(open(path), Loader=Loader)
    u = doc.get("units", {})
    length, quantity = LENGTH[u.get("length", "m")], QUANTITY[u.get("quantity", "kmol")]
    time, energy = TIME[u.get("time", "s")], ENERGY[u.get("activation-energy", "J/kmol")]
    ph = next(p for p in doc["phases"] if phase in (None, p["name"]))
    names = ph["species"] if isinstance(ph["species"], list) else [s["name"] for s in doc["species"]]
    sp = {s["name"]: s for s in doc["species"]}
    species = [sp[n] for n in names]
    index = {n: i for i, n in enumerate(names)}

    def arrhenius(rc, order):
        conc = length ** 3 / quantity
        return (rc["A"] * conc ** (order - 1) / time, rc["b"], rc["Ea"] * energy / R)

    def side(text):
        terms, m, fall = {}, False, None
        text = text.replace("(+ ", "(+")
        for t in [t.strip() for t in re.split(r"\s\+\s", " " + text + " ")]:
            if not t:
                continue
            mf = re.fullmatch(r"(.*?)\s*\(\+(\S+)\)", t)
            if mf:
                fall = mf.group(2)
                t = mf.group(1).strip()
                if not t:
                    continue
            if t == "M":
                m = True
                continue
            mc = re.fullmatch(r"(\d+(?:\.\d*)?)\s+(\S+)", t)
            coef, name = (float(mc.group(1)), mc.group(2)) if mc else (1.0, t)
            terms[index[name]] = terms.get(index[name], 0.0) + coef
        return terms, m, fall

    reactions = []
    for r in doc.get("reactions", []):
        eq = r["equation"]
        arrow = "<=>" if "<=>" in eq else ("=>" if "=>" in eq else "=")
        lhs, rhs = eq.split(arrow)
        (re_, m, fall), (pr, _, _) = side(lhs), side(rhs)
        order = sum(re_.values())
        rx = {"reac": re_, "prod": pr, "rev": arrow != "=>", "eq": eq}
        if fall is not None:
            rx["kind"] = "falloff"
            rx["high"] = arrhenius(r["high-P-rate-constant"], order)
            rx["low"] = arrhenius(r["low-P-rate-constant"], order + 1)
            rx["troe"] = r.get("Troe")
        elif m:
            rx["kind"] = "three-body"
            rx["k"] = arrhenius(r["rate-constant"], order + 1)
        else:
            rx["kind"] = "elementary"
            rx["k"] = arrhenius(r["rate-constant"], order)
        if rx["kind"] != "elementary":
            eff = np.full(len(names), r.get("default-efficiency", 1.0))
            if fall not in (None, "M"):
                eff[:] = 0.0
                eff[index[fall]] = 1.0
            for n, e in r.get("efficiencies", {}).items():
                if n in index:
                    eff[index[n]] = e
            rx["eff"] = eff
        reactions.append(rx)
    return names, species, reactions


def nasa(species, T):
    cp, h, s = [], [], []
    for sp in species:
        th = sp["thermo"]
        a = th["data"][0] if T < th["temperature-ranges"][1] else th["data"][-1]
        cp.append(a[0] + a[1] * T + a[2] * T ** 2 + a[3] * T ** 3 + a[4] * T ** 4)
        h.append(a[0] + a[1] * T / 2 + a[2] * T ** 2 / 3 + a[3] * T ** 3 / 4 + a[4] * T ** 4 / 5 + a[5] / T)
        s.append(a[0] * math.log(T) + a[1] * T + a[2] * T ** 2 / 2 + a[3] * T ** 3 / 3 + a[4] * T ** 4 / 4 + a[6])
    return np.array(cp), np.array(h), np.array(s)


def rates(names, species, reactions, T, C):
    cp, h, s = nasa(species, T)
    g = h - s
    kf, kr, terms = [], [], []
    k_arr = lambda p: p[0] * T ** p[1] * math.exp(-p[2] / T)
    for rx in reactions:
        if rx["kind"] == "elementary":
            k = k_arr(rx["k"])
        elif rx["kind"] == "three-body":
            k = k_arr(rx["k"]) * float(rx["eff"] @ C)
        else:
            kinf, k0 = k_arr(rx["high"]), k_arr(rx["low"])
            pr = max(k0 * float(rx["eff"] @ C) / kinf, 1e-300)
            F = 1.0
            t = rx["troe"]
            if t:
                fc = ((1 - t["A"]) * math.exp(-T / t["T3"]) if t["T3"] else 0.0) + \
                     (t["A"] * math.exp(-T / t["T1"]) if t["T1"] else 0.0) + \
                     (math.exp(-t["T2"] / T) if "T2" in t else 0.0)
                lf, lp = math.log10(max(fc, 1e-300)), math.log10(pr)
                c, n = -0.4 - 0.67 * lf, 0.75 - 1.27 * lf
                f1 = (lp + c) / (n - 0.14 * (lp + c))
                F = 10 ** (lf / (1 + f1 * f1))
            k = kinf * pr / (1 + pr) * F
        kf.append(k)
        if rx["rev"]:
            dnu = sum(rx["prod"].values()) - sum(rx["reac"].values())
            dg = sum(c * g[j] for j, c in rx["prod"].items()) - sum(c * g[j] for j, c in rx["reac"].items())
            Kc = math.exp(-dg) * (P0 / (R * T)) ** dnu
            kr.append(k / Kc)
        else:
            kr.append(0.0)
    wdot = np.zeros(len(names))
    scale = np.zeros(len(names))
    for rx, f, r in zip(reactions, kf, kr):
        fwd = f * math.prod(C[j] ** c for j, c in rx["reac"].items())
        rev = r * math.prod(C[j] ** c for j, c in rx["prod"].items())
        for j, c in rx["reac"].items():
            wdot[j] -= c * (fwd - rev)
            scale[j] += c * (abs(fwd) + abs(rev))
        for j, c in rx["prod"].items():
            wdot[j] += c * (fwd - rev)
            scale[j] += c * (abs(fwd) + abs(rev))
    return cp, h, s, np.array(kf), np.array(kr), wdot, scale


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("exe")
    ap.add_argument("mechanism")
    ap.add_argument("phase", nargs="?")
    ap.add_argument("--states", type=int, default=40)
    a = ap.parse_args()
    names, species, reactions = load(a.mechanism, a.phase)
    rng = np.random.default_rng(20261129)
    states = []
    for _ in range(a.states):  # temperatures over both polynomial ranges, concentrations over 8 decades
        T = float(rng.uniform(300.0, 3000.0))
        C = (10.0 ** rng.uniform(-6, 2, len(names))).tolist()
        states.append({"T": T, "C": C})
    cmd = [a.exe, a.mechanism] + ([a.phase] if a.phase else [])
    out = subprocess.run(cmd, input=json.dumps({"states": states}), capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr)
        return 1
    got = json.loads(out.stdout)
    if got["species"] != names:
        print("species differ:", got["species"], names)
        return 1
    worst = {"thermo": 0.0, "kf": 0.0, "kr": 0.0, "wdot": 0.0}
    for st, res in zip(states, got["results"]):
        cp, h, s, kf, kr, wdot, scale = rates(names, species, reactions, st["T"], np.array(st["C"]))
        rel = lambda x, y, sc: float(np.max(np.abs(np.array(x) - y) / np.maximum(sc, 1e-300)))
        worst["thermo"] = max(worst["thermo"], rel(res["cp_R"], cp, np.abs(cp)), rel(res["h_RT"], h, np.abs(h) + 1),
                              rel(res["s_R"], s, np.abs(s)))
        worst["kf"] = max(worst["kf"], rel(res["kf"], kf, np.abs(kf)))
        worst["kr"] = max(worst["kr"], rel(res["kr"], kr, np.maximum(np.abs(kr), 1e-300)))
        worst["wdot"] = max(worst["wdot"], rel(res["wdot"], wdot, scale))
    print(f"{a.mechanism} ({len(names)} species, {len(reactions)} reactions), {a.states} random states, "
          f"largest relative differences:")
    ok = True
    for k, v in worst.items():
        good = v <= 1e-10
        ok = ok and good
        print(f"  {k:7s} {v:.2e}  {'ok' if good else 'FAIL (> 1e-10)'}")
    print("mechanism check: " + ("OK" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
