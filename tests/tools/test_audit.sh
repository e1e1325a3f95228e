#!/bin/sh
# SPDX-License-Identifier: MIT
# pinguard audit, one behaviour per CASE (each a meson test), with real
# io_uring fixed buffers (pg_ringwait) on this host's kernel.
# Usage: test_audit.sh CASE PINGUARD RINGWAIT
set -u
case_=$1 pg=$2 ring=$3
tmp_name=pg-audit
. "$(dirname "$0")/lib.sh"	# $tmp, $wrap (before every pinguard audit), checks

# start NAME HOW [ARGS...]: pg_ringwait writing $tmp/NAME, run plainly
# (HOW none) or under `pinguard run --mode HOW` (auto-unpatched: auto with
# --kernel unpatched); its pid in $pid_NAME.
start() {
	name=$1 how=$2
	shift 2
	case $how in
	none) "$ring" "$tmp/$name" "$@" & ;;
	auto-unpatched) "$pg" run --mode auto --kernel unpatched -- \
		"$ring" "$tmp/$name" "$@" & ;;
	*) "$pg" run --mode "$how" -- "$ring" "$tmp/$name" "$@" & ;;
	esac
	p=$!
	pids="$pids $p"
	wait_file "$tmp/$name" "$p" "$name"
	eval "pid_$name=$p"
}
# The six programs of the issue: unguarded, each mode, own MADV_DONTFORK.
start_all() {
	start plain none
	start copy copy
	start dfk dontfork
	start off off
	start auto auto
	start own none --dontfork
}
# check_json 'NAME=PROTECTED_BY/VERDICT ...': every range of each helper
# (addresses and lengths from its file) has that protection and verdict.
check_json() {
	for n in $1; do
		name=${n%%=*}
		eval "p=\$pid_$name"
		echo "$p ${n#*=} $(tr '\n' ' ' <"$tmp/$name")"
	done >"$tmp/want"
	python3 - "$tmp/out" "$tmp/want" <<'EOF' || fail "audit --json: $(cat "$tmp/out")"
import json, sys
d = json.load(open(sys.argv[1]))
procs = {p["pid"]: p for p in d["processes"]}
for line in open(sys.argv[2]):
    w = line.split()
    pid, (guard, verdict), bufs = int(w[0]), w[1].split("/"), w[2:]
    verdict = verdict.replace("_", " ")
    guard = guard.replace("_", " ")
    p = procs[pid]
    want = [(int(bufs[i], 16), int(bufs[i + 1])) for i in range(0, len(bufs), 2)]
    got = [(int(r["address"], 16), r["length"]) for r in p["ranges"]]
    assert got == want, (pid, got, want)
    for r in p["ranges"]:
        assert r["source"] == "io_uring" and r["kinds"] == ["4k"], r
        assert (r["protected_by"], r["verdict"]) == (guard, verdict), (pid, r)
    assert p["verdict"] == verdict, p
    assert p["command"] == "pg_ringwait", p
    assert p["pinned_bytes"] == 3 * 4096, p
    assert p["at_risk_bytes"] == (3 * 4096 if verdict == "at risk" else 0), p
EOF
}

case $case_ in
host)
	# this host's kernel copies pinned pages at fork: everything is safe
	start_all
	expect 0 $wrap "$pg" audit --json $pid_plain $pid_copy $pid_dfk $pid_off \
		$pid_auto $pid_own
	check_json "plain=kernel/safe copy=pinguard_copy/safe
		dfk=pinguard_dontfork/safe off=kernel/safe auto=kernel/safe
		own=dontfork/safe"
	expect 0 $wrap "$pg" audit $pid_plain
	has out "^kernel [^ ]+, early COW: 4k yes \(probe\)"
	has out "^PID $pid_plain \(pg_ringwait\): safe, 12288 bytes pinned, 0 at risk"
	has out "^  io_uring 0x[0-9a-f]+ +4096 4k +kernel +ring fd [0-9]+ slot 0 +safe$"
	;;
