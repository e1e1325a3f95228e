/* SPDX-License-Identifier: MIT */
/*
 * The registry's tree: an AVL tree of segments keyed by start address,
 * whose nodes live in one pool addressed by 32-bit index. Growing the
 * pool (mremap) never invalidates links, the child of a fork can reset
 * it without freeing, and deletion relinks nodes instead of copying them,
 * so an index held across a change stays valid. Caller holds the lock.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "regtree.h"
#include "sys.h"

#define N(i) (r->pool[(i)])
#define POOL_MIN 256u

uint32_t pg_rt_node_alloc(struct pg_registry *r)
{
	uint32_t i = r->free_head;

	if (i != PG_NIL) {
		r->free_head = N(i).left;
		r->nfree--;
	} else {
		i = r->used++;	/* reserve() guaranteed room */
	}
	memset(&N(i), 0, sizeof(N(i)));
	N(i).height = 1;
	return i;
}

void pg_rt_node_free(struct pg_registry *r, uint32_t i)
{
	N(i).left = r->free_head;
	r->free_head = i;
	r->nfree++;
}

static int height(const struct pg_registry *r, uint32_t i)
{
	return i == PG_NIL ? 0 : N(i).height;
}

static void update(struct pg_registry *r, uint32_t i)
{
	int hl = height(r, N(i).left), hr = height(r, N(i).right);

	N(i).height = (uint8_t)(1 + (hl > hr ? hl : hr));
}

static uint32_t rot_right(struct pg_registry *r, uint32_t y)
{
	uint32_t x = N(y).left;

	N(y).left = N(x).right;
	N(x).right = y;
	update(r, y);
	update(r, x);
	return x;
}

static uint32_t rot_left(struct pg_registry *r, uint32_t x)
{
	uint32_t y = N(x).right;

	N(x).right = N(y).left;
	N(y).left = x;
	update(r, x);
	update(r, y);
	return y;
}

static uint32_t rebalance(struct pg_registry *r, uint32_t i)
{
	int bf;

	update(r, i);
	bf = height(r, N(i).left) - height(r, N(i).right);
	if (bf > 1) {
		uint32_t l = N(i).left;

		if (height(r, N(l).left) < height(r, N(l).right))
			N(i).left = rot_left(r, l);
		return rot_right(r, i);
	}
	if (bf < -1) {
		uint32_t rr = N(i).right;

		if (height(r, N(rr).right) < height(r, N(rr).left))
			N(i).right = rot_right(r, rr);
		return rot_left(r, i);
	}
	return i;
}

static uint32_t insert_at(struct pg_registry *r, uint32_t i, uint32_t n)
{
	if (i == PG_NIL)
		return n;
	if (N(n).start < N(i).start)
		N(i).left = insert_at(r, N(i).left, n);
	else
		N(i).right = insert_at(r, N(i).right, n);
	return rebalance(r, i);
}

static uint32_t remove_min(struct pg_registry *r, uint32_t i, uint32_t *min)
{
	if (N(i).left == PG_NIL) {
		*min = i;
		return N(i).right;
	}
	N(i).left = remove_min(r, N(i).left, min);
	return rebalance(r, i);
}

/* Unlinks the node keyed start; relinks rather than copies, so the
 * indices of all other nodes stay valid. */
static uint32_t remove_at(struct pg_registry *r, uint32_t i, uintptr_t start)
{
	uint32_t l, rr, m;

	if (i == PG_NIL)
		return PG_NIL;
	if (start < N(i).start) {
		N(i).left = remove_at(r, N(i).left, start);
	} else if (start > N(i).start) {
		N(i).right = remove_at(r, N(i).right, start);
	} else {
		l = N(i).left;
		rr = N(i).right;
		if (rr == PG_NIL)
			return l;
		rr = remove_min(r, rr, &m);
		N(m).left = l;
		N(m).right = rr;
		return rebalance(r, m);
	}
	return rebalance(r, i);
}

