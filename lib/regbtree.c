/* SPDX-License-Identifier: MIT */
/*
 * The registry's tree: a B+tree of segments keyed by start address. Its
 * 512-byte nodes (15 segments per leaf, 40 children per inner node) live in
 * one pool addressed by 32-bit index, so growing the pool (mremap) never
 * invalidates links and the child of a fork can reset it without freeing.
 * Why a B+tree: the AVL tree it replaces walked ~20 nodes at 100k
 * segments, each a dependent cache miss (~2 µs per pin + unpin); here a
 * lookup reads 4 nodes, the upper levels usually cached. Leaves are
 * linked in address order for walks and neighbour lookups. Caller holds
 * the lock; reserve (pg_bt_nodes_for) guarantees the nodes a change needs.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "regbtree.h"
#include "sys.h"

#define N(i) (r->pool[(i)])
#define POOL_MIN 64u

_Static_assert(sizeof(struct pg_node) == 512, "pg_node is 8 cache lines");

static uint32_t node_alloc(struct pg_registry *r, bool leaf)
{
	uint32_t i = r->free_head;

	if (i != PG_NIL) {
		r->free_head = N(i).next;
		r->nfree--;
	} else {
		i = r->used++;	/* reserve() guaranteed room */
	}
	N(i).n = 0;
	N(i).leaf = leaf;
	N(i).prev = N(i).next = PG_NIL;
	N(i).key[0] = 0;
	return i;
}

static void node_free(struct pg_registry *r, uint32_t i)
{
	N(i).n = 0;
	N(i).next = r->free_head;
	r->free_head = i;
	r->nfree++;
}

/* A node is eight cache lines: ask for all of them at once, so that their
 * misses overlap instead of following one another. */
static inline void prefetch_node(const struct pg_node *nd)
{
	unsigned o;

	for (o = 64; o < sizeof(*nd); o += 64)
		__builtin_prefetch((const char *)nd + o);
}

void pg_bt_seek(const struct pg_registry *r, uintptr_t x,
		struct pg_bt_path *p)
{
	uint32_t i = r->root, k, j, c;

	p->h = r->height;
	for (k = 0; k + 1 < p->h; k++) {
		const struct pg_node *nd = &N(i);

		prefetch_node(nd);
		/* branch-free binary search: the last child whose key <= x
		 * (key[0] counts as -inf); the answer stays in [c, c + j) */
		for (c = 0, j = nd->n; j > 1; j -= j / 2)
			c = nd->key[c + j / 2] <= x ? c + j / 2 : c;
		p->node[k] = i;
		p->idx[k] = (uint16_t)c;
		i = nd->child[c];
	}
	if (p->h) {
		const struct pg_node *nd = &N(i);

		prefetch_node(nd);
		for (c = 0, j = 0; j < nd->n; j++)
			c += nd->seg[j].start <= x;
		p->node[k] = i;
		p->idx[k] = (uint16_t)c;
	}
}

struct pg_seg *pg_bt_le(const struct pg_registry *r, uintptr_t x)
{
	struct pg_bt_path p;

	pg_bt_seek(r, x, &p);
	return pg_bt_pred(r, &p);
}

struct pg_seg *pg_bt_ge(const struct pg_registry *r, uintptr_t x)
{
	struct pg_bt_path p;
	struct pg_seg *s;

	pg_bt_seek(r, x, &p);
	s = pg_bt_pred(r, &p);
	return s && s->start == x ? s : pg_bt_succ(r, &p);
}

struct pg_seg *pg_bt_first_overlap(const struct pg_registry *r, uintptr_t x)
{
	struct pg_bt_path p;
	struct pg_seg *s;

	pg_bt_seek(r, x, &p);
	s = pg_bt_pred(r, &p);
	return s && s->end > x ? s : pg_bt_succ(r, &p);
}

struct pg_seg *pg_bt_next(const struct pg_registry *r, const struct pg_seg *s)
{
	/* segments live inside pool nodes: the pointer names its leaf */
	size_t off = (size_t)((const char *)s - (const char *)r->pool);
	const struct pg_node *l = &N(off / sizeof(struct pg_node));
	size_t pos = (size_t)(s - l->seg);

	if (pos + 1 < l->n)
		return (struct pg_seg *)s + 1;
	return l->next != PG_NIL ? &N(l->next).seg[0] : NULL;
}

/* Insert (key, child) after child p->idx[k] of p->node[k], splitting
 * full nodes upwards; k < 0 grows a new root. */
