#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The SPANK plug-in of the installed pinguard-slurm package on a one-node
# Slurm cluster on localhost: munged, slurmctld and slurmd started here
# (private socket, ports, state and spool directories under a temporary
# directory; proctrack/linuxproc, task/none: no cgroups) and stopped at
# the end. Checks, with 2-task steps of a program that pins and forks:
#   - srun --pinguard=copy: each task preloaded, its fork guarded, and
#     PINGUARD_STATS summaries from each task;
#   - srun without the option (site default none): tasks untouched;
#   - srun --pinguard=bogus: refused by srun, nothing runs;
#   - an LD_PRELOAD of the job kept after the library; --pinguard-fork-init;
#   - the site default (default=copy in plugstack.conf): applies without
#     the option, --pinguard=none opts out, a user's PINGUARD_MODE wins;
#   - sbatch: the option and the site default reach the batch script and
#     the steps it starts; salloc: its steps, not its local command;
#   - pinguard status on a running task.
# Needs root, the packages from debian.sh --keep (pinguard-slurm too),
# slurmctld, slurmd, slurm-client and munge.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"

need munged slurmctld slurmd srun sbatch salloc sinfo cc ss
[ "$(id -u)" -eq 0 ] || skip "slurmd must run as root"
need_installed pinguard-slurm
plugindir=/usr/lib/$(multiarch)/slurm-wlm
[ -f "$plugindir/spank_pinguard.so" ] || fail "no $plugindir/spank_pinguard.so"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pg-slurm.XXXXXX")
chmod 0700 "$tmp"
munge_pid='' ctld_pid='' slurmd_pid='' hold_pid=''
# Ours: started by this script, or slurmstepd started by our slurmd (it
# inherits SLURM_CONF=$tmp/slurm.conf).
our_stepds() {
	local p
	for p in $(pgrep -x slurmstepd || true); do
		{ tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null |
			grep -qx "SLURM_CONF=$tmp/slurm.conf" && echo "$p"
	done
	return 0
}
# wait_gone SECONDS PID...: true once none of them runs.
wait_gone() {
	local n=$(($1 * 10)) p alive
	shift
	while [ "$n" -gt 0 ]; do
		alive=0
		for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ "$alive" = 0 ] && return 0
		n=$((n - 1))
		sleep 0.1
	done
	return 1
}
stop() {
	local daemons
	set +e	# clean up as far as possible, whatever fails
	touch "$tmp/release"
	[ -z "$hold_pid" ] || wait_gone 30 "$hold_pid" || kill "$hold_pid" 2>/dev/null || true
	# Steps first (slurmstepd reports to slurmctld), then an orderly
	# shutdown of both daemons; SIGKILL only for what did not stop.
	if [ -n "$ctld_pid" ]; then
		for _ in $(seq 100); do
			[ -z "$(squeue -h 2>/dev/null)" ] && break
			sleep 0.1
		done
		scontrol shutdown >/dev/null 2>&1 || true
	fi
	daemons="$ctld_pid $slurmd_pid $(our_stepds | paste -sd ' ')"
	# shellcheck disable=SC2086
	if [ -n "$daemons" ] && ! wait_gone 30 $daemons; then
		echo "slurm daemons still running after 30 s: SIGKILL" >&2
		# shellcheck disable=SC2046,SC2086
		kill -9 $daemons $(our_stepds) 2>/dev/null || true
	fi
	if [ -n "$munge_pid" ]; then
		kill "$munge_pid" 2>/dev/null || true
		wait_gone 10 "$munge_pid" || kill -9 "$munge_pid" 2>/dev/null || true
	fi
	wait 2>/dev/null || true
	if [ "${keep_logs:-0}" = 1 ]; then
		echo "logs kept in $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap stop EXIT
logs() { keep_logs=1; tail -n 20 "$tmp"/*.log >&2 || true; }
build_pinfork "$tmp/pinfork"
echo 'int pg_other_preload;' | cc -shared -fPIC -x c - -o "$tmp/other.so"

# Two free TCP ports for slurmctld and slurmd.
port=$((20000 + RANDOM % 20000))
while ss -ltnH | awk '{print $4}' | grep -Eq ":($port|$((port + 1)))\$"; do
	port=$((port + 2))
done
node=$(hostname -s)
mkdir -p "$tmp/state" "$tmp/spool"

dd if=/dev/urandom of="$tmp/munge.key" bs=1024 count=1 status=none
chmod 0400 "$tmp/munge.key"
munged --force --socket="$tmp/munge.sock" --key-file="$tmp/munge.key" \
	--pid-file="$tmp/munged.pid" --log-file="$tmp/munged.log" \
	--seed-file="$tmp/munged.seed" --foreground 2>"$tmp/munged.out" &
munge_pid=$!

cat >"$tmp/slurm.conf" <<EOC
ClusterName=pinguard-test
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
AuthInfo=socket=$tmp/munge.sock
CredType=cred/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/linear
ReturnToService=2
PlugStackConfig=$tmp/plugstack.conf
NodeName=$node NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=pg Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOC
site() { echo "required spank_pinguard.so $*" >"$tmp/plugstack.conf"; }
site default=none
export SLURM_CONF=$tmp/slurm.conf
unset LD_PRELOAD PINGUARD_MODE PINGUARD_STATS

for _ in $(seq 100); do [ -S "$tmp/munge.sock" ] && break; sleep 0.1; done
[ -S "$tmp/munge.sock" ] || { logs; fail "munged did not start"; }
slurmctld -D -i >"$tmp/slurmctld.out" 2>&1 &
ctld_pid=$!
slurmd -D -N "$node" >"$tmp/slurmd.out" 2>&1 &
slurmd_pid=$!
state=
for _ in $(seq 300); do
	state=$(sinfo -h -o %T 2>/dev/null || true)
	case $state in idle*) break ;; esac
	for p in $munge_pid $ctld_pid $slurmd_pid; do
		kill -0 "$p" 2>/dev/null ||
			{ logs; cat "$tmp"/*.out >&2; fail "a daemon exited (pid $p)"; }
	done
	sleep 0.2
done
[ "${state%%[*~#]*}" = idle ] || { logs; fail "node not idle: '$state'"; }
say "munged, slurmctld, slurmd up on $node (ports $port, $((port + 1)))"

run() { # NAME SRUN-ARGS...: 2 tasks, stdout to $tmp/NAME.out
	local name=$1
	shift
	srun -N1 -n2 -l "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" ||
		{ cat "$tmp/$name.out" "$tmp/$name.err"; logs; fail "srun $*"; }
}
count() { grep -c -- "$1" "$tmp/$2.out" || true; }
want() { # NAME COUNT PATTERN
	[ "$(count "$3" "$1")" -eq "$2" ] ||
		{ cat "$tmp/$1.out" "$tmp/$1.err"; fail "$1: want $2 lines matching '$3'"; }
}
guarded='pinguard loaded mode copy forks_seen 1 forks_guarded 1$'

PINGUARD_STATS=1 run copy --pinguard=copy "$tmp/pinfork"
want copy 2 "$guarded"
want copy 1 "^0: pinfork: rank 0 "
want copy 1 "^1: pinfork: rank 1 "
[ "$(grep -c 'stats: mode copy.* forks seen 1 guarded 1,' "$tmp/copy.err")" -eq 2 ] ||
	{ cat "$tmp/copy.err"; fail "no PINGUARD_STATS summary from each task"; }
say "srun --pinguard=copy: $(count "$guarded" copy) of 2 tasks guarded, 2 PINGUARD_STATS summaries"

PINGUARD_STATS=1 run plain "$tmp/pinfork"
want plain 2 'pinguard absent$'
# srun's own messages (job queued, allocated) aside, nothing on stderr.
! grep -v '^srun: ' "$tmp/plain.err" | grep -q . ||
	{ cat "$tmp/plain.err"; fail "plain step printed on stderr"; }
say "srun without --pinguard: 2 of 2 tasks without pinguard"

if srun -N1 -n2 --pinguard=bogus "$tmp/pinfork" >"$tmp/bogus.out" 2>&1; then
	cat "$tmp/bogus.out"; fail "srun --pinguard=bogus ran"
fi
grep -q "pinguard: --pinguard: invalid value 'bogus'" "$tmp/bogus.out" ||
	{ cat "$tmp/bogus.out"; fail "srun --pinguard=bogus: no message"; }
! grep -q pinfork "$tmp/bogus.out" || fail "srun --pinguard=bogus started tasks"
say "srun --pinguard=bogus: refused ($(grep -m1 invalid "$tmp/bogus.out"))"

# shellcheck disable=SC2016 # expanded in the tasks
LD_PRELOAD=$tmp/other.so run env --pinguard=dontfork --pinguard-fork-init=takeover \
	sh -c 'echo "$LD_PRELOAD $PINGUARD_MODE $PINGUARD_FORK_INIT"'
want env 2 ": $pg_lib:$tmp/other.so dontfork takeover\$"
say "job's LD_PRELOAD kept after the library; --pinguard-fork-init=takeover set"

site default=copy
run sitecopy "$tmp/pinfork"
want sitecopy 2 "$guarded"
run siteoff --pinguard=none "$tmp/pinfork"
want siteoff 2 'pinguard absent$'
PINGUARD_MODE=off run siteuser "$tmp/pinfork"
want siteuser 2 'pinguard loaded mode off forks_seen 1 forks_guarded 0$'
say "site default=copy: applied without the option, --pinguard=none opts out, the user's PINGUARD_MODE=off wins"
site default=none

# sbatch and salloc. The batch script is itself a task of the plug-in
# (slurmstepd's batch step), and the steps it starts with srun get the
# option through the job's environment; salloc runs its command on the
# submitting host, not as a task: only its srun steps are preloaded.
batch() { # NAME SBATCH-ARGS...: the script runs pinfork, then a 2-task step
	local name=$1
	shift
	sbatch --wait -N1 -n2 -o "$tmp/$name.out" -e "$tmp/$name.err" "$@" \
		--wrap "$tmp/pinfork && srun -n2 -l $tmp/pinfork" \
		>"$tmp/$name.sbatch" 2>&1 ||
		{ cat "$tmp/$name.sbatch" "$tmp/$name.out" "$tmp/$name.err"; logs; fail "sbatch $*"; }
}
batch sbatchcopy --pinguard=copy
want sbatchcopy 3 "$guarded"
batch sbatchplain
want sbatchplain 3 'pinguard absent$'
site default=copy
batch sbatchsite
want sbatchsite 3 "$guarded"
batch sbatchnone --pinguard=none
want sbatchnone 3 'pinguard absent$'
site default=none
say "sbatch --pinguard=copy: the batch script and its srun step guarded (3 of 3); without it none; site default=copy applies to batch jobs, --pinguard=none opts out"
salloc -N1 -n2 --pinguard=copy sh -c "$tmp/pinfork; srun -n2 -l $tmp/pinfork" \
	>"$tmp/salloc.out" 2>"$tmp/salloc.err" ||
	{ cat "$tmp/salloc.out" "$tmp/salloc.err"; logs; fail "salloc --pinguard=copy"; }
want salloc 2 "$guarded"
want salloc 1 'pinguard absent$'
say "salloc --pinguard=copy: its 2 srun tasks guarded, its own command (on the submitting host) not"

srun -N1 -n1 --pinguard=copy "$tmp/pinfork" --hold "$tmp/release" >"$tmp/hold.out" 2>&1 &
hold_pid=$!
for _ in $(seq 300); do
	grep -q 'pinguard loaded' "$tmp/hold.out" && break
	sleep 0.1
done
pid=$(awk '/pinguard loaded/ { print $5 }' "$tmp/hold.out")
[ -n "$pid" ] || { cat "$tmp/hold.out"; fail "held task did not report"; }
pinguard status "$pid" >"$tmp/status.out" 2>&1 || { cat "$tmp/status.out"; fail "pinguard status $pid"; }
for w in '^mode: copy' 'forks: 1 seen, 1 guarded'; do
	grep -q "$w" "$tmp/status.out" || { cat "$tmp/status.out"; fail "pinguard status of the task: no '$w'"; }
done
touch "$tmp/release"
wait "$hold_pid" || { cat "$tmp/hold.out"; fail "the held step failed"; }
hold_pid=
say "pinguard status on a running task (pid $pid): mode copy, 1 fork guarded"
say OK
