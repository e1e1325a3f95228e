# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# Sourced by the deployment tests: messages, skips, the project version,
# the test programs, and what the installed packages put where.
export LC_ALL=C
# shellcheck disable=SC2034
deploy_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
srcdir=$(cd "$deploy_dir/../.." && pwd)
test_name=${PG_DEPLOY_NAME:-$(basename "$0" .sh)}

fail() { echo "FAIL ($test_name): $*" >&2; exit 1; }
skip() { echo "SKIP ($test_name): $*" >&2; exit 77; }
say() { echo "== $test_name: $*"; }

need() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || skip "no $t in PATH"
	done
}

# The version in meson.build's project(): the one every package must carry.
meson_version() {
	sed -n "/^project(/,/)/s/.*version *: *'\([^']*\)'.*/\1/p" \
		"$srcdir/meson.build" | head -n 1
}

multiarch() { gcc -print-multiarch 2>/dev/null || dpkg-architecture -qDEB_HOST_MULTIARCH; }

# The packages installed by debian.sh --keep, at the project's version:
# the modules, MPI and Slurm tests use them as a cluster node would.
need_installed() {
	local p v want
	want=$(meson_version)
	for p in libpinguard0 pinguard "$@"; do
		v=$(dpkg-query -W -f '${Version}' "$p" 2>/dev/null) ||
			fail "package $p not installed (run tests/deploy/debian.sh --keep first)"
		[ "$v" = "$want" ] ||
			fail "package $p $v installed, the tree is $want (run tests/deploy/debian.sh --keep)"
	done
	pg_lib=/usr/lib/$(multiarch)/libpinguard.so.0
	[ -e "$pg_lib" ] || fail "$pg_lib missing"
}

# pinfork built with mpicc into $1: the MPI program (-DPINFORK_MPI).
build_pinfork_mpi() {
	mpicc -O2 -DPINFORK_MPI -o "$1" "$deploy_dir/pinfork.c" -luring -ldl ||
		fail "mpicc pinfork.c"
}

# pinfork (pins an io_uring buffer and forks), built into $1 with liburing.
build_pinfork() {
	cc -O2 -o "$1" "$deploy_dir/pinfork.c" -luring -ldl ||
		fail "cannot build pinfork (liburing-dev?)"
	local rc=0
	"$1" >/dev/null 2>&1 || rc=$?
	case $rc in
	0) ;;
	77) skip "io_uring is not available here (pinfork cannot pin)" ;;
	*) fail "pinfork fails without pinguard" ;;
	esac
}
