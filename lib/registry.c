/* SPDX-License-Identifier: MIT */
/*
 * Pinned-page registry. Segments are disjoint and carry per-page pin
 * counts; neighbours with equal counts and flags are merged so that a
 * disjoint pinned range costs one 40-byte node (tree in regtree.c).
 * No locking here: the caller holds the registry lock.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "registry.h"
#include "regtree.h"

#define N(i) (r->pool[(i)])

int pg_reg_reserve_for(struct pg_registry *r, uintptr_t start, uintptr_t end)
{
	uint64_t need = 3, avail;
	uint32_t i;

	avail = r->pool ? (uint64_t)r->nfree + (r->cap - r->used) : 0;
	for (i = r->pool ? pg_rt_first_overlap(r, start) : PG_NIL;
	     i != PG_NIL && N(i).start < end && need <= avail;
	     i = pg_rt_next_seg(r, i))
		need++;
	if (avail >= need)
		return 0;
	for (; i != PG_NIL && N(i).start < end; i = pg_rt_next_seg(r, i))
		need++;
	if ((uint64_t)r->used + need > UINT32_MAX)
		return -ENOMEM;
	return pg_rt_pool_grow(r, (uint32_t)((r->pool ? r->used : 1) + need));
}

static void split_at(struct pg_registry *r, uintptr_t x)
{
	uint32_t i = pg_rt_find_le(r, x), n;

	if (i == PG_NIL || N(i).start == x || N(i).end <= x)
		return;
	n = pg_rt_node_alloc(r);
	N(n).start = x;
	N(n).end = N(i).end;
	N(n).nlong = N(i).nlong;
	N(n).nshort = N(i).nshort;
	N(n).flags = N(i).flags;
	N(i).end = x;
	pg_rt_tree_insert(r, n);
}

static bool same_kind(const struct pg_seg *a, const struct pg_seg *b)
{
	return a->nlong == b->nlong && a->nshort == b->nshort &&
	       a->flags == b->flags;
}

/* Merge equal neighbours from the segment ending at start through the
 * one beginning at end. */
static void coalesce(struct pg_registry *r, uintptr_t start, uintptr_t end)
{
	uint32_t i = start ? pg_rt_find_le(r, start - 1) : PG_NIL, nx;

	if (i == PG_NIL || N(i).end != start)
		i = pg_rt_first_overlap(r, start);
	while (i != PG_NIL && N(i).start <= end) {
		nx = pg_rt_next_seg(r, i);
		if (nx != PG_NIL && N(nx).start == N(i).end &&
		    same_kind(&N(i), &N(nx))) {
			N(i).end = N(nx).end;
			pg_rt_tree_remove(r, nx);
			continue;
		}
		i = nx;
	}
}

static void insert_piece(struct pg_registry *r, uintptr_t s, uintptr_t e,
			 bool shortterm)
{
	uint32_t n = pg_rt_node_alloc(r);

	r->extents += 1 - pg_rt_pinned_at(r, s) - pg_rt_pinned_from(r, e);
	r->bytes += e - s;
	N(n).start = s;
	N(n).end = e;
	if (shortterm)
		N(n).nshort = 1;
	else
		N(n).nlong = 1;
	pg_rt_tree_insert(r, n);
}

static bool is_single(const struct pg_seg *g, bool shortterm)
{
	return g->flags == 0 && g->nlong == !shortterm && g->nshort == shortterm;
}

/* The common case: nothing pinned inside [start, end). Extend a touching
 * neighbour with the same counts, or add one node. */
static bool add_disjoint(struct pg_registry *r, uintptr_t start, uintptr_t end,
			 bool shortterm)
{
	uint32_t p, n, up;
	bool left, right, lm, rm;

	pg_rt_find_around(r, start, &p, &n, &up);

	if ((p != PG_NIL && N(p).end > start) ||
	    (n != PG_NIL && N(n).start < end))
		return false;
	left = p != PG_NIL && N(p).end == start;
	right = n != PG_NIL && N(n).start == end;
	lm = left && is_single(&N(p), shortterm);
	rm = right && is_single(&N(n), shortterm);
	r->extents += 1 - left - right;
	r->bytes += end - start;
	if (lm && rm) {
		N(p).end = N(n).end;
		pg_rt_tree_remove(r, n);
	} else if (lm) {
		N(p).end = end;
	} else if (rm) {
		N(n).start = start;	/* still between p and n's successor */
	} else {
		uint32_t x = pg_rt_node_alloc(r);

		N(x).start = start;
		N(x).end = end;
		N(x).nlong = !shortterm;
		N(x).nshort = shortterm;
		pg_rt_tree_insert(r, x);
	}
	return true;
}

static void add_general(struct pg_registry *r, uintptr_t start, uintptr_t end,
			bool shortterm);

void pg_reg_add(struct pg_registry *r, uintptr_t start, uintptr_t end,
		bool shortterm)
{
	if (add_disjoint(r, start, end, shortterm))
		return;
	add_general(r, start, end, shortterm);
}

static void add_general(struct pg_registry *r, uintptr_t start, uintptr_t end,
			bool shortterm)
{
	uintptr_t cur = start;
	uint32_t i;

	split_at(r, start);
	split_at(r, end);
	while (cur < end) {
		i = pg_rt_find_ge(r, cur);
		if (i == PG_NIL || N(i).start >= end) {
			insert_piece(r, cur, end, shortterm);
			break;
		}
		if (N(i).start > cur)
			insert_piece(r, cur, N(i).start, shortterm);
		if (shortterm)
			N(i).nshort++;
		else
			N(i).nlong++;
		cur = N(i).end;
	}
	coalesce(r, start, end);
}

