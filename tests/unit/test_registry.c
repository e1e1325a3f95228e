/* SPDX-License-Identifier: MIT */
/* The registry alone, against a per-page counter model: overlapping pins
 * in every order, -ENOENT leaves it unchanged, merged segments, exact
 * byte and extent counts. */
#include <stdlib.h>
#include <string.h>

#include "../common.h"
#include "registry.h"

#define PAGES 256
#define BASE 0x100000ul

struct model {
	uint32_t nlong[PAGES], nshort[PAGES];
};

static uintptr_t A(int page)
{
	return BASE + (uintptr_t)page * PAGE;
}

static void model_check(const struct pg_registry *r, const struct model *m)
{
	uint64_t bytes = 0, extents = 0, segs = 0;
	const struct pg_seg *s, *prev = NULL;
	int i;

	for (i = 0; i < PAGES; i++) {
		s = pg_reg_find(r, A(i) + 7);
		if (m->nlong[i] + m->nshort[i] == 0) {
			assert_null(s);
			continue;
		}
		assert_non_null(s);
		assert_int_equal(s->nlong, m->nlong[i]);
		assert_int_equal(s->nshort, m->nshort[i]);
		bytes += PAGE;
		if (i == 0 || m->nlong[i - 1] + m->nshort[i - 1] == 0)
			extents++;
		if (s != prev)
			segs++;
		/* equal neighbours are always merged */
		if (prev && s != prev && prev->end == s->start)
			assert_false(prev->nlong == s->nlong &&
				     prev->nshort == s->nshort &&
				     prev->flags == s->flags);
		prev = s;
	}
	assert_int_equal(r->bytes, bytes);
	assert_int_equal(r->extents, extents);
	assert_int_equal(r->nsegs, segs);
}

static void add(struct pg_registry *r, struct model *m, int a, int b,
		bool shortterm)
{
	int i;

	assert_int_equal(pg_reg_reserve_for(r, A(a), A(b)), 0);
	pg_reg_add(r, A(a), A(b), shortterm);
	for (i = a; i < b; i++)
		(shortterm ? m->nshort : m->nlong)[i]++;
	model_check(r, m);
}

static bool del(struct pg_registry *r, struct model *m, int a, int b)
{
	bool covered = true;
	int i;

	for (i = a; i < b; i++)
		covered &= m->nlong[i] + m->nshort[i] > 0;
	assert_int_equal(pg_reg_reserve_for(r, A(a), A(b)), 0);
	assert_int_equal(pg_reg_remove(r, A(a), A(b)), covered);
	if (covered)
		for (i = a; i < b; i++) {
			if (m->nshort[i])
				m->nshort[i]--;
			else
				m->nlong[i]--;
		}
	model_check(r, m);
	return covered;
}

static void overlapping_in_every_order(void **state)
{
	/* A = [0,8), B = [4,12): both pin orders times both unpin orders */
	int order;

	(void)state;
	for (order = 0; order < 4; order++) {
		struct pg_registry r = { 0 };
		struct model m = { 0 };
		bool a_first = order & 1, unpin_a_first = order & 2;

		add(&r, &m, a_first ? 0 : 4, a_first ? 8 : 12, false);
		add(&r, &m, a_first ? 4 : 0, a_first ? 12 : 8, false);
		assert_int_equal(r.extents, 1);
		assert_int_equal(r.nsegs, 3);
		assert_true(del(&r, &m, unpin_a_first ? 0 : 4,
				unpin_a_first ? 8 : 12));
		assert_true(del(&r, &m, unpin_a_first ? 4 : 0,
				unpin_a_first ? 12 : 8));
		assert_int_equal(r.nsegs, 0);
		assert_int_equal(r.bytes, 0);
	}
}

