/* SPDX-License-Identifier: MIT */
/*
 * PINGUARD_PRETOUCH and PINGUARD_SCOPE, set through pinguard_configure().
 * Pretouch is seen in the pagemap: pages present and exclusive after the
 * pin, data unchanged. Scope is seen at fork: a guarded page stays
 * exclusive in the parent while a child is alive (copy mode) or is
 * MADV_DONTFORK (dontfork mode); an unguarded one is shared.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../common.h"

#define NPAGES 16
#define LEN (NPAGES * PAGE)

static void configure(enum pinguard_mode mode, enum pinguard_pretouch pt,
		      enum pinguard_scope scope)
{
	struct pinguard_config c = {
		.mode = mode, .pretouch = pt, .scope = scope,
		.kernel = PINGUARD_KERNEL_UNKNOWN,
	};

	assert_int_equal(pinguard_configure(&c, sizeof(c)), 0);
}

static size_t present_pages(const char *p, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i += PAGE)
		n += (pagemap(p + i) & PM_PRESENT) != 0;
	return n;
}

static char *filled(void)
{
	char *p = map_anon(LEN, PROT_READ | PROT_WRITE);
	size_t i;

	for (i = 0; i < LEN; i++)
		p[i] = (char)('a' + i % 26);
	return p;
}

static int child_sees_pattern(void *arg)
{
	const char *p = arg;
	size_t i;

	for (i = 0; i < LEN; i++)
		if (p[i] != (char)('a' + i % 26))
			return 1;
	return 0;
}

/* ---- pretouch ---- */

static void pretouch_always_makes_pages_present(void **state)
{
	char *p = map_anon(LEN, PROT_READ | PROT_WRITE);
	struct pinguard_stats before;
	size_t i;

	(void)state;
	configure(PINGUARD_MODE_COPY, PINGUARD_PRETOUCH_ALWAYS,
		  PINGUARD_SCOPE_LONGTERM);
	assert_int_equal(present_pages(p, LEN), 0);
	before = stats();
	assert_int_equal(pinguard_pin(p, LEN, PINGUARD_PIN_READONLY), 0);
	/* checked before reading, which could map the zero page */
	assert_int_equal(present_pages(p, LEN), NPAGES);
	assert_int_equal(exclusive_pages(p, LEN), NPAGES);
	assert_int_equal(stats().pretouched_bytes - before.pretouched_bytes, LEN);
	for (i = 0; i < LEN; i++)
		assert_int_equal(p[i], 0);
	assert_int_equal(pinguard_unpin(p, LEN), 0);
	munmap(p, LEN);
}

static void pretouch_never_leaves_pages_absent(void **state)
{
	char *p = map_anon(LEN, PROT_READ | PROT_WRITE);
	struct pinguard_stats before;

	(void)state;
	configure(PINGUARD_MODE_COPY, PINGUARD_PRETOUCH_NEVER,
		  PINGUARD_SCOPE_LONGTERM);
	before = stats();
	assert_int_equal(pinguard_pin(p, LEN, PINGUARD_PIN_READONLY), 0);
	assert_int_equal(present_pages(p, LEN), 0);
	assert_int_equal(stats().pretouched_bytes, before.pretouched_bytes);
	assert_int_equal(pinguard_unpin(p, LEN), 0);
	munmap(p, LEN);
}

/* Auto: only read-only pins on kernels < 5.19; this host is newer. */
static void pretouch_auto_is_idle_on_recent_kernel(void **state)
{
	char *p = map_anon(LEN, PROT_READ | PROT_WRITE);

	(void)state;
	configure(PINGUARD_MODE_COPY, PINGUARD_PRETOUCH_AUTO,
		  PINGUARD_SCOPE_LONGTERM);
	assert_int_equal(pinguard_pin(p, LEN, PINGUARD_PIN_READONLY), 0);
	assert_int_equal(present_pages(p, LEN), 0);
	assert_int_equal(pinguard_unpin(p, LEN), 0);
	munmap(p, LEN);
}

/* The case pretouch exists for: pages still shared copy-on-write with an
 * earlier child. After the pin they are the parent's own again, with the
 * same data, and the child keeps its view. */
static void pretouch_breaks_cow_sharing(void **state)
{
	char *p = filled();
	struct child c;

	(void)state;
	configure(PINGUARD_MODE_COPY, PINGUARD_PRETOUCH_ALWAYS,
		  PINGUARD_SCOPE_LONGTERM);
	child_start(&c, child_sees_pattern, p);	/* nothing pinned yet */
	assert_int_equal(exclusive_pages(p, LEN), 0);
	assert_int_equal(pinguard_pin(p + 100, LEN - 200,
				      PINGUARD_PIN_READONLY), 0);
	assert_int_equal(exclusive_pages(p, LEN), NPAGES);
	assert_int_equal(child_sees_pattern(p), 0);
	assert_int_equal(child_finish(&c), 0);
	assert_int_equal(pinguard_unpin(p + 100, LEN - 200), 0);
	munmap(p, LEN);
}

