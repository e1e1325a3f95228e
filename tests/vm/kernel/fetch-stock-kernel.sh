#!/bin/bash
# Fetch and unpack a stock (unmodified) Debian kernel package for the lab:
#   deb11  Debian 11 bullseye:  newest linux-image-5.10.0-*-amd64 in
#          bullseye + bullseye-security
#   deb12  Debian 12 bookworm:  newest linux-image-6.1.0-*-amd64 in
#          bookworm + bookworm-security
# with `apt-get download` through a PRIVATE apt configuration (its own
# sources list, state, cache and etc dirs under the cache), so the system's
# apt sources and lists are never touched. The .deb and its `dpkg-deb -x`
# tree are cached next to build-kernel.sh's images and reused when present.
#
#   fetch-stock-kernel.sh [--refresh] [--print-dir] NAME
# Prints the unpacked tree on stdout (boot/vmlinuz-<kver>,
# boot/config-<kver>, lib/modules/<kver>). Exit 0 ok, 77 cannot fetch (no
# network, no keyring: the lab skips those kernels), 2 usage.
# Env: PINGUARD_VM_CACHE (default ~/.cache/pinguard-vm, as build-kernel.sh).
set -euo pipefail

cache=${PINGUARD_VM_CACHE:-$HOME/.cache/pinguard-vm}
refresh=0 print_dir=0 name=
for a in "$@"; do
	case $a in
	--refresh) refresh=1 ;;	# look for a newer package even if one is cached
	--print-dir) print_dir=1 ;;
	deb11|deb12) name=$a ;;
	*) echo "usage: $0 [--refresh] [--print-dir] deb11|deb12" >&2; exit 2 ;;
	esac
done
[ -n "$name" ] || { echo "usage: $0 [--refresh] [--print-dir] deb11|deb12" >&2; exit 2; }

log() { echo "fetch-stock-kernel: $name: $*" >&2; }

case $name in
deb11) suite=bullseye prefix=linux-image-5.10.0- ;;
deb12) suite=bookworm prefix=linux-image-6.1.0- ;;
esac
dir=$cache/stock-$name
[ $print_dir = 1 ] && { echo "$dir/tree"; exit 0; }

# Reuse: a complete unpack (marker written last) is the answer, offline too.
if [ $refresh = 0 ] && [ -f "$dir/tree/.pinguard-unpacked" ]; then
	echo "$dir/tree"
	exit 0
fi
# depmod (kmod): the package ships no modules.dep (its postinst makes it),
# and the lab's initramfs follows modules.dep.
for t in apt-get dpkg-deb depmod; do
	command -v $t >/dev/null || { log "SKIP: no $t (apt-get install apt dpkg kmod)"; exit 77; }
done
keys=()
for k in /usr/share/keyrings/debian-archive-$suite-stable.gpg \
	/usr/share/keyrings/debian-archive-$suite-automatic.gpg \
	/usr/share/keyrings/debian-archive-$suite-security-automatic.gpg; do
	[ -r "$k" ] && keys+=("$k")
