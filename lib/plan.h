/* SPDX-License-Identifier: MIT */
/* copy mode's fork-time plan: which pinned pieces to snapshot, where the
 * staging copies live, and how parent and child finish the job. All three
 * run with pg_lock held by the forking thread. */
#ifndef PG_PLAN_H
#define PG_PLAN_H

#include <stdbool.h>

void pg_plan_init(void);
/* Plan the pieces and MADV_DONTFORK them. strict: refuse (-errno,
 * nothing left changed) when a pinned piece cannot be protected, instead
 * of forking with it unprotected (counted, logged). */
int pg_plan_protect(bool strict);
/* Undo pg_plan_protect (the registry changed before the fork). */
void pg_plan_unprotect(void);
/* Snapshot the planned pieces into staging memory for the child. */
void pg_plan_stage(void);
void pg_plan_copy_parent(void);
void pg_plan_copy_child(void);

#endif
