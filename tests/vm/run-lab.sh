#!/bin/bash
# pinguard unpatched-kernel lab: boot the fork_early_cow kernel under qemu
# (TCG) once per knob value, and stock Debian kernels (deb11: 5.10, deb12:
# 6.1) with an initramfs of ours, run every scenario x variant in each guest,
# parse the PGLAB lines from the serial console, print the matrix, and exit
#   0 all cells as expected (expected.txt), 1 unexpected/missing cell,
#   77 skipped (no qemu, no kernel, nothing to run), 2 usage.
# See README in this directory.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

usage() {
	cat <<EOF
usage: $0 [options]
  --builddir DIR    meson build dir (scenario executables in DIR/tests/vm,
                    library in DIR/lib); default: compile with gcc
  --lib PATH        libpinguard.so (default <builddir>/lib/libpinguard.so,
                    else $repo/build/lib/libpinguard.so)
  --kernel PATH     bzImage (default: find-kernel.sh)
  --build-kernel    build the kernel if none is found (~9 min)
  --list FILE       scenario list (default scenarios.list here; e.g.
                    middleware.list)
  --scenarios LIST  comma list or 'all' (default all of the list)
  --variants LIST   default none,api-{copy,dontfork,off,auto},
                    preload-{copy,dontfork,off,auto}
  --knobs LIST      fork_early_cow values to boot the knob kernel with
                    (default 0,1): kernels knob0, knob1
  --kernels LIST    lab kernels to boot, in order: knob0, knob1 (the knob
                    kernel), deb11, deb12 (stock Debian kernels, fetched by
                    kernel/fetch-stock-kernel.sh). Default: the knobs, plus
                    the stock kernels already in the cache unless --knobs
                    was given
  --stock           add deb11,deb12, fetching them if needed
  --workdir DIR     where binaries and console logs go
  --timeout SEC     per-boot timeout (default: 120 + 6 per cell)
  --strict          count skipped cells as failures
EOF
	exit 2
}

# Environment defaults (handy under meson test): PINGUARD_VM_SCENARIOS,
# PINGUARD_VM_VARIANTS, PINGUARD_VM_KNOBS, PINGUARD_VM_KERNELS,
# PINGUARD_VM_STOCK=1, PINGUARD_VM_STRICT=1, PINGUARD_VM_LIST.
listf=${PINGUARD_VM_LIST:-$here/scenarios.list}
builddir= lib= kernel= build_kernel= workdir= boot_tmo=
scen=${PINGUARD_VM_SCENARIOS:-all} knobs=${PINGUARD_VM_KNOBS:-0,1} strict=${PINGUARD_VM_STRICT:-0}
kernels=${PINGUARD_VM_KERNELS:-} stock=${PINGUARD_VM_STOCK:-0} knobs_given=${PINGUARD_VM_KNOBS:+1}
variants=${PINGUARD_VM_VARIANTS:-none,api-copy,api-dontfork,api-off,api-auto,preload-copy,preload-dontfork,preload-off,preload-auto}
while [ $# -gt 0 ]; do
	case $1 in
	--builddir) builddir=$(cd "$2" && pwd) || exit 2; shift ;;
	--lib) lib=$2; shift ;;
	--kernel) kernel=$2; shift ;;
	--build-kernel) build_kernel=--build ;;
	--list) listf=$2; shift ;;
	--scenarios) scen=$2; shift ;;
	--variants) variants=$2; shift ;;
	--knobs) knobs=$2; knobs_given=1; shift ;;
	--kernels) kernels=$2; shift ;;
	--stock) stock=1 ;;
	--workdir) workdir=$2; shift ;;
	--timeout) boot_tmo=$2; shift ;;
	--strict) strict=1 ;;
	*) usage ;;
	esac
	shift
done

