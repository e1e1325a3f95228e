#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Open MPI ranks on two nodes, the second one started through ssh as on a
# cluster: a network namespace with its own address (10.77.0.2, a veth
# pair to this host's 10.77.0.1) and hostname, running its own sshd; the
# filesystem is shared, as a cluster's home and /usr are. One rank per
# node, MPI traffic over TCP between them:
#   - mpirun -x LD_PRELOAD=... -x PINGUARD_MODE=copy: both ranks guarded,
#     the remote one too (-x forwards the variables through orted);
#   - pinguard run --mode copy -- mpirun ...: the local rank guarded, the
#     remote one not (what the README says: ssh does not carry the
#     launching shell's environment);
#   - plain mpirun: no rank has pinguard;
#   - module load pinguard, then mpirun -x LD_PRELOAD -x PINGUARD_MODE:
#     both guarded (when Environment Modules or Lmod is installed).
# Each rank reports its hostname, so the test knows which one ran where.
# Needs root (network namespaces), the packages from debian.sh --keep,
# mpicc/mpirun, sshd/ssh/ssh-keygen (openssh-server, openssh-client), ip,
# unshare and liburing-dev.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"

need mpicc mpirun cc ssh ssh-keygen ip unshare
[ -x /usr/sbin/sshd ] || skip "no /usr/sbin/sshd (openssh-server)"
[ "$(id -u)" -eq 0 ] || skip "network namespaces need root"
# shellcheck disable=SC2119
need_installed

