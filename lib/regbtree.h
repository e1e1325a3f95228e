/* SPDX-License-Identifier: MIT */
/* B+tree primitives shared by registry.c (see regbtree.c). Internal.
 * A struct pg_seg pointer stays valid until the next insert or delete. */
#ifndef PG_REGBTREE_H
#define PG_REGBTREE_H

#include "registry.h"

#define PG_BT_MAXH 16	/* a root split needs 40 children: h <= 8 */

/* Root-to-leaf path of a seek: node[0] is the root, node[h - 1] the leaf;
 * idx[k] is the child taken at node[k], and at the leaf the number of
 * segments with start <= x (where x would be inserted). */
struct pg_bt_path {
	uint32_t h;
	uint32_t node[PG_BT_MAXH];
	uint16_t idx[PG_BT_MAXH];
};

void pg_bt_seek(const struct pg_registry *r, uintptr_t x,
		struct pg_bt_path *p);
/* Around a seek of x: largest start <= x, smallest start > x. */
static inline struct pg_seg *pg_bt_pred(const struct pg_registry *r,
					const struct pg_bt_path *p)
{
	struct pg_node *l;
	uint32_t pos;

	if (!p->h)
		return NULL;
	l = &r->pool[p->node[p->h - 1]];
	pos = p->idx[p->h - 1];
	if (pos)
		return &l->seg[pos - 1];
	if (l->prev == PG_NIL)
		return NULL;
	l = &r->pool[l->prev];	/* leaves other than the root are never empty */
	return &l->seg[l->n - 1];
}

static inline struct pg_seg *pg_bt_succ(const struct pg_registry *r,
					const struct pg_bt_path *p)
{
	struct pg_node *l;
	uint32_t pos;

	if (!p->h)
		return NULL;
	l = &r->pool[p->node[p->h - 1]];
	pos = p->idx[p->h - 1];
	if (pos < l->n)
		return &l->seg[pos];
	return l->next != PG_NIL ? &r->pool[l->next].seg[0] : NULL;
}

struct pg_seg *pg_bt_le(const struct pg_registry *r, uintptr_t x);
struct pg_seg *pg_bt_ge(const struct pg_registry *r, uintptr_t x);
/* The segment holding x, else the first one after it. */
struct pg_seg *pg_bt_first_overlap(const struct pg_registry *r, uintptr_t x);
struct pg_seg *pg_bt_next(const struct pg_registry *r, const struct pg_seg *s);
/* Insert v where p (a seek of v->start) says; reserve() made room. */
void pg_bt_insert_at(struct pg_registry *r, const struct pg_bt_path *p,
		     const struct pg_seg *v);
void pg_bt_insert(struct pg_registry *r, const struct pg_seg *v);
/* Delete the segment at the leaf position p->idx[h - 1]. */
void pg_bt_delete_at(struct pg_registry *r, const struct pg_bt_path *p);
void pg_bt_delete(struct pg_registry *r, uintptr_t start);
/* s = pg_bt_succ(p) gets the lower start x (> its predecessor's end). */
void pg_bt_lower_succ(struct pg_registry *r, const struct pg_bt_path *p,
		      struct pg_seg *s, uintptr_t x);
/* Nodes that inserting nseg segments may need. */
uint64_t pg_bt_nodes_for(const struct pg_registry *r, uint64_t nseg);
int pg_bt_pool_grow(struct pg_registry *r, uint64_t need);
/* Empty the tree; keeps the pool mapping (safe in a fork child). */
void pg_bt_clear(struct pg_registry *r);

static inline bool pg_bt_pinned_at(const struct pg_registry *r,
				   uintptr_t page_end)
{
	const struct pg_seg *s = page_end ? pg_bt_le(r, page_end - 1) : NULL;

	return s && s->end >= page_end;
}

static inline bool pg_bt_pinned_from(const struct pg_registry *r,
				     uintptr_t start)
{
	const struct pg_seg *s = pg_bt_le(r, start);

	return s && s->start == start;
}

#endif
