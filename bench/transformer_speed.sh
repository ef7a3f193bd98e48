#!/usr/bin/env bash
# bench/transformer_speed.sh: the GPT of configs/transformer-mobydick.toml trained and
# sampled by genlab and by its plain PyTorch peer (bench/peers/transformer.py, nanoGPT's
# model and loop), side by side on the same kernels, 1 thread each (bench/peers/compare.sh;
# REPEATS=N alternates them N times). Goals: training tokens/s ratio >= 1.2; generation of
# 500 tokens at block 256 with the KV cache >= 5x the peer's full-window loop; achieved
# training FLOP/s (6 x parameters x tokens/s) >= 60% of one thread's sgemm at n_embd 384.
# Usage: bench/transformer_speed.sh [BUILD_DIR] [STEPS] [BIG_STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
steps=${2:-100}
big_steps=${3:-4}
text=data/moby-dick/moby-dick.txt
echo "command: bench/transformer_speed.sh $build $steps $big_steps"
bash scripts/fetch-data.sh moby-dick > /dev/null
generate='evaluation.generate={prompt="\n",max_new_tokens=500,temperature=1.0}'
run() {  # STEPS "PEER ARGS" [--set ...]: compare.sh on the transformer manifest, 1 sequence of 500 tokens
  local n=$1 peer=$2
  shift 2
  bash bench/peers/compare.sh "$build" configs/transformer-mobydick.toml transformer-mobydick "$n" \
    "bench/peers/transformer.py $text $n 1 $peer" --set evaluation.samples=1 --set "$generate" "$@"
}
big=(--set models.gpt.n_layer=6 --set models.gpt.n_head=6 --set models.gpt.n_embd=384 --set datasets.mobydick.block_size=256)

echo "== nanoGPT's CPU configuration (4 layers, 4 heads, 128 wide, block 64, batch 12): $steps training steps;"
echo "   500 new tokens: genlab with its KV cache, the peer with nanoGPT's full-window loop"
run "$steps" "4 4 128 64 12 full 500"

echo "== 6 layers, 6 heads, 384 wide, block 256, batch 12: $big_steps training steps; 500 new tokens, cache vs full window"
big_out=$(run "$big_steps" "6 6 384 256 12 full 500" "${big[@]}")
echo "$big_out"
echo "== the same, 500 new tokens: genlab's cache vs the peer with the same cache"
run 1 "6 6 384 256 12 cache 500" "${big[@]}" | grep -v "^training ratios" | sed 's/training steps\/s [0-9.]*, //'

# Achieved training FLOP/s against one thread's sgemm, measured now on this machine.
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 /usr/bin/python3 - "$big_out" <<'PY'
import re, sys, time
import torch
sys.path.insert(0, "bench/peers")
from transformer import GPT
torch.set_num_threads(1)
a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
torch.mm(a, b)
start, reps = time.perf_counter(), 10
for _ in range(reps):
    torch.mm(a, b)
sgemm = 2 * 1024 ** 3 * reps / (time.perf_counter() - start)
params = sum(p.numel() for p in GPT(83, 256, 6, 6, 384).parameters())
steps_per_second = float(re.search(r"genlab: ([0-9.]+) steps/s", sys.argv[1]).group(1))
achieved = 6 * params * steps_per_second * 12 * 256
print(f"sgemm 1024x1024, 1 thread: {sgemm / 1e9:.1f} GFLOP/s; genlab training at 384 wide: 6 x {params} params x "
      f"{steps_per_second * 12 * 256:.0f} tokens/s = {achieved / 1e9:.1f} GFLOP/s, {100 * achieved / sgemm:.0f}% of sgemm")
PY
