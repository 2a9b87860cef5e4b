#!/usr/bin/env bash
# Installs the Debian 12 packages simfuse needs. Idempotent: when every package is
# already present it only checks (about a second) and installs nothing.
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
  libbenchmark-dev libmuparser-dev
  libsundials-dev libsuitesparse-dev
  libopenblas0-openmp
  python3 python3-torch python3-numpy python3-scipy python3-vtk9 python3-yaml python3-matplotlib
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
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
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
