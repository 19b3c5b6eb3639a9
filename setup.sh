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
  chromium python3-scipy
  python3-lark
)
# npm (the machine's Node.js has it; Debian's npm package conflicts with it) fetches 3Dmol.js
# for `elign report`'s 3D viewer (below); chromium runs the report's
# headless-browser test; scipy cross-checks the KS test (tests skip cleanly without them);
# lark is the NeuroChem parser of a TorchANI source tree (bench/ani_torch.py, TORCHANI_SRC).

# 3Dmol.js, the molecule viewer `elign report` embeds into its page: a pinned release from
# the npm registry, checked against its SHA-256, unpacked into vendor/3dmol/ (not tracked:
# fetched, not copied into the repository; BSD-3-Clause, its LICENSE kept beside it).
THREEDMOL_VERSION=2.5.5
THREEDMOL_SHA256=26d91c5036d4efe78fc032c22cb692fea92bbb3cb1e65d20bf3869673fb3d8f5

fetch_3dmol() {
  local dest=vendor/3dmol
  if [ -s "$dest/3Dmol-min.js" ] && [ "$(cat "$dest/VERSION" 2>/dev/null)" = "$THREEDMOL_VERSION" ]; then
    echo "setup: 3Dmol.js $THREEDMOL_VERSION present"
    return
  fi
  if ! command -v npm > /dev/null; then
    echo "setup: warning: npm not found: elign report pages will have no 3D viewer" >&2
    return
  fi
  local tmp
  tmp=$(mktemp -d)
  if ! (cd "$tmp" && npm pack --silent "3dmol@$THREEDMOL_VERSION" > /dev/null); then
    echo "setup: warning: npm pack 3dmol@$THREEDMOL_VERSION failed: no 3D viewer in elign report pages" >&2
    rm -rf "$tmp"
    return
  fi
  echo "$THREEDMOL_SHA256  $tmp/3dmol-$THREEDMOL_VERSION.tgz" | sha256sum -c --quiet - ||
    { echo "setup: 3dmol-$THREEDMOL_VERSION.tgz: checksum mismatch" >&2; rm -rf "$tmp"; exit 1; }
  tar -xzf "$tmp/3dmol-$THREEDMOL_VERSION.tgz" -C "$tmp" package/build/3Dmol-min.js package/LICENSE
  mkdir -p "$dest"
  cp "$tmp/package/build/3Dmol-min.js" "$tmp/package/LICENSE" "$dest/"
  echo "$THREEDMOL_VERSION" > "$dest/VERSION"
  rm -rf "$tmp"
  echo "setup: 3Dmol.js $THREEDMOL_VERSION -> $dest"
}

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
fetch_3dmol

BUILD_TYPE="${ELIGN_BUILD_TYPE:-Release}"
# shellcheck disable=SC2086
cmake -S . -B build -DCMAKE_BUILD_TYPE="$BUILD_TYPE" ${ELIGN_CMAKE_ARGS:-}
cmake --build build -j "$(nproc)"
echo "setup: built build/elign ($BUILD_TYPE)"
