#!/usr/bin/env bash
# genlab on current LibTorch: builds this tree inside a Debian 13 (trixie) root against its
# LibTorch 2.6 and runs the tests there, as root on a Debian machine.
#
#   bash scripts/test-debian13.sh cpu    # libtorch-dev 2.6 (CPU): build everything, run every CTest test
#   bash scripts/test-debian13.sh cuda   # + libtorch-cuda-dev 2.6 and nvidia-cuda-toolkit 12.4: build
#                                        #   everything (the CUDA backend and device paths, NCCL), link-check
#                                        #   it, and run the CPU suite where the plugins load
#   ... MODE --prepare                   # only make (or update) the root, for a later run
#
# The root is made once with debootstrap and kept in $GENLAB_DEBIAN13_ROOT (default
# /var/cache/genlab/debian13-MODE); the tree is copied into it (git's files, plus data/),
# built in its own build folder with its own ccache, so later runs are incremental.
# CUDA: Debian 13's libtorch-cuda depends on nvidia-cudnn, an installer that downloads cuDNN
# from NVIDIA and fails without that network; apt then leaves the CUDA LibTorch unpacked but
# not configured. CMake finds it all the same (USE_CUDNN=0) and everything builds, but no
# LibTorch plugin can load without libcudnn.so.9: so the cuda mode builds, checks that every
# library links, and runs the tests that load no LibTorch plugin.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
[ "$mode" = cpu ] || [ "$mode" = cuda ] || { echo "usage: $0 cpu|cuda [--prepare]" >&2; exit 2; }
prepare_only=${2:-}
root=${GENLAB_DEBIAN13_ROOT:-/var/cache/genlab/debian13-$mode}
start=$(date +%s)
say() { echo "debian13 [$mode, $(( $(date +%s) - start )) s]: $*"; }

packages=(cmake ninja-build g++ ccache pkg-config git libtorch-dev libgloo-dev libopenblas0-pthread
  libboost-dev libboost-program-options-dev libboost-filesystem-dev libtomlplusplus-dev libspdlog-dev
  catch2 libdlpack-dev libsqlite3-dev libssl-dev libstb-dev zlib1g-dev nlohmann-json3-dev libcpp-httplib-dev python3 chromium procps)

