#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Debian packages built on this machine (debian.sh --out DIR), installed
# with apt-get into a Debian root made with debootstrap, as on a node that
# never saw the source: the root kept by tests/roots/run-in-root.sh
# (/var/cache/pinguard-roots/RELEASE, or $PINGUARD_ROOTS) under an overlay,
# so the root stays as it was and each run starts from it fresh. There,
# installed.sh: pinguard probe, pinguard run --mode copy guarding a program
# that pins and forks, a program built with pkg-config.
#
# With --refused, the root is of an older Debian than the build machine:
# apt-get must refuse the packages (they depend on the glibc they were
# built against) and name the unmet dependency, rather than install a
# library that cannot load there.
#
# Usage: debian-root.sh [--refused] DEBS-DIR RELEASE
# Needs root (mount, chroot) and overlayfs; skips (77) without the root.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"

refused=0
[ "${1:-}" = --refused ] && { refused=1; shift; }
[ $# -eq 2 ] || { echo "usage: $0 [--refused] DEBS-DIR RELEASE" >&2; exit 2; }
debs_dir=$1 release=$2
test_name="debian-root $release"
need chroot mount umount
[ "$(id -u)" -eq 0 ] || skip "chroot and mounts need root"
root=${PINGUARD_ROOTS:-/var/cache/pinguard-roots}/$release
[ -x "$root/usr/bin/apt-get" ] ||
	skip "no Debian root at $root (tests/roots/run-in-root.sh $release makes it)"
version=$(meson_version)
pkgs=(libpinguard0 libpinguard-dev pinguard)	# not -slurm: no Slurm in the root
for p in "${pkgs[@]}"; do
	[ -f "$debs_dir/${p}_${version}_amd64.deb" ] ||
		fail "no $debs_dir/${p}_${version}_amd64.deb (debian.sh --out $debs_dir)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pg-debroot.XXXXXX")
new=$tmp/root
mounted=()
cleanup() {
	local i
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		umount -R "${mounted[i]}" 2>/dev/null || umount -lR "${mounted[i]}" || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM	# through the EXIT trap: never leave mounts
mkdir -p "$tmp/upper" "$tmp/work" "$new"
mount -t overlay overlay -o "lowerdir=$root,upperdir=$tmp/upper,workdir=$tmp/work" "$new" ||
	skip "cannot mount an overlay over $root"
mounted+=("$new")
for d in /proc /sys /dev; do
	mount --rbind "$d" "$new$d"
	mount --make-rslave "$new$d"
	mounted+=("$new$d")
done
! chroot "$new" dpkg-query -W libpinguard0 >/dev/null 2>&1 ||
	fail "the root already has libpinguard0"
# shellcheck disable=SC2016 # dpkg-query's format
glibc=$(chroot "$new" dpkg-query -W -f '${Version}' libc6)
mkdir -p "$new/tmp/pg-debs" "$new/tmp/pg-deploy"
debs=()	# as the root sees them
for p in "${pkgs[@]}"; do
	cp "$debs_dir/${p}_${version}_amd64.deb" "$new/tmp/pg-debs/"
	debs+=("/tmp/pg-debs/${p}_${version}_amd64.deb")
done
cp "$deploy_dir/common.sh" "$deploy_dir/installed.sh" "$deploy_dir/pinfork.c" \
	"$new/tmp/pg-deploy/"

in_root() { chroot "$new" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
	LC_ALL=C DEBIAN_FRONTEND=noninteractive "$@"; }
rc=0
in_root apt-get install -y "${debs[@]}" >"$tmp/install.log" 2>&1 || rc=$?
if [ "$refused" = 1 ]; then
	[ "$rc" -ne 0 ] || { cat "$tmp/install.log"; fail "apt-get installed the packages on libc6 $glibc"; }
	grep -q "Depends: libc6 (>= " "$tmp/install.log" ||
		{ cat "$tmp/install.log"; fail "refused without naming libc6"; }
	! in_root dpkg-query -W libpinguard0 >/dev/null 2>&1 ||
		fail "libpinguard0 is installed after the refusal"
	say "refused on libc6 $glibc: $(grep -m1 -o 'Depends: libc6 (>= [^)]*) but [^ ]* is to be installed' "$tmp/install.log" ||
		grep -m1 'Depends: libc6' "$tmp/install.log")"
	say OK
	exit 0
fi
[ "$rc" -eq 0 ] || { cat "$tmp/install.log"; fail "apt-get install ./*.deb in the $release root"; }
say "installed in a $release root (libc6 $glibc): ${pkgs[*]}"
in_root env PG_DEPLOY_NAME="$test_name" /tmp/pg-deploy/installed.sh "$version" ||
	fail "the installed packages in the $release root (above)"
say OK
