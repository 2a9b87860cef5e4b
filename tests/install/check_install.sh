#!/usr/bin/env bash
# Installs simfuse to a temporary prefix and uses it the way a scientist would, with no
# LD_LIBRARY_PATH: the installed `simfuse --help`, a small case, examples/ex2 built with
# find_package(simfuse) (run on 1 and 2 ranks) and with pkg-config, the old include form,
# and the plugins of examples 5 and 3 built against it and run by the installed simfuse.
# Usage: check_install.sh <build dir> <source dir> <mpiexec>
set -euo pipefail
build=$1 src=$2 mpiexec=$3
work=$(mktemp -d "${TMPDIR:-/tmp}/simfuse_install.XXXXXX")
trap 'rm -rf "$work"' EXIT
unset LD_LIBRARY_PATH
prefix=$work/prefix
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

step() { echo "--- $*"; }

step "install to $prefix"
cmake --install "$build" --prefix "$prefix" > "$work/install.log" || { cat "$work/install.log"; exit 1; }

# Moved after installing: nothing may point back at the install folder or the build tree.
mv "$prefix" "$work/moved"
prefix=$work/moved

step "the installed libraries find each other through \$ORIGIN"
for lib in "$prefix"/lib/libsimfuse_*.so; do
  if ! readelf -d "$lib" | grep -E 'R(UN)?PATH' | grep -q '\$ORIGIN'; then
    echo "FAIL: $lib has no \$ORIGIN in its RUNPATH:"; readelf -d "$lib" | grep -E 'R(UN)?PATH' || true; exit 1
  fi
done
if ldd "$prefix/bin/simfuse" | grep -q 'not found'; then
  echo "FAIL: the installed simfuse misses libraries:"; ldd "$prefix/bin/simfuse" | grep 'not found'; exit 1
fi
if ldd "$prefix/bin/simfuse" | grep -F "$build" ; then
  echo "FAIL: the installed simfuse loads libraries from the build tree"; exit 1
fi

step "simfuse --help"
"$prefix/bin/simfuse" --help | grep -q "run" || { echo "FAIL: simfuse --help"; exit 1; }

step "a small case with the installed simfuse"
"$prefix/bin/simfuse" run "$src/cases/heat2d.yaml" --set grid.n=[17,17] --set time.t_end=0.004 -o "$work/heat" -q
test -s "$work/heat/summary.json" || { echo "FAIL: no summary.json"; exit 1; }
grep -q '"status": "completed"' "$work/heat/summary.json" || { echo "FAIL: run not completed"; exit 1; }

step "examples/ex2 built against the installed package"
cmake -S "$src/examples/ex2_custom_solver" -B "$work/ex2" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release > "$work/ex2.log" 2>&1 || { cat "$work/ex2.log"; exit 1; }
grep -q "simfuse_DIR:PATH=$prefix" "$work/ex2/CMakeCache.txt" ||
  { echo "FAIL: ex2 did not find the installed simfuse:"; grep simfuse_DIR "$work/ex2/CMakeCache.txt"; exit 1; }
cmake --build "$work/ex2" >> "$work/ex2.log" 2>&1 || { cat "$work/ex2.log"; exit 1; }
for np in 1 2; do
  (cd "$work" && "$mpiexec" -n $np --oversubscribe "$work/ex2/ex2" "$src/examples/ex2_custom_solver/ex2.yaml" \
      --set output.dir="$work/ex2_out_$np") > "$work/ex2_run.log" 2>&1 || { cat "$work/ex2_run.log"; exit 1; }
  grep -Eq "max error [0-9.]+e-1[0-9]" "$work/ex2_run.log" || { echo "FAIL: ex2 on $np rank(s):"; cat "$work/ex2_run.log"; exit 1; }
  echo "ex2 on $np rank(s): $(grep -E 'max error' "$work/ex2_run.log" | head -n1)"
done
step "the old include form (\"core/Grid.hpp\", deprecated for one release) still compiles"
mkdir -p "$work/oldform"
printf '#include "core/Grid.hpp"\n#include "coupling/Simulation.hpp"\nint oldform() { return 0; }\n' > "$work/oldform/old.cpp"
cat > "$work/oldform/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.22)
project(oldform LANGUAGES C CXX)
find_package(simfuse REQUIRED)
add_library(oldform OBJECT old.cpp)
target_link_libraries(oldform PRIVATE simfuse::coupling)
EOF
cmake -S "$work/oldform" -B "$work/oldform/build" -DCMAKE_PREFIX_PATH="$prefix" > "$work/oldform.log" 2>&1 &&
  cmake --build "$work/oldform/build" >> "$work/oldform.log" 2>&1 || { cat "$work/oldform.log"; exit 1; }

step "pkg-config: examples/ex2 built without CMake"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
flags=$(pkg-config --cflags --libs simfuse) || { echo "FAIL: pkg-config simfuse"; exit 1; }
# shellcheck disable=SC2086
c++ ${CXXFLAGS:-} ${LDFLAGS:-} -O1 "$src/examples/ex2_custom_solver/ex2.cpp" $flags -o "$work/ex2_pc" > "$work/pc.log" 2>&1 ||
  { echo "FAIL: c++ ex2.cpp \$(pkg-config --cflags --libs simfuse):"; cat "$work/pc.log"; exit 1; }
(cd "$work" && "$work/ex2_pc" "$src/examples/ex2_custom_solver/ex2.yaml" --set output.dir="$work/ex2_pc_out") \
  > "$work/ex2_pc_run.log" 2>&1 || { cat "$work/ex2_pc_run.log"; exit 1; }
grep -Eq "max error [0-9.]+e-1[0-9]" "$work/ex2_pc_run.log" || { echo "FAIL: ex2 via pkg-config"; cat "$work/ex2_pc_run.log"; exit 1; }

step "plugins built against the installed package, loaded by the installed simfuse: examples 5, 3 and 6"
EX5_WORK=$work/ex5 "$src/examples/ex5_custom_policy/run_ex5.sh" "$prefix/bin/simfuse" "$src" \
  "$prefix/lib/cmake/simfuse" > "$work/ex5.log" 2>&1 && grep -q "ex5: OK" "$work/ex5.log" ||
  { echo "FAIL: ex5 against the install"; cat "$work/ex5.log"; exit 1; }
EX3_WORK=$work/ex3 MPIEXEC=$mpiexec "$src/examples/ex3_plugin_surrogate/run_ex3.sh" "$prefix/bin/simfuse" \
  "$prefix/lib/cmake/simfuse" > "$work/ex3.log" 2>&1 && grep -q "ex3: OK" "$work/ex3.log" ||
  { echo "FAIL: ex3 against the install"; cat "$work/ex3.log"; exit 1; }
grep -E "^react:" "$work/ex3.log"
# The extension tier (PointGuard, ModelBinding, ReplacePolicy) is installed; detail/ is not.
test ! -e "$prefix/include/simfuse/coupling/ai/detail" || { echo "FAIL: internal detail/ headers installed"; exit 1; }
EX6_WORK=$work/ex6 "$src/examples/ex6_policy_with_model/run_ex6.sh" "$prefix/bin/simfuse" "$src" \
  "$prefix/lib/cmake/simfuse" > "$work/ex6.log" 2>&1 && grep -q "ex6: OK" "$work/ex6.log" ||
  { echo "FAIL: ex6 against the install"; cat "$work/ex6.log"; exit 1; }

echo "install: OK"
