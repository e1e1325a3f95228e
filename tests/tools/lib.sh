# SPDX-License-Identifier: MIT
# Sourced by the command's test scripts (test_tools.sh, test_audit.sh):
# a temporary directory, helpers killed at exit and waited for, and the checks. Set
# tmp_name before sourcing. PG_TOOL_WRAPPER, if set, is what the scripts
# put before every run of the command (only the command: e.g. valgrind,
# which then leaves what it execs alone).
export LC_ALL=C
wrap=${PG_TOOL_WRAPPER:-}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/$tmp_name.XXXXXX")
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
# wait_file FILE PID NAME: until the helper PID has written FILE; fails
# when it dies first, or has not written it after 10 s.
wait_file() {
	i=0
	while [ ! -f "$1" ]; do
		i=$((i + 1))
		[ $i -lt 100 ] || fail "helper $3 did not start"
		kill -0 "$2" 2>/dev/null || fail "helper $3 died"
		sleep 0.1
	done
}
skip() { echo "SKIP: $*"; exit 77; }
# expect CODE CMD...: run, keep stdout/stderr in $tmp/out, $tmp/err
expect() {
	want=$1; shift
	"$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	[ "$got" = "$want" ] || {
		cat "$tmp/out" "$tmp/err" >&2
		fail "'$*' exited $got, expected $want"
	}
}
has() { grep -Eq -- "$2" "$tmp/$1" || { cat "$tmp/$1" >&2; fail "$1 lacks /$2/"; }; }
lacks() { ! grep -Eq -- "$2" "$tmp/$1" || { cat "$tmp/$1" >&2; fail "$1 has /$2/"; }; }
json_ok() { python3 -c 'import json,sys; json.load(sys.stdin)' <"$tmp/out" ||
	fail "output is not JSON: $(cat "$tmp/out")"; }