unpatched)
	# the kernel's verdict forced to unpatched (PINGUARD_KERNEL, as for
	# probe): what nothing else protects is at risk
	start_all
	start autou auto-unpatched
	expect 5 env PINGUARD_KERNEL=unpatched $wrap "$pg" audit --json \
		$pid_plain $pid_copy $pid_dfk $pid_off $pid_auto $pid_own \
		$pid_autou
	# auto in a process that judged its kernel patched guards nothing
	check_json "plain=none/at_risk copy=pinguard_copy/safe
		dfk=pinguard_dontfork/safe off=none/at_risk auto=none/at_risk
		own=dontfork/safe autou=pinguard_copy/safe"
	expect 5 env PINGUARD_KERNEL=unpatched $wrap "$pg" audit $pid_plain $pid_copy
	has out "^kernel [^ ]+, early COW: 4k no \(override\), thp no \(override\), hugetlb no \(override\)"
	has out "^PID $pid_plain \(pg_ringwait\): at risk, 12288 bytes pinned, 12288 at risk$"
	has out "^PID $pid_copy \(pg_ringwait\): safe, 12288 bytes pinned, 0 at risk; pinguard copy$"
	has out "^  io_uring 0x[0-9a-f]+ +8192 4k +none +ring fd [0-9]+ slot 1 +at risk$"
	has out "^1 process at risk \(12288 bytes\), 0 unknown, 1 safe"
	# the per-kind override: only hugetlb unpatched, 4 KiB buffers safe
	expect 0 env PINGUARD_KERNEL_HUGETLB=unpatched $wrap "$pg" audit $pid_plain
	has out "early COW: 4k yes \(probe\), thp yes \(probe\), hugetlb no \(override\)"
	;;
scan)
	# no PID: every process; only those with pinned memory are listed
	start plain none
	sleep 30 &
	sleeper=$!
	pids="$pids $sleeper"
	expect 5 env PINGUARD_KERNEL=unpatched $wrap "$pg" audit
	has out "^PID $pid_plain \(pg_ringwait\): at risk"
	lacks out "^PID $sleeper "
	has out "scanned in [0-9.]+ s"
	expect 5 env PINGUARD_KERNEL=unpatched $wrap "$pg" audit --all
	has out "^PID $sleeper \(sleep\): safe$"
	has out "^  no pinned memory \(0 io_uring rings, no registered buffers\)"
	;;
input)
	expect 2 $wrap "$pg" audit 12abc
	has err "audit: PID '12abc' is not a process id"
	expect 2 $wrap "$pg" audit 0
	has err "audit: PID '0' is not a process id"
	expect 2 $wrap "$pg" audit --yaml
	has err "audit: unknown option '--yaml'"
	# a ring without registered buffers: listed when named, nothing at risk
	start empty none --no-buffers
	expect 0 env PINGUARD_KERNEL=unpatched $wrap "$pg" audit $pid_empty
	has out "^PID $pid_empty \(pg_ringwait\): safe$"
	has out "^  no pinned memory \(1 io_uring ring, no registered buffers\)"
	# a named process that is gone
	kill "$pid_empty"
	wait "$pid_empty" 2>/dev/null
	expect 3 $wrap "$pg" audit $pid_empty
	has err "no process with PID $pid_empty \(or it exited during the scan\)"
	# ... next to one at risk: the risk is the status
	start plain none
	expect 5 env PINGUARD_KERNEL=unpatched $wrap "$pg" audit $pid_empty $pid_plain
	;;
exiting)
	# processes with rings come and go during whole scans: they are
	# reported or not, never a failure, never a message
	(
		i=0
		while [ $i -lt 150 ]; do
			"$ring" "$tmp/gone.$i" --exit
			i=$((i + 1))
		done
	) &
	churn=$!
	pids="$pids $churn"
	n=0
	while kill -0 "$churn" 2>/dev/null; do
		expect 0 $wrap "$pg" audit --json
		[ -s "$tmp/err" ] && fail "stderr: $(cat "$tmp/err")"
		python3 -c 'import json,sys; json.load(sys.stdin)' <"$tmp/out" ||
			fail "not JSON: $(cat "$tmp/out")"
		n=$((n + 1))
	done
	[ $n -gt 0 ] || fail "no scan ran while processes came and went"
	;;
