# Shell part of the lab's scenario helpers, sourced by the script scenarios
# (pglab-perftest.sh, pglab-ucxperf.sh); the C part is pglab-common.h.

# out RESULT [DETAIL...]: print the scenario's result line, the caller's
# det (with DETAILs appended) and mode_words, and exit: 77 for skip, 1 for
# error, else 0.
out() {
	local r=$1 m=
	shift
	for d in "$@"; do det+=,$d; done
	[ -n "${mode_words:-}" ] && m=" $mode_words"
	echo "result=$r detail=$det$m"
	[ "$r" = skip ] && exit 77
	[ "$r" = error ] && exit 1
	exit 0
}

# pglab_stats_words LOG: from the PINGUARD_STATS/PINGUARD_LOG file of a
# preloaded run, set mode_words ("mode= reason= kernel=") and append
# ",pins=N" to det. One stats line per process that exits (timeout(1) too):
# the tool's is the one with the most pins.
pglab_stats_words() {
	local log=$1 st m pins au k r
	[ -n "${LD_PRELOAD:-}" ] && [ -r "$log" ] || return 0
	st=$(grep 'stats: mode' "$log" |
		awk '{ n = $0; sub(/.*, pins /, "", n); n += 0; if (!l || n > m) { m = n; l = $0 } } END { print l }')
	m=$(sed -n 's/.*stats: mode \([a-z]*\),.*/\1/p' <<<"$st")
	pins=$(sed -n 's/.*, pins \([0-9]*\) .*/\1/p' <<<"$st")
	au=$(grep 'auto mode: kernel' "$log" | tail -1)
	if [ -n "$au" ]; then
		k=$(sed -n 's/.*kernel \([a-z]*\) (by \([a-z]*\)).*/\1/p' <<<"$au")
		r=$(sed -n 's/.*kernel [a-z]* (by \([a-z]*\)).*/\1/p' <<<"$au")
	else
		k=unknown r=configured
	fi
	[ -n "$m" ] && mode_words="mode=$m reason=$r kernel=$k"
	[ -n "$pins" ] && det+=",pins=$pins"
	return 0
}
