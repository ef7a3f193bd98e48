#!/usr/bin/env bash
# The Slurm executor against a real Slurm: starts a single-node cluster on this host
# (scripts/slurm-cluster.sh: munged, slurmctld, slurmd under WORK_DIR), then
#   1. runs a small experiment through Slurm and checks its results equal the local executor's;
#   2. cancels a training job mid-run with scancel: the failure is recorded, and
#      `genlab run --resume` finishes it from its checkpoint;
#   3. kills the submitting host (kill -9) while its job runs: `genlab run` again re-attaches
#      to the job instead of submitting a second one;
#   4. `genlab cancel` cancels an experiment's running job;
#   5. trains one run over two processes (srun, c10d Gloo) through Slurm;
#   6. runs an ASHA search ([search]) whose trials stop at rungs and resume, through Slurm;
# and stops the daemons it started (by pid). Not as root, it skips (exit 77: the daemons
# and the packages need root); as root, where Slurm cannot start, it fails with the
# daemons' logs.
# Usage: run.sh GENLAB WORK_DIR
set -euo pipefail
genlab=$1
work=$2
if [ "$(id -u)" -ne 0 ]; then
  echo "GENLAB_SKIPPED: the Slurm test starts munged, slurmctld and slurmd, which needs root"
  exit 77
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$work"
mkdir -p "$work"
cluster="$work/cluster"
bash "$root/scripts/slurm-cluster.sh" start "$cluster"
trap 'bash "$root/scripts/slurm-cluster.sh" stop "$cluster"' EXIT
# shellcheck disable=SC1091
source "$cluster/env.sh"

fail() {
  echo "FAIL: $*"
  exit 1
}
pass() { echo "PASS  $*"; }

manifest="$work/tiny.toml"
cat > "$manifest" << 'EOF'
[experiment]
name = "slurm-tiny"
steps = 300
batch_size = 32
seeds = [1, 2]
checkpoint_every = 100
[datasets.ring]
plugin = "example-toy2d"
train_size = 256
test_size = 64
[models.gmm]
plugin = "example-gmm"
components = 4
[metrics.mmd]
plugin = "example-mmd"
[executor]
poll_seconds = 0.5
EOF

# The state file of a run's train node (one run per drill experiment).
train_state() { echo "$(ls -d "$1"/runs/*/ 2> /dev/null | head -1)train.state.toml"; }
state_field() { sed -n "s/^$2 = '\{0,1\}\"\{0,1\}\([^\"']*\)\"\{0,1\}'\{0,1\}$/\1/p" "$1" 2> /dev/null | head -1; }
# Waits until `test` holds (up to 60 s).
wait_for() {
  local what=$1
  shift
  for _ in $(seq 600); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  fail "timed out waiting for: $what"
}

# 1. The same experiment, locally and through Slurm: equal results.
"$genlab" run "$manifest" --quiet --executor local --set "experiment.workspace=\"$work/ws-local\"" > "$work/local.out" 2>&1 ||
  { cat "$work/local.out"; fail "the local run failed"; }
"$genlab" run "$manifest" --quiet --executor slurm --set "experiment.workspace=\"$work/ws-slurm\"" > "$work/slurm.out" 2>&1 ||
  { cat "$work/slurm.out"; fail "the Slurm run failed"; }
grep -q "Slurm job" "$work/slurm.out" || { cat "$work/slurm.out"; fail "the Slurm run did not say which jobs it submitted"; }
python3 - "$work/ws-local/slurm-tiny/summary.json" "$work/ws-slurm/slurm-tiny/summary.json" << 'EOF' || fail "results differ"
import json, sys
local, slurm = (json.load(open(p)) for p in sys.argv[1:3])
# Every metric but the cost.* ones (times and rates, which no two runs share).
def metrics(summary):
    return {r["run"]: (r["train"], r["evaluate"],
                       {k: v for k, v in r.get("metrics", {}).items() if not k.startswith("cost.")})
            for r in summary["runs"]}
a, b = metrics(local), metrics(slurm)
assert len(a) == 2 and all(v[0] == v[1] == "finished" and v[2] for v in a.values()), a
if a != b:
    print("local:", a, "\nslurm:", b)
    sys.exit(1)
