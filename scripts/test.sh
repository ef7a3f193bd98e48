#!/usr/bin/env bash
# The README's test command: sets up (packages, configure), builds everything, runs every
# test with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
# chromium: a test opens a report in headless Chromium and checks every chart rendered;
# clang-format-14: format_check checks the layout of every source (.clang-format).
GENLAB_EXTRA_PACKAGES="chromium clang-format-14" bash scripts/setup.sh -DGENLAB_BUILD_TESTS=ON -DGENLAB_BUILD_BENCH=ON
# The only data the tests read (1.5 MB), and the charting libraries reports inline.
bash scripts/fetch-data.sh digits moby-dick vega
cmake --build build
cd build
ctest --output-on-failure --timeout 900
