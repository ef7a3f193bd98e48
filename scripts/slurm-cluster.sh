#!/usr/bin/env bash
# A real single-node Slurm cluster living entirely under one folder, for the Slurm
# executor's tests.
#
#   bash scripts/slurm-cluster.sh start DIR   install slurm-wlm + munge if missing (root),
#                                             start munged, slurmctld and slurmd under DIR,
#                                             wait until the node is idle and a probe job
#                                             has completed, write DIR/env.sh
#   bash scripts/slurm-cluster.sh stop DIR    cancel the cluster's jobs, then stop the three
#                                             daemons by the pids in DIR's pid files
#
# After start, `source DIR/env.sh` points sbatch/squeue/scontrol/scancel at the cluster.
# Everything the cluster writes is under DIR; outside it only the packages (whose postinst
# also makes /etc/munge/munge.key, unused here) and lock and install-log files in /tmp.
# No system service is started or configured. Start never skips silently: if the cluster
# is not up within GENLAB_SLURM_START_TIMEOUT seconds (default 60) it prints the daemons'
# log tails, stops what it started and exits non-zero.
set -euo pipefail

packages=(slurm-wlm munge)
first_port=16817
start_timeout=${GENLAB_SLURM_START_TIMEOUT:-60}

die() { echo "slurm-cluster: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------- install

missing_packages() {
  local p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || printf '%s ' "$p"
  done
}

install_packages() {
  local missing
  missing=$(missing_packages)
  missing=${missing% }
  [ -z "$missing" ] && return 0
  [ "$(id -u)" -eq 0 ] || die "packages $missing are missing and installing them needs root"

  # Two test runs starting clusters at once: the second waits, then finds them installed.
  local lock
  exec {lock}> /tmp/genlab-slurm-install.lock
  flock "$lock"
  missing=$(missing_packages)
  missing=${missing% }
  if [ -n "$missing" ]; then
    # Debian's postinst scripts start munge/slurmd/slurmctld through invoke-rc.d (or
    # deb-systemd-invoke), which ask policy-rc.d first; its exit 101 means "do not start".
    # Docker images ship one; elsewhere one stands in for the duration of the install.
    local added_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\n# genlab slurm-cluster.sh: no service starts while installing\nexit 101\n' \
        > /usr/sbin/policy-rc.d
      chmod 0755 /usr/sbin/policy-rc.d
      trap 'rm -f /usr/sbin/policy-rc.d' EXIT
      added_policy=1
    fi
    echo "slurm-cluster: installing $missing"
    export DEBIAN_FRONTEND=noninteractive
    # Wait for a dpkg lock another apt-get holds rather than fail at once.
    local apt=(apt-get -o DPkg::Lock::Timeout=300)
    local status=0
    # Stale or absent package lists make the first try fail; only then refresh them.
    # shellcheck disable=SC2086
    if ! "${apt[@]}" install -y -qq --no-install-recommends $missing > /tmp/genlab-slurm-install.log 2>&1; then
      { "${apt[@]}" update -qq && "${apt[@]}" install -y -qq --no-install-recommends $missing; } \
        >> /tmp/genlab-slurm-install.log 2>&1 || status=$?
    fi
    if [ "$added_policy" -eq 1 ]; then
      rm -f /usr/sbin/policy-rc.d
      trap - EXIT
    fi
    if [ "$status" -ne 0 ]; then
      tail -n 30 /tmp/genlab-slurm-install.log >&2
      die "apt-get install $missing failed (exit $status); full log in /tmp/genlab-slurm-install.log"
    fi
  fi
  exec {lock}>&-
}

# ---------------------------------------------------------------------------- helpers

# True when some socket (any state, IPv4 or IPv6) already uses the TCP port.
port_in_use() {
  local hex
  hex=$(printf '%04X' "$1")
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk -v p=":$hex" 'NR > 1 && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }'
}

# The first port from $first_port up such that it and the next one are free (slurmctld
# takes the first, slurmd the second).
pick_ports() {
  local p=$first_port
  while [ "$p" -lt 17817 ]; do
    if ! port_in_use "$p" && ! port_in_use $((p + 1)); then
      echo "$p"
      return 0
    fi
    p=$((p + 2))
  done
  die "no two free TCP ports between $first_port and 17816"
}

# The pid in a pid file, printed only if that process still runs the expected program
# (a stale file's pid may belong to something else by now).
live_pid() {
  local file=$1 program=$2 pid
  [ -s "$file" ] || return 1
  pid=$(tr -dc '0-9' < "$file")
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] || return 1
  [ "$(cat "/proc/$pid/comm")" = "$program" ] || return 1
  echo "$pid"
}

print_log_tails() {
  local dir=$1 log
  for log in "$dir/munge/munged.log" "$dir/log/slurmctld.log" "$dir/log/slurmd.log"; do
    echo "----- last lines of $log" >&2
    if [ -f "$log" ]; then tail -n 25 "$log" >&2; else echo "(no such file)" >&2; fi
  done
}

