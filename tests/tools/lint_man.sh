#!/bin/sh
# SPDX-License-Identifier: MIT
# Every man page renders without a warning: mandoc -Tlint -Wwarning and
# groff -ww must both stay silent (each is run when installed).
# Usage: lint_man.sh PAGE...
set -u
export LC_ALL=C
have_mandoc=0 have_groff=0
command -v mandoc >/dev/null 2>&1 && have_mandoc=1
command -v groff >/dev/null 2>&1 && have_groff=1
if [ $have_mandoc = 0 ] && [ $have_groff = 0 ]; then
	echo "SKIP: neither mandoc nor groff is installed"
	exit 77
fi
[ $# -gt 0 ] || { echo "FAIL: no pages given" >&2; exit 1; }
bad=0
for page in "$@"; do
	out=
	if [ $have_mandoc = 1 ]; then
		out=$(mandoc -Tlint -Wwarning "$page" 2>&1)
	fi
	if [ $have_groff = 1 ]; then
		out="$out$(groff -ww -man -z "$page" 2>&1)"
	fi
	# the section in .TH matches the file name
	sec=${page##*.}
	grep -Eq "^\.TH [A-Z_0-9]+ $sec " "$page" || out="$out
$page: .TH does not declare section $sec"
	if [ -n "$out" ]; then
		printf '%s\n' "$out" >&2
		bad=1
	else
		echo "ok: $page"
	fi
done
exit $bad
