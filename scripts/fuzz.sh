#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build-fuzz/, coverage + ASan + UBSan) and runs
# each for SECONDS (default 600), seeded with the bad-input corpus and the shipped files.
# Findings (crashes, leaks off) go to build-fuzz/findings/<target>/.
#   scripts/fuzz.sh [SECONDS] [fuzz_config|fuzz_card]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
targets=${2:-"fuzz_config fuzz_card"}
if [ ! -f build-fuzz/CMakeCache.txt ]; then
  cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIMFUSE_FUZZ=ON -DSIMFUSE_BUILD_TESTS=OFF \
    -DSIMFUSE_BUILD_BENCH=OFF -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DPython3_EXECUTABLE=/usr/bin/python3
fi
cmake --build build-fuzz -j "$(nproc)" --target $targets
export ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
for t in $targets; do
  seeds=build-fuzz/seeds/$t corpus=build-fuzz/corpus/$t findings=build-fuzz/findings/$t
  mkdir -p "$seeds" "$corpus" "$findings"
  if [ "$t" = fuzz_config ]; then
    cp tests/cli/bad/*.yaml cases/*.yaml "$seeds"/ 2>/dev/null || true
  else
    cp cases/models/*.card.yaml tests/fixtures/*.card.yaml "$seeds"/ 2>/dev/null || true
  fi
  echo "== $t: ${secs}s, $(ls "$seeds" | wc -l) seeds"
  build-fuzz/fuzz/$t -max_total_time="$secs" -max_len=65536 -rss_limit_mb=4096 -timeout=20 \
    -artifact_prefix="$findings/" -print_final_stats=1 "$corpus" "$seeds" 2>&1 | tail -n 25
done
