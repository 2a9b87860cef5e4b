#!/usr/bin/env bash
# Example 4: example 3's dataset into PyTorch, a TorchScript model back into simfuse.
# Usage: run_ex4.sh SIMFUSE EX3_WORK   (EX3_WORK: the folder run_ex3.sh worked in)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
simfuse=$(realpath "$1")
cd "$2"
/usr/bin/python3 "$here/train_torchscript.py" data/react.pt torch_model
"$simfuse" compare allen_cahn.yaml -o out_torchscript -q \
  --set 'coupling.react={type: guarded, model: torch_model/react.card.yaml}'
/usr/bin/python3 - <<'PY'
import json
s = json.load(open("out_torchscript/summary.json"))
react = next(st for st in s["substeps"] if st["name"] == "react")
final = s["compare"]["final"]["u"]
print(f"TorchScript model ({react['model']['inference_path']}): {100 * react['accepted_fraction']:.1f}% of points "
      f"accepted, u relative L2 error {final['rel_l2']:.2e} against the classical twin")
assert react["model"]["inference_path"] == "onednn", "an nn.Sequential MLP should run through oneDNN"
assert react["accepted_fraction"] > 0.8 and final["rel_l2"] < 1e-2, "the TorchScript model is not where it was"
print("ex4: OK")
PY
