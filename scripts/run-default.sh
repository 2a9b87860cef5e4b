#!/usr/bin/env bash
# README command 1: install what is missing, build, run the default case.
# Output: out/<case>/ with the .pvd series (ParaView), PNG snapshots and summary.json.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec ./build/bin/simfuse compare cases/default.yaml "$@"
