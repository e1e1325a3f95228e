#!/bin/bash
# SPDX-License-Identifier: MIT
# pglab-interposes: io_uring_register_buffers
# `pinguard audit` in the lab guest: two holders (pglab-hold), one on 4 KiB
# pages and one on a hugetlb page, each with an io_uring fixed buffer and an
# RDMA MR on rxe0, then the audit of both (without the variant's preload:
# the command observes, the holders carry the variant).
#
# result=stale: the audit says something is at risk (exit 5); coherent:
# nothing (exit 0); error otherwise. detail=: per holder and source,
# <source>_<mem>=<verdict> (safe, at_risk, unknown), by_<source>_<mem>=
# what protects it, why_<source>_<mem>= the reason of an unknown, rc=.
set -u
. "$(dirname "$0")/pglab-common.sh"
bin=$(cd "$(dirname "$0")" && pwd)
det=
[ -x "$bin/pinguard" ] || out skip no_pinguard_command
[ -x "$bin/pglab-hold" ] || out skip no_pglab_hold
tmp=$(mktemp -d /tmp/pglab-audit.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$tmp"' EXIT
for mem in 4k hugetlb; do
	"$bin/pglab-hold" --mem $mem --ready "$tmp/$mem" >"$tmp/$mem.out" 2>&1 &
	pids+=($!)
done
n=0
for mem in 4k hugetlb; do
	i=0
	while [ ! -f "$tmp/$mem" ]; do
		i=$((i + 1))
		if [ $i -gt 300 ] || ! kill -0 "${pids[$n]}" 2>/dev/null; then
			out error "hold_$mem:$(tr ' ,' '__' <"$tmp/$mem.out" | head -c 80)"
		fi
		sleep 0.1
	done
	n=$((n + 1))
done
grep -q '^mr ' "$tmp/4k" || det=no_mr,
env -u LD_PRELOAD -u PINGUARD_MODE LD_LIBRARY_PATH=/run/pglab/lib \
	"$bin/pinguard" audit --json "${pids[@]}" >"$tmp/audit.json" 2>"$tmp/audit.err"
rc=$?
cp "$tmp/audit.json" /tmp/pglab-audit-last.json 2>/dev/null
det+=$(python3 - "$tmp/audit.json" "${pids[0]}" "${pids[1]}" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
mem = {int(sys.argv[2]): "4k", int(sys.argv[3]): "hugetlb"}
src = {"io_uring": "uring", "rdma_mr": "mr"}
out = []
for p in d["processes"]:
    for r in p["ranges"]:
        k = "%s_%s" % (src[r["source"]], mem[p["pid"]])
        out.append("%s=%s" % (k, r["verdict"].replace(" ", "_")))
        out.append("by_%s=%s" % (k, r["protected_by"].replace(" ", "_")))
        if r["reason"]:
            out.append("why_%s=%s" % (k, r["reason"].replace(" ", "_")))
k = d["kernel"]["kinds"]
out.append("kernel=" + "/".join(k[x]["kernel"] for x in ("4k", "thp", "hugetlb")))
print(",".join(out))
PY
) || out error "json:$(head -c 80 "$tmp/audit.err" | tr ' ,' '__')"
det+=",rc=$rc"
case $rc in
0) out coherent ;;
5) out stale ;;
*) out error "err:$(head -c 80 "$tmp/audit.err" | tr ' ,' '__')" ;;
esac
