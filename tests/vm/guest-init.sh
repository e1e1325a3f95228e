#!/bin/bash
# PID 1 of the pinguard lab guest (booted by run-lab.sh with init=this).
# The root fs is the host's, read-only over 9p; everything the guest writes
# goes to its own tmpfs. Parameters come from /proc/cmdline:
#   pglab.dir=DIR        scenario binaries + scenarios.list (host path)
#   pglab.scen=a,b|all   scenarios to run
#   pglab.variants=LIST  none, api-<mode>, preload-<mode>
#   pglab.lib=PATH       libpinguard.so for preload-* variants (in the guest)
#   pglab.timeout=SEC    per-scenario timeout
#   pglab.nopreload=LIST programs the library has no interposer for
#   pglab.kern=ID        the lab kernel's name (deb11, deb12); on the knob
#                        kernel the id is knob<0|1>, read from the knob itself
# scenarios.list lines may start their arguments with @variants=, @knobs=,
# @kernels=, @timeout=, @env=K=V[,K=V...] (see the loop at the end).
# Output: "PGLAB <scenario> <variant> kern=<id> result=<r> detail=<d>" lines,
# each followed by "PGLAB-TIME <scenario> <variant> kern=<id> sec=<s>".
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/tmp LANG=C TMPDIR=/tmp

poweroff_now() {
	sync
	echo o > /proc/sysrq-trigger 2>/dev/null
	sleep 5
	poweroff -f
}
trap poweroff_now EXIT

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs -o mode=755 tmpfs /run

param() { # param NAME DEFAULT
	local w
	for w in $(cat /proc/cmdline); do
		case $w in "$1="*) echo "${w#*=}"; return ;; esac
	done
	echo "$2"
}
dir=$(param pglab.dir "")
scen=$(param pglab.scen all)
variants=$(param pglab.variants none)
lib=$(param pglab.lib "")
tmo=$(param pglab.timeout 60)
nopreload=$(param pglab.nopreload -)
kern=$(param pglab.kern unknown)

# Keep the lab dir reachable even if it lives under /tmp, which we cover.
mkdir -p /run/pglab
mount --bind "$dir" /run/pglab || echo "PGLAB-ERROR cannot bind $dir"
mount -t tmpfs -o mode=1777 tmpfs /tmp
mkdir -p /dev/shm	# devtmpfs has none: UCX and Open MPI's shared memory
mount -t tmpfs -o mode=1777 tmpfs /dev/shm 2>/dev/null
bin=/run/pglab/bin

knobf=/sys/module/kernel/parameters/fork_early_cow
case $(cat $knobf 2>/dev/null) in
Y) knob=1 ;; N) knob=0 ;; *) knob=missing ;;
esac
# The knob kernel names itself by what the knob really is (run-lab.sh checks
# it against what it asked); stock kernels have no knob and take pglab.kern.
[ $knob != missing ] && kern=knob$knob

echo 16 > /proc/sys/vm/nr_hugepages
echo madvise > /sys/kernel/mm/transparent_hugepage/enabled

# Soft-RoCE and siw on a dummy netdev: the guest has no NIC, nothing leaves it.
rdma_state=absent
# CONFIG_DUMMY=y already creates dummy0 (numdummies=1).
if command -v ip >/dev/null && { ip link show dummy0 || ip link add dummy0 type dummy; } >/dev/null 2>&1; then
	ip addr add 10.77.0.1/24 dev dummy0
	ip link set dummy0 up
	ip link set lo up
	if command -v rdma >/dev/null; then
		rdma link add rxe0 type rxe netdev dummy0 2>/dev/null && rdma_state=rxe0
		rdma link add siw0 type siw netdev dummy0 2>/dev/null && rdma_state=$rdma_state+siw0
	fi
fi

echo "PGLAB-INFO kernel=$(uname -r) kern=$kern knob=$knob hugepages=$(cat /proc/sys/vm/nr_hugepages) rdma=$rdma_state cpus=$(nproc) uptime=$(cut -d' ' -f1 /proc/uptime)"

