/* SPDX-License-Identifier: MIT */
/* Copying fork-time snapshots with both cores: the forking thread and one
 * helper thread, started at the first large copy (never at load). Safe in
 * the fork prepare path: futexes, no locks an application thread holds. */
#ifndef PG_COPIER_H
#define PG_COPIER_H

#include <stdbool.h>
#include <stddef.h>

struct pg_copy_job {
	void *dst;
	const void *src;
	size_t len;
};

/* Copy every job; returns when all bytes are in place. */
void pg_copy_run(const struct pg_copy_job *jobs, size_t n, size_t total);
/* Wake the helper thread, if there is one, to look at its timers again
 * (kept staging). */
void pg_copy_kick(void);
bool pg_copy_helper_running(void);
/* In a fork child: the helper thread does not exist there. */
void pg_copy_reset_child(void);

#endif
