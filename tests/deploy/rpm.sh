#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# rpm/pinguard.spec built with rpmbuild -bb on this (Debian) machine, from
# a tarball of the tracked tree, --with slurm so that every subpackage is
# built, %check (the unit suite) included. Then the packages' contents,
# their dependencies, and the spec's version against meson.build.
#
# What this is not: an install on RHEL. Debian's rpm has no package
# database of the system, so BuildRequires cannot be checked (--nodeps),
# and it lacks Fedora's %meson macros (rpm/macros.meson stands in).
# Needs rpm (rpmbuild, rpmspec), git, and the build tools of the Debian
# build (meson, ninja-build, gcc, libcmocka-dev, libslurm-dev).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"

need rpmbuild rpmspec rpm git meson ninja
spec=$srcdir/rpm/pinguard.spec
version=$(meson_version)
spec_version=$(rpmspec -q --srpm --qf '%{version}\n' "$spec" 2>/dev/null)
[ "$spec_version" = "$version" ] ||
	fail "rpm/pinguard.spec says $spec_version, meson.build says $version"
say "version $version (meson.build = rpm/pinguard.spec)"
# The default (RHEL without EPEL) has no slurm subpackage.
subs=$(rpmspec -q --qf '%{name}\n' "$spec" 2>/dev/null | paste -sd ' ')
[ "$subs" = "pinguard pinguard-devel pinguard-tools" ] ||
	fail "default subpackages: $subs"
subs=$(rpmspec -q --with slurm --qf '%{name}\n' "$spec" 2>/dev/null | paste -sd ' ')
[ "$subs" = "pinguard pinguard-devel pinguard-tools pinguard-slurm" ] ||
	fail "--with slurm subpackages: $subs"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pg-rpm.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
top=$tmp/rpmbuild
mkdir -p "$top/SOURCES" "$tmp/src/pinguard-$version"
git -C "$srcdir" ls-files -z | (cd "$srcdir" && tar --null -T - -cf -) |
	tar -xf - -C "$tmp/src/pinguard-$version"
tar -C "$tmp/src" -czf "$top/SOURCES/pinguard-$version.tar.gz" "pinguard-$version"

t0=$(date +%s)
rpmbuild -bb --nodeps --with slurm --load "$srcdir/rpm/macros.meson" \
	--define "_topdir $top" --define 'debug_package %{nil}' \
	"$spec" >"$tmp/build.log" 2>&1 ||
	{ tail -n 40 "$tmp/build.log"; fail "rpmbuild -bb"; }
say "rpmbuild -bb --with slurm: $(($(date +%s) - t0)) s"
grep -E '^(Ok|Fail|Skipped):' "$tmp/build.log" | tr -s ' ' | paste -sd ' ' |
	sed 's/^/   %check unit suite: /'
grep -Eq "^Ok: +[1-9]" "$tmp/build.log" ||
	fail "%check did not run the unit suite"
grep -q '^Fail: *0' "$tmp/build.log" || fail "%check failures"

rpms=$top/RPMS/$(rpm --eval '%{_arch}')
libdir=$(rpm --eval '%{_libdir}')
has() { # SUBPACKAGE PATH-REGEX... (man pages: compressed on RHEL, not by Debian's rpm)
	local p=$1 f list
	shift
	list=$(rpm -qlp "$rpms/$p-$version-1.$(rpm --eval '%{_arch}').rpm")
	for f in "$@"; do
		echo "$list" | grep -Eqx "$f" || fail "$p lacks $f"
	done
}
has pinguard "$libdir/libpinguard.so.0" "$libdir/libpinguard.so.$version" \
	"$(rpm --eval '%{_defaultlicensedir}')/pinguard(-$version)?/LICENSE"
has pinguard-devel /usr/include/pinguard.h "$libdir/libpinguard.so" \
	"$libdir/pkgconfig/pinguard.pc" '/usr/share/man/man3/pinguard_pin\.3(\.gz)?'
has pinguard-tools /usr/bin/pinguard '/usr/share/man/man1/pinguard\.1(\.gz)?' \
	'/usr/share/man/man7/pinguard\.7(\.gz)?' \
	"/usr/share/pinguard/modulefiles/lmod/pinguard/$version.lua" \
	"/usr/share/pinguard/modulefiles/tcl/pinguard/$version"
has pinguard-slurm "$libdir/slurm/spank_pinguard.so" '/usr/share/man/man8/spank_pinguard\.8(\.gz)?'
rpm -qp --provides "$rpms/pinguard-$version-1."*.rpm | grep -q '^libpinguard.so.0()' ||
	fail "pinguard does not provide libpinguard.so.0"
rpm -qp --requires "$rpms/pinguard-tools-$version-1."*.rpm | grep -q '^libpinguard.so.0()' ||
	fail "pinguard-tools does not require libpinguard.so.0"
rpm2cpio "$rpms/pinguard-tools-$version-1."*.rpm | (cd "$tmp" && cpio -id --quiet \
	"./usr/share/pinguard/modulefiles/tcl/pinguard/$version")
grep -qx "append-path LD_PRELOAD $libdir/libpinguard.so.0" \
	"$tmp/usr/share/pinguard/modulefiles/tcl/pinguard/$version" ||
	fail "the RPM's modulefile does not preload $libdir/libpinguard.so.0"
for f in "$rpms"/*.rpm; do
	echo "   $(basename "$f"): $(stat -c %s "$f") bytes"
done
say OK
