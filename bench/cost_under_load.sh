#!/usr/bin/env bash
# bench/cost_under_load.sh: how far the machine's load moves the cost figures that claims
# compare. The VAE, the GAN and the diffusion model of the digits train 300 steps with
# genlab pinned to core 0, repeated in turn (interleaved) with core 0 shared by a spinning
# process ("shared"), with core 1 spinning ("other core busy") and with nothing else
# ("idle"); prints each figure per condition and repeat. docs/metrics.md holds a reading.
# Usage: bench/cost_under_load.sh [BUILD_DIR] [REPEATS]   (about 40 s a run; 2 cores needed)
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath "${1:-build}")
repeats=${2:-2}
echo "command: bench/cost_under_load.sh ${1:-build} $repeats"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/m.toml" <<TOML
[experiment]
name = "load"
steps = 300
batch_size = 64
threads = 1
[evaluation]
samples = 128
[features]
enabled = false
[datasets.digits]
plugin = "digits-csv"
[models.vae]
plugin = "vae"
hidden = 128
latent = 8
[models.gan]
plugin = "gan"
arch = "small"
width = 0.5
noise = 16
[models.diffusion]
plugin = "diffusion"
channels = 16
channel_mult = "1,2"
timesteps = 200
[metrics.sharpness]
plugin = "sharpness"
TOML
printf "%-18s %-10s %-10s %16s %14s %18s\n" condition model repeat train_cpu_seconds samples_per_s samples_per_cpu_s
for repeat in $(seq 1 "$repeats"); do
  for condition in idle shared other-core-busy; do
    load=""
    case $condition in
      shared) taskset -c 0 sh -c 'while :; do :; done' & load=$! ;;
      other-core-busy) taskset -c 1 sh -c 'while :; do :; done' & load=$! ;;
    esac
    ws="$work/ws-$condition-$repeat"
    GENLAB_DATA=${GENLAB_DATA:-$PWD/data} taskset -c 0 "$build/bin/genlab" run "$work/m.toml" \
      --set experiment.workspace="$ws" --quiet > "$ws.log" 2>&1 || { cat "$ws.log"; exit 1; }
    [ -n "$load" ] && kill "$load"
    for results in "$ws"/load/runs/*/eval-*/results.json; do
      python3 - "$results" "$condition" "$repeat" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
model = sys.argv[1].split("/runs/")[1].split("-")[0]
print("%-18s %-10s %-10s %16.3f %14.1f %18.1f" % (sys.argv[2], model, sys.argv[3], m["cost.train_cpu_seconds"],
      m["cost.samples_per_second"], m["cost.samples_per_cpu_second"]))
PY
    done
  done
done
