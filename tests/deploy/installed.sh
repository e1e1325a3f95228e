#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The installed Debian packages, used as a user would, on the system this
# runs on (this machine for debian.sh, a Debian root for debian-root.sh):
# the command bound to the installed library without an rpath, --version,
# pinguard probe, pinguard run --mode copy guarding a program that pins an
# io_uring buffer and forks (and that program unguarded without it), and a
# program built with pkg-config against the -dev package.
#
# Usage: installed.sh VERSION      (needs cc, pkg-config, liburing-dev)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"

[ $# -eq 1 ] || { echo "usage: $0 VERSION" >&2; exit 2; }
version=$1
need cc pkg-config pinguard
ma=$(multiarch)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pg-inst.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cd "$tmp"
unset LD_LIBRARY_PATH LD_PRELOAD PINGUARD_MODE PKG_CONFIG_PATH
lib=/usr/lib/$ma/libpinguard.so.0
# The library a program is bound to, resolved (/lib is /usr/lib when merged).
bound() { readlink -f "$(ldd "$1" | awk '$1 == "libpinguard.so.0" { print $3 }')"; }
real_lib=$(readlink -f "$lib")
[ "$(bound /usr/bin/pinguard)" = "$real_lib" ] ||
	fail "pinguard does not use $lib: $(ldd /usr/bin/pinguard)"
! readelf -d /usr/bin/pinguard | grep -Eq 'RPATH|RUNPATH' ||
	fail "installed pinguard keeps an rpath"
pinguard --version >version.out || fail "pinguard --version"
if [ "$(head -n 1 version.out)" != "pinguard $version (library $version)" ] ||
	[ "$(sed -n 2p version.out)" != "$lib" ]; then
	fail "pinguard --version: $(cat version.out)"
fi
pinguard probe >probe.out || fail "pinguard probe: $(cat probe.out)"
say "pinguard probe: $(head -n 1 probe.out)"

build_pinfork "$tmp/pinfork"
pinguard run --mode copy --stats -- "$tmp/pinfork" >run.out 2>run.err ||
	fail "pinguard run: $(cat run.out run.err)"
grep -Eq 'pinguard loaded mode copy forks_seen 1 forks_guarded 1$' run.out ||
	fail "fork not guarded: $(cat run.out run.err)"
grep -q 'stats: mode copy.* forks seen 1 guarded 1,' run.err ||
	fail "no PINGUARD_STATS summary: $(cat run.err)"
grep -q "pinguard absent" <("$tmp/pinfork") || fail "pinfork guarded without pinguard"
say "pinguard run --mode copy: $(cat run.out)"

cat >user.c <<'EOC'
#include <pinguard.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
	static char buf[2 * 4096] __attribute__((aligned(4096)));
	struct pinguard_stats s;

	memset(buf, 1, sizeof(buf));
	if (pinguard_pin(buf, 4096, 0) || pinguard_pin_count(buf) != 1 ||
	    pinguard_get_stats(&s, sizeof(s)) || s.pinned_bytes != 4096 ||
	    pinguard_unpin(buf, 4096))
		return 1;
	printf("%s\n", pinguard_version());
	return 0;
}
EOC
# shellcheck disable=SC2046
cc -o user user.c $(pkg-config --cflags --libs pinguard) ||
	fail "cannot build with pkg-config --cflags --libs pinguard"
[ "$(bound ./user)" = "$real_lib" ] || fail "user not bound to $lib: $(ldd ./user)"
[ "$(./user)" = "$version" ] || fail "user program printed '$(./user)'"
say "pkg-config program: built, linked to $lib, prints $version"
