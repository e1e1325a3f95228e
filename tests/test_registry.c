/* SPDX-License-Identifier: MIT */
/* The registry alone, against a per-page counter model: overlapping pins
 * in every order, -ENOENT leaves it unchanged, merged segments, exact
 * byte and extent counts. */
#include <stdlib.h>
#include <string.h>

#include "common.h"
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
	assert_true(sizeof(struct pg_seg) <= 64);
	assert_true((uint64_t)r.used * sizeof(struct pg_seg) / n <= 64);
	for (i = 0; i < n; i++) {
		pg_reg_reserve_for(&r, A(0) + i * 2 * PAGE,
				   A(0) + i * 2 * PAGE + PAGE);
		assert_true(pg_reg_remove(&r, A(0) + i * 2 * PAGE,
					  A(0) + i * 2 * PAGE + PAGE));
	}
	assert_int_equal(r.nsegs, 0);
	assert_int_equal(r.extents, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(overlapping_in_every_order),
		cmocka_unit_test(nested_and_adjacent),
		cmocka_unit_test(short_term_released_first),
		cmocka_unit_test(random_against_model),
		cmocka_unit_test(many_disjoint_ranges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