/* ---- scope ---- */

struct fork_view {
	size_t exclusive;
	uint64_t copied, guarded;
};

/* Fork a child that stays alive; what did the parent keep? */
static struct fork_view fork_view(char *p, size_t off, size_t len)
{
	struct pinguard_stats before = stats(), after;
	struct fork_view v;
	struct child c;

	child_start(&c, child_sees_pattern, p);
	v.exclusive = exclusive_pages(p + off, len);
	assert_int_equal(child_finish(&c), 0);
	after = stats();
	v.copied = after.bytes_copied - before.bytes_copied;
	v.guarded = after.forks_guarded - before.forks_guarded;
	assert_int_equal(after.fork_errors, before.fork_errors);
	return v;
}

static void scope_longterm_skips_shortterm_pins(void **state)
{
	char *p = filled();
	struct fork_view v;

	(void)state;
	configure(PINGUARD_MODE_COPY, PINGUARD_PRETOUCH_NEVER,
		  PINGUARD_SCOPE_LONGTERM);
	assert_int_equal(pinguard_pin(p, LEN, PINGUARD_PIN_SHORTTERM), 0);
	v = fork_view(p, 0, LEN);
	assert_int_equal(v.exclusive, 0);
	assert_int_equal(v.copied, 0);
	assert_int_equal(v.guarded, 0);
	assert_int_equal(pinguard_unpin(p, LEN), 0);
	munmap(p, LEN);
}

static void scope_all_guards_shortterm_pins(void **state)
{
	char *p = filled();
	struct fork_view v;

	(void)state;
	configure(PINGUARD_MODE_COPY, PINGUARD_PRETOUCH_NEVER,
		  PINGUARD_SCOPE_ALL);
	assert_int_equal(pinguard_pin(p, LEN, PINGUARD_PIN_SHORTTERM), 0);
	/* scope cannot change under pinned pages */
	{
		struct pinguard_config c;

		assert_int_equal(pinguard_get_config(&c, sizeof(c)), 0);
		c.scope = PINGUARD_SCOPE_LONGTERM;
		assert_int_equal(pinguard_configure(&c, sizeof(c)), -EBUSY);
	}
	v = fork_view(p, 0, LEN);
	assert_int_equal(v.exclusive, NPAGES);
	assert_int_equal(v.copied, LEN);
	assert_int_equal(v.guarded, 1);
	assert_int_equal(pinguard_unpin(p, LEN), 0);
	munmap(p, LEN);
}

/* One short-term and one long-term pin on the same pages, in either
 * order: the first unpin releases the short-term one, so the pages stay
 * guarded until the second. */
static void mixed_pins(bool long_first)
{
	char *p = filled();
	struct fork_view v;

	configure(PINGUARD_MODE_COPY, PINGUARD_PRETOUCH_NEVER,
		  PINGUARD_SCOPE_LONGTERM);
	assert_int_equal(pinguard_pin(p, LEN, long_first ? 0 :
				      PINGUARD_PIN_SHORTTERM), 0);
	assert_int_equal(pinguard_pin(p, LEN, long_first ?
				      PINGUARD_PIN_SHORTTERM : 0), 0);
	assert_int_equal(pinguard_pin_count(p), 2);
	assert_int_equal(pinguard_unpin(p, LEN), 0);
	assert_int_equal(pinguard_pin_count(p), 1);
	v = fork_view(p, 0, LEN);
	assert_int_equal(v.exclusive, NPAGES);
	assert_int_equal(v.copied, LEN);
	assert_int_equal(pinguard_unpin(p, LEN), 0);
	v = fork_view(p, 0, LEN);
	assert_int_equal(v.exclusive, 0);
	assert_int_equal(v.copied, 0);
	assert_int_equal(pinguard_unpin(p, LEN), -ENOENT);
	munmap(p, LEN);
}

static void mixed_long_then_short(void **state)
{
	(void)state;
	mixed_pins(true);
}

static void mixed_short_then_long(void **state)
{
	(void)state;
	mixed_pins(false);
}

/* Short-term pin over pages 0-7, long-term over 4-11: only 4-11 are
 * guarded; unpinning 0-7 once keeps 4-11 guarded. */