static void nested_and_adjacent(void **state)
{
	struct pg_registry r = { 0 };
	struct model m = { 0 };

	(void)state;
	add(&r, &m, 10, 20, false);
	add(&r, &m, 12, 14, false);	/* nested */
	add(&r, &m, 20, 30, false);	/* adjacent: one extent */
	assert_int_equal(r.extents, 1);
	add(&r, &m, 40, 41, true);
	assert_int_equal(r.extents, 2);
	assert_true(del(&r, &m, 12, 14));
	/* [10,30) now one merged segment */
	assert_int_equal(r.nsegs, 2);
	assert_false(del(&r, &m, 29, 31));	/* page 30 not pinned */
	assert_false(del(&r, &m, 41, 42));
	assert_true(del(&r, &m, 15, 16));	/* punch a hole */
	assert_int_equal(r.extents, 3);
}

static void short_term_released_first(void **state)
{
	struct pg_registry r = { 0 };
	struct model m = { 0 };
	const struct pg_seg *s;

	(void)state;
	add(&r, &m, 0, 4, false);
	add(&r, &m, 0, 4, true);
	assert_true(del(&r, &m, 0, 4));
	s = pg_reg_find(&r, A(0));
	assert_non_null(s);
	assert_int_equal(s->nlong, 1);
	assert_int_equal(s->nshort, 0);
}

static void random_against_model(void **state)
{
	struct pg_registry r = { 0 };
	struct model m = { 0 };
	int i, a, b;

	(void)state;
	srand(42);
	for (i = 0; i < 20000; i++) {
		a = rand() % PAGES;
		b = a + 1 + rand() % 16;
		if (b > PAGES)
			b = PAGES;
		if (rand() % 2)
			add(&r, &m, a, b, rand() % 4 == 0);
		else
			del(&r, &m, a, b);
	}
}

static void many_disjoint_ranges(void **state)
{
	struct pg_registry r = { 0 };
	uintptr_t i, n = 100000;

	(void)state;
	for (i = 0; i < n; i++) {
		assert_int_equal(pg_reg_reserve_for(&r, A(0) + i * 2 * PAGE,
						    A(0) + i * 2 * PAGE + PAGE), 0);
		pg_reg_add(&r, A(0) + i * 2 * PAGE, A(0) + i * 2 * PAGE + PAGE,
			   false);
	}
	assert_int_equal(r.nsegs, n);
	assert_int_equal(r.extents, n);
	/* the design budget: at most 64 bytes per disjoint range */
	assert_true((uint64_t)r.used * sizeof(struct pg_node) / n <= 64);
	for (i = 0; i < n; i++) {
		pg_reg_reserve_for(&r, A(0) + i * 2 * PAGE,
				   A(0) + i * 2 * PAGE + PAGE);
		assert_true(pg_reg_remove(&r, A(0) + i * 2 * PAGE,
					  A(0) + i * 2 * PAGE + PAGE));
	}
	assert_int_equal(r.nsegs, 0);
	assert_int_equal(r.extents, 0);
}

/* Thousands of segments: a B+tree of 3-4 levels, inner nodes split and
 * merged, growing and shrinking phases, against a per-page model. */
#define BIG 65536

static uint32_t big_long[BIG], big_short[BIG];

/* B+tree shape: every leaf at the same depth, non-empty nodes, keys
 * bounding their subtrees, leaf links in order; returns the first leaf. */
static uint32_t tree_check(const struct pg_registry *r, uint32_t i,
			   uint32_t depth, uintptr_t lo, uintptr_t hi,
			   bool has_hi, uint32_t *prev_leaf, uint64_t *segs)
{
	const struct pg_node *nd = &r->pool[i];
	uint32_t j, first = i;

	assert_true(i != PG_NIL && i < r->used && nd->n > 0);
	if (nd->leaf) {
		assert_int_equal(depth, r->height);
		assert_int_equal(nd->prev, *prev_leaf);
		if (*prev_leaf != PG_NIL)
			assert_int_equal(r->pool[*prev_leaf].next, i);
		*prev_leaf = i;
		for (j = 0; j < nd->n; j++) {
			assert_true(nd->seg[j].start >= lo);
			assert_true(!has_hi || nd->seg[j].start < hi);
			assert_true(nd->seg[j].start < nd->seg[j].end);
			assert_true(!j || nd->seg[j - 1].end <= nd->seg[j].start);
		}
		*segs += nd->n;
		return i;
	}
	assert_true(nd->n <= PG_INNER_KIDS);
	for (j = 0; j < nd->n; j++) {
		uintptr_t l = j ? nd->key[j] : lo;
		bool last = j + 1u == nd->n;
		uint32_t f;

		f = tree_check(r, nd->child[j], depth + 1, l,
			       last ? hi : nd->key[j + 1], last ? has_hi : true,
			       prev_leaf, segs);
		if (!j)
			first = f;
	}
	return first;
}

