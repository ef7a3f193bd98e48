#!/usr/bin/env bash
# bench/nerf_quality.sh: the NeRF's quality against training time on the bunny. Trains the
# models of configs/nerf-bunny.toml (the `frequency` MLP and the `hashgrid` option) with
# `genlab run` for each budget in MINUTES (experiment.max_seconds; default 5 and 20),
# evaluates each on the test views (PSNR and SSIM: the psnr-ssim metric in the run's
# results.json), and prints a table (option, minutes, PSNR, SSIM, steps done) and the path
# of an image strip of the first 4 test views: ground truth on top, each model's render below.
#
# Each budget is a run of its own, trained from scratch: max_seconds is part of a run's
# identity (core/src/manifest/experiment.cpp assign_identity), and a checkpoint only resumes the run
# it belongs to, so a 5-minute run cannot be continued to 20 minutes. 5 and 20 minutes thus
# cost 25 minutes of training per option, plus the evaluations (each renders the 20 test
# views, ~10-20 s a view for the MLP on 1 thread). By default the two options train at the
# same time, 1 thread each (--jobs 2, as the manifest says): about 40 minutes in all;
# JOBS=1 trains them one after the other with 2 threads each: about 65 minutes.
# Finished runs are kept in the workspace and not trained again on a second call.
#
# Usage: bench/nerf_quality.sh [BUILD_DIR] [MINUTES...]
# Environment: JOBS (2), WORKSPACE (genlab-runs/nerf-quality), MANIFEST
# (configs/nerf-bunny.toml), EVAL_VIEWS (the manifest's evaluation.samples; the strip needs 4).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
[ $# -gt 0 ] && shift
minutes=("$@")
[ ${#minutes[@]} -gt 0 ] || minutes=(5 20)
jobs=${JOBS:-2}
workspace=${WORKSPACE:-genlab-runs/nerf-quality}
manifest=${MANIFEST:-configs/nerf-bunny.toml}
echo "command: JOBS=$jobs WORKSPACE=$workspace MANIFEST=$manifest${EVAL_VIEWS:+ EVAL_VIEWS=$EVAL_VIEWS} bench/nerf_quality.sh $build ${minutes[*]}"
genlab="$build/bin/genlab"
[ -x "$genlab" ] || { echo "$genlab is not built (cmake --build $build --target genlab)" >&2; exit 1; }
[ -f "$manifest" ] || { echo "$manifest: no such manifest" >&2; exit 1; }
for m in "${minutes[@]}"; do
  awk -v m="$m" 'BEGIN { exit !(m + 0 > 0) }' || { echo "MINUTES: expected numbers > 0, got '$m'" >&2; exit 2; }
done
case "$jobs" in
  1) threads=2 ;;
  2) threads=1 ;;
  *) echo "JOBS: expected 1 (one after the other, 2 threads each) or 2 (at once, 1 thread each), got '$jobs'" >&2; exit 2 ;;
esac
GENLAB_BIN="$genlab" bash scripts/fetch-data.sh nerf-bunny
mkdir -p "$workspace"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
if [ "$jobs" = 2 ]; then
  echo "the options train at the same time, 1 thread each (--jobs 2)"
else
  echo "the options train one after the other, 2 threads each (--jobs 1)"
fi

extra=()
[ -n "${EVAL_VIEWS:-}" ] && extra+=(--set "evaluation.samples=$EVAL_VIEWS")
for m in "${minutes[@]}"; do
  seconds=$(awk -v m="$m" 'BEGIN { printf "%g", m * 60 }')
  log="$workspace/train-${m}min.log"
  echo "training for $m minute(s) (experiment.max_seconds = $seconds), then evaluating; log: $log"
  start=$(date +%s)
  "$genlab" run --quiet "$manifest" --jobs "$jobs" --set experiment.workspace="\"$workspace\"" \
    --set experiment.max_seconds="$seconds" --set experiment.threads="$threads" "${extra[@]}" > "$log" 2>&1 ||
    { tail -n 30 "$log"; echo "genlab run failed for $m minute(s); the whole log: $log" >&2; exit 1; }
  echo "  done in $(($(date +%s) - start)) s"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
/usr/bin/python3 bench/nerf/quality_report.py "$manifest" "$workspace" "$workspace/nerf-quality-strip.png" 4 "${minutes[@]}"
