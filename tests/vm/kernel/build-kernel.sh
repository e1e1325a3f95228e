#!/bin/bash
# Build the pinguard lab kernel: Debian linux-source-6.1 + fork_early_cow.patch,
# defconfig + kvm_guest.config + lab.config, everything built in.
# The image is cached outside the repo, keyed by sha256(patch + lab.config):
# an identical image is never rebuilt. Prints the bzImage path on stdout.
#
#   build-kernel.sh [--print-key] [--force]
# Env: PINGUARD_VM_CACHE (default ~/.cache/pinguard-vm),
#      PINGUARD_VM_KSRC  (default /usr/src/linux-source-6.1.tar.xz),
#      PINGUARD_VM_JOBS  (default 2).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
patch_file=$here/fork_early_cow.patch
frag=$here/lab.config
cache=${PINGUARD_VM_CACHE:-$HOME/.cache/pinguard-vm}
ksrc=${PINGUARD_VM_KSRC:-/usr/src/linux-source-6.1.tar.xz}
jobs=${PINGUARD_VM_JOBS:-2}

key=$(cat "$patch_file" "$frag" | sha256sum | cut -c1-16)
image=$cache/bzImage-$key
force=0
for a in "$@"; do
	case $a in
	--print-key) echo "$key"; exit 0 ;;
	--force) force=1 ;;
	*) echo "usage: $0 [--print-key] [--force]" >&2; exit 2 ;;
	esac
done

log() { echo "build-kernel: $*" >&2; }

if [ -s "$image" ] && [ $force = 0 ]; then
	log "cached: $image"
	echo "$image"
	exit 0
fi
if [ ! -r "$ksrc" ]; then
	log "kernel source $ksrc not found (apt-get install linux-source-6.1)"
	exit 1
fi
for t in make gcc bc bison flex patch xz; do
	command -v $t >/dev/null || { log "missing tool: $t (apt-get install build-essential bc bison flex libelf-dev libssl-dev patch xz-utils)"; exit 1; }
done

mkdir -p "$cache"
# One build at a time per cache; a second caller waits, then finds the image.
exec 9>"$cache/.lock"
flock 9
if [ -s "$image" ] && [ $force = 0 ]; then echo "$image"; exit 0; fi

tree=$cache/linux-$key
# Trees of other keys are stale (patch or config changed): reclaim ~3 GB each.
for old in "$cache"/linux-*; do
	[ -d "$old" ] && [ "$old" != "$tree" ] && { log "removing stale $old"; rm -rf "$old"; }
done
for old in "$cache"/build-*.log; do
	[ -e "$old" ] && [ "$old" != "$cache/build-$key.log" ] && rm -f "$old"
done
if [ ! -f "$tree/.pinguard-patched" ]; then
	log "unpacking $ksrc into $tree"
	rm -rf "$tree" "$tree.tmp"
	mkdir -p "$tree.tmp"
	tar -xJf "$ksrc" -C "$tree.tmp" --strip-components=1
	patch -d "$tree.tmp" -p1 --forward --quiet < "$patch_file"
	touch "$tree.tmp/.pinguard-patched"
	mv "$tree.tmp" "$tree"
fi

cd "$tree"
log "configuring (defconfig + kvm_guest.config + lab.config)"
make -s defconfig >&2
make -s kvm_guest.config >&2
scripts/kconfig/merge_config.sh -m -O . .config "$frag" >&2
make -s olddefconfig >&2
# merge_config silently drops options whose dependencies are unmet: check.
missing=0
while read -r line; do
	case $line in
	CONFIG_*=y) grep -qx "$line" .config || { log "option not set: $line"; missing=1; } ;;
	"# CONFIG_"*" is not set") opt=${line#\# }; opt=${opt%% *}
		grep -q "^$opt=" .config && { log "option still set: $opt"; missing=1; } ;;
	esac
done < "$frag"
[ $missing = 0 ] || { log "config fragment not honoured"; exit 1; }

log "make -j$jobs bzImage in $tree (about 9 minutes on 2 cores)"
start=$(date +%s)
# make is incremental: retry to ride out transient failures (e.g. "virtual
# memory exhausted" when the machine is shared with memory-hungry tests).
: >"$cache/build-$key.log"
for attempt in 1 2 3 fail; do
	[ $attempt = fail ] && {
		tail -30 "$cache/build-$key.log" >&2
		log "build failed, full log: $cache/build-$key.log"
		exit 1
	}
	make -j"$jobs" bzImage >>"$cache/build-$key.log" 2>&1 && break
	log "make failed (attempt $attempt), retrying"
done
cp .config "$cache/config-$key"
cp arch/x86/boot/bzImage "$image.tmp"
mv "$image.tmp" "$image"
log "built in $(( $(date +%s) - start ))s: $image"
echo "$image"
