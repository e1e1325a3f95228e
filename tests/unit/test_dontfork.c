/* SPDX-License-Identifier: MIT */
/* dontfork mode: MADV_DONTFORK exactly while a page is pinned, counted
 * per page across overlapping pins; the application's own DONTFORK is
 * never cleared, in dontfork or copy mode. */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../common.h"

static char *buf;

static void expect_dc(int from, int to, bool dc)
{
	int i;

	for (i = from; i < to; i++)
		assert_int_equal(vma_has_flag(buf + i * PAGE, "dc"), dc);
}

static void overlapping_pins_every_order(void **state)
{
	int order;

	(void)state;
	for (order = 0; order < 4; order++) {
		bool a_first = order & 1, unpin_a_first = order & 2;
		char *a = buf, *b = buf + 4 * PAGE;	/* A=[0,8) B=[4,12) */

		assert_int_equal(pinguard_pin(a_first ? a : b, 8 * PAGE, 0), 0);
		assert_int_equal(pinguard_pin(a_first ? b : a, 8 * PAGE, 0), 0);
		expect_dc(0, 12, true);
		expect_dc(12, 16, false);
		assert_int_equal(stats().ranges_dontfork, 1);
		assert_int_equal(pinguard_unpin(unpin_a_first ? a : b,
						8 * PAGE), 0);
		if (unpin_a_first) {
			expect_dc(0, 4, false);
			expect_dc(4, 12, true);
		} else {
			expect_dc(0, 8, true);
			expect_dc(8, 12, false);
		}
		assert_int_equal(pinguard_unpin(unpin_a_first ? b : a,
						8 * PAGE), 0);
		expect_dc(0, 16, false);
		assert_int_equal(stats().pinned_bytes, 0);
	}
}

static void application_dontfork_survives(void **state)
{
	(void)state;
	/* the application protects pages 2..6 itself */
	assert_int_equal(madvise(buf + 2 * PAGE, 4 * PAGE, MADV_DONTFORK), 0);
	assert_int_equal(pinguard_pin(buf, 8 * PAGE, 0), 0);
	expect_dc(0, 8, true);
	assert_int_equal(pinguard_unpin(buf, 8 * PAGE), 0);
	expect_dc(0, 2, false);
	expect_dc(2, 6, true);
	expect_dc(6, 8, false);
	/* and it can still undo its own */
	assert_int_equal(madvise(buf + 2 * PAGE, 4 * PAGE, MADV_DOFORK), 0);
	expect_dc(0, 16, false);
}

/* rdma-core style: someone else DOFORKs pages pinguard still guards. */
static void foreign_dofork_cannot_unguard(void **state)
{
	(void)state;
	assert_int_equal(pinguard_pin(buf, 4 * PAGE, 0), 0);
	assert_int_equal(madvise(buf, 8 * PAGE, MADV_DOFORK), 0);
	expect_dc(0, 4, true);
	expect_dc(4, 8, false);
	assert_int_equal(pinguard_unpin(buf, 4 * PAGE), 0);
	expect_dc(0, 8, false);
}

static int child_absent(void *arg)
{
	return is_mapped(arg) ? 1 : 0;
}

static void application_dontfork_in_copy_mode(void **state)
{
	struct child c;

	(void)state;
	set_mode(PINGUARD_MODE_COPY);
	assert_int_equal(madvise(buf, 2 * PAGE, MADV_DONTFORK), 0);
	assert_int_equal(pinguard_pin(buf, 4 * PAGE, 0), 0);
	child_start(&c, child_absent, buf);	/* child: no copy there */
	assert_int_equal(exclusive_pages(buf, 4 * PAGE), 4);
	assert_int_equal(child_finish(&c), 0);
	expect_dc(0, 2, true);		/* still the application's */
	expect_dc(2, 4, false);		/* pinguard's own DONTFORK undone */
	assert_int_equal(pinguard_unpin(buf, 4 * PAGE), 0);
	expect_dc(0, 2, true);
	assert_int_equal(madvise(buf, 2 * PAGE, MADV_DOFORK), 0);
	set_mode(PINGUARD_MODE_DONTFORK);
}

static void short_term_pins_out_of_scope(void **state)
{
	(void)state;
	assert_int_equal(pinguard_pin(buf, 2 * PAGE, PINGUARD_PIN_SHORTTERM), 0);
	expect_dc(0, 2, false);
	assert_int_equal(pinguard_pin(buf, 2 * PAGE, 0), 0);
	expect_dc(0, 2, true);
	/* releases the short-term pin: the long-term one still guards */
	assert_int_equal(pinguard_unpin(buf, 2 * PAGE), 0);
	expect_dc(0, 2, true);
	assert_int_equal(pinguard_unpin(buf, 2 * PAGE), 0);
	expect_dc(0, 2, false);
}

static int setup(void **state)
{
	(void)state;
	set_mode(PINGUARD_MODE_DONTFORK);
	buf = map_anon(16 * PAGE, PROT_READ | PROT_WRITE);
	memset(buf, 1, 16 * PAGE);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		PG_TEST(overlapping_pins_every_order),
		PG_TEST(application_dontfork_survives),
		PG_TEST(foreign_dofork_cannot_unguard),
		PG_TEST(application_dontfork_in_copy_mode),
		PG_TEST(short_term_pins_out_of_scope),
	};

	return PG_RUN_GROUP(tests, setup, NULL);
}
