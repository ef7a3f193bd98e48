#!/usr/bin/env bash
# The GPU check, made for the lent GPU machine (the `device` tool: an H100 or H200, nvcc, and
# Python's PyTorch with CUDA, whose wheel is a LibTorch; nothing can be fetched there).
#
#   bash scripts/gpu-check.sh --fetch    # here: download the Debian packages the build needs
#                                        #   into .gpu-debs/ (git-ignored; carry it)
#   bash scripts/gpu-check.sh            # there: one call of at most 10 minutes
#
# There it unpacks the carried packages into a prefix, builds genlab with the machine's own
# LibTorch (torch.utils.cmake_prefix_path), runs the CUDA tests (the CUDA composite backend
# against cpu-reference, the CUDA test cases of the suite), trains every family a few hundred
# steps on CUDA and on the CPU at fp32 and on CUDA at bf16, and prints each one's final loss
# and steps/s. Not yet in it: the PyTorch peers on the GPU and the transformer's TFLOP/s.
# Figures go to $OUT when the device tool sets it. It has not run yet: no GPU was lent.
# docs/gpu.md holds what ran where; it is never written from a run that did not happen.
set -euo pipefail
cd "$(dirname "$0")/.."
debs=.gpu-debs
packages=(libtomlplusplus-dev libtomlplusplus3 libspdlog-dev libspdlog1.10 libfmt-dev libfmt9 libdlpack-dev
  libsqlite3-dev libstb-dev libstb0 libboost-program-options-dev libboost-program-options1.74.0
  libboost-filesystem-dev libboost-filesystem1.74.0 libboost1.74-dev libboost-dev catch2 ninja-build libssl-dev libssl3 nlohmann-json3-dev)

if [ "${1:-}" = --fetch ]; then
  mkdir -p "$debs"
  grep -qx "/$debs/" .git/info/exclude 2>/dev/null || echo "/$debs/" >> .git/info/exclude
  (cd "$debs" && apt-get download "${packages[@]}")
  du -sh "$debs"
  exit 0
fi

out=${OUT:-$PWD/gpu-check-out}
mkdir -p "$out"
log() { echo "gpu-check: $*" | tee -a "$out/gpu-check.txt"; }
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
[ -d "$debs" ] || { log "no $debs/ (run --fetch here and carry it)"; exit 1; }
prefix=/tmp/genlab-prefix
mkdir -p "$prefix"
for f in "$debs"/*.deb; do dpkg -x "$f" "$prefix"; done
export PATH=$prefix/usr/bin:$PATH LD_LIBRARY_PATH=$prefix/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
torch_version=$(python3 -c 'import torch; print(torch.__version__, torch.version.cuda)')
log "LibTorch from PyTorch $torch_version at $torch_prefix"

# ---- build with the machine's LibTorch (pip wheels use the C++11 ABI since 2.x)
start=$(date +%s)
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DGENLAB_BUILD_TESTS=ON -DGENLAB_BUILD_BENCH=ON \
  -DCMAKE_PREFIX_PATH="$torch_prefix;$prefix/usr" -DCMAKE_CUDA_ARCHITECTURES=90 > "$out/configure.log" 2>&1 ||
  { tail -30 "$out/configure.log"; exit 1; }
cmake --build build-gpu -j 16 > "$out/build.log" 2>&1 || { grep -E "error|FAILED" "$out/build.log" | head -30; exit 1; }
log "built in $(( $(date +%s) - start )) s"

# ---- CUDA tests: the backend against the CPU reference, and the suite's [cuda] cases
(cd build-gpu && ctest --output-on-failure --timeout 300 -R "cuda|CUDA" 2>&1 | tee "$out/ctest-cuda.txt" | tail -15)

# ---- every family on CUDA and the CPU (fp32), and on CUDA at bf16: final loss and steps/s
bash scripts/fetch-data.sh digits moby-dick > /dev/null 2>&1 || true
export GENLAB_DATA=$PWD/data
declare -A data=([vae]=digits [gan]=digits [diffusion]=digits [classifier]=digits [transformer]=text)
printf "%-12s %-6s %-5s %10s %10s\n" family device prec final_loss steps/s | tee -a "$out/gpu-check.txt"
for family in vae gan diffusion classifier transformer; do
  for run in "cuda fp32" "cpu fp32" "cuda bf16"; do
    set -- $run
    work=$(mktemp -d)
    if [ "${data[$family]}" = text ]; then body='plugin = "text"
block_size = 64'; else body='plugin = "digits-csv"'; fi
    cat > "$work/m.toml" <<TOML
[experiment]
name = "g"
steps = 300
batch_size = 64
device = "$1"
precision = "$2"
workspace = "$work/ws"
[features]
enabled = false
[evaluation]
samples = 8
[datasets.d]
$body
[models.m]
plugin = "$family"
TOML
    if build-gpu/bin/genlab run --quiet "$work/m.toml" > "$work/run.log" 2>&1; then
      done_file=$(ls "$work"/ws/g/runs/*/train.done.toml)
      python3 - "$done_file" "$family" "$1" "$2" <<'PY' | tee -a "$out/gpu-check.txt"
import sys, tomllib
d = tomllib.load(open(sys.argv[1], "rb"))
loss = next(iter(d["final_losses"].values()))
print(f"{sys.argv[2]:<12} {sys.argv[3]:<6} {sys.argv[4]:<5} {loss:10.4f} {d['steps'] / d['seconds']:10.1f}")
PY
    else
      log "$family $1 $2 FAILED: $(tail -3 "$work/run.log" | tr '\n' ' ')"
    fi
    rm -rf "$work"
  done
done
log "done in $(( $(date +%s) - start )) s (the PyTorch peers and the transformer's TFLOP/s are not in this check yet)"
