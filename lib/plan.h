/* SPDX-License-Identifier: MIT */
/* copy mode's fork-time plan: which pinned pieces to snapshot, where the
 * staging copies live, and how parent and child finish the job. All three
 * run with pg_lock held by the forking thread. */
#ifndef PG_PLAN_H
#define PG_PLAN_H

void pg_plan_init(void);
void pg_plan_copy_prepare(void);
void pg_plan_copy_parent(void);
void pg_plan_copy_child(void);

#endif
