/* SPDX-License-Identifier: MIT */
/* Registry of pinned pages: disjoint segments [start, end) with pin counts,
 * kept in a B+tree whose 512-byte nodes live in one index-addressed pool
 * (regbtree.c): a lookup among 100k segments touches 4 nodes. */
#ifndef PG_REGISTRY_H
#define PG_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state.h"	/* struct pg_registry, pg_node, pg_seg */

/* Walk callback over [start, end) pieces; return non-zero to stop. */
typedef int (*pg_walk_fn)(uintptr_t start, uintptr_t end,
			  const struct pg_seg *seg, void *arg);

/* Forget every segment, keeping the memory (no free: fork child). */
void pg_reg_reset(struct pg_registry *r);
/* Make room for the mutation of [start, end): -ENOMEM when impossible. */
int pg_reg_reserve_for(struct pg_registry *r, uintptr_t start, uintptr_t end);
/* One more pin on every page of [start, end). Call reserve first. */
void pg_reg_add(struct pg_registry *r, uintptr_t start, uintptr_t end,
		bool shortterm);
/* One pin less on every page; false (nothing changed) if a page in the
 * range is not pinned. Call reserve first. */
bool pg_reg_remove(struct pg_registry *r, uintptr_t start, uintptr_t end);
/* pin/unpin with their own reservation: 0, -ENOMEM, -ENOENT (unpin). */
int pg_reg_pin(struct pg_registry *r, uintptr_t start, uintptr_t end,
	       bool shortterm);
int pg_reg_unpin(struct pg_registry *r, uintptr_t start, uintptr_t end);
bool pg_reg_covered(const struct pg_registry *r, uintptr_t start,
		    uintptr_t end);
/* Segments overlapping [start, end), clipped to it, in address order. */
int pg_reg_walk(const struct pg_registry *r, uintptr_t start, uintptr_t end,
		pg_walk_fn fn, void *arg);
/* Unpinned holes of [start, end): seg is NULL for them. */
int pg_reg_walk_gaps(const struct pg_registry *r, uintptr_t start,
		     uintptr_t end, pg_walk_fn fn, void *arg);
/* Set or clear flag bits on every segment in [start, end). */
void pg_reg_set_flags(struct pg_registry *r, uintptr_t start, uintptr_t end,
		      uint8_t set, uint8_t clear);
const struct pg_seg *pg_reg_find(const struct pg_registry *r, uintptr_t addr);

static inline uint32_t pg_seg_pins(const struct pg_seg *s)
{
	return s->nlong + s->nshort;
}

#endif
