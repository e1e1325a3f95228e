#!/bin/sh
# SPDX-License-Identifier: MIT
# One version number: meson's project version must be what the header's
# macros say, what pinguard_version() returns, the library file's name
# and soname, pinguard.pc's Version, `pinguard --version` and the footer
# of every man page (.TH).
# Usage: test_version.sh VERSION VERSION_MACROS LIBPINGUARD PC_FILE PINGUARD
#        [MAN_PAGE...]
set -u
export LC_ALL=C
want=$1 macros=$2 lib=$3 pc=$4 pg=$5
shift 5
fail() { echo "FAIL: $*" >&2; exit 1; }
major=${want%%.*}

out=$("$macros") || fail "$macros exited $?"
echo "$out"
[ "$(echo "$out" | sed -n 's/^macros //p')" = "$want" ] ||
	fail "header macros are not $want"
[ "$(echo "$out" | sed -n 's/^string //p')" = "$want" ] ||
	fail "PINGUARD_VERSION_STRING is not $want"
[ "$(echo "$out" | sed -n 's/^library //p')" = "$want" ] ||
	fail "pinguard_version() is not $want"

case $(basename "$lib") in
"libpinguard.so.$want") ;;
*) fail "library file $(basename "$lib") is not libpinguard.so.$want" ;;
esac
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
echo "soname $soname"
[ "$soname" = "libpinguard.so.$major" ] ||
	fail "soname '$soname' is not libpinguard.so.$major"

pcv=$(sed -n 's/^Version: *//p' "$pc")
echo "pinguard.pc $pcv"
[ "$pcv" = "$want" ] || fail "pinguard.pc says Version: $pcv"

line=$("$pg" --version | head -1)
echo "$line"
[ "$line" = "pinguard $want (library $want)" ] ||
	fail "pinguard --version says '$line'"
for page in "$@"; do
	th=$(sed -n 's/^\.TH .*"pinguard \([^"]*\)".*/\1/p' "$page")
	[ "$th" = "$want" ] ||
		fail "$(basename "$page"): .TH says pinguard '$th'"
done
echo "$# man pages: pinguard $want"
echo "all say $want"
