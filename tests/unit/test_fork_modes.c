/* SPDX-License-Identifier: MIT */
/*
 * The decisive check. Memory is pinned through the API only (no kernel
 * pin, so this early-COW host treats it as ordinary memory). With a child
 * alive, every pinned page of the parent must still be exclusively mapped
 * (pagemap bit 56) in copy and dontfork modes, and must not be in off
 * mode, which proves the check can fail.
 */
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../common.h"

#define LEN (64 * PAGE)

struct child_view {
	char *buf;
	size_t len;
};

/* In the child: fork-time contents, writable, MADV_DONTNEED zero-fills,
 * same protection. */
static int child_checks_copy(void *arg)
{
	struct child_view *v = arg;
	size_t i;

	for (i = 0; i < v->len; i++)
		if (v->buf[i] != (char)('a' + i % 26))
			return 1;
	if (vma_prot(v->buf) != (PROT_READ | PROT_WRITE))
		return 2;
	memset(v->buf, 'z', v->len);
	if (v->buf[v->len - 1] != 'z')
		return 3;
	if (madvise(v->buf, v->len, MADV_DONTNEED))
		return 4;
	for (i = 0; i < v->len; i++)
		if (v->buf[i])
			return 5;
	return 0;
}

static int child_checks_absent(void *arg)
{
	struct child_view *v = arg;

	return is_mapped(v->buf) ? 1 : 0;
}

static int child_checks_shared_cow(void *arg)
{
	struct child_view *v = arg;

	/* off: ordinary fork semantics, the child still sees its data */
	return v->buf[0] == 'a' ? 0 : 1;
}

static char *filled_buffer(void)
{
	char *p = map_anon(LEN, PROT_READ | PROT_WRITE);
	size_t i;

	for (i = 0; i < LEN; i++)
		p[i] = (char)('a' + i % 26);
	return p;
}

static void run_mode(enum pinguard_mode mode, int (*check)(void *),
		     size_t want_exclusive)
{
	struct child_view v = { filled_buffer(), LEN };
	struct pinguard_stats before, after;
	struct child c;

	set_mode(mode);
	before = stats();
	/* unaligned start and end: whole pages are guarded */
	assert_int_equal(pinguard_pin(v.buf + 10, LEN - 20, 0), 0);
	child_start(&c, check, &v);
	assert_int_equal(exclusive_pages(v.buf, LEN), want_exclusive);
	/* parent's writes after fork must not reach the child's copy */
	memset(v.buf, '#', LEN);
	assert_int_equal(child_finish(&c), 0);
	after = stats();
	assert_int_equal(after.forks_seen - before.forks_seen, 1);
	assert_int_equal(after.forks_guarded - before.forks_guarded,
			 mode == PINGUARD_MODE_OFF ? 0 : 1);
	assert_int_equal(after.bytes_copied - before.bytes_copied,
			 mode == PINGUARD_MODE_COPY ? LEN : 0);
	assert_int_equal(after.fork_errors, before.fork_errors);
	/* parent still has its own data and its pages are not DONTFORK */
	assert_int_equal(v.buf[LEN - 1], '#');
	assert_int_equal(pinguard_unpin(v.buf + 10, LEN - 20), 0);
	assert_false(vma_has_flag(v.buf, "dc"));
	munmap(v.buf, LEN);
}

static void copy_keeps_parent_exclusive(void **state)
{
	(void)state;
	run_mode(PINGUARD_MODE_COPY, child_checks_copy, LEN / PAGE);
}

static void dontfork_keeps_parent_exclusive(void **state)
{
	(void)state;
	run_mode(PINGUARD_MODE_DONTFORK, child_checks_absent, LEN / PAGE);
}

static void off_shares_pages(void **state)
{
	(void)state;
	run_mode(PINGUARD_MODE_OFF, child_checks_shared_cow, 0);
}

/* A child that already exited leaves the parent's pages exclusive on any
 * kernel; the child alive is what matters, and nested forks must work. */
static int grandchild(void *arg)
{
	struct child_view *v = arg;
	struct child c;
	int r;

	/* The child has no pins of its own. */
	if (pinguard_pin_count(v->buf) != 0)
		return 10;
	child_start(&c, child_checks_copy, v);
	r = child_finish(&c);
	return r;
}

static void nested_fork_in_copy_mode(void **state)
{
	struct child_view v = { filled_buffer(), LEN };
	struct child c;

	(void)state;
	set_mode(PINGUARD_MODE_COPY);
	assert_int_equal(pinguard_pin(v.buf, LEN, 0), 0);
	child_start(&c, grandchild, &v);
	memset(v.buf, '#', LEN);
	assert_int_equal(child_finish(&c), 0);
	assert_int_equal(pinguard_unpin(v.buf, LEN), 0);
	munmap(v.buf, LEN);
}

/* Unpinned memory is untouched by the fork hook: the child shares it. */
static void unpinned_memory_is_not_copied(void **state)
{
	struct child_view v = { filled_buffer(), LEN };
	struct pinguard_stats before;
	struct child c;

	(void)state;
	set_mode(PINGUARD_MODE_COPY);
	assert_int_equal(pinguard_pin(v.buf, PAGE, 0), 0);
	before = stats();
	child_start(&c, child_checks_shared_cow, &v);
	assert_int_equal(exclusive_pages(v.buf, PAGE), 1);
	assert_int_equal(exclusive_pages(v.buf + PAGE, LEN - PAGE), 0);
	assert_int_equal(child_finish(&c), 0);
	assert_int_equal(stats().bytes_copied - before.bytes_copied, PAGE);
	assert_int_equal(pinguard_unpin(v.buf, PAGE), 0);
	munmap(v.buf, LEN);
}