static void inner_insert(struct pg_registry *r, const struct pg_bt_path *p,
			 int k, uintptr_t key, uint32_t child)
{
	uintptr_t tk[PG_INNER_KIDS + 1];
	uint32_t tc[PG_INNER_KIDS + 1], j, xi, yi, half, t;
	struct pg_node *x, *y;

	for (; k >= 0; k--) {
		xi = p->node[k];
		x = &N(xi);
		j = p->idx[k] + 1u;
		if (x->n < PG_INNER_KIDS) {
			for (t = x->n; t > j; t--) {
				x->key[t] = x->key[t - 1];
				x->child[t] = x->child[t - 1];
			}
			x->key[j] = key;
			x->child[j] = child;
			x->n++;
			return;
		}
		for (t = 0; t < j; t++) {
			tk[t] = x->key[t];
			tc[t] = x->child[t];
		}
		tk[j] = key;
		tc[j] = child;
		for (t = j; t < PG_INNER_KIDS; t++) {
			tk[t + 1] = x->key[t];
			tc[t + 1] = x->child[t];
		}
		yi = node_alloc(r, false);
		x = &N(xi);
		y = &N(yi);
		half = (PG_INNER_KIDS + 1) / 2;
		x->n = (uint16_t)half;
		memcpy(x->key, tk, half * sizeof(tk[0]));
		memcpy(x->child, tc, half * sizeof(tc[0]));
		y->n = (uint16_t)(PG_INNER_KIDS + 1 - half);
		memcpy(y->key, tk + half, y->n * sizeof(tk[0]));
		memcpy(y->child, tc + half, y->n * sizeof(tc[0]));
		key = y->key[0];	/* moves up as the separator */
		y->key[0] = 0;
		child = yi;
	}
	xi = node_alloc(r, false);
	N(xi).n = 2;
	N(xi).child[0] = r->root;
	N(xi).key[1] = key;
	N(xi).child[1] = child;
	r->root = xi;
	r->height++;
}

void pg_bt_insert_at(struct pg_registry *r, const struct pg_bt_path *p,
		     const struct pg_seg *v)
{
	struct pg_seg t[PG_LEAF_SEGS + 1];
	uint32_t li, ri, pos, keep;
	struct pg_node *l, *rt;

	r->nsegs++;
	r->mods++;
	if (!p->h) {
		li = node_alloc(r, true);
		N(li).seg[0] = *v;
		N(li).n = 1;
		r->root = li;
		r->height = 1;
		return;
	}
	li = p->node[p->h - 1];
	l = &N(li);
	pos = p->idx[p->h - 1];
	if (l->n < PG_LEAF_SEGS) {
		for (keep = l->n; keep > pos; keep--)
			l->seg[keep] = l->seg[keep - 1];
		l->seg[pos] = *v;
		l->n++;
		return;
	}
	memcpy(t, l->seg, pos * sizeof(t[0]));
	t[pos] = *v;
	memcpy(t + pos + 1, l->seg + pos, (PG_LEAF_SEGS - pos) * sizeof(t[0]));
	/* Ascending or descending runs of pins leave leaves 14/15 full instead
	 * of half full (memory per range); random ones split in the middle. */
	keep = pos == PG_LEAF_SEGS ? PG_LEAF_SEGS - 1 :
	       pos == 0 ? 2 : (PG_LEAF_SEGS + 1) / 2;
	ri = node_alloc(r, true);
	l = &N(li);
	rt = &N(ri);
	l->n = (uint16_t)keep;
	memcpy(l->seg, t, keep * sizeof(t[0]));
	rt->n = (uint16_t)(PG_LEAF_SEGS + 1 - keep);
	memcpy(rt->seg, t + keep, rt->n * sizeof(t[0]));
	rt->prev = li;
	rt->next = l->next;
	if (l->next != PG_NIL)
		N(l->next).prev = ri;
	l->next = ri;
	inner_insert(r, p, (int)p->h - 2, rt->seg[0].start, ri);
}

void pg_bt_insert(struct pg_registry *r, const struct pg_seg *v)
{
	struct pg_bt_path p;

	pg_bt_seek(r, v->start, &p);
	pg_bt_insert_at(r, &p, v);
}

static void remove_child(struct pg_node *x, uint32_t j)
{
	for (; j + 1u < x->n; j++) {
		x->key[j] = x->key[j + 1];
		x->child[j] = x->child[j + 1];
	}
	x->n--;
	x->key[0] = 0;
}

static void unlink_leaf(struct pg_registry *r, uint32_t i)
{
	if (N(i).prev != PG_NIL)
		N(N(i).prev).next = N(i).next;
	if (N(i).next != PG_NIL)
		N(N(i).next).prev = N(i).prev;
}

/* Fold child j + 1 of x into child j. */
static void merge(struct pg_registry *r, struct pg_node *x, uint32_t j)
{
	uint32_t ai = x->child[j], bi = x->child[j + 1], t;
	struct pg_node *a = &N(ai), *b = &N(bi);

	if (a->leaf) {
		memcpy(&a->seg[a->n], b->seg, b->n * sizeof(b->seg[0]));
		unlink_leaf(r, bi);
	} else {
		for (t = 0; t < b->n; t++) {
			a->key[a->n + t] = t ? b->key[t] : x->key[j + 1];
			a->child[a->n + t] = b->child[t];
		}
	}
	a->n = (uint16_t)(a->n + b->n);
	node_free(r, bi);
	remove_child(x, j + 1);
}

