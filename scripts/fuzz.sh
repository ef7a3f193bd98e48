#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan) in ./build-fuzz and
# runs each for SECONDS (default 60), starting from its seed corpus in tests/fuzz/corpus/.
# Prints, per target, the executions, the corpus it grew and the crashes; crash inputs land
# in build-fuzz/crashes/<target>/ and the script exits 1 if there is any. A crash, once
# fixed, keeps its input in tests/fuzz/regressions/<target>/ (replayed by CTest).
# Usage: scripts/fuzz.sh [SECONDS | --runs N] [TARGET...]   (targets: safetensors plugin_toml
#        manifest idx digits_csv image text nerf_transforms; default all)
#   --runs N: each target runs until N executions (the campaign of docs/security.md: 10000000).
set -euo pipefail
cd "$(dirname "$0")/.."
limit=(-max_total_time="${1:-60}")
if [ "${1:-}" = --runs ]; then
  limit=(-runs="$2")
  shift 2
else
  shift || true
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(safetensors plugin_toml manifest idx digits_csv image text nerf_transforms)

GENLAB_EXTRA_PACKAGES="clang" bash scripts/setup.sh --packages-only
cmake --preset fuzz > build-fuzz-configure.log 2>&1 || { cat build-fuzz-configure.log; exit 1; }
rm -f build-fuzz-configure.log
# The host's targets (safetensors, plugin_toml, manifest) build genlab_core, and with it the CLI
# and a plugin; the readers of data files need neither.
host=()
for t in "${targets[@]}"; do
  case $t in safetensors | plugin_toml | manifest) host=(genlab example_toy2d) ;; esac
done
cmake --build build-fuzz --target $(printf 'fuzz_%s ' "${targets[@]}") ${host[@]+"${host[@]}"} > /dev/null

status=0
printf '%-16s %12s %10s %8s %8s %6s %8s\n' target executions exec/s corpus crashes slow seconds
for t in "${targets[@]}"; do
  work=build-fuzz/corpus/$t crashes=build-fuzz/crashes/$t
  mkdir -p "$work" "$crashes"
  log=build-fuzz/fuzz_$t.log
  # -rss_limit_mb: an input that makes a reader allocate gigabytes counts as a crash.
  # -report_slow_units=1: an input over a second is kept (libFuzzer's default, 10 s, is the
  # -timeout itself, so that none would be).
  began=$(date +%s)
  build-fuzz/fuzz/fuzz_$t "$work" "tests/fuzz/corpus/$t" "${limit[@]}" -print_final_stats=1 \
    -rss_limit_mb=2048 -timeout=10 -report_slow_units=1 -artifact_prefix="$crashes/" > "$log" 2>&1 || true
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo 0)
  # crash-, leak-, oom- and timeout- inputs fail; slow-unit- ones (over a second) are listed.
  found=$(find "$crashes" -type f ! -name 'slow-unit-*' | wc -l)
  slow=$(find "$crashes" -type f -name 'slow-unit-*' | wc -l)
  printf '%-16s %12s %10s %8s %8s %6s %8s\n' "$t" "$execs" "$rate" "$(ls "$work" | wc -l)" "$found" "$slow" \
    "$(( $(date +%s) - began ))"
  if [ "$found" -gt 0 ]; then
    status=1
    grep -m1 -A12 'ERROR: \|deadly signal\|uncaught' "$log" | sed 's/^/    /' || true
  fi
done
echo "command: bash scripts/fuzz.sh ${limit[*]/#-max_total_time=/} ${targets[*]}" | sed 's/-runs=/--runs /'
exit $status
