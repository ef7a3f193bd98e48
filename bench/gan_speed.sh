#!/usr/bin/env bash
# bench/gan_speed.sh: the DCGAN of pytorch/examples cpp/dcgan (28x28 MNIST, batch 64) trained
# by genlab and by its plain PyTorch peer (bench/peers/gan.py, Debian's python3-torch run
# with /usr/bin/python3: the same 1.13.1 kernels), side by side, 1 thread each.
# Prints training steps/s of each, the ratio genlab / Python (goal >= 1.2), generation
# samples/s and peak memory. Usage: bench/gan_speed.sh [BUILD_DIR] [STEPS] [WIDTH]
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(cd "${1:-build}" && pwd)
steps=${2:-40}
width=${3:-1.0}
bash scripts/fetch-data.sh mnist > /dev/null
/usr/bin/python3 -c "import torch" 2> /dev/null || apt-get install -y -qq --no-install-recommends python3-torch > /dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$build/bin/genlab" run --quiet configs/gan-mnist.toml --set experiment.workspace="\"$work\"" \
  --set experiment.steps=$steps --set experiment.epochs=0 --set experiment.threads=1 \
  --set models.gan.width=$width --set evaluation.samples=1000 --set experiment.checkpoint_every=0 \
  > "$work/run.log" 2>&1 || { cat "$work/run.log"; exit 1; }
done_file=$(ls "$work"/gan-mnist/runs/*/train.done.toml)
results=$(ls "$work"/gan-mnist/runs/*/eval-*/results.json)
g_seconds=$(awk -F' = ' '/^seconds/ {print $2}' "$done_file")
g_rss=$(awk -F' = ' '/^peak_rss_mb/ {print $2}' "$done_file")
g_sps=$(grep -o '"cost.samples_per_second" : [0-9.e+]*' "$results" | awk '{print $3}')
python_line=$(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/peers/gan.py data/mnist "$steps" 1 "$width")
echo "command: bench/gan_speed.sh $build $steps $width"
awk -v s="$steps" -v t="$g_seconds" -v r="$g_rss" -v g="$g_sps" -v p="$python_line" 'BEGIN {
  split(p, f, " "); py = f[3]
  printf "genlab: %.3f steps/s (%d steps in %.1f s), generation %.0f samples/s, peak RSS %d MB\n", s / t, s, t, g, r
  printf "python: %.3f steps/s, generation %s samples/s, peak RSS %s MB\n", py, f[5], f[7]
  printf "ratio genlab / python (training steps/s): %.2f\n", (s / t) / py }'
