/* SPDX-License-Identifier: MIT */
/* Process start-up: read the environment, install the fork hook, and
 * print the statistics at exit when PINGUARD_STATS asks. The top of the
 * library: nothing calls into this file. No system call happens here
 * unless the environment asks for a log file or holds a bad value. */
#include <stdlib.h>

#include "internal.h"
#include "names.h"
#include "staging.h"

static void print_stats(void)
{
	struct pinguard_stats s;

	if (pinguard_get_stats(&s, sizeof(s)))
		return;
	pg.log_level = pg.log_level > PG_LOG_INFO ? pg.log_level : PG_LOG_INFO;
	pg_log(PG_LOG_INFO, "stats: mode %s, pins %lu (active %lu), ranges %lu, "
	       "bytes %lu, forks seen %lu guarded %lu, copied %lu bytes, "
	       "dontfork ranges %lu, fork errors %lu, fork time %lu us, "
	       "write-protected pins %lu",
	       pg_name_of(pg_mode_names, pg.effective),
	       (unsigned long)s.pins_total, (unsigned long)s.active_pins,
	       (unsigned long)s.pinned_ranges, (unsigned long)s.pinned_bytes,
	       (unsigned long)s.forks_seen, (unsigned long)s.forks_guarded,
	       (unsigned long)s.bytes_copied, (unsigned long)s.ranges_dontfork,
	       (unsigned long)s.fork_errors,
	       (unsigned long)(s.fork_ns / 1000),
	       (unsigned long)s.pinned_wrprotects);
}

/* Runs before the application's constructors, so our atfork handlers are
 * registered first: prepare handlers run in reverse order, which puts ours
 * after the application's own, and our child handler runs first. */
__attribute__((constructor(101))) static void pg_init(void)
{
	pg_config_from_env();
	pg_staging_set_keep_max(pg_env_size("PINGUARD_KEEP_STAGING",
					    PG_STAGING_KEEP_DEFAULT));
	pthread_atfork(pinguard_fork_prepare, pinguard_fork_parent,
		       pinguard_fork_child);
	if (pg.stats_at_exit)
		atexit(print_stats);
}
