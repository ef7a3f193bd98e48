#!/usr/bin/env bash
# Installs genlab from a build tree into a fresh prefix, builds the plugin of this folder
# against it with find_package(genlab), and passes it through `genlab plugins check`.
# Usage: run.sh BUILD_DIR WORK_DIR
set -euo pipefail
build=$1
work=$2
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work"
mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
cmake -S "$here" -B "$work/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/configure.log"
cmake --build "$work/build"
plugin="$work/build/plugins/oot-energy-distance"
test -f "$plugin/plugin.toml"
# Written by the installed genlab-describe from the library: the whole description.
toml=$(cat "$plugin/plugin.toml")
for line in 'summary = "energy distance between real and generated examples (out-of-tree)"' \
            'modalities = ["points", "image"]' 'capabilities = ["needs_real", "needs_generated"]' \
            '{ name = "real_key", type = "string"'; do
  grep -qF "$line" <<< "$toml" || { echo "plugin.toml lacks: $line"; echo "$toml"; exit 1; }
done
"$work/prefix/bin/genlab" plugins check "$plugin"
# Captured, not piped into `grep -q`: grep exits at the first match, and under pipefail the
# host's later writes to the closed pipe (SIGPIPE) would fail the test at random.
listed=$(GENLAB_PLUGIN_PATH="$work/build/plugins" "$work/prefix/bin/genlab" plugins list)
grep -q "oot-energy-distance" <<< "$listed" || {
  echo "oot-energy-distance is missing from 'genlab plugins list':"; echo "$listed"; exit 1; }
echo "out-of-tree plugin built, checked and listed"