# ---------------------------------------------------------------------------- start

start_munged() {
  local dir=$1
  local mdir=$dir/munge
  mkdir -p "$mdir"
  # munged wants its socket folder searchable by all (clients of any user connect) and
  # writable by no one but its owner.
  chmod 0755 "$mdir"
  if [ ! -s "$mdir/munge.key" ]; then
    if command -v mungekey > /dev/null; then
      mungekey --create --keyfile="$mdir/munge.key"
    else
      dd if=/dev/urandom of="$mdir/munge.key" bs=1024 count=1 status=none
    fi
  fi
  chmod 0400 "$mdir/munge.key"
  # --force: munged refuses a socket below a folder others cannot search, and a test's
  # mktemp -d folder is 0700; every client here runs as root, so that check does not apply.
  munged --force --origin=127.0.0.1 --socket="$mdir/munge.socket.2" --key-file="$mdir/munge.key" \
    --pid-file="$mdir/munged.pid" --log-file="$mdir/munged.log" --seed-file="$mdir/munged.seed" ||
    return 1
  # munged returns once it has daemonized; prove the socket answers before Slurm needs it.
  for _ in $(seq 50); do
    if munge -n --socket="$mdir/munge.socket.2" 2>/dev/null | unmunge --socket="$mdir/munge.socket.2" > /dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

write_slurm_conf() {
  local dir=$1 node=$2 ctld_port=$3
  local cpus mem_mb
  cpus=$(nproc)
  # A bit under the host's memory: slurmd drains a node whose RealMemory exceeds what it
  # finds, and MemTotal varies slightly between boots.
  mem_mb=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
  cat > "$dir/slurm.conf" << EOF
# Written by genlab scripts/slurm-cluster.sh: a throwaway single-node cluster under
# $dir. Everything a daemon writes lives under that folder.
ClusterName=genlab
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$((ctld_port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# Both the auth and the cred plugin take the munge socket from AuthInfo.
AuthInfo=socket=$dir/munge/munge.socket.2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups: the host may have no systemd and no writable cgroup tree.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
# Per-CPU allocation, so two 1-CPU jobs run side by side even on a one-core-two-threads host.
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
# Start a batch job as soon as it is submitted (the default batches them up for 3 s).
SchedulerParameters=batch_sched_delay=0
# No slurmdbd: sacct has nothing to read, so finished jobs are kept in slurmctld for an
# hour for scontrol show job.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=3600
KillWait=5
ReturnToService=2
MailProg=/bin/true
# The name may not resolve (no /etc/hosts entry), so every daemon is reached by address.
NodeName=$node NodeAddr=127.0.0.1 NodeHostname=$node CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
}

start_cluster() {
  local dir=$1 program pid
  install_packages
  for program in munged slurmctld slurmd; do
    if pid=$(live_pid "$(pid_file "$dir" "$program")" "$program"); then
      die "$program from an earlier start still runs in $dir (pid $pid); run: $0 stop $dir"
    fi
  done
  # A unix socket path holds at most 107 bytes.
  [ ${#dir} -le 80 ] || die "folder path too long for munge's socket (${#dir} bytes, at most 80): $dir"
  # A folder reused from an earlier start would bring back that cluster's jobs.
  rm -rf "$dir/state" "$dir/spool"
  mkdir -p "$dir/log" "$dir/state" "$dir/spool"
  local node ctld_port port_lock
  node=$(hostname -s)
  # Held from choosing the ports until the daemons listen on them, so that two starts at
  # once do not pick the same ones. The daemons must not inherit it (they would hold it).
  exec {port_lock}> /tmp/genlab-slurm-ports.lock
  flock "$port_lock"
  ctld_port=$(pick_ports)
  write_slurm_conf "$dir" "$node" "$ctld_port"
  cat > "$dir/env.sh" << EOF
# source me: points Slurm's client commands at the cluster under $dir
export SLURM_CONF=$dir/slurm.conf
export GENLAB_SLURM_DIR=$dir
EOF
  export SLURM_CONF=$dir/slurm.conf

  local begin=$SECONDS
  start_munged "$dir" {port_lock}>&- ||
    fail_start "$dir" "munged did not answer on $dir/munge/munge.socket.2"
  # Both daemonize and write their pid files themselves.
  slurmctld -f "$dir/slurm.conf" {port_lock}>&- || fail_start "$dir" "slurmctld exited with status $?"
  slurmd -f "$dir/slurm.conf" -N "$node" {port_lock}>&- || fail_start "$dir" "slurmd exited with status $?"

  local state=""
  while [ "$state" != idle ]; do
    [ $((SECONDS - begin)) -lt "$start_timeout" ] ||
      fail_start "$dir" "node $node not idle after ${start_timeout} s (last state: '${state:-no answer from slurmctld}')"
    sleep 0.2
    state=$(sinfo -h -N -n "$node" -o '%T' 2>/dev/null || true)
  done
  exec {port_lock}>&-

  # An idle node does not prove that jobs launch (slurmstepd, munge credentials, the
  # spool folder), and slurmctld's first scheduling pass comes ~3 s after it starts; one
  # tiny job checks both, so a test's first job runs at once. It stays visible to
  # `squeue -t all` and scontrol for MinJobAge, under the name genlab-cluster-probe.
  local probe
  probe=$(sbatch --parsable --job-name=genlab-cluster-probe --chdir="$dir/log" \
    --output="$dir/log/probe.out" --wrap true 2>&1) ||
    fail_start "$dir" "sbatch of the probe job failed: $probe"
  state=""
  while [ "$state" != COMPLETED ]; do
    case $state in
      FAILED | CANCELLED | TIMEOUT | NODE_FAIL | BOOT_FAIL | OUT_OF_MEMORY | DEADLINE)
        fail_start "$dir" "probe job $probe ended $state (output in $dir/log/probe.out)" ;;
    esac
    [ $((SECONDS - begin)) -lt "$start_timeout" ] ||
      fail_start "$dir" "probe job $probe not COMPLETED after ${start_timeout} s (last state: '${state:-unknown}')"
    sleep 0.2
    state=$(scontrol show job "$probe" -o 2>/dev/null | sed -n 's/.* JobState=\([A-Z_]*\) .*/\1/p')
  done
  echo "slurm-cluster: up in $((SECONDS - begin)) s (node $node idle, probe job $probe completed); source $dir/env.sh"
}

# Shows why, stops whatever did start (logs stay in DIR), exits non-zero.
fail_start() {
  local dir=$1 why=$2
  print_log_tails "$dir"
  ( stop_cluster "$dir" ) > /dev/null 2>&1 || true
  die "$why; logs in $dir"
}

# ---------------------------------------------------------------------------- stop

pid_file() {
  case $2 in
    munged) echo "$1/munge/munged.pid" ;;
    *) echo "$1/$2.pid" ;;
  esac
}

# A daemon's parent is PID 1, which in a container may be slow to reap it, so an exited
# daemon can linger as a zombie: that counts as stopped.
is_running() {
  local state
  state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# SIGTERM, then SIGKILL if it is still there after five seconds.
stop_daemon() {
  local file=$1 program=$2 pid
  pid=$(live_pid "$file" "$program") || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    if ! is_running "$pid"; then
      echo "slurm-cluster: stopped $program ($pid)"
      return 0
    fi
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  echo "slurm-cluster: killed $program ($pid) after SIGTERM was ignored for 5 s"
}

stop_cluster() {
  local dir=$1 program running=0
  for program in munged slurmctld slurmd; do
    live_pid "$(pid_file "$dir" "$program")" "$program" > /dev/null && running=1
  done
  if [ "$running" -eq 0 ]; then
    echo "slurm-cluster: nothing running in $dir"
    return 0
  fi
  export SLURM_CONF=$dir/slurm.conf
  # slurmstepd and the job processes outlive slurmd by design, so end the jobs first,
  # through this cluster's own controller (it only knows jobs submitted to it).
  if live_pid "$dir/slurmctld.pid" slurmctld > /dev/null && live_pid "$dir/slurmd.pid" slurmd > /dev/null; then
    if [ -n "$(squeue -h -t PD,R,CG,S -o %i 2>/dev/null)" ]; then
      scancel --user="$(id -un)" 2>/dev/null || true
      # The node leaves allocated/mixed/completing only once slurmd has seen every step
      # end; KillWait=5 bounds that (SIGTERM, SIGKILL five seconds later).
      local state
      for _ in $(seq 40); do
        state=$(sinfo -h -N -o '%T' 2>/dev/null || true)
        case $state in
          *alloc* | *mix* | *comp*) sleep 0.25 ;;
          *) [ -z "$(squeue -h -t PD,R,CG,S -o %i 2>/dev/null)" ] && break; sleep 0.25 ;;
        esac
      done
    fi
  fi
  # munged last: the Slurm daemons still sign messages while they shut down.
  stop_daemon "$dir/slurmd.pid" slurmd
  stop_daemon "$dir/slurmctld.pid" slurmctld
  stop_daemon "$dir/munge/munged.pid" munged
}

# ---------------------------------------------------------------------------- main

[ $# -eq 2 ] || die "usage: $0 start|stop DIR"
case $2 in
  /*) dir=$2 ;;
  *) dir=$PWD/$2 ;;
esac
dir=${dir%/}
case $1 in
  start) mkdir -p "$dir"; start_cluster "$(cd "$dir" && pwd -P)" ;;
  # Stopping what is not running succeeds, so a test's clean-up may always call stop.
  stop)
    if [ -d "$dir" ]; then stop_cluster "$(cd "$dir" && pwd -P)"; else echo "slurm-cluster: no folder $dir, nothing to stop"; fi ;;
  *) die "unknown command '$1' (expected start or stop)" ;;
esac
