#!/usr/bin/env bash
# The screenshots of docs/images/, taken by headless Chromium from a built tree:
#   dashboard.png  `genlab serve` beside the quickstart while it trains
#   report.png     the top of the quickstart's report.html once it is done
#   headline.txt   what `genlab run` printed at the end of the quickstart
# The quickstart runs in a scratch workspace (about 6 minutes on 2 cores).
# Usage: bash scripts/screenshots.sh [SECONDS_BEFORE_THE_DASHBOARD_SHOT]   (default 150)
set -euo pipefail
cd "$(dirname "$0")/.."
wait_before=${1:-150}
genlab=$PWD/build/bin/genlab
export GENLAB_DATA=$PWD/data
work=$(mktemp -d)
trap 'kill $(jobs -p) 2> /dev/null || true; rm -rf "$work"' EXIT
shot() {  # URL FILE HEIGHT
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,"$3" \
    --virtual-time-budget=8000 --screenshot="$2" "$1" > /dev/null 2>&1
}
"$genlab" run configs/quickstart.toml --jobs 2 --set experiment.workspace="$work/ws" > "$work/run.txt" 2>&1 &
run=$!
until [ -d "$work/ws" ]; do sleep 1; done
"$genlab" serve "$work/ws" --port 0 > "$work/serve.txt" 2>&1 &
until grep -q "serving http" "$work/serve.txt"; do sleep 0.2; done
url=$(grep -o "http://[0-9.:]*/" "$work/serve.txt")
sleep "$wait_before"
mkdir -p docs/images
shot "$url" docs/images/dashboard.png 2200
echo "screenshots: docs/images/dashboard.png (after ${wait_before} s)"
wait $run
shot "file://$work/ws/quickstart/report.html" docs/images/report.png 1400
sed -n '/^digits$/,$p' "$work/run.txt" > docs/images/headline.txt
echo "screenshots: docs/images/report.png, docs/images/headline.txt"