say() { echo "vm-lab: $*" >&2; }
skip() { say "SKIP: $*"; exit 77; }
case $listf in /*) ;; *) [ -r "$listf" ] || listf=$here/$listf ;; esac
[ -r "$listf" ] || { say "no scenario list $listf"; exit 2; }

# --- which kernels: ids knob<K> (the knob kernel booted with
# fork_early_cow=K) and deb11/deb12 (stock Debian packages) -----------------
# --kernels words: "knob" = knob<K> for each --knobs value, "stock" = both
# stock kernels. By default the knob kernel, plus the stock kernels already
# fetched into the cache (a machine that has them runs them), unless --knobs
# narrowed the run to the knob kernel.
stock_ids=(deb11 deb12)
fetch=$here/kernel/fetch-stock-kernel.sh
if [ -z "$kernels" ]; then
	kernels=knob
	if [ -z "$knobs_given" ]; then
		for n in "${stock_ids[@]}"; do
			[ -f "$("$fetch" --print-dir "$n")/.pinguard-unpacked" ] && kernels+=,$n
		done
	fi
fi
[ "$stock" = 1 ] && kernels+=,stock
kids=()
for w in ${kernels//,/ }; do
	case $w in
	knob) for k in ${knobs//,/ }; do kids+=("knob$k"); done ;;
	stock) kids+=("${stock_ids[@]}") ;;
	knob[01]|deb11|deb12) kids+=("$w") ;;
	*) say "unknown kernel $w (knob0, knob1, deb11, deb12, knob, stock)"; usage ;;
	esac
done
# each id once, in the order given
mapfile -t kids < <(printf '%s\n' "${kids[@]}" | awk '!seen[$0]++')
kernels=$(IFS=,; echo "${kids[*]}")

# --- prerequisites: qemu and kernels, else skip (77) with the reason ------
qemu=$(command -v qemu-system-x86_64) || skip "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
declare -A kunavail=() kimage=() ktree=()
if [[ " ${kids[*]} " == *" knob"* ]]; then
	if [ -z "$kernel" ]; then
		kernel=$("$here/find-kernel.sh" $build_kernel)
		rc=$?
		[ $rc = 0 ] || [ $rc = 77 ] || { say "find-kernel.sh failed ($rc)"; exit 1; }
	fi
	for id in "${kids[@]}"; do
		[[ $id == knob* ]] || continue
		if [ -n "$kernel" ] && [ -r "$kernel" ]; then kimage[$id]=$kernel
		else kunavail[$id]="no knob kernel (find-kernel.sh: see above)"
		fi
	done
fi
for id in "${kids[@]}"; do
	[[ $id == deb* ]] || continue
	# Fetched once into the cache (apt-get download, private apt config);
	# offline, fetch-stock-kernel.sh exits 77 and this kernel's cells skip.
	tree=$("$fetch" "$id")
	rc=$?
	if [ $rc = 0 ] && [ -n "$tree" ]; then
		ktree[$id]=$tree
		kimage[$id]=$(ls "$tree"/boot/vmlinuz-* | head -1)
	else
		kunavail[$id]="stock kernel not fetched (fetch-stock-kernel.sh $id: rc $rc, see above)"
	fi
done

# --- work dir: must be on the host fs the guest sees (not a host tmpfs) ----
if [ -z "$workdir" ]; then
	if [ -n "$builddir" ]; then
		workdir=$builddir/tests/vm/lab
	elif [ "$(stat -f -c %T /tmp)" != tmpfs ]; then
		workdir=/tmp/pinguard-vm-lab.$(id -u)
	else
		workdir=$repo/build/vm-lab
	fi
fi
rm -rf "$workdir/bin"
mkdir -p "$workdir/bin" || exit 1
workdir=$(cd "$workdir" && pwd)

if [ -z "$lib" ]; then
	for l in ${builddir:+$builddir/lib/libpinguard.so} "$repo/build/lib/libpinguard.so"; do
		[ -e "$l" ] && { lib=$(readlink -f "$l"); break; }
	done
fi

# --- scenario binaries: from meson, or compiled here with gcc -------------
if [ -n "$builddir" ] && [ -d "$builddir/tests/vm" ]; then
	for f in "$builddir"/tests/vm/pglab-*; do
		[ -f "$f" ] && [ -x "$f" ] && cp "$f" "$workdir/bin/"
	done
fi
if [ -z "$(ls "$workdir/bin")" ]; then
	command -v gcc >/dev/null || skip "no gcc to build the scenarios"
	for src in "$here"/scenarios/pglab-*.c; do
		name=$(basename "$src" .c)
		libs=$(sed -n 's|.*pglab-libs: *\(.*\) \*/.*|\1|p' "$src" | head -1)
		# "pglab-cc: mpicc": another compiler driver; without it, not built
		cc=$(sed -n 's|.*pglab-cc: *\([^ ]*\) \*/.*|\1|p' "$src" | head -1)
		if [ -n "$cc" ]; then
			command -v "$cc" >/dev/null || { say "$name not built (no $cc)"; continue; }
			"$cc" -O2 -g -Wall -o "$workdir/bin/$name" "$src" ||
				{ say "cannot build $name with $cc"; exit 1; }
			continue
		fi
		# shellcheck disable=SC2086
		gcc -O2 -g -Wall -o "$workdir/bin/$name" "$src" $libs ||
			{ say "cannot build $name (missing -dev package?)"; exit 1; }
		# pinguard.h is generated (version macros): next to the
		# library's build tree, or the build directory's.
		hdr=
		[ -n "$lib" ] && for d in "$(dirname "$(dirname "$lib")")/include" \
			${builddir:+"$builddir/include"} "$repo/build/include"; do
			[ -r "$d/pinguard.h" ] && { hdr=$d; break; }
		done
		if [ -n "$hdr" ]; then
			libdir=$(dirname "$lib")
			# "pglab-api-srcs: PATH": a source of the project
			# (relative to scenarios/) the -api twin is built with
			api_src=$(sed -n 's|.*pglab-api-srcs: *\([^ ]*\) \*/.*|\1|p' "$src" | head -1)
			[ -n "$api_src" ] && api_src="$here/scenarios/$api_src"
			# shellcheck disable=SC2086
			gcc -O2 -g -Wall -DHAVE_PINGUARD -I"$hdr" -I"$repo/tools" \
				-o "$workdir/bin/$name-api" "$src" $api_src \
				-L"$libdir" -Wl,-rpath,"$libdir" -lpinguard $libs ||
				say "cannot build $name-api against $lib (api-* variants will skip)"
		fi
	done
