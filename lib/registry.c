/* SPDX-License-Identifier: MIT */
/*
 * Pinned-page registry. Segments are disjoint and carry per-page pin
 * counts; neighbours with equal counts and flags are merged so that a
 * disjoint pinned range costs one 32-byte segment in a B+tree leaf
 * (regbtree.c). Segment pointers die with each insert or delete, so the
 * general paths find segments again by address.
 * No locking here: the caller holds the registry lock.
 */
#include <errno.h>
#include <string.h>

#include "registry.h"
#include "regbtree.h"

int pg_reg_reserve_for(struct pg_registry *r, uintptr_t start, uintptr_t end)
{
	uint64_t nseg = 3, avail;
	const struct pg_seg *s;

	/* at most one new segment per overlapped one, plus 3 */
	avail = r->pool ? (uint64_t)r->nfree + (r->cap - r->used) : 0;
	for (s = r->pool ? pg_bt_first_overlap(r, start) : NULL;
	     s && s->start < end && pg_bt_nodes_for(r, nseg) <= avail;
	     s = pg_bt_next(r, s))
		nseg++;
	if (pg_bt_nodes_for(r, nseg) <= avail)
		return 0;
	for (; s && s->start < end; s = pg_bt_next(r, s))
		nseg++;
	if ((r->pool ? r->used : 1) + pg_bt_nodes_for(r, nseg) > UINT32_MAX)
		return -ENOMEM;
	return pg_bt_pool_grow(r, (r->pool ? r->used : 1) +
			       pg_bt_nodes_for(r, nseg));
}

void pg_reg_reset(struct pg_registry *r)
{
	pg_bt_clear(r);
}

static void split_at(struct pg_registry *r, uintptr_t x)
{
	struct pg_seg *s = pg_bt_le(r, x), v;

	if (!s || s->start == x || s->end <= x)
		return;
	v = *s;
	v.start = x;
	s->end = x;
	pg_bt_insert(r, &v);
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
	struct pg_seg *s = start ? pg_bt_le(r, start - 1) : NULL, *nx;
	uintptr_t at;

	if (!s || s->end != start)
		s = pg_bt_first_overlap(r, start);
	while (s && s->start <= end) {
		nx = pg_bt_next(r, s);
		if (nx && nx->start == s->end && same_kind(s, nx)) {
			at = s->start;
			s->end = nx->end;
			pg_bt_delete(r, nx->start);
			s = pg_bt_le(r, at);
			continue;
		}
		s = nx;
	}
}

static void insert_piece(struct pg_registry *r, uintptr_t s, uintptr_t e,
			 bool shortterm)
{
	struct pg_seg v = { s, e, !shortterm, shortterm, 0 };

	r->extents += 1 - pg_bt_pinned_at(r, s) - pg_bt_pinned_from(r, e);
	r->bytes += e - s;
	pg_bt_insert(r, &v);
}

static bool is_single(const struct pg_seg *g, bool shortterm)
{
	return g->flags == 0 && g->nlong == !shortterm && g->nshort == shortterm;
}

/* Remember where the segment starting at start went (p: the seek that
 * placed it), unless a split moved it out of that slot. */
static void note_hint(struct pg_registry *r, const struct pg_bt_path *p,
		      uintptr_t start)
{
	uint32_t leaf = p->h ? p->node[p->h - 1] : r->root;
	uint32_t pos = p->h ? p->idx[p->h - 1] : 0;
	const struct pg_node *l = &r->pool[leaf];

	if (pos < l->n && l->seg[pos].start == start) {
		r->hint_leaf = leaf;
		r->hint_pos = pos;
		r->hint_mods = r->mods;
	}
}

/* The path a seek of start would give, without seeking: a one-level path
 * to the slot of the last disjoint pin, when it still holds the segment
 * that starts at start (nothing was inserted or deleted since) and a
 * delete there cannot need a merge, which would need the whole path:
 * pg_bt_delete_at() on it only shifts the leaf (h == 1), which keeps more
 * than PG_LEAF_SEGS / 2 segments (as the root, at least one). */
static bool hint_path(const struct pg_registry *r, uintptr_t start,
		      struct pg_bt_path *p)
{
	const struct pg_node *l = &r->pool[r->hint_leaf];
	uint32_t pos = r->hint_pos;