done
[ ${#keys[@]} -gt 0 ] || { log "SKIP: no /usr/share/keyrings/debian-archive-$suite-*.gpg (apt-get install debian-archive-keyring)"; exit 77; }

mkdir -p "$cache"
# One fetch per name at a time; a second caller waits, then reuses.
exec 9>"$cache/.lock-stock-$name"
flock 9
if [ $refresh = 0 ] && [ -f "$dir/tree/.pinguard-unpacked" ]; then echo "$dir/tree"; exit 0; fi

# --- private apt configuration ---------------------------------------------
apt_dir=$dir/apt
mkdir -p "$apt_dir"/{etc/sources.list.d,etc/preferences.d,etc/apt.conf.d,etc/trusted.gpg.d,state/lists/partial,cache/archives/partial} "$dir/debs"
: >"$apt_dir/state/status"	# no installed packages: nothing to resolve against
signed=$(IFS=,; echo "${keys[*]}")
cat >"$apt_dir/etc/sources.list" <<EOF
deb [arch=amd64 signed-by=$signed] http://deb.debian.org/debian $suite main
deb [arch=amd64 signed-by=$signed] http://deb.debian.org/debian-security $suite-security main
EOF
cat >"$apt_dir/apt.conf" <<EOF
Dir::State "$apt_dir/state";
Dir::State::status "$apt_dir/state/status";
Dir::Cache "$apt_dir/cache";
Dir::Etc "$apt_dir/etc";
Dir::Etc::SourceList "$apt_dir/etc/sources.list";
Dir::Etc::SourceParts "$apt_dir/etc/sources.list.d";
Dir::Etc::Parts "$apt_dir/etc/apt.conf.d";
Dir::Etc::PreferencesParts "$apt_dir/etc/preferences.d";
Dir::Etc::TrustedParts "$apt_dir/etc/trusted.gpg.d";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
Acquire::Languages "none";
Acquire::Retries "3";
EOF
# APT_CONFIG: read our file; the -o options make sure the private dirs win
# over anything the system's apt.conf.d may set.
export APT_CONFIG=$apt_dir/apt.conf
apt_opts=(-o "Dir::Etc=$apt_dir/etc" -o "Dir::State=$apt_dir/state" -o "Dir::Cache=$apt_dir/cache"
	-o "Dir::Etc::SourceList=$apt_dir/etc/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/etc/sources.list.d"
	-o "Dir::State::status=$apt_dir/state/status" -o Debug::NoLocking=1
	-o APT::Sandbox::User=root)	# the _apt user cannot write into root's cache

log "apt-get update ($suite, $suite-security; private lists in $apt_dir)"
if ! apt-get "${apt_opts[@]}" -qq update >"$dir/apt-update.log" 2>&1 ||
	grep -q '^[EW]: Failed to fetch' "$dir/apt-update.log"; then
	sed 's/^/    /' "$dir/apt-update.log" | tail -5 >&2
	if [ -f "$dir/tree/.pinguard-unpacked" ]; then
		log "update failed; keeping the cached package"; echo "$dir/tree"; exit 0
	fi
	log "SKIP: cannot reach the archive"
	exit 77
fi
# Newest ABI of the wanted series: linux-image-<ver>-<abi>-amd64 (the signed
# image; -unsigned, -dbg, -rt, -cloud are other packages).
pkg=$(apt-cache "${apt_opts[@]}" pkgnames "$prefix" |
	grep -E "^${prefix//./\\.}[0-9]+-amd64\$" | sort -V | tail -1)
[ -n "$pkg" ] || { log "SKIP: no ${prefix}*-amd64 in $suite"; exit 77; }
ver=$(apt-cache "${apt_opts[@]}" policy "$pkg" | sed -n 's/^ *Candidate: //p')
log "newest: $pkg $ver"

deb=$(ls "$dir/debs/${pkg}_${ver//:/%3a}_amd64.deb" 2>/dev/null || true)
if [ -z "$deb" ]; then
	log "downloading $pkg $ver"
	(cd "$dir/debs" && apt-get "${apt_opts[@]}" -qq download "$pkg=$ver") >&2 ||
		{ log "SKIP: apt-get download failed"; exit 77; }
	deb=$(ls "$dir/debs/${pkg}_"*"_amd64.deb" | sort -V | tail -1)
fi
# Older packages of this name are superseded: keep one .deb.
for old in "$dir"/debs/*.deb; do
	[ "$old" != "$deb" ] && rm -f "$old"
done

if [ -f "$dir/tree/.pinguard-unpacked" ] && [ "$(cat "$dir/tree/.pinguard-unpacked")" = "$(basename "$deb")" ]; then
	echo "$dir/tree"; exit 0
fi
log "unpacking $(basename "$deb")"
rm -rf "$dir/tree" "$dir/tree.tmp"
dpkg-deb -x "$deb" "$dir/tree.tmp"
ls "$dir"/tree.tmp/boot/vmlinuz-* >/dev/null 2>&1 || { log "no boot/vmlinuz-* in $deb"; exit 1; }
kver=$(basename "$(ls -d "$dir"/tree.tmp/lib/modules/*)")
depmod -b "$dir/tree.tmp" "$kver"
basename "$deb" >"$dir/tree.tmp/.pinguard-unpacked"
mv "$dir/tree.tmp" "$dir/tree"
echo "$dir/tree"
