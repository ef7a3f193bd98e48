#!/usr/bin/env bash
# Installs genlab from a build tree into a fresh prefix, builds the plugins of this folder
# against it with find_package(genlab) (a metric, and a model that trains with the SDK's
# Adam), passes them through `genlab plugins check`, trains the model in a small experiment,
# builds a plain-C plugin with LibTorch hidden, and builds it again against the build tree
# itself (the build folder is a package too).
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

# A model of its own that trains with the installed SDK's Adam: checked, then trained and
# evaluated in a small experiment on the built-in toy data.
model="$work/build/plugins/oot-diag-gaussian"
# Its parameter is declared with the installed SDK's Params: describe() gives the line.
grep -qF '{ name = "lr", type = "double", default = "0.05", doc = "Adam learning rate" }' "$model/plugin.toml" ||
  { echo "oot-diag-gaussian's plugin.toml lacks its lr parameter:"; cat "$model/plugin.toml"; exit 1; }
"$work/prefix/bin/genlab" plugins check "$model"
cat > "$work/oot.toml" << EOF
[experiment]
steps = 40
batch_size = 64
workspace = "$work/ws"
plugin_paths = ["$work/build/plugins"]
[features]
enabled = false
[evaluation]
samples = 64
[datasets.ring]
plugin = "example-toy2d"
[models.gauss]
plugin = "oot-diag-gaussian"
[metrics.nll]
plugin = "likelihood"
EOF
"$work/prefix/bin/genlab" run --quiet "$work/oot.toml" > "$work/run.log" 2>&1 || { cat "$work/run.log"; exit 1; }
echo "out-of-tree model (SDK Adam) checked, trained and evaluated: $(grep -o '[0-9]* node(s): .*' "$work/run.log")"

# A plain-C plugin configures and builds with no LibTorch to be found.
cmake -S "$here/c_dataset" -B "$work/c-build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_DISABLE_FIND_PACKAGE_Torch=ON -DGENLAB_SOURCE_DIR="$here/../.." > "$work/c-configure.log" 2>&1 ||
  { cat "$work/c-configure.log"; exit 1; }
cmake --build "$work/c-build"
"$work/prefix/bin/genlab" plugins check "$work/c-build/plugins/example-toy2d"
echo "plain-C plugin built without LibTorch and checked"

# The build tree as a package: the same plain-C plugin against BUILD_DIR, no install.
cmake -S "$here/c_dataset" -B "$work/c-build-tree" -G Ninja -Dgenlab_DIR="$build" \
  -DCMAKE_DISABLE_FIND_PACKAGE_Torch=ON -DGENLAB_SOURCE_DIR="$here/../.." > "$work/c-tree-configure.log" 2>&1 ||
  { cat "$work/c-tree-configure.log"; exit 1; }
cmake --build "$work/c-build-tree"
"$build/bin/genlab" plugins check "$work/c-build-tree/plugins/example-toy2d"
echo "plain-C plugin built against the build tree and checked"
