#!/bin/sh
# SPDX-License-Identifier: MIT
# Install into a temporary prefix from a fresh build, then build and run a
# program against the installed copy only (pkg-config, installed header and
# library), and check the shared library's ELF interface.
# Usage: test_install.sh SRCDIR VERSION
set -eu
export LC_ALL=C
srcdir=$1
version=$2

fail() { echo "FAIL: $*" >&2; exit 1; }
for tool in meson ninja pkg-config readelf nm cc; do
	command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: no $tool"; exit 77; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pg-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
prefix=$tmp/prefix

meson setup "$tmp/b" "$srcdir" --prefix="$prefix" -Dtests=false \
	>"$tmp/setup.log" 2>&1 || { cat "$tmp/setup.log"; fail "meson setup"; }
ninja -C "$tmp/b" install >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log"; fail "ninja install"; }

pc=$(find "$prefix" -name pinguard.pc | head -n 1)
[ -n "$pc" ] || fail "pinguard.pc not installed"
[ -f "$prefix/include/pinguard.h" ] || fail "header not installed"
libdir=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --variable=libdir pinguard)
case $libdir in "$prefix"/*) ;; *) fail "libdir $libdir outside prefix" ;; esac
[ -L "$libdir/libpinguard.so" ] || fail "no libpinguard.so dev symlink"
[ -L "$libdir/libpinguard.so.0" ] || fail "no libpinguard.so.0 soname symlink"
real=$(readlink -f "$libdir/libpinguard.so.0")
[ -f "$real" ] || fail "soname link dangles"

# ELF: soname, no hard dependency on verbs or io_uring, no build-tree path.
dyn=$(readelf -d "$real")
echo "$dyn" | grep -q 'SONAME.*\[libpinguard\.so\.0\]' || fail "SONAME: $dyn"
if echo "$dyn" | grep 'NEEDED' | grep -Eq 'libibverbs|liburing|libmlx5'; then
	fail "link-time dependency on verbs/io_uring: $dyn"
fi
if echo "$dyn" | grep -Eq 'RPATH|RUNPATH'; then
	fail "installed library keeps an rpath: $dyn"
fi

# Exported (defined, dynamic) symbols: the API, the libc interposers and
# the wrappers of the pinning/fork calls (DESIGN 4), nothing internal.
# Type A entries are version nodes (PINGUARD_0.1), not symbols.
allowed='pinguard_[a-z0-9_]+|madvise|mprotect|pkey_mprotect|munmap|mremap|shmdt|fork|_Fork|clone'
allowed="$allowed|ibv_[a-z0-9_]+|mlx5dv_devx_umem_[a-z_]+|io_uring_[a-z_]+"
bad=$(nm -D --defined-only "$real" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' |
	grep -Ev "^($allowed)\$" || true)
[ -z "$bad" ] || fail "unexpected exported symbols:" $bad
for sym in pinguard_pin pinguard_unpin pinguard_get_stats pinguard_version \
	madvise mprotect munmap mremap shmdt; do
	nm -D --defined-only "$real" | grep -Eq " $sym(@|\$)" ||
		fail "symbol $sym not exported"
done

# A user program built against the installed copy only.
cat >"$tmp/user.c" <<'EOF'
#include <pinguard.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	static char buf[3 * 4096] __attribute__((aligned(4096)));
	struct pinguard_stats s;

	memset(buf, 1, sizeof(buf));
	if (pinguard_pin(buf + 4096, 4096, 0) ||
	    pinguard_pin_count(buf + 4096) != 1 ||
	    pinguard_get_stats(&s, sizeof(s)) || s.pinned_bytes != 4096 ||
	    pinguard_unpin(buf + 4096, 4096) ||
	    pinguard_unpin(buf + 4096, 4096) != -2 /* -ENOENT */)
		return 1;
	printf("version %s\n", pinguard_version());
	return 0;
}
EOF
export PKG_CONFIG_PATH="$(dirname "$pc")"
flags=$(pkg-config --cflags --libs pinguard) || fail "pkg-config"
# shellcheck disable=SC2086
cc -o "$tmp/user" "$tmp/user.c" $flags -Wl,-rpath,"$libdir" ||
	fail "cannot build against the installed copy ($flags)"
out=$("$tmp/user") || fail "user program failed"
[ "$out" = "version $version" ] || fail "user program printed '$out'"
# It ran with the installed library, not the build tree's.
ldd "$tmp/user" | grep -q "libpinguard.so.0 => $libdir/" ||
	fail "user program not bound to installed copy: $(ldd "$tmp/user")"
echo "install into $prefix OK: $out"
