#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Open MPI ranks guarded by the installed pinguard: an MPI program (pinfork
# built with mpicc) that pins an io_uring buffer and forks after MPI_Init,
# 2 ranks on this machine over shared memory (pml ob1, btl self,vader):
#   - mpirun -x LD_PRELOAD=... -x PINGUARD_MODE=copy: every rank guarded
#     (how the library reaches ranks on other nodes too);
#   - pinguard run --mode copy -- mpirun ...: every local rank guarded
#     (they inherit mpirun's environment; ranks that mpirun starts on
#     other nodes through ssh would not: mpi-nodes.sh shows it);
#   - plain mpirun: no rank has pinguard;
#   - pinguard status PID from outside, on each running rank.
# Needs the packages from debian.sh --keep, mpicc/mpirun (libopenmpi-dev,
# openmpi-bin) and liburing-dev.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"

need mpicc mpirun cc
# shellcheck disable=SC2119
need_installed
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pg-mpi.XXXXXX")
mpipid=
cleanup() {
	touch "$tmp/release"
	[ -z "$mpipid" ] || wait "$mpipid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
build_pinfork "$tmp/pinfork"
build_pinfork_mpi "$tmp/pinfork-mpi"
cd "$tmp"
mpirun=(mpirun -np 2 --oversubscribe --mca pml ob1 --mca btl "self,vader")
[ "$(id -u)" -ne 0 ] || mpirun+=(--allow-run-as-root)
unset LD_PRELOAD PINGUARD_MODE

# check NAME OUTPUT LOADED GUARDED: the per-rank lines and rank 0's sum.
check() {
	local n
	n=$(grep -c "pinguard loaded mode copy forks_seen 1 forks_guarded 1$" "$2" || true)
	if ! grep -q "^pinfork: 2 ranks, $3 loaded, $4 forks guarded$" "$2" ||
		[ "$n" -ne "$4" ]; then
		cat "$2"
		fail "$1: want $3 ranks loaded, $4 guarded"
	fi
	say "$1: $(grep '^pinfork: 2 ranks' "$2")"
}

t0=$(date +%s)
"${mpirun[@]}" -x LD_PRELOAD="$pg_lib" -x PINGUARD_MODE=copy ./pinfork-mpi \
	>x.out 2>&1 || { cat x.out; fail "mpirun -x"; }
check "mpirun -x LD_PRELOAD -x PINGUARD_MODE=copy" x.out 2 2

pinguard run --mode copy -- "${mpirun[@]}" ./pinfork-mpi >run.out 2>&1 ||
	{ cat run.out; fail "pinguard run -- mpirun"; }
check "pinguard run --mode copy -- mpirun" run.out 2 2

"${mpirun[@]}" ./pinfork-mpi >plain.out 2>&1 || { cat plain.out; fail "mpirun"; }
check "mpirun without pinguard" plain.out 0 0
grep -q "pinguard absent" plain.out || fail "plain mpirun: $(cat plain.out)"

# From outside: pinguard status on each rank while it runs.
"${mpirun[@]}" -x LD_PRELOAD="$pg_lib" -x PINGUARD_MODE=copy \
	./pinfork-mpi --hold "$tmp/release" >hold.out 2>&1 &
mpipid=$!
for _ in $(seq 600); do
	[ "$(grep -c 'pinguard loaded' hold.out || true)" -ge 2 ] && break
	kill -0 "$mpipid" 2>/dev/null || { cat hold.out; fail "mpirun --hold ended"; }
	sleep 0.1
done
pids=$(awk '/pinguard loaded/ { print $5 }' hold.out)
[ "$(echo "$pids" | wc -w)" -eq 2 ] || { cat hold.out; fail "no 2 ranks running"; }
for pid in $pids; do
	pinguard status "$pid" >status.out 2>&1 || { cat status.out; fail "pinguard status $pid"; }
	for want in '^mode: copy' 'forks: 1 seen, 1 guarded, 0 errors' '^  io_uring '; do
		grep -q "$want" status.out || { cat status.out; fail "status of rank $pid: no '$want'"; }
	done
done
touch "$tmp/release"
wait "$mpipid" || { cat hold.out; fail "mpirun --hold"; }
mpipid=
say "pinguard status on each running rank ($(echo "$pids" | paste -sd ' ')): mode copy, 1 fork guarded, its io_uring registration"
say "OK ($(($(date +%s) - t0)) s)"
