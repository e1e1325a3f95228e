/* SPDX-License-Identifier: MIT */
/* Tree primitives shared by registry.c (see regtree.c). Internal. */
#ifndef PG_REGTREE_H
#define PG_REGTREE_H

#include "registry.h"

uint32_t pg_rt_node_alloc(struct pg_registry *r);
void pg_rt_node_free(struct pg_registry *r, uint32_t i);
/* Segment with the largest start <= x / the smallest start >= x. */
uint32_t pg_rt_find_le(const struct pg_registry *r, uintptr_t x);
uint32_t pg_rt_find_ge(const struct pg_registry *r, uintptr_t x);
/* One walk: largest start <= x, smallest start > x, and the latter's
 * nearest larger ancestor (its successor when it has no right child). */
void pg_rt_find_around(const struct pg_registry *r, uintptr_t x,
		       uint32_t *fl, uint32_t *ce, uint32_t *ce_up);
uint32_t pg_rt_first_overlap(const struct pg_registry *r, uintptr_t x);
uint32_t pg_rt_next_seg(const struct pg_registry *r, uint32_t i);
/* Is the page ending at page_end / starting at start pinned? */
bool pg_rt_pinned_at(const struct pg_registry *r, uintptr_t page_end);
bool pg_rt_pinned_from(const struct pg_registry *r, uintptr_t start);
void pg_rt_tree_insert(struct pg_registry *r, uint32_t n);
void pg_rt_tree_remove(struct pg_registry *r, uint32_t i);
int pg_rt_pool_grow(struct pg_registry *r, uint32_t need);

#endif