	if (r->hint_mods != r->mods || !r->hint_leaf || pos >= l->n ||
	    l->seg[pos].start != start)
		return false;
	if (r->height == 1 ? l->n < 2 : l->n - 1u <= PG_LEAF_SEGS / 2)
		return false;
	p->h = 1;
	p->node[0] = r->hint_leaf;
	p->idx[0] = (uint16_t)(pos + 1);
	return true;
}

/* The common case: nothing pinned inside [start, end). One seek finds
 * both neighbours and the leaf slot: extend a touching neighbour with the
 * same counts, or add one segment there. */
static bool add_disjoint(struct pg_registry *r, uintptr_t start, uintptr_t end,
			 bool shortterm)
{
	struct pg_bt_path path;
	struct pg_seg *p, *n;
	bool left, right, lm, rm;

	pg_bt_seek(r, start, &path);
	p = pg_bt_pred(r, &path);
	n = pg_bt_succ(r, &path);
	if ((p && p->end > start) || (n && n->start < end))
		return false;
	left = p && p->end == start;
	right = n && n->start == end;
	lm = left && is_single(p, shortterm);
	rm = right && is_single(n, shortterm);
	r->extents += 1 - left - right;
	r->bytes += end - start;
	if (lm && rm) {
		p->end = n->end;
		if (path.idx[path.h - 1] < r->pool[path.node[path.h - 1]].n)
			pg_bt_delete_at(r, &path);	/* n is in this leaf */
		else
			pg_bt_delete(r, n->start);
	} else if (lm) {
		p->end = end;
	} else if (rm) {
		pg_bt_lower_succ(r, &path, n, start);
	} else {
		struct pg_seg v = { start, end, !shortterm, shortterm, 0 };

		pg_bt_insert_at(r, &path, &v);
		note_hint(r, &path, start);
	}
	return true;
}

static void add_general(struct pg_registry *r, uintptr_t start, uintptr_t end,
			bool shortterm)
{
	uintptr_t cur = start, at;
	struct pg_seg *s;

	split_at(r, start);
	split_at(r, end);
	while (cur < end) {
		s = pg_bt_ge(r, cur);
		if (!s || s->start >= end) {
			insert_piece(r, cur, end, shortterm);
			break;
		}
		if (s->start > cur) {
			at = s->start;
			insert_piece(r, cur, at, shortterm);
			s = pg_bt_le(r, at);
		}
		if (shortterm)
			s->nshort++;
		else
			s->nlong++;
		cur = s->end;
	}
	coalesce(r, start, end);
}

void pg_reg_add(struct pg_registry *r, uintptr_t start, uintptr_t end,
		bool shortterm)
{
	if (add_disjoint(r, start, end, shortterm))
		return;
	add_general(r, start, end, shortterm);
}

bool pg_reg_covered(const struct pg_registry *r, uintptr_t start,
		    uintptr_t end)
{
	uintptr_t cur = start;
	const struct pg_seg *s;

	if (!r->pool)
		return false;
	for (s = pg_bt_first_overlap(r, start); s && cur < end;
	     s = pg_bt_next(r, s)) {
		if (s->start > cur)
			return false;
		cur = s->end;
	}
	return cur >= end;
}

/* The common case: [start, end) is exactly one segment holding its last
 * pin. One seek finds it, both neighbours and its leaf slot; right after
 * its pin, no seek (hint_path()). */
static bool remove_exact(struct pg_registry *r, uintptr_t start, uintptr_t end)
{
	struct pg_bt_path path;
	struct pg_seg *s, *pred, *succ;

	if (!r->pool)
		return false;
	if (!hint_path(r, start, &path))
		pg_bt_seek(r, start, &path);
	s = pg_bt_pred(r, &path);
	if (!s || s->start != start || s->end != end || pg_seg_pins(s) != 1)
		return false;
	succ = pg_bt_succ(r, &path);
	path.idx[path.h - 1]--;		/* s itself: it is in this leaf */
	pred = pg_bt_pred(r, &path);
	r->extents += (pred && pred->end == start) +
		      (succ && succ->start == end);
	r->extents -= 1;
	r->bytes -= end - start;
	pg_bt_delete_at(r, &path);
	return true;
}

