#!/usr/bin/env bash
# bench/plugins_list.sh: `genlab plugins list` over 100 plugin folders, against `genlab
# --version` (the process start alone), median of 21 runs each. Goal: list < 50 ms.
# Usage: bench/plugins_list.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
genlab="$build/bin/genlab"
source_plugin="$build/lib/genlab/plugins/example-toy2d"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for i in $(seq -w 1 100); do
  mkdir -p "$work/p$i"
  cp "$source_plugin"/* "$work/p$i/"
  sed -i "s/^name = .*/name = \"bench-$i\"/" "$work/p$i/plugin.toml"
done

median_ms() {  # median wall time of 21 runs of "$@", in ms
  local times=()
  for _ in $(seq 21); do
    local start end
    start=$(date +%s%N)
    "$@" > /dev/null 2>&1
    end=$(date +%s%N)
    times+=($(( (end - start) / 1000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n 11p | awk '{printf "%.2f", $1 / 1000}'
}

count=$(GENLAB_PLUGIN_PATH="$work" "$genlab" plugins list | grep -c '^bench-')
start_ms=$(median_ms "$genlab" --version)
list_ms=$(GENLAB_PLUGIN_PATH="$work" median_ms "$genlab" plugins list)
echo "command: bench/plugins_list.sh $build"
echo "plugins listed: $count (100 folders + built-ins), no library loaded"
echo "genlab --version (process start): $start_ms ms"
echo "genlab plugins list:              $list_ms ms"
awk -v a="$list_ms" -v b="$start_ms" 'BEGIN { printf "ratio list / start: %.2f; listing itself: %.2f ms\n", a / b, a - b }'