static void shape_check(const struct pg_registry *r)
{
	uint32_t prev = PG_NIL;
	uint64_t segs = 0;

	if (!r->height) {
		assert_int_equal(r->root, PG_NIL);
		assert_int_equal(r->nsegs, 0);
		return;
	}
	tree_check(r, r->root, 1, 0, 0, false, &prev, &segs);
	assert_int_equal(r->pool[prev].next, PG_NIL);
	assert_int_equal(segs, r->nsegs);
}

static void big_check(const struct pg_registry *r)
{
	uint64_t bytes = 0, extents = 0, segs = 0;
	const struct pg_seg *s, *prev = NULL;
	uintptr_t base = A(0);
	int i;

	shape_check(r);

	for (i = 0; i < BIG; i++) {
		s = pg_reg_find(r, base + (uintptr_t)i * PAGE + 9);
		if (big_long[i] + big_short[i] == 0) {
			assert_null(s);
			prev = NULL;
			continue;
		}
		assert_non_null(s);
		assert_int_equal(s->nlong, big_long[i]);
		assert_int_equal(s->nshort, big_short[i]);
		bytes += PAGE;
		extents += i == 0 || big_long[i - 1] + big_short[i - 1] == 0;
		if (s != prev) {
			segs++;
			if (prev && prev->end == s->start)
				assert_false(prev->nlong == s->nlong &&
					     prev->nshort == s->nshort);
		}
		prev = s;
	}
	assert_int_equal(r->bytes, bytes);
	assert_int_equal(r->extents, extents);
	assert_int_equal(r->nsegs, segs);
}

static void deep_tree_against_model(void **state)
{
	struct pg_registry r = { 0 };
	uint32_t maxh = 0;
	int i, j, a, b, grow;
	bool covered;

	(void)state;
	srand(7);
	for (i = 0; i < 300000; i++) {
		grow = (i / 100000) % 2 == 0;
		a = rand() % BIG;
		b = a + 1 + rand() % 3;
		if (b > BIG)
			b = BIG;
		assert_int_equal(pg_reg_reserve_for(&r, A(a), A(b)), 0);
		if (rand() % 10 < (grow ? 7 : 3)) {
			bool st = rand() % 4 == 0;

			pg_reg_add(&r, A(a), A(b), st);
			for (j = a; j < b; j++)
				(st ? big_short : big_long)[j]++;
		} else {
			for (covered = true, j = a; j < b; j++)
				covered &= big_long[j] + big_short[j] > 0;
			assert_int_equal(pg_reg_remove(&r, A(a), A(b)),
					 covered);
			for (j = a; covered && j < b; j++) {
				if (big_short[j])
					big_short[j]--;
				else
					big_long[j]--;
			}
		}
		if (r.height > maxh)
			maxh = r.height;
		if (i % 25000 == 24999)
			big_check(&r);
	}
	big_check(&r);
	assert_true(maxh >= 3);
	/* sequential runs both ways keep leaves well filled */
	for (i = 0; i < BIG; i++)
		while (big_long[i] + big_short[i]) {
			assert_true(pg_reg_remove(&r, A(i), A(i + 1)));
			big_short[i] ? big_short[i]-- : big_long[i]--;
		}
	big_check(&r);
	assert_int_equal(r.height, 0);
	for (i = BIG / 2 - 1; i >= 0; i--) {
		assert_int_equal(pg_reg_pin(&r, A(2 * i), A(2 * i + 1), false),
				 0);
		big_long[2 * i]++;
	}
	big_check(&r);
	assert_true((uint64_t)(r.used - r.nfree) * sizeof(struct pg_node) /
		    (BIG / 2) <= 64);
	for (i = 0; i < BIG / 2; i += 2) {
		assert_int_equal(pg_reg_unpin(&r, A(2 * i), A(2 * i + 1)), 0);
		big_long[2 * i]--;
	}
	big_check(&r);
}