print("PASS  the Slurm executor's results equal the local executor's:", {k: v[2] for k, v in b.items()})
EOF
for f in "$work"/ws-slurm/slurm-tiny/runs/*/train.sbatch; do
  grep -q "exec .*genlab' worker train\|exec .*genlab worker train" "$f" || { cat "$f"; fail "$f does not start the worker"; }
done
pass "each node ran as a batch job (train.sbatch kept in the run folder)"

# A long-running variant of the experiment for the drills: 20,000 steps, a checkpoint every 500.
drill() {
  sed -e "s/^name = .*/name = \"$1\"/" -e 's/^steps = .*/steps = 20000/' -e 's/^seeds = .*/seeds = [1]/' \
    -e 's/^checkpoint_every = .*/checkpoint_every = 500/' "$manifest" > "$work/$1.toml"
  echo "$work/$1.toml"
}
# Starts `genlab run` of drill experiment $1 through Slurm in the background and waits until
# its train job runs; sets m (the manifest), folder, host (the host's pid) and job.
start_drill() {
  m=$(drill "$1")
  folder="$ws/$1"
  "$genlab" run "$m" --quiet --executor slurm --set "experiment.workspace=\"$ws\"" > "$work/$1.host.out" 2>&1 &
  host=$!
  wait_for "a train job" has_job "$folder"
  job=$(slurm_job_of "$folder")
  wait_for "job $job running" job_running "$job"
}
job_running() { [ "$(squeue -h -j "$1" -o %T 2> /dev/null)" = "RUNNING" ]; }
has_checkpoint() { ls "$1"/runs/*/checkpoint.safetensors > /dev/null 2>&1; }
slurm_job_of() { state_field "$(train_state "$1")" slurm_job; }
has_job() { [ -n "$(slurm_job_of "$1")" ]; }

# 2. scancel mid-run: recorded as a failure; a resume finishes it from its checkpoint.
ws="$work/ws-drills"
start_drill scancel-drill
wait_for "job $job running with a checkpoint" has_checkpoint "$folder"
scancel "$job"
set +e
wait "$host"
code=$?
set -e
[ "$code" = 1 ] || { cat "$work/scancel-drill.host.out"; fail "genlab run exited $code after scancel, expected 1"; }
grep -q "cancelled on Slurm" "$(train_state "$folder")" || { cat "$(train_state "$folder")"; fail "the state file does not record the cancellation"; }
grep -q "cancelled on Slurm" "$folder/summary.md" || { cat "$folder/summary.md"; fail "the summary does not record the cancellation"; }
# scancel sends SIGTERM first: the worker saves a checkpoint before it stops.
grep -q "cancelled at step [0-9]*; checkpoint saved" "$(dirname "$(train_state "$folder")")/train.log" ||
  fail "the worker did not save a checkpoint on scancel's SIGTERM"
pass "scancel of job $job mid-run is recorded: $(state_field "$(train_state "$folder")" reason)"
"$genlab" run "$m" --quiet --resume --executor slurm --set "experiment.workspace=\"$ws\"" > "$work/resume.out" 2>&1 ||
  { cat "$work/resume.out"; fail "the resume failed"; }
grep -q "resuming from its checkpoint" "$work/resume.out" || { cat "$work/resume.out"; fail "the resume did not continue from the checkpoint"; }
grep -q "steps = 20000" "$(dirname "$(train_state "$folder")")/train.done.toml" || fail "the resumed run did not reach 20000 steps"
pass "genlab run --resume finished it from its checkpoint"

# 3. The submitting host dies; the next `genlab run` re-attaches to the running job.
start_drill reattach-drill
kill -9 "$host"
wait "$host" 2> /dev/null || true
job_running "$job" || fail "job $job did not outlive its submitting host"
"$genlab" run "$m" --quiet --executor slurm --set "experiment.workspace=\"$ws\"" > "$work/reattach2.out" 2>&1 ||
  { cat "$work/reattach2.out"; fail "the second run failed"; }
grep -q "attach train.*Slurm job $job" "$work/reattach2.out" || { cat "$work/reattach2.out"; fail "the second run did not re-attach to job $job"; }
jobs_of_run=$(scontrol show job -o | grep -F "$(dirname "$(train_state "$folder")")/train.log" | wc -l)
[ "$jobs_of_run" = 1 ] || fail "the run's train node was submitted $jobs_of_run times, expected once"
[ -f "$(dirname "$(train_state "$folder")")/train.done.toml" ] || fail "the re-attached run did not finish"
pass "after kill -9 of the host, genlab run re-attached to job $job (submitted once) and finished"

# 4. genlab cancel.
start_drill cancel-drill
"$genlab" cancel "$m" --set "experiment.workspace=\"$ws\"" > "$work/cancel.out" 2>&1 || { cat "$work/cancel.out"; fail "genlab cancel failed"; }
grep -q "Slurm job $job cancelled" "$work/cancel.out" || { cat "$work/cancel.out"; fail "genlab cancel did not cancel job $job"; }
set +e
wait "$host"
code=$?
set -e
[ "$code" = 1 ] || { cat "$work/cancel-drill.host.out"; fail "genlab run exited $code after genlab cancel, expected 1"; }
pass "genlab cancel cancelled job $job; its host recorded: $(state_field "$(train_state "$folder")" reason)"

# 5. One run over two processes: one job of two tasks (srun), ranks from Slurm's environment.
ws2="$work/ws-distributed"
"$genlab" run "$root/configs/distributed-tiny.toml" --quiet --executor slurm --set "experiment.workspace=\"$ws2\"" \
  > "$work/distributed.out" 2>&1 || { cat "$work/distributed.out"; fail "the 2-process run failed on Slurm"; }
run_dir=$(ls -d "$ws2"/distributed-tiny/runs/*/)
grep -q "srun --kill-on-bad-exit=1" "$run_dir/train.sbatch" || { cat "$run_dir/train.sbatch"; fail "the job does not start its tasks with srun"; }
grep -q -- "--ntasks=2" "$run_dir/train.sbatch" || fail "the job does not ask for 2 tasks"
[ -f "$run_dir/train.rank1.log" ] || fail "rank 1 left no log"
[ ! -e "$run_dir/dist" ] || [ -z "$(ls -A "$run_dir/dist")" ] || fail "the rendezvous files were not removed"
sum0=$(grep -o "final state checksum [0-9a-f]*" "$run_dir/train.log" | tail -1)
sum1=$(grep -o "final state checksum [0-9a-f]*" "$run_dir/train.rank1.log" | tail -1)
[ -n "$sum0" ] && [ "$sum0" = "$sum1" ] || fail "the ranks' final states differ: rank 0 '$sum0', rank 1 '$sum1'"
pass "a 2-process run trained as one Slurm job of 2 tasks; both ranks ended with the same state ($sum0)"

