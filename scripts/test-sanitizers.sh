#!/usr/bin/env bash
# Builds everything with sanitizers and runs the tests under them:
#   asan  AddressSanitizer + UndefinedBehaviorSanitizer, the whole suite (build-asan/)
#   tsan  ThreadSanitizer, the scheduler, loader and worker tests (build-tsan/)
# Usage: scripts/test-sanitizers.sh [asan|tsan]...   (default: asan)
set -euo pipefail
cd "$(dirname "$0")/.."
presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(asan)
GENLAB_EXTRA_PACKAGES=chromium bash scripts/setup.sh --packages-only
bash scripts/fetch-data.sh digits moby-dick vega > /dev/null
for preset in "${presets[@]}"; do
  start=$(date +%s)
  cmake --preset "$preset" > "build-$preset.configure.log" 2>&1 || { cat "build-$preset.configure.log"; exit 1; }
  rm -f "build-$preset.configure.log"
  cmake --build "build-$preset"
  built=$(date +%s)
  ctest --preset "$preset" -j 2
  echo "$preset: build $((built - start)) s, tests $(( $(date +%s) - built )) s"
done
