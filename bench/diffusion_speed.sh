#!/usr/bin/env bash
# bench/diffusion_speed.sh: the DDPM of configs/diffusion-mnist.toml (U-Net 16-32-32,
# attention at 7x7, T = 1000, batch 64) trained and sampled by genlab and by its plain
# PyTorch peer (bench/peers/diffusion.py), side by side on the same kernels, 1 thread each
# (see bench/peers/compare.sh; REPEATS=N alternates them N times). Goals: training steps/s
# ratio >= 1.2; sampling images/s ratio >= 1.5 for DDIM-50 and for DDPM-1000.
# Usage: bench/diffusion_speed.sh [BUILD_DIR] [STEPS] [DDIM_SAMPLES] [DDPM_SAMPLES]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
steps=${2:-30}
ddim_samples=${3:-32}
ddpm_samples=${4:-4}
echo "command: bench/diffusion_speed.sh $build $steps $ddim_samples $ddpm_samples"
echo "== training $steps steps; sampling $ddim_samples images with DDIM-50"
bash bench/peers/compare.sh "$build" configs/diffusion-mnist.toml diffusion-mnist "$steps" \
  "bench/peers/diffusion.py data/mnist $steps 1 ddim 50 $ddim_samples 16 1,2,2" \
  --set evaluation.samples="$ddim_samples" --set 'evaluation.metrics=["mmd"]'
echo "== sampling $ddpm_samples images with DDPM-1000 (training 2 steps only: the sampling cost does not depend on it)"
bash bench/peers/compare.sh "$build" configs/diffusion-mnist.toml diffusion-mnist 2 \
  "bench/peers/diffusion.py data/mnist 2 1 ddpm 1000 $ddpm_samples 16 1,2,2" \
  --set evaluation.samples="$ddpm_samples" --set 'evaluation.metrics=["mmd"]' \
  --set 'evaluation.generate={sampler="ddpm"}' | grep -v "^training ratios" | sed 's/training steps\/s [0-9.]*, //'
