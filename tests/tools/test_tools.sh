#!/bin/sh
# SPDX-License-Identifier: MIT
# The pinguard command, one behaviour per CASE (each a meson test).
# Usage: test_tools.sh CASE PINGUARD PINWAIT [REGWAIT FAKE_LIB_DIR]
set -u
case_=$1 pg=$2 pinwait=$3 regwait=${4:-} fakedir=${5:-}
tmp_name=pg-tools
. "$(dirname "$0")/lib.sh"	# $tmp, $wrap (before every pinguard run), checks

# Start a helper writing its ranges to $tmp/ranges; wait for the file.
start_helper() {
	"$@" "$tmp/ranges" &
	pids="$pids $!"
	helper=$!
	wait_file "$tmp/ranges" "$helper" "$*"
}
lib=$($wrap "$pg" --version | sed -n 2p)

case $case_ in
run_env)
	expect 0 $wrap "$pg" run --mode copy --pretouch always --scope all \
		--log info --stats -- env
	has out '^PINGUARD_MODE=copy$'
	has out '^PINGUARD_PRETOUCH=always$'
	has out '^PINGUARD_SCOPE=all$'
	has out '^PINGUARD_LOG=info$'
	has out '^PINGUARD_STATS=1$'
	[ -f "$lib" ] || fail "--version names no library file: '$lib'"
	has out "^LD_PRELOAD=$lib\$"
	# an existing LD_PRELOAD is kept after ours, space-separated too (an
	# ASan build's command itself then starts with libc ahead of ASan)
	other=$(ldd /bin/true | awk '/libc\.so/ { print $3 }')
	late=ASAN_OPTIONS=verify_asan_link_order=0
	expect 0 env LD_PRELOAD="$other" $late $wrap "$pg" run -- env
	has out "^LD_PRELOAD=$lib:$other\$"
	expect 0 env LD_PRELOAD="$other $other" $late $wrap "$pg" run --mode=off -- env
	has out "^LD_PRELOAD=$lib:$other:$other\$"
	has out '^PINGUARD_MODE=off$'
	# an ASan build lets ASan start in a program not built with it (the
	# instrumented library is preloaded); the caller's options come last
	expect 0 env ASAN_OPTIONS=detect_leaks=1 $wrap "$pg" run -- env
	if [ "${PG_TEST_SANITIZED:-}" = address ]; then
		has out '^ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=1$'
	else
		has out '^ASAN_OPTIONS=detect_leaks=1$'
	fi
	# the program really runs with the library loaded
	expect 0 $wrap "$pg" run -- cat /proc/self/maps
	has out 'libpinguard\.so'
	;;
run_status)
	expect 7 $wrap "$pg" run -- sh -c 'exit 7'
	expect 0 $wrap "$pg" run -- true
	expect 127 $wrap "$pg" run -- pg-no-such-program-here
	has err 'pg-no-such-program-here: command not found'
	expect 127 $wrap "$pg" run -- "$tmp/missing"
	printf 'not a program\n' >"$tmp/plain"
	chmod 644 "$tmp/plain"
	expect 126 $wrap "$pg" run -- "$tmp/plain"
	# the program's own options are not ours
	expect 0 $wrap "$pg" run -- sh -c 'echo "$1"' sh --mode
	has out '^--mode$'
	;;
usage)
	expect 2 $wrap "$pg" run --mode bogus -- true
	has err -- "--mode: invalid value 'bogus'"
	expect 2 $wrap "$pg" run --scope=sideways -- true
	has err -- "--scope: invalid value 'sideways'"
	expect 2 $wrap "$pg" run --log
	has err -- '--log: missing value'
	expect 2 $wrap "$pg" run --frobnicate -- true
	has err -- "--frobnicate"
	expect 2 $wrap "$pg" run --mode copy
	has err 'missing PROGRAM'
	expect 2 $wrap "$pg" status
	has err 'missing PID'
	expect 2 $wrap "$pg" status 12abc
	has err "'12abc' is not a process id"
	expect 2 $wrap "$pg" probe --yaml
	has err -- "--yaml"
	expect 2 $wrap "$pg" dance
	has err "unknown command 'dance'"
	expect 2 $wrap "$pg"
	expect 0 $wrap "$pg" --help
	has out 'Usage: pinguard run'
	expect 0 $wrap "$pg" --version
	has out '^pinguard [0-9]+\.[0-9]+\.[0-9]+'
	;;
probe)
	# this host's kernel (6.x) copies pinned pages at fork
	expect 0 $wrap "$pg" probe
	has out '^kernel [^ ]+: patched'
	has out 'found by: '
	has out 'auto mode would choose: off'
	has out '^io_uring: '
	expect 0 $wrap "$pg" probe --json
	json_ok
	python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in ("kernel","needs_guarding","detected_by","auto_mode",
          "kernel_release","io_uring","rdma_devices","hugepages"):
    assert k in d, k
assert d["kernel"] == "patched" and d["auto_mode"] == "off", d' \
		<"$tmp/out" || fail "probe --json: $(cat "$tmp/out")"
	# PINGUARD_KERNEL is an override: no detection runs
	expect 0 env PINGUARD_KERNEL=unpatched $wrap "$pg" probe --json
	python3 -c 'import json,sys; d=json.load(sys.stdin)
assert d["kernel"] == "unpatched" and d["detected_by"] == "override", d
assert d["auto_mode"] == "copy" and d["needs_guarding"] is True, d' \
		<"$tmp/out" || fail "override: $(cat "$tmp/out")"
	# every kind is judged (one pin of each); all patched here
	python3 -c 'import json,sys; d=json.load(sys.stdin)
