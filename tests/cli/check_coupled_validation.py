#!/usr/bin/env python3
"""`simfuse train` with coupled_validation, end to end, on the h2_tiny problem:
  - data: tests/fixtures/h2_tiny's generate spec (2 members x 32 reactors x 200 steps);
  - the same 12-epoch training twice: selected by the held-out loss, and by the coupled
    check every 3 epochs on tests/fixtures/h2_tiny/h2_tiny_ignition_check.yaml (8 reactors,
    ignition delays against the classical run of the same case);
  - the card's selection: every check recorded (epochs 3, 6, 9, 12 and the held-out loss's
    best), the written epoch is the lowest error (at equal error the lower loss);
  - the recorded error is true: the written model, run in the case by `simfuse run` with the
    surrogate policy, gives ignition delays (reactors.csv) whose error against the classical
    run's equals the recorded value (to 1e-9: the same model, steps and batch);
  - the coupled choice is the known-better one: its error is at most that of the model the
    held-out loss chose (that model is one of the candidates), measured the same way;
  - nothing is left beside the model (the candidate files are removed);
  - 2 ranks (data-parallel): the same checks, errors within 0.05 absolute (gradients are
    summed in another order, and a delay located between steps of 2 us moves by a step
    when a model's rounding moves a crossing);
  - metric final_field on two cases, a 21 x 21 hot spot (h2_tiny_hotspot_check.yaml) and
    the sweep: the recorded error is the mean of `simfuse compare`'s final gas_T rel_l2 of
    the written model in each (to 1e-9 relative); a field the case does not have is refused with the key, exit 2, nothing
    written; so is a case of another mechanism (its model would be refused there).
Usage: check_coupled_validation.py SIMFUSE SOURCE_DIR [--mpiexec mpirun]
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

import yaml  # python3-yaml (Debian's, a dependency of python3-torch's tools)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cases"))
from case_tools import ENV, run_case, verdict  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("exe")
    ap.add_argument("src")
    ap.add_argument("--mpiexec", default="mpirun")
    a = ap.parse_args()
    fx = os.path.join(a.src, "tests", "fixtures", "h2_tiny")
    check_case = os.path.join(fx, "h2_tiny_ignition_check.yaml")
    env = dict(ENV, OMPI_MCA_rmaps_base_oversubscribe="1")  # every command as case_tools.run_case runs a case
    problems = []

    def check(cond, what):
        print(("ok  " if cond else "FAIL") + " " + what, flush=True)
        if not cond:
            problems.append(what)
        return cond

    def sh(cmd, np_=1):
        if np_ > 1:
            cmd = [a.mpiexec, "-n", str(np_)] + cmd
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r.stdout + r.stderr

    with tempfile.TemporaryDirectory() as tmp:
        # The data.
        gen = os.path.join(tmp, "gen.yaml")
        with open(gen, "w") as f:
            f.write(f"base: {os.path.join(fx, 'h2_tiny_member.yaml')}\noutput: {tmp}/data\nmembers: 2\n"
                    "sampling: {method: latin_hypercube, seed: 1}\n"
                    "parameters: {parameters.phi: {range: [0.5, 2.0]}}\n"
                    "capture: {react: {every: 1, points: 32}}\n")
        sh([a.exe, "generate", gen, "--no-progress"])

        def train(name, coupled, np_=1, expect_fail=False):
            spec = os.path.join(tmp, name + ".yaml")
            folder = os.path.join(tmp, name)
            with open(spec, "w") as f:
                f.write(f"dataset: {tmp}/data/react.pt\noutput: {folder}/model\n"
                        "model: {name: tiny, architecture: {type: mlp, hidden: [16], activation: tanh}, "
                        "predicts: increment}\n"
                        "training: {epochs: 12, batch: 512, lr: 3.0e-3, validation_fraction: 0.05, seed: 1}\n"
                        "checkpoint: {every: 0}\n")
                if coupled is True:
                    f.write(f"coupled_validation: {{case: {check_case}, every: 3}}\n")
                elif coupled:
                    f.write(f"coupled_validation: {coupled}\n")
            if expect_fail:
                r = subprocess.run([a.exe, "train", spec, "--no-progress"], env=env, capture_output=True, text=True)
                return r, folder
            log = sh([a.exe, "train", spec, "--no-progress"], np_)
            with open(os.path.join(folder, "model.card.yaml")) as f:
                return yaml.safe_load(f), folder, log

        def delays(out):
            with open(os.path.join(out, "reactors.csv")) as f:
                return [float(r["ignition_delay"]) for r in csv.DictReader(f)]

        def run_check_case(out, card=None):
            run_case(a.exe, check_case, out, [f"coupling.react={{type: surrogate, model: {card}}}"] if card else [])
            return delays(out)

        ref = run_check_case(os.path.join(tmp, "ref"))
        check(sum(t == t for t in ref) >= 6, f"the reference run ignites most reactors: delays {ref}")

        def error_of(card, out):
            got = run_check_case(os.path.join(tmp, out), card)
            errs = []
            for r, m in zip(ref, got):
                ri, mi = r == r, m == m  # nan: no ignition
                errs.append(1.0 if ri != mi else (min(1.0, abs(m - r) / r) if ri else 0.0))
            return sum(errs) / len(errs)

        loss_card, loss_dir, _ = train("by_loss", False)
        sel = loss_card.get("selection", {})
        check(sel.get("by") == "held_out_loss", f"without coupled_validation the held-out loss selects: {sel}")

        card, folder, log = train("by_coupled", True)
        sel = card.get("selection", {})
        check(sel.get("by") == "coupled_validation" and sel.get("metric") == "ignition_delay",
              f"the card says the coupled validation selected: {sel.get('by')} {sel.get('metric')}")
        checks = sel.get("checks", [])
        epochs = [c["epoch"] for c in checks]
        check(set([3, 6, 9, 12]) <= set(epochs) and sel.get("held_out_best_epoch") in epochs,
              f"checked at epochs 3, 6, 9, 12 and the held-out best ({sel.get('held_out_best_epoch')}): {epochs}")
        best = min(checks, key=lambda c: (c["error"], c["held_out_loss"]))
        check(sel.get("epoch") == best["epoch"] and card["provenance"]["best_epoch"] == best["epoch"],
              f"the written epoch {sel.get('epoch')} is the lowest error's ({best['epoch']}): {checks}")
        print("checks:", ", ".join(f"epoch {c['epoch']}: {c['error']:.4f}" for c in checks))
        check("coupled check, epoch 3" in log, "each check is logged")
        measured = error_of(os.path.join(folder, "model.card.yaml"), "rerun")
        check(abs(measured - sel["value"]) <= 1e-9 * max(1.0, measured),
              f"the recorded error {sel['value']:.6g} is what the written model gives in the case: {measured:.6g}")
        by_loss = error_of(os.path.join(loss_dir, "model.card.yaml"), "rerun_loss")
        loss_epoch = loss_card["selection"]["epoch"]
        check(measured <= by_loss + 1e-12,
              f"the coupled choice (epoch {sel['epoch']}, error {measured:.4f}) is no worse than the held-out "
              f"loss's (epoch {loss_epoch}, error {by_loss:.4f})")
        left = sorted(os.listdir(folder))
        check(left == ["model.card.yaml", "model.pt", "model.support.npy"],
              f"only the model (and its data support) is left in its folder: {left}")

        card2, _, _ = train("by_coupled_2", True, np_=2)
        c2 = card2.get("selection", {}).get("checks", [])
        check([c["epoch"] for c in c2] == epochs, f"2 ranks check the same epochs: {[c['epoch'] for c in c2]}")
        worst = max((abs(x["error"] - y["error"]) for x, y in zip(checks, c2)), default=1.0)
        check(worst <= 0.05, f"2 ranks' coupled errors agree with 1 rank's within 0.05: largest difference {worst:.4f}")

        # final_field on a small hot spot and on the reactor sweep: the mean of the two.
        hot = os.path.join(fx, "h2_tiny_hotspot_check.yaml")
        card3, folder3, _ = train("by_field", f"{{case: [{hot}, {check_case}], metric: final_field, field: gas.T, "
                                              "every: 4}")
        sel3 = card3.get("selection", {})
        check(sel3.get("metric") == "final_field" and len(sel3.get("checks", [])) >= 3
              and sel3.get("case") == [hot, check_case],
              f"final_field over two cases: checked {[c['epoch'] for c in sel3.get('checks', [])]}")
        rels = []
        for i, c in enumerate((hot, check_case)):
            out = os.path.join(tmp, f"compare_field_{i}")
            sh([a.exe, "compare", c, "-o", out, "-q", "--no-progress", "--set",
                f"coupling.react={{type: surrogate, model: {folder3}/model.card.yaml}}"])
            with open(os.path.join(out, "summary.json")) as f:
                rels.append(json.load(f)["compare"]["final"]["gas_T"]["rel_l2"])
        mean = sum(rels) / 2
        check(abs(mean - sel3.get("value", -1)) <= 1e-9 * mean,
              f"final_field's recorded error {sel3.get('value')} is the mean of compare's final gas_T rel_l2 "
              f"of the two cases {rels}")
        r, folder4 = train("bad_field", f"{{case: {hot}, metric: final_field, field: gas.XYZ}}", expect_fail=True)
        check(r.returncode == 2 and "coupled_validation.field" in r.stderr and "has no component 'XYZ'" in r.stderr
              and not os.path.exists(folder4),
              f"an unknown field is refused (exit {r.returncode}), nothing written: {r.stderr.strip()[:300]}")

        # A check case with another mechanism (GRI-Mech 3.0 also has H2-O2 chemistry).
        other = os.path.join(tmp, "other_mechanism.yaml")
        with open(check_case) as f:
            text = f.read().replace("../../../cases/mechanisms/h2o2.yaml",
                                    os.path.join(a.src, "cases", "mechanisms", "gri30.yaml"))
        with open(other, "w") as f:
            f.write(text)
        r, folder5 = train("bad_mechanism", f"{{case: {other}}}", expect_fail=True)
        check(r.returncode == 2 and "coupled_validation.case" in r.stderr and "mechanism_hash" in r.stderr
              and not os.path.exists(folder5),
              f"a case of another mechanism is refused (exit {r.returncode}): {r.stderr.strip()[:300]}")

    return verdict(problems, "coupled validation")


if __name__ == "__main__":
    sys.exit(main())
