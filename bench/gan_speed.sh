#!/usr/bin/env bash
# bench/gan_speed.sh: the DCGAN of pytorch/examples cpp/dcgan (28x28 MNIST, batch 64) trained
# by genlab and by its plain PyTorch peer (bench/peers/gan.py), side by side on the same
# kernels, 1 thread each (see bench/peers/compare.sh). Goal: ratio >= 1.2.
# Usage: bench/gan_speed.sh [BUILD_DIR] [STEPS] [WIDTH]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
steps=${2:-40}
width=${3:-1.0}
echo "command: bench/gan_speed.sh $build $steps $width"
bash bench/peers/compare.sh "$build" configs/gan-mnist.toml gan-mnist "$steps" "bench/peers/gan.py data/mnist $steps 1 $width" \
  --set models.gan.width="$width" --set evaluation.samples=1000
