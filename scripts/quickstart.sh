#!/usr/bin/env bash
# The README's main job: sets up, builds the host and the plugins, and runs the quickstart
# experiment (configs/quickstart.toml). Results land in ./genlab-runs/quickstart/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh -DGENLAB_BUILD_TESTS=OFF -DGENLAB_BUILD_BENCH=OFF
cmake --build build
build/bin/genlab plugins list
build/bin/genlab run configs/quickstart.toml "$@"