/* Unpinned pages between two pinned ranges of one mapping are not
 * snapshotted at prepare time (they may hold malloc state or a thread's
 * TLS that changes before the fork): they are shared as usual. */
static void gap_between_pins_is_shared(void **state)
{
	struct child_view v = { filled_buffer(), LEN };
	struct child c;

	(void)state;
	set_mode(PINGUARD_MODE_COPY);
	assert_int_equal(pinguard_pin(v.buf, PAGE, 0), 0);
	assert_int_equal(pinguard_pin(v.buf + 3 * PAGE, PAGE, 0), 0);
	child_start(&c, child_checks_shared_cow, &v);
	assert_int_equal(exclusive_pages(v.buf, PAGE), 1);
	assert_int_equal(exclusive_pages(v.buf + PAGE, 2 * PAGE), 0);
	assert_int_equal(exclusive_pages(v.buf + 3 * PAGE, PAGE), 1);
	assert_int_equal(child_finish(&c), 0);
	assert_int_equal(pinguard_unpin(v.buf, PAGE), 0);
	assert_int_equal(pinguard_unpin(v.buf + 3 * PAGE, PAGE), 0);
	munmap(v.buf, LEN);
}

/* The application's own prepare handler pins memory: pinguard's handler
 * runs after it, so that memory is guarded by this very fork. */
static char *late_buf;

/* Copies of 4 MiB and more are shared by the forking thread and a helper
 * thread, chunk by chunk: three ranges of odd sizes (9 MiB in all, not a
 * multiple of a chunk), rewritten before each fork; every child must see
 * exactly its fork's data. */
#define BIG_LEN (12ul << 20)
static const size_t big_ranges[3][2] = {
	{ 0, (1ul << 20) + 3 * PAGE },
	{ (1ul << 20) + 5 * PAGE, (6ul << 20) + PAGE },
	{ 7ul << 20, (7ul << 20) + 777 * PAGE },
};

struct big_view {
	uint64_t *buf;
	uint64_t seed;
};

static void big_fill(uint64_t *buf, uint64_t seed)
{
	size_t i;

	for (i = 0; i < BIG_LEN / 8; i++)
		buf[i] = seed * 0x9e3779b97f4a7c15ull ^ i;
}

static int child_checks_big(void *arg)
{
	const struct big_view *v = arg;
	size_t r, i;

	for (r = 0; r < 3; r++)
		for (i = big_ranges[r][0] / 8; i < big_ranges[r][1] / 8; i++)
			if (v->buf[i] != (v->seed * 0x9e3779b97f4a7c15ull ^ i))
				return 1 + (int)r;
	return 0;
}

static void large_copy_on_two_threads(void **state)
{
	struct big_view v = { map_anon(BIG_LEN, PROT_READ | PROT_WRITE), 0 };
	struct pinguard_stats before;
	size_t r, total = 0;
	struct child c;

	(void)state;
	set_mode(PINGUARD_MODE_COPY);
	for (r = 0; r < 3; r++) {
		assert_int_equal(pinguard_pin((char *)v.buf + big_ranges[r][0],
					      big_ranges[r][1] - big_ranges[r][0],
					      0), 0);
		total += big_ranges[r][1] - big_ranges[r][0];
	}
	for (v.seed = 1; v.seed <= 12; v.seed++) {
		big_fill(v.buf, v.seed);
		before = stats();
		child_start(&c, child_checks_big, &v);
		big_fill(v.buf, v.seed + 1000);	/* the parent moves on */
		assert_int_equal(child_finish(&c), 0);
		assert_int_equal(stats().bytes_copied - before.bytes_copied,
				 total);
	}
	for (r = 0; r < 3; r++)
		assert_int_equal(pinguard_unpin((char *)v.buf + big_ranges[r][0],
						big_ranges[r][1] -
						big_ranges[r][0]), 0);
	munmap(v.buf, BIG_LEN);
}

static void app_prepare(void)
{
	if (late_buf && pinguard_pin_count(late_buf) == 0)
		pinguard_pin(late_buf, LEN, 0);
}

static int child_sees_late_buf(void *arg)
{
	(void)arg;
	return late_buf[0] == 'a' ? 0 : 1;
}

static void runs_after_application_prepare_handlers(void **state)
{
	struct child c;

	(void)state;
	set_mode(PINGUARD_MODE_COPY);
	late_buf = filled_buffer();
	assert_int_equal(pthread_atfork(app_prepare, NULL, NULL), 0);
	child_start(&c, child_sees_late_buf, NULL);
	assert_int_equal(pinguard_pin_count(late_buf), 1);
	assert_int_equal(exclusive_pages(late_buf, LEN), LEN / PAGE);
	memset(late_buf, '#', LEN);
	assert_int_equal(child_finish(&c), 0);
	assert_int_equal(pinguard_unpin(late_buf, LEN), 0);
	munmap(late_buf, LEN);
	late_buf = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		PG_TEST(copy_keeps_parent_exclusive),
		PG_TEST(dontfork_keeps_parent_exclusive),
		PG_TEST(off_shares_pages),
		PG_TEST(nested_fork_in_copy_mode),
		PG_TEST(unpinned_memory_is_not_copied),
		PG_TEST(runs_after_application_prepare_handlers),
		PG_TEST(gap_between_pins_is_shared),
		PG_TEST(large_copy_on_two_threads),
	};

	return PG_RUN_GROUP(tests, NULL, NULL);
}
