#!/usr/bin/env bash
# bench/scheduler.sh: what the scheduler costs, measured side by side in one run.
#  1. 200 no-op runs (plain-C model, 1 step; prepare + train + evaluate = 401 worker
#     processes) against 401 bare starts of the genlab binary: the overhead per run beyond
#     the process start. Goal: <= 5 ms per run.
#  2. 4 single-threaded example-gmm runs with --jobs 1 and --jobs 2: the speed-up on 2 cores.
#     Goal: >= 1.85x.
# Usage: bench/scheduler.sh [BUILD_DIR]
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
genlab="$build/bin/genlab"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
now() { date +%s%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; }

cat > "$work/noop.toml" <<TOML
[experiment]
name = "noop"
seeds = {range = [0, 200]}
steps = 1
batch_size = 1
workspace = "$work/ws"
plugin_paths = ["$build/bench/plugins"]
[evaluation]
samples = 1
[datasets.toy]
plugin = "example-toy2d"
train_size = 16
test_size = 16
[models.noop]
plugin = "bench-noop"
TOML

t0=$(now)
"$genlab" validate "$work/noop.toml" > /dev/null
t1=$(now)
"$genlab" run --quiet "$work/noop.toml" > /dev/null 2>&1
t2=$(now)
for _ in $(seq 401); do "$genlab" --version > /dev/null; done
t3=$(now)
validate_ms=$(ms "$t0" "$t1")
run_ms=$(ms "$t1" "$t2")
starts_ms=$(ms "$t2" "$t3")
echo "command: bench/scheduler.sh $build"
echo "200 no-op runs (401 worker processes), --jobs 1: $run_ms ms in all ($validate_ms ms of it resolving the manifest)"
echo "401 bare starts of genlab --version:              $starts_ms ms"
awk -v run="$run_ms" -v validate="$validate_ms" -v starts="$starts_ms" 'BEGIN {
  per_run = (run - validate) / 200; start = starts / 401
  printf "per run: %.2f ms; per process start: %.2f ms; overhead per run beyond its 2 process starts: %.2f ms\n",
         per_run, start, per_run - 2 * start }' 

cat > "$work/gmm.toml" <<TOML
[experiment]
name = "gmm"
seeds = [1, 2, 3, 4]
steps = 3000
batch_size = 128
threads = 1
workspace = "WS"
[evaluation]
samples = 256
[datasets.ring]
plugin = "example-toy2d"
[models.gmm]
plugin = "example-gmm"
TOML
sed "s|WS|$work/ws1|" "$work/gmm.toml" > "$work/gmm1.toml"
sed "s|WS|$work/ws2|" "$work/gmm.toml" > "$work/gmm2.toml"
t0=$(now)
"$genlab" run --quiet --jobs 1 "$work/gmm1.toml" > /dev/null 2>&1
t1=$(now)
"$genlab" run --quiet --jobs 2 "$work/gmm2.toml" > /dev/null 2>&1
t2=$(now)
one=$(ms "$t0" "$t1")
two=$(ms "$t1" "$t2")
echo "4 example-gmm runs of 3000 steps, 1 thread each: --jobs 1 $one ms, --jobs 2 $two ms"
awk -v one="$one" -v two="$two" 'BEGIN { printf "speed-up of --jobs 2: %.2fx\n", one / two }' 
