#!/usr/bin/env bash
# Build and test pinguard inside a Debian root made with debootstrap, to
# prove it on the userlands people with old (or new) kernels actually run.
#
#   tests/roots/run-in-root.sh [--bare] [--cc gcc|clang]
#                              [--suites "unit interpose ..."]
#                              [--roots DIR] [--mirror URL] RELEASE
#
# RELEASE is a Debian suite (bullseye, bookworm, trixie, ...). The root is
# kept in DIR/RELEASE (default $PINGUARD_ROOTS, else
# /var/cache/pinguard-roots) and made again only when missing, so a second
# run pays for the build and the tests alone. Each run copies the
# checkout's tracked and untracked (not ignored) files ($PINGUARD_SRC,
# default the checkout holding this script) into the root's /src/pinguard
# and builds from scratch in /build/RELEASE[-bare].
#
# --bare removes libibverbs-dev and liburing-dev first (a normal run puts
# them back): the library must still build, with its own declarations,
# and the tests that do not need those headers must pass. --cc clang
# builds with that release's clang (installed in the root on first use).
#
# Needs root (debootstrap, chroot, mounts) and the mirror; /proc, /sys and
# /dev are bind-mounted for the run and unmounted on exit.
set -euo pipefail

src=${PINGUARD_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
roots=${PINGUARD_ROOTS:-/var/cache/pinguard-roots}
mirror=${PINGUARD_MIRROR:-http://deb.debian.org/debian}
suites="unit interpose integration hardening"
bare=false
cc=gcc

usage() {
	sed -n '2,23s/^# \{0,1\}//p' "$0" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case "$1" in
	--bare) bare=true ;;
	--cc) cc=$2; shift ;;
	--suites) suites=$2; shift ;;
	--roots) roots=$2; shift ;;
	--mirror) mirror=$2; shift ;;
	-h|--help) usage ;;
	-*) echo "run-in-root: unknown option $1" >&2; usage ;;
	*) break ;;
	esac
	shift
done
[ $# -eq 1 ] || usage
release=$1
root=$roots/$release
name=$release$($bare && echo -bare || true)$([ "$cc" = gcc ] || echo "-$cc")
# What the build and the test suites use, by that release's names.
packages="gcc libc6-dev meson ninja-build pkg-config libcmocka-dev strace
	binutils git ca-certificates"
rdma_uring="libibverbs-dev liburing-dev"

if [ "$(id -u)" != 0 ]; then
	echo "run-in-root: needs root (debootstrap, chroot, mount)" >&2
	exit 1
fi

t0=$(date +%s)
stamp() { echo "run-in-root[$name]: $1 ($(($(date +%s) - t0)) s)"; }

if [ ! -e "$root/.pinguard-root" ]; then
	command -v debootstrap >/dev/null || {
		echo "run-in-root: debootstrap missing (apt-get install debootstrap)" >&2
		exit 1
	}
	rm -rf "$root.tmp"
	mkdir -p "$roots"
	debootstrap --variant=minbase "$release" "$root.tmp" "$mirror" \
		>"$roots/$release.debootstrap.log" 2>&1 || {
		tail -n 20 "$roots/$release.debootstrap.log" >&2
		exit 1
	}
	touch "$root.tmp/.pinguard-root"
	rm -rf "$root"
	mv "$root.tmp" "$root"
	stamp "root made with debootstrap"
fi

mounted=()
cleanup() {
	local i
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		umount -R "${mounted[i]}" 2>/dev/null ||
			umount -lR "${mounted[i]}" || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM	# through the EXIT trap: never leave mounts
bind() {
	mount --rbind "$1" "$root$1"
	mount --make-rslave "$root$1"
	mounted+=("$root$1")
}
mount -t proc proc "$root/proc"
mounted+=("$root/proc")
bind /sys
bind /dev
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true

in_root() {
	chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

want="$packages $([ "$cc" = gcc ] || echo "$cc")"
$bare || want="$want $rdma_uring"
# shellcheck disable=SC2086
if ! in_root dpkg-query -W $want >/dev/null 2>&1; then
	# after a --bare run the packages are still in apt's cache: no update
	in_root apt-get install -y -qq --no-install-recommends $want \
		>/dev/null 2>&1 || {
		in_root apt-get update -qq
		in_root apt-get install -y -qq --no-install-recommends $want \
			>/dev/null
	}
	stamp "packages installed"
fi
if $bare; then
	# shellcheck disable=SC2086
	in_root apt-get purge -y -qq $rdma_uring >/dev/null
	stamp "removed $rdma_uring"
fi

rm -rf "$root/src/pinguard" "$root/build/$name"
mkdir -p "$root/src/pinguard" "$root/build"
git -C "$src" ls-files -z --cached --others --exclude-standard |
	(cd "$src" && tar --null -T - -cf - 2>/dev/null) |
	tar -xf - -C "$root/src/pinguard"

suite_args=()
for s in $suites; do
	suite_args+=(--suite "$s")
done
echo "run-in-root[$name]: $(in_root sh -c "ldd --version | head -n 1; $cc --version | head -n 1; echo meson \$(meson --version)")"
in_root sh -c "cd /src/pinguard && CC=$cc meson setup /build/$name" \
	>"$root/build/$name.setup.log" 2>&1 || {
	cat "$root/build/$name.setup.log"
	exit 1
}
grep -E "^Message:|WARNING" "$root/build/$name.setup.log" || true
if grep -q "uses features which were added in newer versions" \
	"$root/build/$name.setup.log"; then
	echo "run-in-root: meson_version is lower than the features used" >&2
	exit 1
fi
if $bare && grep -E "PG_HAVE_(INFINIBAND_VERBS|INFINIBAND_MLX5DV|LIBURING)_H 1" \
	"$root/build/$name/lib/pg_config.h"; then
	echo "run-in-root: --bare, yet rdma-core or liburing headers were found" >&2
	exit 1
fi
in_root ninja -C "/build/$name" >"$root/build/$name.ninja.log" 2>&1 || {
	tail -n 60 "$root/build/$name.ninja.log"
	exit 1
}
if grep -q "warning:" "$root/build/$name.ninja.log"; then
	grep -A3 "warning:" "$root/build/$name.ninja.log"
fi
stamp "built"
status=0
in_root meson test -C "/build/$name" --print-errorlogs "${suite_args[@]}" ||
	status=$?
stamp "tested ($suites): exit $status"
exit $status
