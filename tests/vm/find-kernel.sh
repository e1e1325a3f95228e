#!/bin/bash
# Print the lab kernel (bzImage) to boot, first found wins:
#   $PINGUARD_VM_KERNEL; <repo>/../shared/vm/bzImage (prebuilt fixture);
#   the cached build of kernel/build-kernel.sh for the current patch+config;
#   with --build, build it now (about 9 minutes).
# Exit 77 (with a reason on stderr) when no kernel is available.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
build=0
[ "${1:-}" = --build ] && build=1

if [ -n "${PINGUARD_VM_KERNEL:-}" ]; then
	[ -r "$PINGUARD_VM_KERNEL" ] || { echo "find-kernel: PINGUARD_VM_KERNEL=$PINGUARD_VM_KERNEL is not readable" >&2; exit 1; }
	echo "$PINGUARD_VM_KERNEL"; exit 0
fi
shared=$repo_root/../shared/vm/bzImage
if [ -r "$shared" ]; then
	(cd "$(dirname "$shared")" && echo "$(pwd)/bzImage"); exit 0
fi
cache=${PINGUARD_VM_CACHE:-$HOME/.cache/pinguard-vm}
key=$("$here/kernel/build-kernel.sh" --print-key)
if [ -s "$cache/bzImage-$key" ]; then
	echo "$cache/bzImage-$key"; exit 0
fi
if [ $build = 1 ]; then
	exec "$here/kernel/build-kernel.sh"
fi
echo "find-kernel: no lab kernel (no \$PINGUARD_VM_KERNEL, no $shared, no $cache/bzImage-$key); run tests/vm/kernel/build-kernel.sh or pass --build-kernel" >&2
exit 77
