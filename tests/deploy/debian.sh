#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Debian packages, built and installed for real: dpkg-buildpackage from a
# clean copy of the tracked tree, lintian (no error, no warning), the
# contents of each package, then apt-get install of the .debs on this
# machine with the build tree gone, and there (installed.sh): pinguard
# probe, pinguard run --mode copy guarding a program that pins and forks,
# and a program built with pkg-config against the installed -dev package.
#
# Usage: debian.sh [--keep] [--out DIR] | --purge
#   --keep   leave the packages installed (modules.sh, mpi.sh and slurm.sh
#            use them); by default they are purged at the end
#   --out    copy the .debs to DIR (debian-root.sh installs them in a
#            Debian root)
#   --purge  only purge the packages
# Needs root (apt-get install), dpkg-dev, debhelper, lintian, git, and the
# Build-Depends of debian/control.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"

pkgs=(libpinguard0 libpinguard-dev pinguard pinguard-slurm)
# Waits for the dpkg lock (another apt on the machine) instead of failing.
apt=(apt-get -o DPkg::Lock::Timeout=300 -y -qq)
installed() { dpkg-query -W -f '${db:Status-Status} ${Package}\n' "${pkgs[@]}" 2>/dev/null |
	awk '$1 == "installed" { print $2 }'; }
purge() {
	local left
	"${apt[@]}" purge "${pkgs[@]}" >"${TMPDIR:-/tmp}/pg-deb-purge.$$" 2>&1 || true
	left=$(installed | paste -sd ' ')
	if [ -n "$left" ]; then
		cat "${TMPDIR:-/tmp}/pg-deb-purge.$$" >&2
		rm -f "${TMPDIR:-/tmp}/pg-deb-purge.$$"
		echo "FAIL (debian): could not purge $left" >&2
		return 1
	fi
	rm -f "${TMPDIR:-/tmp}/pg-deb-purge.$$"
}
keep=0 out=
while [ $# -gt 0 ]; do
	case $1 in
	--keep) keep=1 ;;
	--out) [ $# -ge 2 ] || { echo "$0: --out DIR" >&2; exit 2; }; out=$2; shift ;;
	--purge) purge || exit 1; echo "purged: ${pkgs[*]}"; exit 0 ;;
	*) echo "usage: $0 [--keep] [--out DIR] | --purge" >&2; exit 2 ;;
	esac
	shift
done

need dpkg-buildpackage dh lintian git apt-get dpkg-parsechangelog cc
[ "$(id -u)" -eq 0 ] || skip "installing the packages needs root"
version=$(meson_version)
[ -n "$version" ] || fail "no version in meson.build's project()"
deb_version=$(dpkg-parsechangelog -l "$srcdir/debian/changelog" -SVersion)
[ "$deb_version" = "$version" ] ||
	fail "debian/changelog says $deb_version, meson.build says $version"
say "version $version (meson.build = debian/changelog)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pg-deb.XXXXXX")
cleanup() {
	rm -rf "$tmp"
	[ "$keep" = 1 ] || purge || true	# its message is enough here
}
trap cleanup EXIT

# A clean tree: the tracked files only (no build directories).
tree=$tmp/src/pinguard-$version
mkdir -p "$tree"
git -C "$srcdir" ls-files -z | (cd "$srcdir" && tar --null -T - -cf -) |
	tar -xf - -C "$tree"
t0=$(date +%s)
(cd "$tree" && dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1 ||
	{ grep -v "^Installing" "$tmp/build.log" | tail -n 40; fail "dpkg-buildpackage"; }
say "dpkg-buildpackage -us -uc -b: $(($(date +%s) - t0)) s"
grep -E '^(Ok|Fail|Skipped):' "$tmp/build.log" | tr -s ' ' | paste -sd ' ' |
	sed 's/^/   build-time unit suite: /'
changes=$(ls "$tmp"/src/*.changes)

# lintian: errors and warnings fail; info and pedantic tags are listed.
lintian -I --pedantic --show-overrides --tag-display-limit 0 "$changes" >"$tmp/lintian.log" 2>&1 ||
	true
sed -i '/running with root privileges is not recommended/d' "$tmp/lintian.log"
sed 's/^/   lintian: /' "$tmp/lintian.log"
for level in E W I P O; do
	printf '%s=%s ' "$level" "$(grep -c "^$level: " "$tmp/lintian.log" || true)"
done | sed 's/^/   lintian summary: /; s/ $/\n/'
! grep -Eq '^[EW]: ' "$tmp/lintian.log" || fail "lintian errors or warnings"

# What goes where (Debian's library packaging: runtime, -dev, tools).
ma=$(multiarch)
contents() { dpkg-deb -c "$tmp/src/${1}_${version}"_*.deb | awk '{print $6}'; }
expect() { # PACKAGE PATTERN...
	local p=$1 pat
	shift
	for pat in "$@"; do
		contents "$p" | grep -Eq "^\./$pat\$" || fail "$p lacks $pat"
	done
}
expect libpinguard0 "usr/lib/$ma/libpinguard\.so\.0" \
	"usr/lib/$ma/libpinguard\.so\.$version"
! contents libpinguard0 | grep -Eq '\.h$|\.pc$|libpinguard\.so$|bin/' ||
	fail "libpinguard0 holds development files or programs"
expect libpinguard-dev usr/include/pinguard\.h "usr/lib/$ma/libpinguard\.so" \
	"usr/lib/$ma/pkgconfig/pinguard\.pc" \
	'usr/share/man/man3/pinguard_pin\.3\.gz' 'usr/share/man/man3/pinguard_unpin\.3\.gz'
expect pinguard usr/bin/pinguard 'usr/share/man/man1/pinguard\.1\.gz' \
	'usr/share/man/man7/pinguard\.7\.gz' \
	"usr/share/pinguard/modulefiles/lmod/pinguard/$version\.lua" \
	"usr/share/pinguard/modulefiles/tcl/pinguard/$version"
expect pinguard-slurm "usr/lib/$ma/slurm-wlm/spank_pinguard\.so" \
	'usr/share/man/man8/spank_pinguard\.8\.gz'
for p in "${pkgs[@]}"; do
	f=$(ls "$tmp/src/${p}_${version}"_*.deb)
	echo "   $(basename "$f"): $(stat -c %s "$f") bytes"
done

# Install. The build tree goes first, so nothing can come from it.
purge || fail "cannot start from a machine without the packages"
mv "$tmp"/src/*.deb "$tmp/"
rm -rf "$tmp/src"
debs=()
for p in "${pkgs[@]}"; do debs+=("$tmp/${p}_${version}"_*.deb); done
"${apt[@]}" install "${debs[@]}" >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log"; fail "apt-get install ./*.deb"; }
say "installed: ${pkgs[*]}"

# The installed system, checked as a user would (installed.sh, which
# debian-root.sh runs inside a Debian root too).
[ -z "$out" ] || { mkdir -p "$out" && cp "${debs[@]}" "$out/"; }
PG_DEPLOY_NAME=debian "$deploy_dir/installed.sh" "$version" ||
	fail "the installed packages (above)"
say "OK"
