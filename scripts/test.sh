#!/usr/bin/env bash
# The README's test command: sets up (packages, configure), builds everything, runs every
# test with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh -DGENLAB_BUILD_TESTS=ON -DGENLAB_BUILD_BENCH=ON
bash scripts/fetch-data.sh digits moby-dick   # the only data sets the tests read (1.5 MB)
cmake --build build
cd build
ctest --output-on-failure --timeout 900