int pg_reg_pin(struct pg_registry *r, uintptr_t start, uintptr_t end,
	       bool shortterm)
{
	int ret;

	/* the disjoint case inserts one segment at most */
	if (r->pool && pg_bt_nodes_for(r, 1) <= r->nfree + (r->cap - r->used) &&
	    add_disjoint(r, start, end, shortterm))
		return 0;
	ret = pg_reg_reserve_for(r, start, end);
	if (!ret)
		pg_reg_add(r, start, end, shortterm);
	return ret;
}

static void remove_general(struct pg_registry *r, uintptr_t start,
			   uintptr_t end);

int pg_reg_unpin(struct pg_registry *r, uintptr_t start, uintptr_t end)
{
	if (remove_exact(r, start, end))
		return 0;
	if (!pg_reg_covered(r, start, end))
		return -ENOENT;
	if (pg_reg_reserve_for(r, start, end))
		return -ENOMEM;
	remove_general(r, start, end);	/* both checks done */
	return 0;
}

bool pg_reg_remove(struct pg_registry *r, uintptr_t start, uintptr_t end)
{
	if (remove_exact(r, start, end))
		return true;
	if (!pg_reg_covered(r, start, end))
		return false;
	remove_general(r, start, end);
	return true;
}

/* [start, end) is covered and not one exact last-pin segment. */
static void remove_general(struct pg_registry *r, uintptr_t start,
			   uintptr_t end)
{
	uintptr_t cur = start, s, e;
	struct pg_seg *g;

	split_at(r, start);
	split_at(r, end);
	while (cur < end) {
		g = pg_bt_ge(r, cur);
		cur = g->end;
		/* Short-term pins go first: the ambiguity resolves towards
		 * keeping long-term protection. */
		if (g->nshort)
			g->nshort--;
		else
			g->nlong--;
		if (pg_seg_pins(g))
			continue;
		s = g->start;
		e = g->end;
		pg_bt_delete(r, s);
		r->bytes -= e - s;
		r->extents += pg_bt_pinned_at(r, s) + pg_bt_pinned_from(r, e);
		r->extents -= 1;
	}
	coalesce(r, start, end);
}

int pg_reg_walk(const struct pg_registry *r, uintptr_t start, uintptr_t end,
		pg_walk_fn fn, void *arg)
{
	const struct pg_seg *s;
	int ret;

	if (!r->pool)
		return 0;
	for (s = pg_bt_first_overlap(r, start); s && s->start < end;
	     s = pg_bt_next(r, s)) {
		ret = fn(s->start > start ? s->start : start,
			 s->end < end ? s->end : end, s, arg);
		if (ret)
			return ret;
	}
	return 0;
}

int pg_reg_walk_gaps(const struct pg_registry *r, uintptr_t start,
		     uintptr_t end, pg_walk_fn fn, void *arg)
{
	uintptr_t cur = start;
	const struct pg_seg *s = r->pool ? pg_bt_first_overlap(r, start) : NULL;
	int ret;

	for (; s && s->start < end; s = pg_bt_next(r, s)) {
		if (s->start > cur) {
			ret = fn(cur, s->start, NULL, arg);
			if (ret)
				return ret;
		}
		cur = s->end;
	}
	return cur < end ? fn(cur, end, NULL, arg) : 0;
}

void pg_reg_set_flags(struct pg_registry *r, uintptr_t start, uintptr_t end,
		      uint8_t set, uint8_t clear)
{
	struct pg_seg *s;

	if (!r->pool)
		return;
	split_at(r, start);
	split_at(r, end);
	for (s = pg_bt_first_overlap(r, start); s && s->start < end;
	     s = pg_bt_next(r, s))
		s->flags = (uint8_t)((s->flags & ~clear) | set);
	coalesce(r, start, end);
}

const struct pg_seg *pg_reg_find(const struct pg_registry *r, uintptr_t addr)
{
	const struct pg_seg *s = r->pool ? pg_bt_le(r, addr) : NULL;

	return s && s->end > addr ? s : NULL;
}