fi
# The pinguard command (pglab-audit.sh): it finds the library through
# LD_LIBRARY_PATH=/run/pglab/lib in the guest.
[ -n "$builddir" ] && [ -x "$builddir/tools/pinguard" ] &&
	install -m 755 "$builddir/tools/pinguard" "$workdir/bin/pinguard"
# Script scenarios (shell, Python) run as they are, in every variant but api-*.
for f in "$here"/scenarios/pglab-*.sh "$here"/scenarios/pglab-*.py; do
	[ -f "$f" ] && install -m 755 "$f" "$workdir/bin/"
done
# The guest always reads <workdir>/scenarios.list: the chosen list.
cp "$listf" "$workdir/scenarios.list"
# The guest sees the library here (its /tmp is a tmpfs, and meson's rpath is
# relative to the build tree): api-* and preload-* load it from <workdir>/lib.
rm -rf "$workdir/lib"
if [ -n "$lib" ]; then
	mkdir -p "$workdir/lib"
	cp "$lib" "$workdir/lib/libpinguard.so.0"
	ln -s libpinguard.so.0 "$workdir/lib/libpinguard.so"
fi

# Stock kernels boot with an initramfs of ours (busybox-static, the virtio,
# 9p and RDMA modules of the package): built per run, it takes a second.
for id in "${!ktree[@]}"; do
	"$here/kernel/make-initramfs.sh" "${ktree[$id]}" "$workdir/initrd-$id.gz"
	rc=$?
	[ $rc = 0 ] || kunavail[$id]="no initramfs (make-initramfs.sh: rc $rc, see above)"
done
navail=0
for id in "${kids[@]}"; do
	if [ -n "${kunavail[$id]:-}" ]; then say "SKIP kernel $id: ${kunavail[$id]}"
	else navail=$((navail + 1))
	fi
done
[ $navail -gt 0 ] || skip "no lab kernel available among $kernels (see above)"

