/* SPDX-License-Identifier: MIT */
/*
 * Pinned-page registry. Segments are disjoint and carry per-page pin
 * counts; neighbours with equal counts and flags are merged so that a
 * disjoint pinned range costs one 40-byte node. Nodes are addressed by
 * 32-bit index into one mremap()-grown pool, so growing never invalidates
 * links and the child of a fork can reset the pool without freeing.
 * No locking here: the caller holds the registry lock.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "registry.h"
#include "sys.h"

#define N(i) (r->pool[(i)])
#define POOL_MIN 256u

static uint32_t node_alloc(struct pg_registry *r)
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

static void node_free(struct pg_registry *r, uint32_t i)
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
static uint32_t find_le(const struct pg_registry *r, uintptr_t x)
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
static uint32_t find_ge(const struct pg_registry *r, uintptr_t x)
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
static void find_around(const struct pg_registry *r, uintptr_t x,
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

static uint32_t first_overlap(const struct pg_registry *r, uintptr_t x)
{
	uint32_t i = find_le(r, x);

	if (i != PG_NIL && N(i).end > x)
		return i;
	return find_ge(r, x);
}

static uint32_t next_seg(const struct pg_registry *r, uint32_t i)
{
	return find_ge(r, N(i).end);
}

static bool pinned_at(const struct pg_registry *r, uintptr_t page_end)
{
	uint32_t i = page_end ? find_le(r, page_end - 1) : PG_NIL;

	return i != PG_NIL && N(i).end >= page_end;
}

static bool pinned_from(const struct pg_registry *r, uintptr_t start)
{
	uint32_t i = find_ge(r, start);

	return i != PG_NIL && N(i).start == start;
}

static void tree_insert(struct pg_registry *r, uint32_t n)
{
	r->root = insert_at(r, r->root, n);
	r->nsegs++;
}

static void tree_remove(struct pg_registry *r, uint32_t i)
{
	r->root = remove_at(r, r->root, N(i).start);
	r->nsegs--;
	node_free(r, i);
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

static int pool_grow(struct pg_registry *r, uint32_t need)
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

int pg_reg_reserve_for(struct pg_registry *r, uintptr_t start, uintptr_t end)
{
	uint64_t need = 3, avail;
	uint32_t i;

	avail = r->pool ? (uint64_t)r->nfree + (r->cap - r->used) : 0;
	for (i = r->pool ? first_overlap(r, start) : PG_NIL;
	     i != PG_NIL && N(i).start < end && need <= avail;
	     i = next_seg(r, i))
		need++;
	if (avail >= need)
		return 0;
	for (; i != PG_NIL && N(i).start < end; i = next_seg(r, i))
		need++;
	if ((uint64_t)r->used + need > UINT32_MAX)
		return -ENOMEM;
	return pool_grow(r, (uint32_t)((r->pool ? r->used : 1) + need));
}

static void split_at(struct pg_registry *r, uintptr_t x)
{
	uint32_t i = find_le(r, x), n;

	if (i == PG_NIL || N(i).start == x || N(i).end <= x)
		return;
	n = node_alloc(r);
	N(n).start = x;
	N(n).end = N(i).end;
	N(n).nlong = N(i).nlong;
	N(n).nshort = N(i).nshort;
	N(n).flags = N(i).flags;
	N(i).end = x;
	tree_insert(r, n);
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
	uint32_t i = start ? find_le(r, start - 1) : PG_NIL, nx;

	if (i == PG_NIL || N(i).end != start)
		i = first_overlap(r, start);
	while (i != PG_NIL && N(i).start <= end) {
		nx = next_seg(r, i);
		if (nx != PG_NIL && N(nx).start == N(i).end &&
		    same_kind(&N(i), &N(nx))) {
			N(i).end = N(nx).end;
			tree_remove(r, nx);
			continue;
		}
		i = nx;
	}
}

static void insert_piece(struct pg_registry *r, uintptr_t s, uintptr_t e,
			 bool shortterm)
{
	uint32_t n = node_alloc(r);

	r->extents += 1 - pinned_at(r, s) - pinned_from(r, e);
	r->bytes += e - s;
	N(n).start = s;
	N(n).end = e;
	if (shortterm)
		N(n).nshort = 1;
	else
		N(n).nlong = 1;
	tree_insert(r, n);
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

	find_around(r, start, &p, &n, &up);

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
		tree_remove(r, n);
	} else if (lm) {
		N(p).end = end;
	} else if (rm) {
		N(n).start = start;	/* still between p and n's successor */
	} else {
		uint32_t x = node_alloc(r);

		N(x).start = start;
		N(x).end = end;
		N(x).nlong = !shortterm;
		N(x).nshort = shortterm;
		tree_insert(r, x);
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
		i = find_ge(r, cur);
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
	for (i = first_overlap(r, start); i != PG_NIL && cur < end;
	     i = next_seg(r, i)) {
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
	find_around(r, start - 1, &pred, &i, &up);
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
	tree_remove(r, i);
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
		i = find_ge(r, cur);
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
		tree_remove(r, i);
		r->bytes -= e - s;
		r->extents += pinned_at(r, s) + pinned_from(r, e);
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
	for (i = first_overlap(r, start); i != PG_NIL && N(i).start < end;
	     i = next_seg(r, i)) {
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
	uint32_t i = r->pool ? first_overlap(r, start) : PG_NIL;
	int ret;

	for (; i != PG_NIL && N(i).start < end; i = next_seg(r, i)) {
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
	for (i = first_overlap(r, start); i != PG_NIL && N(i).start < end;
	     i = next_seg(r, i))
		N(i).flags = (uint8_t)((N(i).flags & ~clear) | set);
	coalesce(r, start, end);
}

const struct pg_seg *pg_reg_find(const struct pg_registry *r, uintptr_t addr)
{
	uint32_t i = r->pool ? find_le(r, addr) : PG_NIL;

	return i != PG_NIL && N(i).end > addr ? &N(i) : NULL;
}
