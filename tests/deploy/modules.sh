#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The modulefiles of the installed pinguard package, with Debian's module
# systems: module use + load, a program that pins and forks is guarded,
# the module leaves PINGUARD_MODE alone, unload gives LD_PRELOAD back its
# old value (unset, or another library), for both an empty and a
# non-empty LD_PRELOAD.
#
# Usage: modules.sh lmod|tcl
#   lmod  Debian's lmod, with the Lua modulefile (and the Tcl one: Lmod
#         reads both)
#   tcl   Debian's environment-modules (5.x), with the Tcl modulefile
# The two packages conflict; .ci/run installs one, runs this, then the
# other. Needs the packages from debian.sh --keep.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"

flavour=${1:-}
case $flavour in
lmod)
	init=$(ls /usr/share/lmod/lmod/init/bash 2>/dev/null || true)
	[ -n "$init" ] || skip "lmod is not installed (apt-get install lmod)"
	dirs="lmod tcl"
	;;
tcl)
	init=/usr/share/modules/init/bash
	[ -f "$init" ] ||
		skip "environment-modules is not installed (apt-get install environment-modules)"
	dirs="tcl"
	;;
*) echo "usage: $0 lmod|tcl" >&2; exit 2 ;;
esac
need cc
# shellcheck disable=SC2119
need_installed
version=$(meson_version)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pg-mod.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
build_pinfork "$tmp/pinfork"
# Another preloaded library, to check the module adds to LD_PRELOAD and
# gives it back intact.
echo 'int pg_other_preload;' | cc -shared -fPIC -x c - -o "$tmp/other.so"

for dir in $dirs; do
	mdir=/usr/share/pinguard/modulefiles/$dir
	for old in "" "$tmp/other.so"; do
		# A clean login-like shell: only the module system's init.
		# shellcheck disable=SC2016 # expanded by the inner shell
		env -i HOME="$tmp" PATH=/usr/bin:/bin TERM=dumb \
			PG_INIT="$init" PG_MDIR="$mdir" PG_OLD="$old" PG_LIB="$pg_lib" \
			PG_VERSION="$version" PG_PINFORK="$tmp/pinfork" \
			bash --noprofile --norc -euo pipefail -c '
fail() { echo "FAIL: $*" >&2; exit 1; }
. "$PG_INIT"
[ -n "$PG_OLD" ] && export LD_PRELOAD="$PG_OLD"
module use "$PG_MDIR"
module avail pinguard 2>&1 | grep -q "pinguard/$PG_VERSION" ||
	fail "module avail: $(module avail pinguard 2>&1)"
module load pinguard
want=$PG_LIB
[ -n "$PG_OLD" ] && want=$PG_OLD:$PG_LIB
[ "${LD_PRELOAD-}" = "$want" ] || fail "after load LD_PRELOAD=${LD_PRELOAD-} (want $want)"
[ -z "${PINGUARD_MODE+set}" ] || fail "the module set PINGUARD_MODE=$PINGUARD_MODE"
out=$("$PG_PINFORK") || fail "pinfork failed"
case $out in *"pinguard loaded mode "*) ;; *) fail "not preloaded: $out" ;; esac
auto=$out
out=$(PINGUARD_MODE=copy "$PG_PINFORK") || fail "pinfork failed"
case $out in *"loaded mode copy forks_seen 1 forks_guarded 1") ;;
*) fail "PINGUARD_MODE=copy not guarded: $out" ;; esac
module unload pinguard
if [ -n "$PG_OLD" ]; then
	[ "${LD_PRELOAD-}" = "$PG_OLD" ] || fail "after unload LD_PRELOAD=${LD_PRELOAD-} (want $PG_OLD)"
else
	[ -z "${LD_PRELOAD+set}" ] || fail "after unload LD_PRELOAD=$LD_PRELOAD (was unset)"
fi
out=$("$PG_PINFORK") || fail "pinfork failed"
case $out in *"pinguard absent") ;; *) fail "still preloaded after unload: $out" ;; esac
echo "auto: ${auto#*pinguard loaded }; copy: guarded"
' >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "$dir modulefile, LD_PRELOAD before: '${old:-unset}'"; }
		say "$flavour, $dir modulefile, LD_PRELOAD before ${old:-unset}: load, guarded, unload restores ($(tail -n 1 "$tmp/out"))"
	done
done
say OK
