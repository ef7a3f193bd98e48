#!/usr/bin/env bash
# Shared by bench/*_speed.sh: trains a model with genlab and with its plain PyTorch peer
# (Debian's python3-torch under /usr/bin/python3: the same 1.13.1 kernels), 1 thread each,
# and prints steps/s, the ratio genlab / Python, generation samples/s and peak memory.
# With REPEATS=N in the environment the two alternate N times (genlab, Python, genlab, ...),
# so that a slow spell of a noisy machine hits both, and the median ratio is printed too.
#
# Usage (from the repository root):
#   bench/peers/compare.sh BUILD_DIR MANIFEST EXPERIMENT STEPS "PEER COMMAND" [--set K=V]...
# The peer command runs as `/usr/bin/python3 <peer command>` and must print
#   python steps_per_second X samples_per_second Y peak_rss_mb Z
set -euo pipefail
build=$(cd "$1" && pwd)
manifest=$2
experiment=$3
steps=$4
peer=$5
shift 5
repeats=${REPEATS:-1}
bash scripts/fetch-data.sh mnist > /dev/null
/usr/bin/python3 -c "import torch" 2> /dev/null || apt-get install -y -qq --no-install-recommends python3-torch > /dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ratios=()
for ((r = 1; r <= repeats; r++)); do
  rm -rf "${work:?}"/*
  "$build/bin/genlab" run --quiet "$manifest" --set experiment.workspace="\"$work\"" \
    --set experiment.steps="$steps" --set experiment.epochs=0 --set experiment.threads=1 \
    --set experiment.checkpoint_every=0 "$@" > "$work/run.log" 2>&1 || { cat "$work/run.log"; exit 1; }
  done_file=$(ls "$work/$experiment"/runs/*/train.done.toml)
  results=$(ls "$work/$experiment"/runs/*/eval-*/results.json)
  g_seconds=$(awk -F' = ' '/^seconds/ {print $2}' "$done_file")
  g_rss=$(awk -F' = ' '/^peak_rss_mb/ {print $2}' "$done_file")
  g_sps=$(grep -o '"cost.samples_per_second" : [0-9.e+]*' "$results" | awk '{print $3}')
  # shellcheck disable=SC2086
  python_line=$(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 /usr/bin/python3 $peer)
  [ "$repeats" -gt 1 ] && echo "repeat $r of $repeats:"
  awk -v s="$steps" -v t="$g_seconds" -v r="$g_rss" -v g="$g_sps" -v p="$python_line" 'BEGIN {
    split(p, f, " ")
    printf "genlab: %.3f steps/s (%d steps in %.1f s), generation %.2f samples/s, peak RSS %d MB\n", s / t, s, t, g, r
    printf "python: %.3f steps/s, generation %s samples/s, peak RSS %s MB\n", f[3], f[5], f[7]
    printf "ratio genlab / python: training steps/s %.2f, generation samples/s %.2f\n", (s / t) / f[3], g / f[5] }'
  ratios+=("$(awk -v s="$steps" -v t="$g_seconds" -v p="$python_line" 'BEGIN { split(p, f, " "); printf "%.4f", (s / t) / f[3] }')")
done
if [ "$repeats" -gt 1 ]; then
  printf '%s\n' "${ratios[@]}" | sort -g | awk '{ v[NR] = $1 } END {
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "training ratios genlab / python over %d repeats: min %.2f, median %.2f, max %.2f\n", NR, v[1], m, v[NR] }'
fi
