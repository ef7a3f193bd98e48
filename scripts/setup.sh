#!/usr/bin/env bash
# Installs what genlab needs on Debian 12 (as root), selects OpenBLAS (Debian's libtorch
# on the reference BLAS is ~9x slower), and configures the build in ./build.
# Idempotent: skips apt when every package is already there. GENLAB_EXTRA_PACKAGES adds
# more (scripts/test.sh: chromium, which opens the report in a test).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  cmake ninja-build g++ ccache pkg-config
  libtorch-dev libgloo-dev libopenblas0-pthread
  libboost-dev libboost-program-options-dev libboost-filesystem-dev
  libtomlplusplus-dev libspdlog-dev catch2 libdlpack-dev
  libsqlite3-dev libssl-dev libstb-dev zlib1g-dev nlohmann-json3-dev libcpp-httplib-dev python3
  ${GENLAB_EXTRA_PACKAGES:-}
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
fi

# OpenBLAS for BLAS and LAPACK, whatever else is installed.
triplet=$(gcc -dumpmachine)
for lib in libblas.so.3 liblapack.so.3; do
  target="/usr/lib/$triplet/openblas-pthread/$lib"
  if [ -e "$target" ]; then
    update-alternatives --set "$lib-$triplet" "$target" > /dev/null
  fi
done

# --packages-only: stop here (scripts/fuzz.sh and the sanitizer builds configure their own).
if [ "${1:-}" = "--packages-only" ]; then exit 0; fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" > build-configure.log 2>&1 \
  || { cat build-configure.log; exit 1; }
rm -f build-configure.log
