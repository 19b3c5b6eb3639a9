#!/usr/bin/env bash
# One-command set-up for Elign-C: installs the Debian packages the whole project
# needs (idempotent) and configures + builds with CMake into ./build.
#
#   ./setup.sh              install packages (root) and build Release
#   ./setup.sh --no-install build only
#   ELIGN_BUILD_TYPE=Debug ./setup.sh   other CMake build type
#   ELIGN_CMAKE_ARGS="-DELIGN_DOUBLE=ON" ./setup.sh   extra CMake options
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(
  build-essential cmake pkg-config
  libopenmpi-dev openmpi-bin
  libopenblas-openmp-dev
  libhdf5-openmpi-dev hdf5-tools
  libyaml-dev libarchive-dev libbz2-dev zlib1g-dev libmsgpack-dev
  libxtb-dev xtb
  psi4
  python3-dev python3-numpy python3-h5py python3-msgpack python3-torch python3-rdkit
  librdkit-dev libboost-dev
  clang libclang-rt-dev libomp-dev
  slurmctld slurmd slurm-client munge shellcheck
)

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all ${#PACKAGES[@]} Debian packages present"
    return
  fi
  echo "setup: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get -o DPkg::Lock::Timeout=600 update -q
  $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
}

if [ "${1:-}" != "--no-install" ]; then install_packages; fi

BUILD_TYPE="${ELIGN_BUILD_TYPE:-Release}"
# shellcheck disable=SC2086
cmake -S . -B build -DCMAKE_BUILD_TYPE="$BUILD_TYPE" ${ELIGN_CMAKE_ARGS:-}
cmake --build build -j "$(nproc)"
echo "setup: built build/elign ($BUILD_TYPE)"