# 6. An ASHA search through Slurm: every trial stops at its first rung (its worker reads
#    train.until.toml), the best third go on from their checkpoints, one or more to the end.
cat > "$work/search.toml" << 'EOF'
[experiment]
name = "slurm-search"
steps = 270
batch_size = 64
[datasets.ring]
plugin = "example-toy2d"
train_size = 512
test_size = 128
[models.gmm]
plugin = "example-gmm"
lr = {log_uniform = [0.001, 0.3]}
[metrics.mmd]
plugin = "example-mmd"
[evaluation]
samples = 128
every = 30
during = ["mmd"]
during_samples = 64
[search]
trials = 6
strategy = "asha"
metric = "mmd.mmd2"
min_steps = 30
eta = 3
[executor]
poll_seconds = 0.5
EOF
"$genlab" run "$work/search.toml" --quiet --executor slurm --jobs 3 --set "experiment.workspace=\"$work/ws-search\"" \
  > "$work/search.out" 2>&1 || { cat "$work/search.out"; fail "the ASHA search failed on Slurm"; }
runs="$work/ws-search/slurm-search/runs"
at_first=$(ls "$runs"/*/rung-00000030.toml | wc -l)
finished=$(ls "$runs"/*/train.done.toml | wc -l)
[ "$at_first" = 6 ] || { cat "$work/search.out"; fail "$at_first of 6 trials reached the first rung"; }
[ "$finished" -ge 1 ] && [ "$finished" -lt 6 ] || { cat "$work/search.out"; fail "$finished of 6 trials trained to the end"; }
grep -q "resuming from its checkpoint" "$work/search.out" || fail "no promoted trial resumed from its checkpoint"
grep -q "search gmm-ring-s0: 6 trial(s), $finished trained to the end" "$work/search.out" ||
  { cat "$work/search.out"; fail "the search's line is missing"; }
pass "an ASHA search ran on Slurm: 6 trials at the first rung, $finished to the end"

echo "slurm executor: all checks passed"
