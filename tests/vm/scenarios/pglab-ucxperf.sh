#!/bin/bash
# SPDX-License-Identifier: MIT
# pglab-interposes: ibv_reg_mr
# ucx_perftest smoke run over soft-RoCE in the lab guest: a server and a
# client in the same guest (OOB over TCP to 10.77.0.1), UCX restricted to the
# verbs transports on rxe0 (rc_verbs needs ud_verbs beside it for wire-up;
# UD needs UCX_UD_VERBS_ETH_DGID_CHECK=n on rxe).
#
#   pglab-ucxperf.sh [--test tag_bw|tag_lat|ucp_put_bw|...] [--tls LIST]
#                    [--iters N] [--size BYTES] [--dev rxe0:1] [--debug]
#
# No fork: the cell shows that pinguard, preloaded into both processes,
# makes nothing fail, hang or slow down. "result=coherent" means: both sides
# exited 0 and the client printed its result row (-f). detail=: test, tls, size,
# iters, bw_MBps (average MB/s) or lat_us (typical latency), rc=<s>/<c>,
# sec (wall time of the pair), pins (registrations the preloaded pinguard saw
# in the client) and the mode words.
set -u
. "$(dirname "$0")/pglab-common.sh"
test=tag_bw tls=rc_verbs,ud_verbs iters= size= dev=rxe0:1 debug=0
while [ $# -gt 0 ]; do
	case $1 in
	--test) test=$2; shift ;;
	--tls) tls=$2; shift ;;
	--iters) iters=$2; shift ;;
	--size) size=$2; shift ;;
	--dev) dev=$2; shift ;;
	--debug) debug=1 ;;
	*) echo "result=error detail=usage_$1"; exit 1 ;;
	esac
	shift
done
det="test=$test,tls=${tls//,/+}"
case $test in
*_lat) kind=lat; : "${iters:=1000}" "${size:=8}" ;;
*) kind=bw; : "${iters:=1000}" "${size:=65536}" ;;
esac
command -v ucx_perftest >/dev/null || out skip no_ucx_perftest
[ -d "/sys/class/infiniband/${dev%%:*}" ] || out skip "no_device_${dev%%:*}"
det+=",size=$size,iters=$iters"

tmp=$(mktemp -d /tmp/pglab-ucxperf.XXXXXX)
port=$((13337 + RANDOM % 1000))
export UCX_TLS=$tls UCX_NET_DEVICES=$dev UCX_UD_VERBS_ETH_DGID_CHECK=n
if [ -n "${LD_PRELOAD:-}" ]; then
	cenv=(PINGUARD_STATS=1 PINGUARD_LOG=info PINGUARD_LOG_FILE=$tmp/pg-client.log)
else
	cenv=()
fi
args=(-t "$test" -s "$size" -n "$iters" -w 10 -p "$port" -f)
t0=$(date +%s.%N)
timeout 150 ucx_perftest "${args[@]}" >"$tmp/server.out" 2>&1 &
spid=$!
hexport=$(printf '%04X' "$port")
for _ in $(seq 300); do
	grep -q ":$hexport 00000000:0000 0A" /proc/net/tcp 2>/dev/null && break
	kill -0 "$spid" 2>/dev/null || break
	sleep 0.05
done
[ "$debug" = 1 ] && cenv+=(UCX_LOG_LEVEL=info)
env "${cenv[@]}" timeout 150 ucx_perftest 10.77.0.1 "${args[@]}" >"$tmp/client.out" 2>&1
crc=$?
wait "$spid"
src=$?
t1=$(date +%s.%N)
if [ "$debug" = 1 ]; then
	{ echo "== ucx_perftest $test server rc=$src"; cat "$tmp/server.out"; echo "== client rc=$crc"
	  cat "$tmp/client.out"; cat "$tmp/pg-client.log" 2>/dev/null; } >/dev/console 2>&1
fi
sec=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
pglab_stats_words "$tmp/pg-client.log"
# -f prints the final row only: 8 numbers.
row=$(awk 'NF == 8 && $1 ~ /^[0-9]+$/ { r = $0 } END { print r }' "$tmp/client.out")
rm -rf "$tmp"
[ "$src" = 124 ] || [ "$crc" = 124 ] && out error "rc=$src/$crc" timeout "sec=$sec"
[ "$src" = 0 ] && [ "$crc" = 0 ] || out error "rc=$src/$crc" "sec=$sec"
[ -n "$row" ] || out error "rc=$src/$crc" no_result_row "sec=$sec"
read -r -a f <<<"$row"
# iterations, overhead (usec) 50%ile/average/overall, bandwidth (MB/s)
# average/overall, message rate (msg/s) average/overall
if [ $kind = bw ]; then
	out coherent "bw_MBps=${f[4]}" "rc=0" "sec=$sec"
else
	out coherent "lat_us=${f[1]}" "lat_avg_us=${f[2]}" "rc=0" "sec=$sec"
fi