static void big_pin(struct pg_registry *r, int a, int b, bool st)
{
	int j;

	assert_int_equal(pg_reg_pin(r, A(a), A(b), st), 0);
	for (j = a; j < b; j++)
		(st ? big_short : big_long)[j]++;
}

static void big_unpin(struct pg_registry *r, int a, int b)
{
	int j;

	assert_int_equal(pg_reg_unpin(r, A(a), A(b)), 0);
	for (j = a; j < b; j++)
		big_short[j] ? big_short[j]-- : big_long[j]--;
}

/* A pin undone right away (the unpin reuses the pin's leaf slot, no
 * seek), and the cases where that slot is stale: another pin or unpin in
 * between, leaves that split on the pin or would need a merge on the
 * unpin, neighbours that touch. Against the per-page model. */
static void pin_unpin_pairs_against_model(void **state)
{
	struct pg_registry r = { 0 };
	int i, k, k2, a, b, a2, b2;
	bool st;

	(void)state;
	memset(big_long, 0, sizeof(big_long));
	memset(big_short, 0, sizeof(big_short));
	srand(11);
	for (i = 0; i < BIG / 4; i++)
		big_pin(&r, 4 * ((i * 7919) % (BIG / 4)), 4 * ((i * 7919) % (BIG / 4)) + 1,
			false);
	big_check(&r);
	assert_true(r.height >= 3);
	for (i = 0; i < 200000; i++) {
		k = rand() % (BIG / 4);
		/* fresh page, or one touching the pinned page before it */
		a = 4 * k + 1 + (rand() % 4 != 0);
		b = a + 1 + (rand() % 8 == 0);
		st = rand() % 4 == 0;
		big_pin(&r, a, b, st);
		switch (rand() % 8) {
		case 0:		/* another pair in between */
			k2 = rand() % (BIG / 4);
			if (k2 == k)
				break;
			a2 = 4 * k2 + 2;
			b2 = a2 + 1;
			big_pin(&r, a2, b2, false);
			big_unpin(&r, a2, b2);
			break;
		case 1:		/* another pin outlives this pair */
			k2 = rand() % (BIG / 4);
			if (k2 == k || big_long[4 * k2 + 3])
				break;
			big_pin(&r, 4 * k2 + 3, 4 * k2 + 4, false);
			break;
		case 2:		/* drop one of those */
			k2 = rand() % (BIG / 4);
			if (big_long[4 * k2 + 3] && k2 != k)
				big_unpin(&r, 4 * k2 + 3, 4 * k2 + 4);
			break;
		}
		big_unpin(&r, a, b);
		if (i % 20000 == 19999)
			big_check(&r);
	}
	big_check(&r);
	for (i = 0; i < BIG; i++)
		while (big_long[i] + big_short[i])
			big_unpin(&r, i, i + 1);
	big_check(&r);
	assert_int_equal(r.nsegs, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(overlapping_in_every_order),
		cmocka_unit_test(nested_and_adjacent),
		cmocka_unit_test(short_term_released_first),
		cmocka_unit_test(random_against_model),
		cmocka_unit_test(many_disjoint_ranges),
		cmocka_unit_test(deep_tree_against_model),
		cmocka_unit_test(pin_unpin_pairs_against_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
