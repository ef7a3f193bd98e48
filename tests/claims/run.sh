#!/usr/bin/env bash
# The seed-claims suite (configs/seed-claims.toml) end to end at its tiny scale: every run
# of every claim's cells trains and is evaluated, the report holds the table of the 15
# claims, each with a verdict and, per check, the figures behind it; a second `genlab run`
# reuses every step, and `genlab report` prints the verdicts again. Tiny runs a few steps:
# it checks the machinery, not the claims (docs/seed-claims.md).
# Usage: run.sh GENLAB WORK_DIR
set -euo pipefail
genlab=$1
work=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$work"
mkdir -p "$work"

fail() {
  echo "FAIL: $*"
  exit 1
}
pass() { echo "PASS  $*"; }

# Posed views for the NeRF claims, rendered here (the bunny is not part of the test data).
"$genlab" data render-views --scene blocks --out "$work/views" --size 16 --train 12 --val 2 --test 3 >/dev/null
set_args=(--set scale=tiny --set "datasets.views.root=\"$work/views\"" --set "experiment.workspace=\"$work/ws\"")

"$genlab" validate "$root/configs/seed-claims.toml" "${set_args[@]}" >"$work/validate.out" 2>&1 || fail "genlab validate"
[ "$(grep -c '^  claim [0-9]*: ' "$work/validate.out")" = 15 ] || { cat "$work/validate.out"; fail "validate lists 15 claims"; }
pass "genlab validate lists the 15 claims"

"$genlab" run "$root/configs/seed-claims.toml" "${set_args[@]}" --jobs 2 --quiet >"$work/run.out" 2>&1 ||
  { tail -40 "$work/run.out"; fail "genlab run of the tiny suite failed"; }
grep -q ", 0 failed or skipped" "$work/run.out" || { tail -40 "$work/run.out"; fail "a step failed"; }
pass "the tiny suite ran: $(grep -o '[0-9]* node(s)' "$work/run.out")"

folder="$work/ws/seed-claims-tiny"
/usr/bin/python3 - "$folder" <<'PY' || fail "the report's claims"
import json, sys
folder = sys.argv[1]
report = json.load(open(f"{folder}/report.json"))
claims = report["claims"]
assert [c["id"] for c in claims] == [str(i) for i in range(1, 16)], [c["id"] for c in claims]
verdicts = {"supported", "not supported", "inconclusive"}
for c in claims:
    assert c["verdict"] in verdicts, c
    assert c["reason"] and c["checks"], c
    for check in c["checks"]:
        assert check["verdict"] in verdicts, check
        # Two seeds finished in every cell: each side has its figure and interval, or a bar.
        for side in ("a", "b"):
            if side in check:
                assert check[side]["runs"] == 2, (c["id"], check)
                assert "ci95_low" in check[side] and "ci95_high" in check[side], (c["id"], check)
        assert ("b" in check) != ("bar" in check), check
md = open(f"{folder}/report.md").read()
assert "## Claims" in md
rows = [line for line in md.splitlines() if line.startswith("| ") and "**" in line and line.split("|")[1].strip().isdigit()]
assert len(rows) >= 15, rows
html = open(f"{folder}/report.html").read()
assert html.count('class="verdict-') == 15, html.count('class="verdict-')
print("PASS  report.json, report.md and report.html hold the 15 claims, each check with its figures and interval")
PY

"$genlab" run "$root/configs/seed-claims.toml" "${set_args[@]}" --jobs 2 --quiet >"$work/again.out" 2>&1 || fail "second run"
grep -Eq "node\(s\): ([0-9]+) ok \(\1 already done\)" "$work/again.out" || { tail -5 "$work/again.out"; fail "a second run did work again"; }
pass "a second genlab run reused every step"

"$genlab" report "$root/configs/seed-claims.toml" "${set_args[@]}" >"$work/report.out" 2>&1 || fail "genlab report"
[ "$(grep -cE '^  [0-9]+ +(supported|not supported|inconclusive) ' "$work/report.out")" = 15 ] ||
  { cat "$work/report.out"; fail "genlab report did not print 15 verdicts"; }
pass "genlab report prints the 15 verdicts"
