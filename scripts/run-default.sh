#!/usr/bin/env bash
# README command 1: install what is missing, build, run the default case next to its
# classical twin, and draw the report figure.
# Output: out/default/ with the .pvd series (ParaView), PNG figures, summary.json, and
# report.png (error over time, time per sub-step, accepted fraction).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
./build/bin/simfuse compare cases/default.yaml "$@"
# The figure of the folder the run wrote (-o/--output, else the case's output.dir).
out=out/default
args=("$@")
for ((i = 0; i < ${#args[@]}; ++i)); do
  case "${args[$i]}" in
    -o | --output) out=${args[$((i + 1))]:-$out} ;;
    --output=*) out=${args[$i]#--output=} ;;
  esac
done
/usr/bin/python3 scripts/report.py "$out"