/* After a removal from p->node[k]: drop it if empty, merge it with a
 * sibling if both fit in one node with room to spare (no split/merge
 * ping-pong when one range is pinned and unpinned), shrink the root. */
static void rebalance(struct pg_registry *r, const struct pg_bt_path *p,
		      int k)
{
	uint32_t xi, j, max;
	struct pg_node *x, *up;

	for (; k > 0; k--) {
		xi = p->node[k];
		x = &N(xi);
		up = &N(p->node[k - 1]);
		j = p->idx[k - 1];
		if (!x->n) {
			if (x->leaf)
				unlink_leaf(r, xi);
			node_free(r, xi);
			remove_child(up, j);
			continue;
		}
		max = x->leaf ? PG_LEAF_SEGS : PG_INNER_KIDS;
		if (x->n > max / 2)
			return;
		if (j + 1u < up->n && x->n + N(up->child[j + 1]).n <= max - 2)
			merge(r, up, j);
		else if (j > 0 && x->n + N(up->child[j - 1]).n <= max - 2)
			merge(r, up, j - 1);
		else
			return;
	}
	x = &N(r->root);	/* inner: a lone leaf root is delete_at's */
	if (x->n == 1) {
		xi = r->root;
		r->root = x->child[0];
		r->height--;
		node_free(r, xi);
	}
}

void pg_bt_delete_at(struct pg_registry *r, const struct pg_bt_path *p)
{
	struct pg_node *l = &N(p->node[p->h - 1]);
	uint32_t pos = p->idx[p->h - 1];

	uint32_t n = l->n - 1u;

	for (; pos < n; pos++)
		l->seg[pos] = l->seg[pos + 1];
	l->n = (uint16_t)n;	/* n, not l->n, below: no store-to-load stall */
	r->nsegs--;
	r->mods++;
	if (p->h == 1) {
		if (!n) {
			node_free(r, r->root);
			r->root = PG_NIL;
			r->height = 0;
		}
		return;
	}
	/* a smaller first start leaves the separators above valid */
	rebalance(r, p, (int)p->h - 1);
}

void pg_bt_delete(struct pg_registry *r, uintptr_t start)
{
	struct pg_bt_path p;

	pg_bt_seek(r, start, &p);
	p.idx[p.h - 1]--;	/* the segment starting at start */
	pg_bt_delete_at(r, &p);
}

void pg_bt_lower_succ(struct pg_registry *r, const struct pg_bt_path *p,
		      struct pg_seg *s, uintptr_t x)
{
	int k;

	s->start = x;
	if (p->idx[p->h - 1] < N(p->node[p->h - 1]).n)
		return;		/* in the seek's leaf: its bounds hold */
	/* s heads the next leaf: lower the separator between the two */
	for (k = (int)p->h - 2; k >= 0; k--)
		if (p->idx[k] + 1u < N(p->node[k]).n) {
			N(p->node[k]).key[p->idx[k] + 1] = x;
			return;
		}
}

uint64_t pg_bt_nodes_for(const struct pg_registry *r, uint64_t nseg)
{
	/* each insert splits at most one node per level, and a change of
	 * nseg inserts can add at most two levels (a second one needs a new
	 * root grown to 40 children first) */
	return nseg * (r->height + 3u) + 2;
}

void pg_bt_clear(struct pg_registry *r)
{
	/* Keeps the pool mapping: safe in a fork child, no free(). */
	r->used = 1;
	r->free_head = PG_NIL;
	r->nfree = 0;
	r->root = PG_NIL;
	r->height = 0;
	r->nsegs = r->extents = r->bytes = 0;
	r->mods++;	/* forget the hint */
}

int pg_bt_pool_grow(struct pg_registry *r, uint64_t need)
{
	uint64_t cap = r->cap ? r->cap : POOL_MIN;
	void *p;

	while (cap < need)
		cap *= 2;
	if (cap > UINT32_MAX)
		return -ENOMEM;
	if (!r->pool)
		p = pg_sys_alloc(cap * sizeof(struct pg_node));
	else
		p = pg_sys_mremap(r->pool, r->cap * sizeof(struct pg_node),
				  cap * sizeof(struct pg_node), MREMAP_MAYMOVE,
				  NULL);
	if (p == MAP_FAILED)
		return -ENOMEM;
	if (!r->pool) {
		r->pool = p;
		r->cap = (uint32_t)cap;
		pg_bt_clear(r);
		memset(&r->pool[0], 0, sizeof(r->pool[0]));
		return 0;
	}
	r->pool = p;
	r->cap = (uint32_t)cap;
	return 0;
}
