/* SPDX-License-Identifier: MIT */
/* Global state, the registry lock, and load-time set-up: read the
 * environment and install the fork hook. No system call happens here
 * unless the environment asks for a log file or holds a bad value. */
#include <stdlib.h>

#include "internal.h"

struct pg_global pg = {
	.magic = PG_STATE_MAGIC,
	.version = PG_STATE_VERSION,
	.size = sizeof(struct pg_global),
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.log_fd = 2,
};
/* Where `pinguard status` finds the state of a running process. */
const struct pg_global *const pinguard_state_v1 = &pg;
atomic_bool pg_active;
atomic_uint pg_unguarded_forks;
atomic_ulong pg_mm_gen;

/* Between an interposed fork()'s early prepare and the real fork, other
 * libraries' atfork prepare handlers run on this thread while it holds
 * the lock: let them in (a free() that munmaps, a pin) rather than
 * deadlock. */
/* initial-exec: pg_lock is on every pin's path (no __tls_get_addr call) */
static __thread unsigned t_nested __attribute__((tls_model("initial-exec")));
static __thread bool t_nested_seen __attribute__((tls_model("initial-exec")));

void pg_lock(void)
{
	if (pg_t_fork_early) {
		t_nested++;
		t_nested_seen = true;
		return;
	}
	pthread_mutex_lock(&pg.lock);
}

bool pg_lock_nested_since_fork(void)
{
	bool seen = t_nested_seen;

	t_nested_seen = false;
	return seen;
}

void pg_unlock(void)
{
	if (t_nested) {
		t_nested--;
		return;
	}
	pthread_mutex_unlock(&pg.lock);
}

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
	       pinguard_mode_name(pg.effective),
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
	pthread_atfork(pinguard_fork_prepare, pinguard_fork_parent,
		       pinguard_fork_child);
	if (pg.stats_at_exit)
		atexit(print_stats);
}