/* Segment with the largest start <= x. */
uint32_t pg_rt_find_le(const struct pg_registry *r, uintptr_t x)
{
	uint32_t i = r->root, best = PG_NIL;

	while (i != PG_NIL) {
		if (N(i).start <= x) {
			best = i;
			i = N(i).right;
		} else {
			i = N(i).left;
		}
	}
	return best;
}

/* Segment with the smallest start >= x. */
uint32_t pg_rt_find_ge(const struct pg_registry *r, uintptr_t x)
{
	uint32_t i = r->root, best = PG_NIL;

	while (i != PG_NIL) {
		if (N(i).start >= x) {
			best = i;
			i = N(i).left;
		} else {
			i = N(i).right;
		}
	}
	return best;
}

/* One walk: *fl = largest start <= x, *ce = smallest start > x, and
 * *ce_up = the smallest start > x among ce's ancestors (ce's successor
 * when ce has no right subtree). */
void pg_rt_find_around(const struct pg_registry *r, uintptr_t x,
			uint32_t *fl, uint32_t *ce, uint32_t *ce_up)
{
	uint32_t i = r->root;

	*fl = *ce = *ce_up = PG_NIL;
	while (i != PG_NIL) {
		if (N(i).start <= x) {
			*fl = i;
			i = N(i).right;
		} else {
			*ce_up = *ce;
			*ce = i;
			i = N(i).left;
		}
	}
}

uint32_t pg_rt_first_overlap(const struct pg_registry *r, uintptr_t x)
{
	uint32_t i = pg_rt_find_le(r, x);

	if (i != PG_NIL && N(i).end > x)
		return i;
	return pg_rt_find_ge(r, x);
}

uint32_t pg_rt_next_seg(const struct pg_registry *r, uint32_t i)
{
	return pg_rt_find_ge(r, N(i).end);
}

bool pg_rt_pinned_at(const struct pg_registry *r, uintptr_t page_end)
{
	uint32_t i = page_end ? pg_rt_find_le(r, page_end - 1) : PG_NIL;

	return i != PG_NIL && N(i).end >= page_end;
}

bool pg_rt_pinned_from(const struct pg_registry *r, uintptr_t start)
{
	uint32_t i = pg_rt_find_ge(r, start);

	return i != PG_NIL && N(i).start == start;
}

void pg_rt_tree_insert(struct pg_registry *r, uint32_t n)
{
	r->root = insert_at(r, r->root, n);
	r->nsegs++;
}

void pg_rt_tree_remove(struct pg_registry *r, uint32_t i)
{
	r->root = remove_at(r, r->root, N(i).start);
	r->nsegs--;
	pg_rt_node_free(r, i);
}

void pg_reg_reset(struct pg_registry *r)
{
	/* Keeps the pool mapping: safe in a fork child, no free(). */
	r->used = 1;
	r->free_head = PG_NIL;
	r->nfree = 0;
	r->root = PG_NIL;
	r->nsegs = r->extents = r->bytes = 0;
}

int pg_rt_pool_grow(struct pg_registry *r, uint32_t need)
{
	uint64_t cap = r->cap ? r->cap : POOL_MIN;
	void *p;

	while (cap < need)
		cap *= 2;
	if (cap > UINT32_MAX)
		return -ENOMEM;
	if (!r->pool)
		p = pg_sys_alloc(cap * sizeof(struct pg_seg));
	else
		p = pg_sys_mremap(r->pool, r->cap * sizeof(struct pg_seg),
				  cap * sizeof(struct pg_seg), MREMAP_MAYMOVE,
				  NULL);
	if (p == MAP_FAILED)
		return -ENOMEM;
	if (!r->pool) {
		r->pool = p;
		r->cap = (uint32_t)cap;
		pg_reg_reset(r);
		memset(&r->pool[0], 0, sizeof(r->pool[0]));
		return 0;
	}
	r->pool = p;
	r->cap = (uint32_t)cap;
	return 0;
}
