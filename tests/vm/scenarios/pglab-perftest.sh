#!/bin/bash
# SPDX-License-Identifier: MIT
# pglab-interposes: ibv_reg_mr
# perftest smoke run over soft-RoCE in the lab guest: a server and a client
# of one tool in the same guest over rxe0 (OOB over TCP to 10.77.0.1).
#
#   pglab-perftest.sh --tool ib_write_bw|ib_read_bw|ib_send_bw|ib_write_lat
#                     [--iters N] [--size BYTES] [--dev rxe0] [--debug]
#
# No fork here: the cell shows that pinguard (preloaded into both processes,
# where it wraps every ibv_reg_mr) makes nothing fail, hang or slow down.
# "result=coherent" means: both sides exited 0, the client printed its result
# row, and perftest's own checks passed. Any failure is result=error with
# what failed. detail=: tool, size, iters, bw_MBps (BW average, MiB/s) or
# lat_us (t_typical) and lat_avg_us, rc=<server>/<client>, sec (wall time
# of the pair), pins (ibv_reg_mr the preloaded pinguard saw in the client,
# from PINGUARD_STATS; absent without pinguard) and the mode words.
set -u
. "$(dirname "$0")/pglab-common.sh"
tool=ib_write_bw iters= size= dev=rxe0 debug=0
while [ $# -gt 0 ]; do
	case $1 in
	--tool) tool=$2; shift ;;
	--iters) iters=$2; shift ;;
	--size) size=$2; shift ;;
	--dev) dev=$2; shift ;;
	--debug) debug=1 ;;
	*) echo "result=error detail=usage_$1"; exit 1 ;;
	esac
	shift
done
det="tool=$tool"
case $tool in
ib_write_bw|ib_read_bw|ib_send_bw) kind=bw; : "${iters:=200}" "${size:=65536}" ;;
ib_write_lat|ib_read_lat|ib_send_lat) kind=lat; : "${iters:=200}" "${size:=2}" ;;
*) out error bad_tool ;;
esac
command -v "$tool" >/dev/null || out skip "no_$tool"
[ -d "/sys/class/infiniband/$dev" ] || out skip "no_device_$dev"
det+=",size=$size,iters=$iters"

# The RoCE v2 GID of 10.77.0.1 (IPv4-mapped).
gidx=
for g in /sys/class/infiniband/$dev/ports/1/gids/*; do
	case $(cat "$g" 2>/dev/null) in
	0000:0000:0000:0000:0000:ffff:*)
		i=${g##*/}
		[ "$(cat "/sys/class/infiniband/$dev/ports/1/gid_attrs/types/$i" 2>/dev/null)" = "RoCE v2" ] &&
			{ gidx=$i; break; } ;;
	esac
done
[ -n "$gidx" ] || out skip no_ipv4_gid

tmp=$(mktemp -d /tmp/pglab-perftest.XXXXXX)
port=$((18515 + RANDOM % 1000))
# pinguard's view in the client: its stats line at exit (mode, pins) and,
# for auto, its decision. Only when preloaded.
if [ -n "${LD_PRELOAD:-}" ]; then
	cenv=(PINGUARD_STATS=1 PINGUARD_LOG=info PINGUARD_LOG_FILE=$tmp/pg-client.log)
else
	cenv=()
fi
args=(-d "$dev" -x "$gidx" -F -n "$iters" -s "$size" -p "$port")
t0=$(date +%s.%N)
timeout 100 "$tool" "${args[@]}" >"$tmp/server.out" 2>&1 &
spid=$!
# Wait until the server listens on its TCP port (perftest's OOB).
hexport=$(printf '%04X' "$port")
for _ in $(seq 200); do
	grep -q ":$hexport 00000000:0000 0A" /proc/net/tcp 2>/dev/null && break
	kill -0 "$spid" 2>/dev/null || break
	sleep 0.05
done
env "${cenv[@]}" timeout 100 "$tool" "${args[@]}" 10.77.0.1 >"$tmp/client.out" 2>&1
crc=$?
wait "$spid"
src=$?
t1=$(date +%s.%N)
if [ "$debug" = 1 ]; then
	{ echo "== $tool server rc=$src"; cat "$tmp/server.out"; echo "== client rc=$crc"
	  cat "$tmp/client.out"; cat "$tmp/pg-client.log" 2>/dev/null; } >/dev/console 2>&1
fi
sec=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
pglab_stats_words "$tmp/pg-client.log"
# The result row: the first line after the "#bytes" header.
row=$(awk '/^ *#bytes/ { getline; print; exit }' "$tmp/client.out")
rm -rf "$tmp"
[ "$src" = 124 ] || [ "$crc" = 124 ] && out error "rc=$src/$crc" timeout "sec=$sec"
[ "$src" = 0 ] && [ "$crc" = 0 ] || out error "rc=$src/$crc" "sec=$sec"
[ -n "$row" ] || out error "rc=$src/$crc" no_result_row "sec=$sec"
read -r -a f <<<"$row"
if [ $kind = bw ]; then
	# #bytes #iterations BW-peak BW-average MsgRate
	[[ ${f[3]:-} =~ ^[0-9.]+$ ]] || out error bad_row
	out coherent "bw_MBps=${f[3]}" "rc=0" "sec=$sec"
else
	# #bytes #iterations t_min t_max t_typical t_avg t_stdev 99% 99.9%
	[[ ${f[4]:-} =~ ^[0-9.]+$ ]] || out error bad_row
	out coherent "lat_us=${f[4]}" "lat_avg_us=${f[5]}" "rc=0" "sec=$sec"
fi