run_one() { # run_one NAME VARIANT PROG ARGS... (senv: the list's @env= words)
	local name=$1 variant=$2 prog=$3 out rc env=() extra=()
	shift 3
	# shellcheck disable=SC2206 # K=V words, split on commas
	[ -n "${senv:-}" ] && env+=(${senv//,/ })
	case $variant in
	none) ;;
	api-*) env+=(LD_LIBRARY_PATH=/run/pglab/lib PINGUARD_MODE=${variant#api-})
		prog=$prog-api; extra=(--pinguard-api) ;;
	preload-*)
		if [[ ",$nopreload," == *",$prog,"* ]]; then
			echo "PGLAB $name $variant kern=$kern result=skip detail=no_interposer_for_$prog"
			return
		fi
		env+=(LD_PRELOAD=$lib PINGUARD_MODE=${variant#preload-}) ;;
	*) echo "PGLAB $name $variant kern=$kern result=error detail=unknown_variant"; return ;;
	esac
	if [ ! -x "$bin/$prog" ]; then
		echo "PGLAB $name $variant kern=$kern result=skip detail=no_binary_$prog"
		return
	fi
	out=$(cd /tmp && env "${env[@]}" timeout -s KILL "$tmo" "$bin/$prog" "$@" "${extra[@]}" 2>/tmp/stderr)
	rc=$?
	out=$(printf '%s\n' "$out" | grep '^result=' | tail -1)
	if [ $rc = 137 ] && [ -z "$out" ]; then
		out="result=error detail=timeout_${tmo}s"
	elif [ $rc -gt 128 ]; then
		out="result=crash detail=signal_$((rc - 128))"
	elif [ -z "$out" ]; then
		out="result=error detail=rc_${rc}_no_output"
	fi
	echo "PGLAB $name $variant kern=$kern $out"
	[ -s /tmp/stderr ] && sed "s/^/PGLAB-STDERR $name $variant: /" /tmp/stderr | head -5
}

# in_list WORD GLOBLIST: WORD matches one of the comma-separated globs.
in_list() {
	local g
	for g in ${2//,/ }; do
		# shellcheck disable=SC2053 # globs on purpose
		[[ $1 == $g ]] && return 0
	done
	return 1
}

echo "PGLAB-BEGIN kern=$kern"
set -f # list lines and globs are words, never file names
while read -r name prog args; do
	case $name in ''|'#'*) continue ;; esac
	[ "$scen" = all ] || [[ ",$scen," == *",$name,"* ]] || continue
	# Leading @key=value words of the list line: @variants=GLOBS, @knobs=LIST
	# (knob values: only the knob kernel), @kernels=GLOBS (kernel ids)
	# restrict where the scenario runs (other cells print nothing; run-lab.sh
	# shows them as '-'), @timeout=SEC replaces pglab.timeout for it.
	only_v='*' only_k='*' only_kern='*' stmo=$tmo senv=
	set -- $args
	while [ $# -gt 0 ]; do
		case $1 in
		@variants=*) only_v=${1#*=} ;;
		@knobs=*) only_k=${1#*=} ;;
		@kernels=*) only_kern=${1#*=} ;;
		@timeout=*) stmo=${1#*=} ;;
		@env=*) senv+=${senv:+,}${1#*=} ;;
		*) break ;;
		esac
		shift
	done
	in_list "$knob" "$only_k" || continue
	in_list "$kern" "$only_kern" || continue
	for v in ${variants//,/ }; do
		in_list "$v" "$only_v" || continue
		t0=$SECONDS
		tmo=$stmo senv=$senv run_one "$name" "$v" "$prog" "$@" </dev/null
		echo "PGLAB-TIME $name $v kern=$kern sec=$((SECONDS - t0))"
	done
done < /run/pglab/scenarios.list
echo "PGLAB-END kern=$kern"
