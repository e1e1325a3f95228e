#!/bin/bash
# Build the lab's initramfs for a stock kernel unpacked by
# fetch-stock-kernel.sh: busybox-static as /bin/busybox, the modules the lab
# needs from the package's lib/modules/<kver> (with their modules.dep
# dependencies, in load order), and /init (below), as a gzip'd cpio newc.
#
#   make-initramfs.sh TREE OUT.cpio.gz
#
# Stock Debian kernels build virtio, 9p and the RDMA stack as modules, so the
# 9p root cannot be mounted without them; the host root has no
# /lib/modules (nothing to bind over, it is read-only), so the RDMA modules
# the guest uses (dummy, rxe and what it needs) are loaded here too, before
# switch_root. Exit 77 when busybox-static or cpio is missing.
set -euo pipefail

tree=$1 out=$2
log() { echo "make-initramfs: $*" >&2; }
bb=${PINGUARD_VM_BUSYBOX:-/bin/busybox}
# A dynamically linked busybox would need its libc in the initramfs too.
if [ ! -x "$bb" ] || ldd "$bb" >/dev/null 2>&1; then
	log "SKIP: no static busybox at $bb (apt-get install busybox-static)"; exit 77
fi
command -v cpio >/dev/null || { log "SKIP: no cpio (apt-get install cpio)"; exit 77; }
kver=$(basename "$(ls -d "$tree"/lib/modules/*/ | head -1)")
mdir=$tree/lib/modules/$kver
[ -r "$mdir/modules.dep" ] || { log "no $mdir/modules.dep (fetch-stock-kernel.sh runs depmod)"; exit 1; }

# Root fs: virtio_pci + 9pnet_virtio + 9p (netfs/fscache come as their
# dependencies). Guest: dummy0 netdev, soft-RoCE (rdma_rxe needs the crc32
# shash, crc32_generic, which modules.dep does not list), the uverbs and
# rdma_cm user interfaces. siw is not built in Debian's kernels
# (CONFIG_RDMA_SIW is not set), so it is not asked for.
want=(virtio_pci 9pnet_virtio 9p dummy crc32_generic ib_uverbs rdma_ucm rdma_rxe)

# modules.dep: "path/a.ko: path/dep1.ko path/dep2.ko" with each module's
# whole dependency closure, a module before what it needs; modprobe loads
# the list backwards. We do the same, recursively, each module once.
declare -A dep=() byname=() done_=()
while IFS= read -r line; do
	m=${line%%:*} d=${line#*:}
	dep[$m]=$d
	n=$(basename "$m"); n=${n%%.ko*}
	byname[${n//-/_}]=$m
done <"$mdir/modules.dep"
order=()
add() { # add PATH: its dependencies first, then itself
	local m=$1 d i
	[ -n "${done_[$m]:-}" ] && return
	done_[$m]=1
	read -ra d <<<"${dep[$m]}"
	for ((i = ${#d[@]} - 1; i >= 0; i--)); do add "${d[$i]}"; done
	order+=("$m")
}
for n in "${want[@]}"; do
	m=${byname[$n]:-}
	[ -n "$m" ] || { log "warning: $kver has no module $n (built in or absent)"; continue; }
	add "$m"
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work"/{bin,dev,proc,sys,newroot,modules}
cp "$bb" "$work/bin/busybox"
: >"$work/modules/order"
for m in "${order[@]}"; do
	f=$(basename "$m")
	case $f in
	*.ko.xz) xz -dc "$mdir/$m" >"$work/modules/${f%.xz}"; f=${f%.xz} ;;
	*.ko.zst) zstd -qdc "$mdir/$m" >"$work/modules/${f%.zst}"; f=${f%.zst} ;;
	*) cp "$mdir/$m" "$work/modules/$f" ;;
	esac
	echo "$f" >>"$work/modules/order"
done

# /init: mount the host root over 9p as the kernel itself would (root=,
# rootflags= from the command line), then hand over to init= (guest-init.sh).
cat >"$work/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r m; do
	insmod "/modules/$m" || echo "initramfs: insmod $m failed"
done </modules/order
root=/dev/root flags=ro init=/sbin/init
for w in $(cat /proc/cmdline); do
	case $w in
	root=*) root=${w#root=} ;;
	rootflags=*) flags=ro,${w#rootflags=} ;;
	init=*) init=${w#init=} ;;
	esac
done
if ! mount -t 9p -o "$flags" "$root" /newroot; then
	echo "initramfs: cannot mount $root (9p, $flags)"
	echo o >/proc/sysrq-trigger
fi
# guest-init.sh mounts /proc, /sys and /dev again on the new root.
umount /proc /sys /dev
exec switch_root /newroot "$init"
EOF
chmod 755 "$work/init"
(cd "$work" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -6 >"$out.tmp"
mv "$out.tmp" "$out"
log "$out: $kver, ${#order[@]} modules: $(sed 's/\.ko$//' "$work/modules/order" | tr '\n' ' ')"
