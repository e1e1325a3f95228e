/* SPDX-License-Identifier: MIT */
/* A cached copy of /proc/self/maps, so that pinning a range the process
 * already had mapped costs no system call. Stale after munmap, mremap or
 * shmdt (pg_mm_gen moves); refreshed on a miss. Caller holds pg_lock. */
#ifndef PG_VMACACHE_H
#define PG_VMACACHE_H

#include "maps.h"

/* Re-read /proc/self/maps. 0 or -errno. */
int pg_vmacache_refresh(void);
void pg_vmacache_invalidate(void);
/* Check that [*start, *end) is mapped and widen it to the page size of
 * the mappings at its ends. 0, -EFAULT (a hole) or -errno. */
int pg_vmacache_check(uintptr_t *start, uintptr_t *end);
/* The VMAs covering the range of the last successful check (lock held,
 * until the next check or refresh). */
const struct pg_vma *pg_vmacache_last(size_t *n);
/* Widen to the page size of the mappings at the ends (unpin). */
void pg_vmacache_widen(uintptr_t *start, uintptr_t *end);
/* VMAs overlapping [start, end) from the last refresh, in order; *n set. */
const struct pg_vma *pg_vmacache_range(uintptr_t start, uintptr_t end,
				       size_t *n);
size_t pg_vmacache_count(void);

#endif
