#!/usr/bin/env bash
# Warm start of the implicit diffusion solve (cases/heat2d_warm.yaml): KSP iterations per
# call and diffuse time with the CNN's guess vs the previous solution (the classical
# default), for three preconditioners. Usage: bench/run_warm_start_bench.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
exe=${1:-build}/bin/simfuse
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "| preconditioner | iterations/call, warm start | iterations/call, classical | ratio | diffuse time ratio (incl. inference) |"
echo "|---|---|---|---|---|"
for pc in mg icc jacobi; do
  "$exe" run cases/heat2d_warm.yaml -o "$out/w" -q -- -diffuse_pc_type "$pc"
  "$exe" run cases/heat2d_warm.yaml --set 'coupling={}' -o "$out/c" -q -- -diffuse_pc_type "$pc"
  /usr/bin/python3 - "$out" "$pc" <<'PY'
import json, sys
d, pc = sys.argv[1], sys.argv[2]
w = json.load(open(f"{d}/w/summary.json"))["substeps"][0]
c = json.load(open(f"{d}/c/summary.json"))["substeps"][0]
print(f"| {pc} | {w['iterations_per_call']:.2f} | {c['iterations_per_call']:.2f} | "
      f"{w['iterations_per_call'] / c['iterations_per_call']:.3f} | {w['seconds'] / c['seconds']:.2f} |")
PY
done