bool pg_reg_covered(const struct pg_registry *r, uintptr_t start,
		    uintptr_t end)
{
	uintptr_t cur = start;
	uint32_t i;

	if (!r->pool)
		return false;
	for (i = pg_rt_first_overlap(r, start); i != PG_NIL && cur < end;
	     i = pg_rt_next_seg(r, i)) {
		if (N(i).start > cur)
			return false;
		cur = N(i).end;
	}
	return cur >= end;
}

/* The common case: [start, end) is exactly one segment holding its last
 * pin. One walk finds it and both neighbours. */
static bool remove_exact(struct pg_registry *r, uintptr_t start, uintptr_t end)
{
	uint32_t pred, i, up, succ;

	if (!r->pool || !start)
		return false;
	pg_rt_find_around(r, start - 1, &pred, &i, &up);
	if (i == PG_NIL || N(i).start != start || N(i).end != end ||
	    pg_seg_pins(&N(i)) != 1)
		return false;
	succ = N(i).right;
	if (succ == PG_NIL)
		succ = up;
	else
		while (N(succ).left != PG_NIL)
			succ = N(succ).left;
	r->extents += (pred != PG_NIL && N(pred).end == start) +
		      (succ != PG_NIL && N(succ).start == end);
	r->extents -= 1;
	r->bytes -= end - start;
	pg_rt_tree_remove(r, i);
	return true;
}

int pg_reg_pin(struct pg_registry *r, uintptr_t start, uintptr_t end,
	       bool shortterm)
{
	int ret;

	/* the disjoint case needs one node at most */
	if (r->pool && r->nfree + (r->cap - r->used) >= 1 &&
	    add_disjoint(r, start, end, shortterm))
		return 0;
	ret = pg_reg_reserve_for(r, start, end);
	if (!ret)
		pg_reg_add(r, start, end, shortterm);
	return ret;
}

int pg_reg_unpin(struct pg_registry *r, uintptr_t start, uintptr_t end)
{
	if (remove_exact(r, start, end))
		return 0;
	if (!pg_reg_covered(r, start, end))
		return -ENOENT;
	if (pg_reg_reserve_for(r, start, end))
		return -ENOMEM;
	pg_reg_remove(r, start, end);
	return 0;
}

bool pg_reg_remove(struct pg_registry *r, uintptr_t start, uintptr_t end)
{
	uintptr_t cur = start, s, e;
	uint32_t i;

	if (remove_exact(r, start, end))
		return true;
	if (!pg_reg_covered(r, start, end))
		return false;
	split_at(r, start);
	split_at(r, end);
	while (cur < end) {
		i = pg_rt_find_ge(r, cur);
		cur = N(i).end;
		/* Short-term pins go first: the ambiguity resolves towards
		 * keeping long-term protection. */
		if (N(i).nshort)
			N(i).nshort--;
		else
			N(i).nlong--;
		if (pg_seg_pins(&N(i)))
			continue;
		s = N(i).start;
		e = N(i).end;
		pg_rt_tree_remove(r, i);
		r->bytes -= e - s;
		r->extents += pg_rt_pinned_at(r, s) + pg_rt_pinned_from(r, e);
		r->extents -= 1;
	}
	coalesce(r, start, end);
	return true;
}

int pg_reg_walk(const struct pg_registry *r, uintptr_t start, uintptr_t end,
		pg_walk_fn fn, void *arg)
{
	uint32_t i;
	int ret;

	if (!r->pool)
		return 0;
	for (i = pg_rt_first_overlap(r, start); i != PG_NIL && N(i).start < end;
	     i = pg_rt_next_seg(r, i)) {
		ret = fn(N(i).start > start ? N(i).start : start,
			 N(i).end < end ? N(i).end : end, &N(i), arg);
		if (ret)
			return ret;
	}
	return 0;
}

int pg_reg_walk_gaps(const struct pg_registry *r, uintptr_t start,
		     uintptr_t end, pg_walk_fn fn, void *arg)
{
	uintptr_t cur = start;
	uint32_t i = r->pool ? pg_rt_first_overlap(r, start) : PG_NIL;
	int ret;

	for (; i != PG_NIL && N(i).start < end; i = pg_rt_next_seg(r, i)) {
		if (N(i).start > cur) {
			ret = fn(cur, N(i).start, NULL, arg);
			if (ret)
				return ret;
		}
		cur = N(i).end;
	}
	return cur < end ? fn(cur, end, NULL, arg) : 0;
}

void pg_reg_set_flags(struct pg_registry *r, uintptr_t start, uintptr_t end,
		      uint8_t set, uint8_t clear)
{
	uint32_t i;

	split_at(r, start);
	split_at(r, end);
	for (i = pg_rt_first_overlap(r, start); i != PG_NIL && N(i).start < end;
	     i = pg_rt_next_seg(r, i))
		N(i).flags = (uint8_t)((N(i).flags & ~clear) | set);
	coalesce(r, start, end);
}

const struct pg_seg *pg_reg_find(const struct pg_registry *r, uintptr_t addr)
{
	uint32_t i = r->pool ? pg_rt_find_le(r, addr) : PG_NIL;

	return i != PG_NIL && N(i).end > addr ? &N(i) : NULL;
}