ns=pg-node2-$$
here=10.77.0.1 there=10.77.0.2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pg-mpin.XXXXXX")
chmod 0755 "$tmp"	# the remote rank runs from here
sshd_pid=
cleanup() {
	set +e
	[ -z "$sshd_pid" ] || kill "$sshd_pid" 2>/dev/null
	# whatever still runs in the namespace (an orted of a failed run)
	ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
	ip netns del "$ns" 2>/dev/null
	ip link del "pgm$$a" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

ip -4 addr show | grep -q ' inet 10\.77\.0\.' &&
	skip "10.77.0.0/24 is in use on this machine"
ip netns add "$ns" 2>/dev/null || skip "cannot create a network namespace here"
ip link add "pgm$$a" type veth peer name "pgm$$b" ||
	fail "cannot create a veth pair"
ip link set "pgm$$b" netns "$ns"
ip addr add "$here/24" dev "pgm$$a"
ip link set "pgm$$a" up
ip netns exec "$ns" ip addr add "$there/24" dev "pgm$$b"
ip netns exec "$ns" ip link set "pgm$$b" up
ip netns exec "$ns" ip link set lo up

# The second node's sshd: its own host key, this test's client key only.
ssh-keygen -q -t ed25519 -N '' -f "$tmp/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$tmp/id"
cp "$tmp/id.pub" "$tmp/authorized_keys"
mkdir -p /run/sshd
cat >"$tmp/sshd_config" <<EOC
ListenAddress $there
Port 22
HostKey $tmp/host_key
PidFile $tmp/sshd.pid
AuthorizedKeysFile $tmp/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
LogLevel ERROR
EOC
cat >"$tmp/ssh_config" <<EOC
Host $there
	IdentityFile $tmp/id
	IdentitiesOnly yes
	StrictHostKeyChecking no
	UserKnownHostsFile /dev/null
	BatchMode yes
	LogLevel ERROR
EOC
# shellcheck disable=SC2016 # $1 is the inner shell's
ip netns exec "$ns" unshare --uts sh -c \
	'hostname pg-node2 && exec /usr/sbin/sshd -D -e -f "$1"' sh \
	"$tmp/sshd_config" 2>"$tmp/sshd.log" &
sshd_pid=$!
remote=
for _ in $(seq 100); do
	remote=$(ssh -F "$tmp/ssh_config" "$there" hostname 2>/dev/null) && break
	kill -0 "$sshd_pid" 2>/dev/null || { cat "$tmp/sshd.log" >&2; fail "sshd exited"; }
	sleep 0.1
done
[ "$remote" = pg-node2 ] || { cat "$tmp/sshd.log" >&2; fail "no ssh to the second node ('$remote')"; }
# what ssh gives a command there: not the launching shell's environment
# shellcheck disable=SC2016 # expanded on the second node
leak=$(LD_PRELOAD=$pg_lib PINGUARD_MODE=copy ssh -F "$tmp/ssh_config" "$there" \
	'echo "${LD_PRELOAD-}${PINGUARD_MODE-}"')
[ -z "$leak" ] || fail "ssh carried the environment: '$leak'"
say "second node: $remote at $there (network namespace, sshd), reached with ssh"

build_pinfork "$tmp/pinfork"
build_pinfork_mpi "$tmp/pinfork-mpi"
cd "$tmp"
# One rank per node: this host first (mpirun's), then the second node,
# whose orted is started with ssh; OOB and MPI traffic over the veth.
# shellcheck disable=SC2054 # --host takes a comma-separated list
mpirun=(mpirun --host "$here:1,$there:1" -np 2
	--mca plm_rsh_agent "ssh -F $tmp/ssh_config"
	--mca oob_tcp_if_include 10.77.0.0/24
	--mca pml ob1 --mca btl self,tcp --mca btl_tcp_if_include 10.77.0.0/24)
[ "$(id -u)" -ne 0 ] || mpirun+=(--allow-run-as-root)
unset LD_PRELOAD PINGUARD_MODE

"${mpirun[@]}" hostname >hosts.out 2>&1 || { cat hosts.out; fail "mpirun hostname"; }
[ "$(sort hosts.out | paste -sd ' ')" = "pg-node2 $(hostname)" ] ||
	{ cat hosts.out; fail "the ranks did not run on both nodes"; }

# check NAME OUTPUT GUARDED-HERE GUARDED-THERE: each node's rank line,
# and rank 0's sum.
check() {
	local on want n
	for on in "$(hostname)=$3" "pg-node2=$4"; do
		want="pinguard absent"
		[ "${on#*=}" = 1 ] && want="pinguard loaded mode copy forks_seen 1 forks_guarded 1"
		n=$(grep -c "^pinfork: rank [01] pid [0-9]* host ${on%%=*} $want\$" "$2" || true)
		[ "$n" -eq 1 ] || { cat "$2"; fail "$1: on ${on%%=*}, want '$want'"; }
	done
	n=$(($3 + $4))
	grep -q "^pinfork: 2 ranks, $n loaded, $n forks guarded$" "$2" ||
		{ cat "$2"; fail "$1: rank 0's sum"; }
	say "$1: $(grep '^pinfork: 2 ranks' "$2") (this node: $3, pg-node2: $4)"
}

"${mpirun[@]}" -x LD_PRELOAD="$pg_lib" -x PINGUARD_MODE=copy ./pinfork-mpi \
	>x.out 2>&1 || { cat x.out; fail "mpirun -x"; }
check "mpirun -x LD_PRELOAD -x PINGUARD_MODE=copy" x.out 1 1

pinguard run --mode copy -- "${mpirun[@]}" ./pinfork-mpi >run.out 2>&1 ||
	{ cat run.out; fail "pinguard run -- mpirun"; }
check "pinguard run --mode copy -- mpirun" run.out 1 0

"${mpirun[@]}" ./pinfork-mpi >plain.out 2>&1 || { cat plain.out; fail "mpirun"; }
check "mpirun without pinguard" plain.out 0 0

# The module's way: module load pinguard, then mpirun -x the variables it
# set (in a clean shell with only the module system's init).
modinit=
for f in /usr/share/modules/init/bash /usr/share/lmod/lmod/init/bash; do
	[ -f "$f" ] && { modinit=$f; break; }
done
if [ -n "$modinit" ]; then
	printf '%q ' "${mpirun[@]}" >mpirun.cmd
	# shellcheck disable=SC2016 # expanded by the inner shell
	env -i HOME="$tmp" PATH=/usr/bin:/bin TERM=dumb \
		bash --noprofile --norc -c '
. "$1"
module use "$2"
module load pinguard
export PINGUARD_MODE=copy
eval "$(cat mpirun.cmd) -x LD_PRELOAD -x PINGUARD_MODE ./pinfork-mpi"' \
		sh "$modinit" /usr/share/pinguard/modulefiles/tcl >mod.out 2>&1 ||
		{ cat mod.out; fail "module load pinguard; mpirun -x"; }
	check "module load pinguard; mpirun -x LD_PRELOAD -x PINGUARD_MODE" mod.out 1 1
else
	say "no module system installed: the module load form not run"
fi
say OK
