#!/usr/bin/env bash
# README command 2: install what is missing, build, run every test (serial and 2-rank MPI).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
# One machine: Open MPI's ob1 layer over shared memory is what it picks here anyway; naming it
# skips a ~0.2 s probe of Omni-Path hardware at every start of a rank (docs/benchmarks.md).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_pml=ob1
cd build
exec ctest --output-on-failure -j "$(nproc 2>/dev/null || echo 2)" "$@"
