#!/usr/bin/env bash
# bench/vae_speed.sh: the MLP VAE (784-400-20, batch 128, Adam 1e-3, MNIST in memory)
# trained by genlab and by its plain PyTorch peer (bench/peers/vae.py), side by side on the
# same kernels, 1 thread each (see bench/peers/compare.sh). Goal: ratio >= 1.2.
# Usage: bench/vae_speed.sh [BUILD_DIR] [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
steps=${2:-1000}
echo "command: bench/vae_speed.sh $build $steps"
bash bench/peers/compare.sh "$build" configs/vae-mnist.toml vae-mnist "$steps" "bench/peers/vae.py data/mnist $steps 1" \
  --set evaluation.samples=10000 --set models.vae.iw_samples=0 --set 'evaluation.metrics=["elbo"]'
