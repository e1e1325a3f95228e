/* SPDX-License-Identifier: MIT */
/* The global state and its lock: the bottom of the library (it calls no
 * other file). Process start-up is init.c's. */
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
__thread bool pg_t_fork_early __attribute__((tls_model("initial-exec")));

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