perm)
	[ "$(id -u)" = 0 ] || skip "needs root to run the tool as another user"
	command -v setpriv >/dev/null 2>&1 || skip "setpriv is not installed"
	start plain none
	lib=$("$pg" --version | sed -n 2p)
	mkdir "$tmp/nobody"
	cp "$pg" "$tmp/nobody/pinguard"
	cp -L "$lib" "$tmp/nobody/"
	chmod -R a+rX "$tmp"
	as_nobody() {
		env LD_LIBRARY_PATH="$tmp/nobody" setpriv --reuid=65534 \
			--regid=65534 --clear-groups "$tmp/nobody/pinguard" "$@"
	}
	expect 4 as_nobody audit $pid_plain
	has out "^PID $pid_plain \(pg_ringwait\): unknown \(permission\)$"
	expect 4 as_nobody audit --json $pid_plain
	python3 -c 'import json,sys; d=json.load(sys.stdin)
p = d["processes"][0]
assert p["verdict"] == "unknown" and p["reason"] == "permission", p' \
		<"$tmp/out" || fail "json: $(cat "$tmp/out")"
	# every process: the ones it may not read are counted, not hidden
	expect 4 as_nobody audit
	has out "[0-9]+ not inspected \(permission; --all lists them\)"
	expect 4 as_nobody audit --all
	has out "^PID $pid_plain \(pg_ringwait\): unknown \(permission\)$"
	;;
formats)
	start plain none
	start copy copy
	expect 5 env PINGUARD_KERNEL=unpatched $wrap "$pg" audit --prometheus \
		$pid_plain $pid_copy
	python3 - "$tmp/out" "$pid_plain" "$pid_copy" <<'EOF' || fail "prometheus: $(cat "$tmp/out")"
import re, sys
lines = open(sys.argv[1]).read().splitlines()
plain, copy = sys.argv[2], sys.argv[3]
val = {}
for l in lines:
    if l.startswith("#"):
        assert re.match(r"# (HELP|TYPE) pinguard_audit_[a-z_]+ .+", l), l
        continue
    m = re.match(r'(pinguard_audit_[a-z_]+)(\{.*\})? ([0-9.]+)$', l)
    assert m, l
    val[m.group(1) + (m.group(2) or "")] = float(m.group(3))
lab = '{pid="%s",command="pg_ringwait",verdict="%s"}'
assert val["pinguard_audit_process_at_risk_bytes" + lab % (plain, "at_risk")] == 12288, val
assert val["pinguard_audit_process_at_risk_bytes" + lab % (copy, "safe")] == 0, val
assert val["pinguard_audit_process_pinned_bytes" + lab % (copy, "safe")] == 12288, val
assert val["pinguard_audit_at_risk_bytes"] == 12288, val
assert val["pinguard_audit_pinned_bytes"] == 24576, val
assert val['pinguard_audit_processes{verdict="at_risk"}'] == 1, val
assert val['pinguard_audit_processes{verdict="safe"}'] == 1, val
assert val['pinguard_audit_kernel_early_cow{kind="4k"}'] == 0, val
assert "pinguard_audit_scan_seconds" in val, val
EOF
	expect 5 env PINGUARD_KERNEL=unpatched $wrap "$pg" audit --json $pid_plain
	python3 -c 'import json,sys; d=json.load(sys.stdin)
assert set(d) == {"kernel", "rdma", "processes", "summary"}, d
assert d["kernel"]["kinds"]["4k"] == {"kernel": "unpatched", "detected_by": "override"}, d
p = d["processes"][0]
assert set(p) == {"pid", "command", "pinguard", "mode", "verdict", "reason",
                  "io_uring_rings", "pinned_bytes", "at_risk_bytes", "ranges"}, p
assert p["pinguard"] is False and p["mode"] is None and p["reason"] is None, p
assert p["io_uring_rings"] == 1, p
r = p["ranges"][0]
assert set(r) == {"source", "address", "length", "kinds", "shared", "dontfork",
                  "protected_by", "verdict", "reason", "where"}, r
s = d["summary"]
assert s["processes_at_risk"] == 1 and s["at_risk_bytes"] == 12288, s
assert s["scanned"] == 1 and s["not_inspected"] == 0, s' <"$tmp/out" ||
		fail "json fields: $(cat "$tmp/out")"
	;;
*)
	fail "unknown case $case_"
	;;
esac
echo "ok: $case_"
