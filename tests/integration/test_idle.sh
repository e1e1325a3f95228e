#!/bin/sh
# SPDX-License-Identifier: MIT
# A process that never pins pays nothing: running the idle program with
# libpinguard preloaded must make exactly the same system calls (names,
# counts, errors; children included) as preloading an empty library,
# which accounts for the dynamic loader loading one more object.
# Usage: test_idle.sh IDLE_PROGRAM LIBPINGUARD EMPTY_LIBRARY
set -eu
export LC_ALL=C
# meson passes paths relative to the build directory
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
idle=$(abs "$1")
libpg=$(abs "$2")
empty=$(abs "$3")

# the library's defaults, whatever the caller's environment says
unset PINGUARD_MODE PINGUARD_PRETOUCH PINGUARD_SCOPE PINGUARD_KERNEL \
	PINGUARD_LOG PINGUARD_LOG_FILE PINGUARD_STATS
[ -z "${PG_TEST_SANITIZED:-}" ] || { echo "SKIP: sanitizer build: the ASan/LSan or TSan runtime makes system calls of its own, and LSan cannot run under strace (ptrace)"; exit 77; }
command -v strace >/dev/null 2>&1 ||
	{ echo "SKIP: strace is not installed (apt-get install strace)"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pg-idle.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# Sorted "name calls errors" of every syscall made by the program and
# its children. strace -E sets the variable for the tracee only.
count() {
	out=$1
	shift
	strace -f -qq -c -U name,calls,errors -o "$tmp/raw" "$@" ||
		{ echo "FAIL: traced run failed: $*" >&2; exit 1; }
	awk 'NR > 2 && $1 !~ /^-/ && $1 != "total" {
		print $1, $2, ($3 == "" ? 0 : $3) }' "$tmp/raw" | sort >"$out"
	[ -s "$out" ] || { echo "FAIL: no strace summary" >&2; exit 1; }
}

# Before glibc 2.34 libpinguard also needs libpthread and libdl, whose
# loading and initialisation (robust list, signal handlers, stack limit)
# are libc's work, not pinguard's: the baseline preloads them too.
deps=
if command -v objdump >/dev/null 2>&1; then
	deps=$(objdump -p "$libpg" | awk '$1 == "NEEDED" &&
		$2 !~ /^(libc\.so|ld-linux)/ { printf " %s", $2 }')
fi

count "$tmp/none" "$idle"
count "$tmp/empty" -E "LD_PRELOAD=$empty" "$idle"
count "$tmp/pg" -E "LD_PRELOAD=$libpg" "$idle"

# Sanity: the empty library differs from no preload only in loader work.
join -a 1 -a 2 -e 0 -o 0,1.2,2.2 "$tmp/none" "$tmp/empty" |
	awk '$2 != $3 && $1 !~ /^(openat|read|pread64|mmap|mprotect|munmap|close|newfstatat|fstat|access)$/ {
		print "FAIL: empty preload changed " $1 ": " $2 " -> " $3; bad = 1 }
	END { exit bad }' >&2
[ -z "$deps" ] || count "$tmp/empty" -E "LD_PRELOAD=$empty$deps" "$idle"

# Before glibc 2.34 the first dlsym() of a process (the fork wrapper
# finding libc's fork) allocates libdl's error buffer, the heap's first
# brk pair, and runs a pthread_once that ends in one futex wake: libc's
# price of a symbol lookup, paid once. Only there, and only that much.
case "$deps" in
*libdl.so*)
	join -a 1 -a 2 -e 0 -o 0,1.2,2.2,1.3,2.3 "$tmp/empty" "$tmp/pg" |
		awk '{ extra = $1 == "brk" ? 2 : $1 == "futex" ? 1 : 0
		       if ($3 > $2 && $3 <= $2 + extra && $4 == $5) $3 = $2
		       if ($3 > 0) print $1, $3, $5 }' >"$tmp/pg-dl"
	if ! cmp -s "$tmp/pg" "$tmp/pg-dl"; then
		echo "old glibc: first dlsym's brk/futex not counted against pinguard"
		mv "$tmp/pg-dl" "$tmp/pg"
	fi
	;;
esac

# The loader of older glibc (2.31 here) maps an object whose LOAD segments
# leave a gap in two steps: the whole span, then mprotect(PROT_NONE) of the
# gap. Whether libpinguard has such a gap is the linker's layout (binutils
# 2.35 leaves one before the RELRO page, 2.40 does not); it is loader work
# per object loaded, not pinguard's. Count those calls in both runs: an
# mprotect(PROT_NONE) right after a first mapping of a file (address NULL,
# offset 0) in the same process.
holes() {
	strace -f -qq -e trace=mmap,mprotect -o "$tmp/holes" "$@" >/dev/null ||
		{ echo "FAIL: traced run failed: $*" >&2; exit 1; }
	awk '$2 ~ /^mmap\(NULL,/ && / [0-9]+, 0\) = / { first[$1] = 1; next }
	     $2 ~ /^mprotect\(/ && /PROT_NONE\) = 0/ && first[$1] { n++ }
	     { first[$1] = 0 }
	     END { print n + 0 }' "$tmp/holes"
}
gaps=$(( $(holes -E "LD_PRELOAD=$libpg" "$idle") -
	 $(holes -E "LD_PRELOAD=$empty$deps" "$idle") ))
if [ "$gaps" -gt 0 ]; then
	echo "loader: $gaps mprotect(PROT_NONE) of gaps between libpinguard's segments not counted"
	awk -v g="$gaps" '$1 == "mprotect" { $2 -= g } $2 > 0' "$tmp/pg" >"$tmp/pg-gaps"
	mv "$tmp/pg-gaps" "$tmp/pg"
fi

if ! cmp -s "$tmp/empty" "$tmp/pg"; then
	echo "FAIL: libpinguard makes system calls in a process that pins nothing" >&2
	echo "syscall calls errors: empty-preload vs libpinguard-preload" >&2
	join -a 1 -a 2 -e 0 -o 0,1.2,2.2,1.3,2.3 "$tmp/empty" "$tmp/pg" |
		awk '$2 != $3 || $4 != $5' >&2
	exit 1
fi
echo "idle process: same syscalls with libpinguard as with an empty library:"
cat "$tmp/pg"
