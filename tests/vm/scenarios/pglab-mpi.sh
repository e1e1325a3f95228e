#!/bin/bash
# SPDX-License-Identifier: MIT
# Launcher of pglab-mpi (Open MPI, 2 ranks on this host) over one RDMA stack
# on rxe0, in the pinguard VM lab (middleware.list):
#
#   pglab-mpi.sh --transport ucx|ofi --protect default|off [--iters N]
#                [--size BYTES] [--timeout SEC]
#
#   ucx: pml ucx over rc_verbs (+ ud_verbs for wire-up) on rxe0;
#        --protect off: UCX_IB_FORK_INIT=no UCX_RCACHE_PURGE_ON_FORK=n
#        (noforkinit / nopurge: only one of the two)
#   ofi: pml cm + mtl ofi, provider verbs;ofi_rxm on rxe0;
#        --protect off: FI_FORK_UNSAFE=1
#
# The variant's LD_PRELOAD/PINGUARD_* reach mpirun and, through it, both
# ranks. Prints rank 0's result line (rank 1's if rank 0 printed none) with
# ",warning=yes|no" (did the stack print a fork warning, e.g. UCX's
# "ibv_fork_init() was disabled or failed, yet a fork() has been issued")
# and ",wall_s=" (mpirun's run time) added to detail=. The stack's output
# goes to stderr (the lab shows its first lines).
set -u
here=$(cd "$(dirname "$0")" && pwd)
# Open MPI cannot parse the lab guest's default host name "(none)": run in a
# UTS namespace of our own with a plain name.
if [ "$(hostname)" = "(none)" ] && [ -z "${PGLAB_MPI_UTS:-}" ] && command -v unshare >/dev/null; then
	# shellcheck disable=SC2016 # expanded by the inner shell
	PGLAB_MPI_UTS=1 exec unshare --uts /bin/bash -c 'hostname pglab && exec "$0" "$@"' "$0" "$@"
fi
transport=ucx protect=default iters=3 size=$((1 << 20)) tmo=390
while [ $# -gt 0 ]; do
	case $1 in
	--transport) transport=$2; shift ;;
	--protect) protect=$2; shift ;;
	--iters) iters=$2; shift ;;
	--size) size=$2; shift ;;
	--timeout) tmo=$2; shift ;;
	*) echo "result=error detail=usage_$1"; exit 1 ;;
	esac
	shift
done
command -v mpirun >/dev/null || { echo "result=skip detail=no_mpirun"; exit 77; }
[ -x "$here/pglab-mpi" ] || { echo "result=skip detail=no_binary_pglab-mpi"; exit 77; }

args=(--allow-run-as-root --oversubscribe -np 2 --bind-to none --tag-output
	--mca mpi_warn_on_fork 0 --mca btl self
	--mca btl_tcp_if_include lo --mca oob_tcp_if_include lo)
case $transport in
ucx)
	export UCX_TLS=self,rc_verbs,ud_verbs UCX_NET_DEVICES=rxe0:1 UCX_UD_VERBS_ETH_DGID_CHECK=n
	vars=(UCX_TLS UCX_NET_DEVICES UCX_UD_VERBS_ETH_DGID_CHECK)
	case $protect in # off = both; noforkinit / nopurge: one of the two
	off|noforkinit) export UCX_IB_FORK_INIT=no; vars+=(UCX_IB_FORK_INIT) ;;&
	off|nopurge) export UCX_RCACHE_PURGE_ON_FORK=n; vars+=(UCX_RCACHE_PURGE_ON_FORK) ;;
	esac
	args+=(--mca pml ucx --mca pml_ucx_devices any) ;;
ofi)
	export FI_UNIVERSE_SIZE=4 FI_VERBS_DEVICE_NAME=rxe0
	vars=(FI_UNIVERSE_SIZE FI_VERBS_DEVICE_NAME)
	if [ "$protect" = off ]; then
		export FI_FORK_UNSAFE=1
		vars+=(FI_FORK_UNSAFE)
	fi
	args+=(--mca pml cm --mca mtl ofi --mca mtl_ofi_provider_include "verbs;ofi_rxm") ;;
*) echo "result=error detail=bad_transport_$transport"; exit 1 ;;
esac
case $transport/$protect in */default|*/off|ucx/noforkinit|ucx/nopurge) ;; *) echo "result=error detail=bad_protect_$protect"; exit 1 ;; esac
for v in "${vars[@]}"; do args+=(-x "$v"); done

log=$(mktemp /tmp/pglab-mpi.XXXXXX)
start=$(date +%s.%N)
if [ -n "${PGLAB_MPI_DEBUG:-}" ]; then
	# PGLAB_MPI_DEBUG=1 (e.g. @env= in a throw-away list): the stack's whole
	# output on the console as it comes, with seconds since the start.
	timeout -k 5 "$tmo" mpirun "${args[@]}" "$here/pglab-mpi" --iters "$iters" --size "$size" \
		--tag "transport=$transport,protect=$protect" 2>&1 | tee "$log" |
		while IFS= read -r l; do echo "PGLAB-MPI-DEBUG $SECONDS $l"; done >/dev/console
	rc=${PIPESTATUS[0]}
else
	timeout -k 5 "$tmo" mpirun "${args[@]}" "$here/pglab-mpi" --iters "$iters" --size "$size" \
		--tag "transport=$transport,protect=$protect" >"$log" 2>&1
	rc=$?
fi
wall=$(echo "$(date +%s.%N) - $start" | bc)
line=$(sed -n 's/^\[1,0\]<stdout>:\(result=.*\)/\1/p' "$log" | tail -1)
[ -z "$line" ] && line=$(sed -n 's/^\[1,1\]<stdout>:\(result=.*\)/\1/p' "$log" | tail -1)
if [ -z "$line" ]; then
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		line="result=error detail=transport=$transport,protect=$protect,mpirun_timeout_${tmo}s"
	else
		line="result=error detail=transport=$transport,protect=$protect,mpirun_rc_$rc"
	fi
fi
# A fork warning from the stack (our own result lines do not count).
warn=no
grep -v 'result=' "$log" | grep -qi 'fork' && warn=yes
# Diagnostics first: fork warnings, then the rest of the stack's output.
{ grep -v 'result=' "$log" | grep -i 'fork'; grep -v 'result=' "$log" | grep -vi 'fork'; } >&2
rm -f "$log"
echo "$line" | awk -v add=",warning=$warn,wall_s=$(printf %.1f "$wall")" \
	'{ sub(/^detail=/, "", $2); $2 = "detail=" $2 add; print }'
