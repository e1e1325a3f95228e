#!/bin/sh
# SPDX-License-Identifier: MIT
# Build the libFuzzer harness of the registry with clang and run it.
#   fuzz/run.sh [SECONDS] [extra libFuzzer options...]
# New interesting inputs go to build-fuzz/corpus (fuzz/corpus/ is only
# read); a crasher is written to build-fuzz/crash-* : copy it to
# fuzz/corpus/ so that meson replays it in suite 'unit' (fuzz-corpus).
set -eu
cd "$(dirname "$0")/.."
secs=${1:-60}
[ $# -gt 0 ] && shift
command -v clang >/dev/null 2>&1 ||
	{ echo "SKIP: clang not installed (apt-get install clang)"; exit 77; }
out=build-fuzz
mkdir -p "$out/corpus"
# The library's headers include pg_config.h (which system headers have
# what: lib/compat.h) and pinguard.h (its version macros), both written
# by meson at configure time: take them from a configured build directory
# (PG_BUILDDIR, default build), or configure one of our own (no
# compilation).
cfg=${PG_BUILDDIR:-build}
if [ ! -r "$cfg/lib/pg_config.h" ] || [ ! -r "$cfg/include/pinguard.h" ]; then
	cfg=$out/meson
	if [ ! -r "$cfg/include/pinguard.h" ]; then
		rm -rf "$cfg"
		meson setup "$cfg" >/dev/null ||
			{ echo "fuzz: cannot configure $cfg with meson" >&2; exit 1; }
	fi
fi
clang -g -O1 -fno-omit-frame-pointer -D_GNU_SOURCE -DFUZZ_LIBFUZZER \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-Ilib -I"$cfg/lib" -I"$cfg/include" fuzz/fuzz_registry.c lib/registry.c \
	lib/regbtree.c -o "$out/fuzz_registry"
exec "$out/fuzz_registry" -max_total_time="$secs" -max_len=3001 \
	-artifact_prefix="$out/" -print_final_stats=1 "$@" \
	"$out/corpus" fuzz/corpus
