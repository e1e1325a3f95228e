/* SPDX-License-Identifier: MIT */
/* copy mode's staging memory: where a fork's snapshots are copied for the
 * child. Fresh, or kept from the last fork (see staging.c). Called with
 * the lock held, in the fork path. */
#ifndef PG_STAGING_H
#define PG_STAGING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PG_STAGING_KEEP_DEFAULT (64ul << 20)

/* Largest staging kept between forks (PINGUARD_KEEP_STAGING); 0: none. */
void pg_staging_set_keep_max(size_t bytes);
/* A private anonymous region with need bytes from *base (2 MiB aligned,
 * MADV_HUGEPAGE when need >= 2 MiB); *maplen is the whole mapping's
 * length. NULL (-errno in *err) when no memory could be mapped. */
void *pg_staging_get(size_t need, uintptr_t *base, size_t *maplen, int *err);
/* Parent after the fork: keep the region for the next fork (counted in
 * pg.cnt.staging_kept) if may_keep and need allows, or unmap it. 1 kept
 * (the caller wakes whoever calls pg_staging_expire), 0 unmapped, or
 * -errno of munmap. */
int pg_staging_put(void *map, size_t maplen, size_t need, bool may_keep);
/* The copy helper thread: when to call pg_staging_expire (CLOCK_MONOTONIC
 * ns; 0: nothing kept). No lock needed. */
uint64_t pg_staging_due_ns(void);
/* The copy helper thread, without the lock: unmap the kept region if it
 * went unused past its deadline. */
void pg_staging_expire(void);
/* Nothing is pinned any more: unmap what is kept. */
void pg_staging_drop(void);
/* In a fork child: unmap an inherited kept region this fork did not use. */
void pg_staging_reset_child(void);

#endif
