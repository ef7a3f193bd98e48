#!/usr/bin/env bash
# The README's main job: sets up, builds the host and the plugins, and runs the quickstart
# experiment (configs/quickstart.toml): VAE, GAN, diffusion and transformer, two seeds each,
# compared in one report. Results land in ./genlab-runs/quickstart/; the last line printed
# is the path of report.html.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh -DGENLAB_BUILD_TESTS=OFF -DGENLAB_BUILD_BENCH=OFF
cmake --build build
bash scripts/fetch-data.sh digits moby-dick vega   # 1.5 MB of data, 0.8 MB of charting code
build/bin/genlab plugins list
build/bin/genlab run configs/quickstart.toml --jobs 2 "$@"