assert sorted(d["kinds"]) == ["4k", "hugetlb", "thp"], d
assert all(k["kernel"] == "unpatched" for k in d["kinds"].values()), d' \
		<"$tmp/out" || fail "kinds: $(cat "$tmp/out")"
	# a partial kernel (Debian 11's 5.10: no early COW for hugetlb), by
	# the per-kind override: auto copies, the other kinds are probed
	expect 0 env PINGUARD_KERNEL_HUGETLB=unpatched $wrap "$pg" probe --json
	python3 -c 'import json,sys; d=json.load(sys.stdin)
k = d["kinds"]
assert d["partial"] is True and d["auto_mode"] == "copy", d
assert k["hugetlb"]["kernel"] == "unpatched", d
assert k["hugetlb"]["detected_by"] == "override", d
assert k["4k"]["kernel"] == "patched" and k["thp"]["kernel"] == "patched", d
assert k["4k"]["detected_by"] == "probe" and k["4k"]["probe_us"] > 0, d' \
		<"$tmp/out" || fail "partial: $(cat "$tmp/out")"
	expect 0 env PINGUARD_KERNEL_HUGETLB=unpatched $wrap "$pg" probe
	has out '^kernel [^ ]+: partial'
	has out '^  hugetlb pages +unpatched +by override'
	has out 'auto mode would choose: copy \(for the unpatched kinds only\)'
	;;
status_api)
	start_helper "$pinwait"
	r1=$(sed -n 1p "$tmp/ranges") r2=$(sed -n 2p "$tmp/ranges")
	s1=${r1% *} l1=${r1#* } s2=${r2% *} l2=${r2#* }
	expect 0 $wrap "$pg" status "$helper"
	# START END LENGTH LONG SHORT: the second range is pinned long+short
	has out "^  $s1 +0x[0-9a-f]+ +$l1 +1 +0 "
	has out "^  $s2 +0x[0-9a-f]+ +$l2 +1 +1 "
	has out '^pinned: 2 ranges, 20480 bytes'
	has out 'pins: 3 active, 3 total, 0 unpinned'
	has out '^mode: off \(configured auto, reason: probe\)'
	has out '^  4k +patched \(by probe, [0-9]+ us\)'
	has out '^  hugetlb +not judged yet'
	has out 'write permission taken from pinned pages: 0'
	expect 0 $wrap "$pg" status "$helper" --json
	json_ok
	python3 -c 'import json,sys; d=json.load(sys.stdin)
r = [(x["start"], x["length"], x["long"], x["short"]) for x in d["ranges"]]
assert r == [(sys.argv[1], int(sys.argv[2]), 1, 0),
             (sys.argv[3], int(sys.argv[4]), 1, 1)], r
assert d["counters"]["active_pins"] == 3 and d["consistent"], d
assert d["kinds"]["4k"]["kernel"] == "patched", d
assert d["kinds"]["hugetlb"]["reason"] == "none", d
assert d["counters"]["pinned_wrprotects"] == 0, d' \
		"$s1" "$l1" "$s2" "$l2" <"$tmp/out" ||
		fail "status --json: $(cat "$tmp/out")"
	# an unrelated process, and one that does not exist
	sleep 30 &
	pids="$pids $!"
	expect 3 $wrap "$pg" status $!
	has err "process $! does not use pinguard"
	kill "$helper"
	wait "$helper" 2>/dev/null
	expect 3 $wrap "$pg" status "$helper"
	has err "no process with PID $helper"
	;;
status_wrapped)
	[ -n "$regwait" ] || skip "built without wrappers"
	start_helper env LD_LIBRARY_PATH="$fakedir" $wrap "$pg" run --mode copy \
		-- "$regwait"
	expect 0 $wrap "$pg" status "$helper"
	has out '^mode: copy \(configured copy'
	while read -r src start len; do
		has out "^  $src +0x[0-9a-f]+ +[-0-9]+ +$start +$len "
		has out "^  $start +0x[0-9a-f]+ +$len +1 +0 "
	done <"$tmp/ranges"
	expect 0 $wrap "$pg" status "$helper" --json
	json_ok
	;;
status_memcheck)
	# The command frees what it allocates on every path of status (LSan
	# checks the same in the ASan build, where valgrind cannot run).
	[ -z "${PG_TEST_SANITIZED:-}" ] ||
		skip "sanitizer build: valgrind cannot run it (LSan checks status_api)"
	command -v valgrind >/dev/null 2>&1 ||
		skip "valgrind is not installed (apt-get install valgrind)"
	vg="valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite"
	start_helper "$pinwait"
	expect 0 $vg "$pg" status "$helper"
	expect 0 $vg "$pg" status "$helper" --json
	sleep 30 &
	pids="$pids $!"
	expect 3 $vg "$pg" status $!
	has err "process $! does not use pinguard"
	expect 2 $vg "$pg" status 12abc
	kill "$helper"
	wait "$helper" 2>/dev/null
	expect 3 $vg "$pg" status "$helper"
	;;
status_perm)
	[ "$(id -u)" = 0 ] || skip "needs root to run the tool as another user"
	command -v setpriv >/dev/null 2>&1 || skip "setpriv is not installed"
	start_helper "$pinwait"
	# a copy that user nobody can run, whatever the build tree allows
	mkdir "$tmp/nobody"
	cp "$pg" "$tmp/nobody/pinguard"
	cp -L "$lib" "$tmp/nobody/"
	chmod -R a+rX "$tmp"
	expect 4 env LD_LIBRARY_PATH="$tmp/nobody" setpriv --reuid=65534 \
		--regid=65534 --clear-groups $wrap "$tmp/nobody/pinguard" status \
		"$helper"
	has err "cannot read process $helper: permission denied \(only the same user, or root, can inspect it\)"
	;;
*)
	fail "unknown case $case_"
	;;
esac
echo "ok: $case_"