mounted=()
cleanup() {
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
mount_in_root() {  # SOURCE TARGET [options...]
  local target="$root$2"
  mkdir -p "$target"
  mountpoint -q "$target" && return
  mount "${@:3}" "$1" "$target"
  mounted+=("$target")
}
in_root() { chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  LANG=C.UTF-8 GENLAB_DATA=/src/genlab/data "$@"; }

# ---- the root
if [ ! -x "$root/usr/bin/apt-get" ]; then
  command -v debootstrap > /dev/null || { apt-get update -qq; apt-get install -y -qq debootstrap > /dev/null; }
  say "debootstrap trixie into $root (about a minute)"
  mkdir -p "$root"
  debootstrap --variant=minbase trixie "$root" > "$root.debootstrap.log" 2>&1 ||
    { tail -20 "$root.debootstrap.log"; exit 1; }
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount_in_root proc /proc -t proc
mount_in_root /dev /dev --bind
mount_in_root devpts /dev/pts -t devpts
mount_in_root tmpfs /dev/shm -t tmpfs
# /sys: Slurm 24.11's slurmd (the Slurm executor's test) needs the cgroup file system.
mount_in_root /sys /sys --rbind --make-rslave
if [ "$mode" = cuda ]; then
  echo "deb http://deb.debian.org/debian trixie main contrib non-free non-free-firmware" > "$root/etc/apt/sources.list"
  rm -f "$root/etc/apt/sources.list.d/debian.sources"
  packages+=(nvidia-cuda-toolkit libtorch-cuda-dev)
fi
missing=()
for p in "${packages[@]}"; do
  in_root dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok unpacked\|install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  in_root apt-get update -qq
  if ! in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
      > "$root.apt.log" 2>&1; then
    # The CUDA LibTorch's nvidia-cudnn installer cannot download here: what it left unpacked
    # is enough to build (see above). Anything else failing is an error.
    if [ "$mode" = cuda ] && grep -q "nvidia-cudnn" "$root.apt.log"; then
      say "nvidia-cudnn could not be configured (it downloads from NVIDIA): CUDA LibTorch left unpacked, as expected"
    else
      tail -30 "$root.apt.log"; exit 1
    fi
  fi
fi
version_h="$root/usr/include/torch/csrc/api/include/torch/version.h"
say "LibTorch $(sed -n 's/^#define TORCH_VERSION_\(MAJOR\|MINOR\|PATCH\) //p' "$version_h" | paste -sd.) and $(in_root dpkg-query -W -f='Catch2 ${Version}' catch2) in the root"
[ "$prepare_only" = --prepare ] && { say "root ready"; exit 0; }

# ---- the tree and its data
bash scripts/fetch-data.sh digits moby-dick vega > /dev/null
# Only the files whose content differs are copied, and they get the time of the copy: tar
# would keep each file's own time, which can be older than an object built from an earlier
# copy, and ninja would then keep that stale object.
mkdir -p "$root/src/genlab"
stage=$(mktemp -d)
git ls-files -z --cached --others --exclude-standard | tar -c --null --ignore-failed-read -T - 2>/dev/null |
  tar -x -C "$stage"
copied=0
while IFS= read -r -d '' f; do
  if ! cmp -s "$stage/$f" "$root/src/genlab/$f"; then
    mkdir -p "$(dirname "$root/src/genlab/$f")"
    cp "$stage/$f" "$root/src/genlab/$f"
    copied=$((copied + 1))
  fi
done < <(cd "$stage" && find . -type f -print0)
rm -rf "$stage"
say "the tree: $copied file(s) changed since the last copy"
cp -a data "$root/src/genlab/"

# ---- build and test
options=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGENLAB_BUILD_TESTS=ON -DGENLAB_BUILD_BENCH=ON
         -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
say "configure"
in_root sh -c "cd /src/genlab && cmake -S . -B build-debian13 ${options[*]}" > "$root.configure.log" 2>&1 ||
  { tail -40 "$root.configure.log"; exit 1; }
say "build (log: $root.build.log)"
in_root sh -c "cd /src/genlab && cmake --build build-debian13" > "$root.build.log" 2>&1 ||
  { grep -E "error|FAILED" "$root.build.log" | head -40; exit 1; }
say "built: $(grep -c '^\[' "$root.build.log") steps"
if [ "$mode" = cuda ]; then
  # Every library links: nothing undefined beyond what the loader supplies (cuDNN is absent).
  in_root sh -c 'cd /src/genlab/build-debian13 && for f in $(find lib -name "*.so"); do
      missing=$(ldd "$f" | grep "not found" | grep -v "libcudnn" || true)
      [ -z "$missing" ] || { echo "$f: $missing"; exit 1; }
    done; echo "every plugin library links (libcudnn.so.9 aside)"'
  ls "$root/src/genlab/build-debian13/lib/genlab/plugins/cuda/"*.so > /dev/null && say "the cuda backend is built"
  # The host and the plain-C / LibTorch-free plugins load and run; LibTorch plugins need cuDNN.
  in_root sh -c "cd /src/genlab/build-debian13 && ctest --output-on-failure --timeout 900 -R 'manifest|loader|registry|safetensors|claims|fuzz_corpus'" \
    | tail -5
else
  # LibTorch's own convolution backward first (scripts/conv-backward-check.cpp): where it
  # gives NaN with oneDNN's default kernels, the suite runs with oneDNN held to SSE4.1, and
  # says so: a model that trains on NaN gradients says nothing about genlab.
  in_root sh -c "cd /src/genlab && g++ -std=c++17 -O1 scripts/conv-backward-check.cpp -I/usr/include/torch/csrc/api/include \
    -ltorch -ltorch_cpu -lc10 -o build-debian13/conv-backward-check" > "$root.conv-check.log" 2>&1 ||
    { cat "$root.conv-check.log"; exit 1; }
  isa=()
  for threads in 1 2; do
    if ! result=$(in_root env OMP_NUM_THREADS=$threads /src/genlab/build-debian13/conv-backward-check 2> /dev/null); then
      say "LibTorch's convolution backward, $threads thread(s), oneDNN's default kernels: $result"
      isa=(ONEDNN_MAX_CPU_ISA=SSE41)
    fi
  done
  if [ ${#isa[@]} -gt 0 ]; then
    say "with ONEDNN_MAX_CPU_ISA=SSE41: $(in_root env OMP_NUM_THREADS=1 ONEDNN_MAX_CPU_ISA=SSE41 \
      /src/genlab/build-debian13/conv-backward-check 2> /dev/null || true); the suite runs so (docs/gpu.md)"
  fi
  say "ctest"
  in_root env ${isa[@]+"${isa[@]}"} sh -c "cd /src/genlab/build-debian13 && ctest --output-on-failure --timeout 900" \
    > "$root.ctest.log" 2>&1 || true
  tail -25 "$root.ctest.log"
  grep -q "100% tests passed" "$root.ctest.log" || { say "tests failed (log: $root.ctest.log)"; exit 1; }
fi
say "done"