static void mixed_partial_overlap(void **state)
{
	char *p = filled();
	struct fork_view v;

	(void)state;
	configure(PINGUARD_MODE_COPY, PINGUARD_PRETOUCH_NEVER,
		  PINGUARD_SCOPE_LONGTERM);
	assert_int_equal(pinguard_pin(p, 8 * PAGE, PINGUARD_PIN_SHORTTERM), 0);
	assert_int_equal(pinguard_pin(p + 4 * PAGE, 8 * PAGE, 0), 0);
	v = fork_view(p, 0, LEN);
	assert_int_equal(v.exclusive, 8);
	assert_int_equal(v.copied, 8 * PAGE);
	assert_int_equal(fork_view(p, 4 * PAGE, 8 * PAGE).exclusive, 8);
	assert_int_equal(pinguard_unpin(p, 8 * PAGE), 0);
	assert_int_equal(pinguard_pin_count(p), 0);
	assert_int_equal(pinguard_pin_count(p + 4 * PAGE), 1);
	v = fork_view(p, 4 * PAGE, 8 * PAGE);
	assert_int_equal(v.exclusive, 8);
	assert_int_equal(v.copied, 8 * PAGE);
	assert_int_equal(pinguard_unpin(p + 4 * PAGE, 8 * PAGE), 0);
	assert_int_equal(stats().pinned_bytes, 0);
	munmap(p, LEN);
}

/* Same rules in dontfork mode, seen as the VMA's "dc" flag. */
static void dontfork_mode_scope(void **state)
{
	char *p = filled();

	(void)state;
	configure(PINGUARD_MODE_DONTFORK, PINGUARD_PRETOUCH_NEVER,
		  PINGUARD_SCOPE_LONGTERM);
	assert_int_equal(pinguard_pin(p, LEN, PINGUARD_PIN_SHORTTERM), 0);
	assert_false(vma_has_flag(p, "dc"));
	assert_int_equal(pinguard_pin(p, LEN, 0), 0);
	assert_true(vma_has_flag(p, "dc"));
	assert_int_equal(stats().ranges_dontfork, 1);
	assert_int_equal(pinguard_unpin(p, LEN), 0);
	assert_true(vma_has_flag(p, "dc"));	/* long-term pin remains */
	assert_int_equal(stats().ranges_dontfork, 1);
	assert_int_equal(pinguard_unpin(p, LEN), 0);
	assert_false(vma_has_flag(p, "dc"));
	assert_int_equal(stats().ranges_dontfork, 0);

	configure(PINGUARD_MODE_DONTFORK, PINGUARD_PRETOUCH_NEVER,
		  PINGUARD_SCOPE_ALL);
	assert_int_equal(pinguard_pin(p, LEN, PINGUARD_PIN_SHORTTERM), 0);
	assert_true(vma_has_flag(p, "dc"));
	assert_int_equal(stats().ranges_dontfork, 1);
	assert_int_equal(pinguard_unpin(p, LEN), 0);
	assert_false(vma_has_flag(p, "dc"));
	munmap(p, LEN);
}

/* ranges_dontfork counts the extents pinguard holds MADV_DONTFORK on:
 * short-term pins out of scope are pinned but not DONTFORK. */
static void dontfork_stats_follow_scope(void **state)
{
	char *p = filled();

	(void)state;
	configure(PINGUARD_MODE_DONTFORK, PINGUARD_PRETOUCH_NEVER,
		  PINGUARD_SCOPE_LONGTERM);
	assert_int_equal(pinguard_pin(p, LEN, PINGUARD_PIN_SHORTTERM), 0);
	assert_false(vma_has_flag(p, "dc"));
	assert_int_equal(stats().pinned_ranges, 1);
	assert_int_equal(stats().ranges_dontfork, 0);
	/* short-term pages 0-3, long-term pages 8-11: one DONTFORK extent */
	assert_int_equal(pinguard_unpin(p, LEN), 0);
	assert_int_equal(pinguard_pin(p, 4 * PAGE, PINGUARD_PIN_SHORTTERM), 0);
	assert_int_equal(pinguard_pin(p + 8 * PAGE, 4 * PAGE, 0), 0);
	assert_int_equal(stats().pinned_ranges, 2);
	assert_int_equal(stats().ranges_dontfork, 1);
	assert_int_equal(pinguard_unpin(p, 4 * PAGE), 0);
	assert_int_equal(pinguard_unpin(p + 8 * PAGE, 4 * PAGE), 0);
	munmap(p, LEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		PG_TEST(pretouch_always_makes_pages_present),
		PG_TEST(pretouch_never_leaves_pages_absent),
		PG_TEST(pretouch_auto_is_idle_on_recent_kernel),
		PG_TEST(pretouch_breaks_cow_sharing),
		PG_TEST(scope_longterm_skips_shortterm_pins),
		PG_TEST(scope_all_guards_shortterm_pins),
		PG_TEST(mixed_long_then_short),
		PG_TEST(mixed_short_then_long),
		PG_TEST(mixed_partial_overlap),
		PG_TEST(dontfork_mode_scope),
		PG_TEST(dontfork_stats_follow_scope),
	};

	return PG_RUN_GROUP(tests, NULL, NULL);
}