# --- variants we can actually run; the others are reported, not run ------
declare -A unavail=()
for v in ${variants//,/ }; do
	case $v in
	none) ;;
	api-*) ls "$workdir"/bin/*-api >/dev/null 2>&1 || unavail[$v]="no -api binaries (libpinguard not built: ${lib:-not found})" ;;
	preload-*)
		if [ -z "$lib" ]; then unavail[$v]="libpinguard.so not found"
		fi ;;
	*) say "unknown variant $v"; usage ;;
	esac
done
# preload-* needs the library to wrap what each program calls (the
# "pglab-interposes:" line of its source); the guest skips the others.
nopreload=
for src in "$here"/scenarios/pglab-*.c; do
	sym=$(sed -n 's|.*pglab-interposes: *\([a-z_0-9]*\).*|\1|p' "$src" | head -1)
	[ -n "$lib" ] && [ -n "$sym" ] && nm -D --defined-only "$lib" 2>/dev/null | grep -qw "$sym" && continue
	nopreload+=${nopreload:+,}$(basename "$src" .c)
done
[ -n "$nopreload" ] && [[ $variants == *preload-* ]] && say "preload-* variants skip for: $nopreload (no interposer in ${lib:-libpinguard})"
run_variants=
for v in ${variants//,/ }; do
	[ -n "${unavail[$v]:-}" ] && { say "variant $v not run: ${unavail[$v]}"; continue; }
	run_variants+=${run_variants:+,}$v
done

# scenario names, in list order; leading @variants=/@knobs=/@kernels=/
# @timeout= words of a list line restrict it (cells outside are '-', not run)
# or give it its own per-cell timeout in the guest.
mapfile -t scenarios < <(awk '!/^#/ && NF {print $1}' "$listf")
declare -A only_v=() only_k=() only_kern=() stmo=()
while read -r s _ a; do
	case $s in ''|'#'*) continue ;; esac
	set -f
	for w in $a; do
		case $w in
		@variants=*) only_v[$s]=${w#*=} ;;
		@knobs=*) only_k[$s]=${w#*=} ;;
		@kernels=*) only_kern[$s]=${w#*=} ;;
		@timeout=*) stmo[$s]=${w#*=} ;;
		@env=*) ;; # the guest sets it for the scenario's every cell
		*) break ;;
		esac
	done
	set +f
done < "$listf"
in_list() { # in_list WORD GLOBLIST
	local g
	set -f
	for g in ${2//,/ }; do
		# shellcheck disable=SC2053 # globs on purpose
		[[ $1 == $g ]] && { set +f; return 0; }
	done
	set +f
	return 1
}
listed() { # listed SCENARIO VARIANT KERNEL-ID: does scenarios.list run this cell?
	# @knobs= names knob values: it keeps the scenario to the knob kernel.
	local knob=missing
	[[ $3 == knob* ]] && knob=${3#knob}
	in_list "$2" "${only_v[$1]:-*}" && in_list "$knob" "${only_k[$1]:-*}" &&
		in_list "$3" "${only_kern[$1]:-*}"
}
if [ "$scen" != all ]; then
	sel=()
	for s in ${scen//,/ }; do
		printf '%s\n' "${scenarios[@]}" | grep -qx "$s" || { say "unknown scenario $s"; exit 2; }
		sel+=("$s")
	done
	scenarios=("${sel[@]}")
fi
[ "${#scenarios[@]}" -gt 0 ] || skip "no scenarios selected"
# per boot: 120 s + 6 s a cell (@timeout= cells: that); no cell, no boot
declare -A ncells=()
tmo_max=0
for id in "${kids[@]}"; do
	t=120 ncells[$id]=0
	[ -n "${kunavail[$id]:-}" ] && continue
	for s in "${scenarios[@]}"; do
		for v in ${run_variants//,/ }; do
			listed "$s" "$v" "$id" || continue
			t=$((t + ${stmo[$s]:-6})) ncells[$id]=$((ncells[$id] + 1))
		done
	done
	[ $t -gt $tmo_max ] && tmo_max=$t
done
[ -z "$boot_tmo" ] && boot_tmo=$tmo_max
[ -n "$run_variants" ] && [ "$(IFS=+; echo $(( ${ncells[*]} )))" = 0 ] &&
	skip "no cell to run (scenarios.list @variants/@knobs/@kernels exclude them all, or no kernel)"

# --- expected results (expected.txt, first matching rule wins) ------------
expect() { # expect SCENARIO VARIANT KERNEL-ID -> "result [key=value...]"
	local sg vg k r c
	while read -r sg vg k r c; do
		case $sg in ''|'#'*) continue ;; esac
		# shellcheck disable=SC2053 # globs on purpose
		[[ $1 == $sg && $2 == $vg && $3 == $k ]] && { echo "$r $c"; return; }
	done < "$here/expected.txt"
	echo "?"
}

# --- boot each kernel, one guest after the other --------------------------
# Not in parallel: under TCG each vCPU is a host thread, and two guests
# whose programs busy-poll (UCX, Open MPI ranks) on a 2-CPU host each ran
# 3-4x slower than alone (the middleware list took longer than in a row).
boot() { # boot ID: run the guest, leave its console in console-ID.log
	local id=$1 log=$workdir/console-$1.log cmdline start rc initrd=()
	cmdline="root=/dev/root rootfstype=9p rootflags=trans=virtio,version=9p2000.L,msize=262144,cache=loose ro"
	cmdline+=" console=ttyS0 loglevel=4 panic=-1 init=$here/guest-init.sh pglab.kern=$id"
	cmdline+=" pglab.dir=$workdir pglab.scen=$(IFS=,; echo "${scenarios[*]}") pglab.variants=$run_variants"
	cmdline+=" pglab.lib=${lib:+/run/pglab/lib/libpinguard.so.0} pglab.nopreload=${nopreload:--} pglab.timeout=60"
	case $id in
	knob*) cmdline+=" fork_early_cow=${id#knob}" ;;
	# stock: the initramfs loads virtio/9p/RDMA modules and mounts root=
	*) initrd=(-initrd "$workdir/initrd-$id.gz") ;;
	esac
	say "$id: booting $(basename "${kimage[$id]}") (timeout ${boot_tmo}s, log $log)"
	start=$(date +%s)
	timeout --foreground -s KILL "$boot_tmo" "$qemu" -accel tcg -cpu max -m 2G -smp 2 \
		-nographic -no-reboot -nic none -kernel "${kimage[$id]}" "${initrd[@]}" -append "$cmdline" \
		-fsdev local,id=root,path=/,security_model=none,readonly=on,multidevs=remap \
		-device virtio-9p-pci,fsdev=root,mount_tag=/dev/root \
		</dev/null >"$log" 2>&1
	rc=$?
	bootsec[$id]=$(( $(date +%s) - start ))
	say "$id: guest finished in ${bootsec[$id]}s (qemu rc=$rc)"
	tr -d '\r' <"$log" >"$log.tmp" && mv "$log.tmp" "$log"
}
declare -A bootsec=()
boot_ids=()
for id in "${kids[@]}"; do
	rm -f "$workdir/console-$id.log"
	[ -z "$run_variants" ] && continue
	[ -n "${kunavail[$id]:-}" ] && continue
	if [ "${ncells[$id]}" = 0 ]; then
		say "$id: no cell to run (scenarios.list @variants/@knobs/@kernels), not booting"
		continue
	fi
	boot_ids+=("$id")
done
for id in "${boot_ids[@]}"; do
	boot "$id"
done

declare -A got=() det=() ext=() secs=() ksecs=()
boot_fail=0
for id in "${boot_ids[@]}"; do
	log=$workdir/console-$id.log
	info=$(grep -a '^PGLAB-INFO' "$log" | tail -1)
	[ -n "$info" ] && say "${info#PGLAB-INFO }"
	if ! grep -aq "^PGLAB-END kern=$id\$" "$log"; then
		say "FAIL: no 'PGLAB-END kern=$id' on the console (timeout, panic or wrong knob); last lines:"
		grep -av '^PGLAB ' "$log" | tail -15 | sed 's/^/    /' >&2
		boot_fail=1
	fi
	grep -a '^PGLAB-STDERR' "$log" | head -20 | sed 's/^/    /' >&2
	while read -r _ s v kn res d x; do
		[ "$kn" = "kern=$id" ] || continue
		got[$s/$v/$id]=${res#result=}
		det[$s/$v/$id]=${d#detail=}
		ext[$s/$v/$id]=$x # "mode=.. reason=.. kernel=.." (pinguard loaded)
	done < <(grep -a '^PGLAB ' "$log")
	# PGLAB-TIME <scenario> <variant> kern=ID sec=S: guest seconds per cell
	while read -r _ s _ kn t; do
		[ "$kn" = "kern=$id" ] || continue
		secs[$s]=$(( ${secs[$s]:-0} + ${t#sec=} ))
		ksecs[$id]=$(( ${ksecs[$id]:-0} + ${t#sec=} ))
	done < <(grep -a '^PGLAB-TIME ' "$log")
done

# --- matrix ---------------------------------------------------------------
bad=0 skipped=0 cells=0 unlisted=0
declare -A skipwhy=() modes=()
# fields_ok "key=value..." DETAIL EXTRA: each rule field is one of the
# detail's comma-separated items (child=...) or an extra word (mode=...).
fields_ok() {
	local f
	for f in $1; do
		[[ ",$2," == *",$f,"* || " $3 " == *" $f "* ]] || return 1
	done
	return 0
}
# One column per variant; a cell is "<kernel 1>/<kernel 2>/..." in the order
# of the header (e.g. knob0/knob1/deb11/deb12), "!" marks a cell that differs
# from expected.txt.
short() { case $1 in coherent) echo ok ;; stale) echo STALE ;; skip) echo skip ;;
	error) echo ERR ;; crash) echo CRASH ;; *) echo "$1" ;; esac; }
w=$(printf '%s\n' "${scenarios[@]}" | awk '{ if (length > m) m = length } END { print m }')
cw=$(( 7 * ${#kids[@]} + 2 ))
[ $cw -lt 16 ] && cw=16
printf "\n%-${w}s" "kern=${kernels//,//}"
for v in ${variants//,/ }; do printf " %-${cw}s" "$v"; done
echo
report=
for s in "${scenarios[@]}"; do
	printf "%-${w}s" "$s"
	for v in ${variants//,/ }; do
		cell=
		for k in "${kids[@]}"; do
			cells=$((cells + 1))
			read -r er ec <<<"$(expect "$s" "$v" "$k")"
			r=${got[$s/$v/$k]:-} d=${det[$s/$v/$k]:-} x=${ext[$s/$v/$k]:-}
			[ -n "$x" ] && modes[$v kern=$k: $x]=$(( ${modes[$v kern=$k: $x]:-0} + 1 ))
			mark=
			if [ -n "${unavail[$v]:-}" ]; then
				r=-; skipped=$((skipped + 1))
			elif ! listed "$s" "$v" "$k"; then
				r=-; unlisted=$((unlisted + 1))
			elif [ -n "${kunavail[$k]:-}" ]; then
				# the kernel could not be had (offline fetch, no knob kernel)
				r=skip; skipped=$((skipped + 1))
				[ $strict = 1 ] && mark='!' && bad=$((bad + 1))
				skipwhy[$k: ${kunavail[$k]}]=$(( ${skipwhy[$k: ${kunavail[$k]}]:-0} + 1 ))
			elif [ -z "$r" ]; then
				r=MISSING mark='!'; bad=$((bad + 1))
				report+="  $s $v kern=$k: no PGLAB line\n"
			elif [ "$r" = skip ]; then
				skipped=$((skipped + 1))
				[ $strict = 1 ] && mark='!' && bad=$((bad + 1))
				skipwhy[$v: $d]=$(( ${skipwhy[$v: $d]:-0} + 1 ))
			elif [ "$er" = "?" ] || [ "$r" != "$er" ] || ! fields_ok "$ec" "$d" "$x"; then
				mark='!'; bad=$((bad + 1))
				report+="  $s $v kern=$k: got $r ($d${x:+ $x}), expected $er $ec\n"
			fi
			cell+=${cell:+/}$(short "$r")$mark
		done
		printf " %-${cw}s" "$cell"
	done
	echo
done
echo
[ -n "$report" ] && printf "unexpected:\n%b" "$report"
for w in "${!skipwhy[@]}"; do echo "  skipped ${skipwhy[$w]}x  $w"; done | sort -k4
# pinguard's mode decision as the programs saw it after their first pin.
[ ${#modes[@]} -gt 0 ] && echo "pinguard modes (cells):"
for w in "${!modes[@]}"; do printf "  %-22s %s (%d)\n" "${w%%:*}" "${w#*: }" "${modes[$w]}"; done | sort
# Where the guests' time went (PGLAB-TIME), slowest scenarios first.
if [ ${#secs[@]} -gt 0 ]; then
	echo "guest seconds per scenario (all its cells, slowest first):"
	for s in "${!secs[@]}"; do echo "${secs[$s]} $s"; done | sort -rn | head -8 |
		while read -r t s; do printf "  %5d  %s\n" "$t" "$s"; done
fi
# Per kernel: wall seconds of the whole guest (boot included), guest seconds
# in cells, and the kernel image.
for id in "${kids[@]}"; do
	if [ -n "${bootsec[$id]:-}" ]; then
		say "$id: ${bootsec[$id]}s wall, ${ksecs[$id]:-0}s in cells, $(basename "${kimage[$id]}")"
	elif [ -n "${kunavail[$id]:-}" ]; then
		say "$id: SKIPPED: ${kunavail[$id]}"
	fi
done
say "$cells cells, $bad unexpected, $skipped skipped/not run, $unlisted outside scenarios.list's @variants/@knobs/@kernels; logs in $workdir"
if [ $bad -gt 0 ] || [ $boot_fail = 1 ]; then
	say "FAIL"
	exit 1
fi
[ -z "$run_variants" ] && skip "no runnable variant"
# A kernel asked for but not had (stock kernel not fetched: offline) is not a
# pass: the run says SKIP (77) so meson shows it, after the cells it ran.
[ ${#kunavail[@]} -gt 0 ] && skip "kernels not available: ${!kunavail[*]} (the other kernels' cells were as expected)"
say "PASS"
exit 0
