#!/usr/bin/env bash
# bench/nerf_speed.sh: the NeRF's speed on the CPU, 1 thread, side by side.
#  1. The `nerf` plugin's MLP (encoding = "frequency") at the design note's CPU reference
#     point as configs/nerf-bunny.toml sizes it (depth 4, width 128, the input again after
#     layer 2, 64 coarse + 64 fine samples, batches of 1024 rays) through the host
#     (build/bin/nerf_bench model), against the same model in plain PyTorch
#     (bench/peers/nerf.py; Debian's python3-torch, the same 1.13.1 kernels), alternating
#     REPEATS times (default 3): training rays/s and the time to render one 100x100 view.
#     Goal: training rays/s ratio genlab / Python >= 1.2.
#  2. The hash grid as configs/nerf-bunny.toml has it (16 levels x 2 features, 2^16 rows,
#     resolutions 16 to 512, 64 + 64 samples) through the host at the same batch: rays/s
#     for comparison (it has no peer).
#  3. The volume-rendering composite through the host's run_op (the cpu-reference backend)
#     against LibTorch autograd, forward + backward, 4096 rays x 192 samples
#     (nerf_bench composite). Goal: >= 2x.
# Ratios, not absolute times: the machine is noisy; its load average is printed first.
# Usage: bench/nerf_speed.sh [BUILD_DIR] [STEPS]   (STEPS timed training steps, default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
steps=${2:-5}
repeats=${REPEATS:-3}
echo "command: REPEATS=$repeats bench/nerf_speed.sh $build $steps"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
bench="$build/bin/nerf_bench"
[ -x "$bench" ] || { echo "$bench is not built (cmake --build $build --target nerf_bench)" >&2; exit 1; }
/usr/bin/python3 -c "import torch" 2> /dev/null || apt-get install -y -qq --no-install-recommends python3-torch > /dev/null

# The models of configs/nerf-bunny.toml: the MLP of the reference point (the input again
# after layer 2) and its hash grid.
depth=4 width=128 skip=2 samples=64 fine=64 batch=1024
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
echo
echo "== frequency encoding (MLP $depth x $width, skip after layer $skip, $samples + $fine samples, $batch rays per step, $steps steps, 1 thread)"
ratios=()
for ((r = 1; r <= repeats; r++)); do
  genlab_out=$("$bench" model --steps "$steps" --batch "$batch" --threads 1 encoding=frequency depth=$depth \
    width=$width skip=$skip samples=$samples fine_samples=$fine 2>&1) || { echo "$genlab_out" >&2; exit 1; }
  genlab_line=$(grep '^genlab ' <<< "$genlab_out")
  python_line=$(/usr/bin/python3 bench/peers/nerf.py $depth $width $samples $fine $batch "$steps" 1 $skip)
  [ "$repeats" -gt 1 ] && echo "repeat $r of $repeats:"
  echo "$genlab_line"
  echo "$python_line"
  ratio=$(awk -v g="$genlab_line" -v p="$python_line" 'BEGIN { split(g, a, " "); split(p, b, " ")
    printf "%.4f %.4f", a[3] / b[3], b[5] / a[5] }')
  read -r train_ratio render_ratio <<< "$ratio"
  printf 'ratio genlab / python: training rays/s %.2f (goal >= 1.2), render speed (python ms / genlab ms) %.2f\n' \
    "$train_ratio" "$render_ratio"
  ratios+=("$train_ratio $render_ratio")
done
if [ "$repeats" -gt 1 ]; then
  for column in 1 2; do
    printf '%s\n' "${ratios[@]}" | awk -v c=$column '{ print $c }' | sort -g |
      awk -v what="$([ $column = 1 ] && echo 'training rays/s' || echo 'render speed')" '{ v[NR] = $1 } END {
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%s ratios genlab / python over %d repeats: min %.2f, median %.2f, max %.2f\n", what, NR, v[1], m, v[NR] }'
  done
fi

echo
echo "== hash grid (16 levels x 2 features, 2^16 rows, resolutions 16 to 512, $samples + $fine samples, $batch rays per step, $steps steps, 1 thread; no peer)"
"$bench" model --steps "$steps" --batch "$batch" --threads 1 encoding=hashgrid levels=16 log2_table=16 \
  max_resolution=512 samples=$samples fine_samples=$fine 2> /dev/null | grep -v '^command:'

echo
echo "== volume-rendering composite, op (run_op, cpu-reference backend) against LibTorch autograd"
"$bench" composite 4096 192 2> /dev/null | grep -v '^command:'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
