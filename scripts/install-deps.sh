#!/usr/bin/env bash
# Installs the Debian 12 packages simfuse needs, and Cantera (the reference the chemistry
# is verified against) from PyPI into a virtual environment of its own, .venv-cantera/
# (without system site-packages: pip never touches Debian's numpy that python3-torch was
# built against; only the reference scripts and tests use it, through scripts/cantera-python).
# Idempotent: when everything is present it only checks (a second or two).
# Usage: scripts/install-deps.sh        (as root, or with sudo available)
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git
  libpetsc-real-dev libpetsc3.18-dev-examples
  libtorch-dev
  libvtk9-dev
  libyaml-cpp-dev
  catch2
  libopenmpi-dev openmpi-bin
  libcli11-dev libssl-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libbenchmark-dev libmuparser-dev libnanoflann-dev
  libsundials-dev libsuitesparse-dev
  libopenblas0-openmp
  python3 python3-venv python3-torch python3-numpy python3-scipy python3-vtk9 python3-yaml python3-matplotlib
  doxygen
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
else
  echo "install-deps: installing ${#missing[@]} missing package(s): ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # --no-remove: never take a package of the user's away to make room for ours. On Debian 12
  # ParaView's Python (python3-paraview: pvpython, pvbatch) conflicts with python3-vtk9, which
  # libvtk9-dev needs: installing one removes the other. Stop and explain instead.
  if ! $SUDO apt-get install -y -qq --no-install-recommends --no-remove "${missing[@]}"; then
    echo "install-deps: apt-get could not install ${missing[*]} without removing packages you have." >&2
    if dpkg-query -W -f='${Status}' python3-paraview 2>/dev/null | grep -q "install ok installed"; then
      echo "install-deps: python3-paraview is installed, and it conflicts with python3-vtk9 (needed by" \
           "libvtk9-dev, simfuse's VTK). Keep the ParaView GUI without its Python: apt-get remove python3-paraview" \
           "&& apt-get install --no-install-recommends paraview; for pvpython use ParaView's own binary release" \
           "(docs/user-guide.md, 'ParaView')." >&2
    fi
    echo "install-deps: nothing was removed. See what apt wants to remove: apt-get install -s ${missing[*]}" >&2
    exit 1
  fi
fi

# libtorch and PETSc link libblas.so.3; make sure it resolves to the OpenMP OpenBLAS,
# not the netlib reference BLAS (4-5x slower for the MLP surrogates, see docs).
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
for alt in "libblas.so.3-$arch" "liblapack.so.3-$arch"; do
  want=$(update-alternatives --list "$alt" 2>/dev/null | grep openblas-openmp | head -n1 || true)
  if [ -n "$want" ]; then
    cur=$(readlink -f "/etc/alternatives/$alt" 2>/dev/null || true)
    if [ "$cur" != "$(readlink -f "$want")" ]; then
      SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
      $SUDO update-alternatives --set "$alt" "$want" >/dev/null
      echo "install-deps: $alt -> $want"
    fi
  fi
done

# Cantera from PyPI, pinned: the committed reference values (tests/chemistry/cantera/*.json)
# record the version that made them. Without network the suite still runs, against those.
CANTERA_VERSION=3.2.0
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv-cantera"
have=$("$venv/bin/python" -c "import cantera; print(cantera.__version__)" 2>/dev/null || true)
if [ "$have" = "$CANTERA_VERSION" ]; then
  echo "install-deps: Cantera $have present ($venv)"
else
  echo "install-deps: installing Cantera $CANTERA_VERSION from PyPI into $venv"
  if /usr/bin/python3 -m venv "$venv" && "$venv/bin/python" -m pip install -q --disable-pip-version-check \
      "cantera==$CANTERA_VERSION"; then
    "$venv/bin/python" -c "import cantera; print('install-deps: Cantera', cantera.__version__, 'installed')"
  else
    echo "install-deps: WARNING: Cantera could not be installed (no PyPI?): the chemistry checks will compare" \
         "against the committed Cantera $CANTERA_VERSION values instead of live Cantera" >&2
  fi
fi
