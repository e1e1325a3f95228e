#!/bin/sh
# Man page aliases for meson < 0.61 (no install_symlink): DIR then pairs
# of LINK TARGET, relative to the install prefix (DESTDIR honoured).
set -e
case "$1" in
/*) dir="${DESTDIR:-}$1" ;;
*) dir="$MESON_INSTALL_DESTDIR_PREFIX/$1" ;;
esac
shift
mkdir -p "$dir"
while [ $# -ge 2 ]; do
	ln -sf "$2" "$dir/$1"
	shift 2
done
