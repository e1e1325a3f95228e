/* SPDX-License-Identifier: MIT */
/* liburing fixed-buffer wrappers against the stand-in liburing.so.2:
 * per-slot, per-ring pins, released by unregister, slot updates and
 * io_uring_queue_exit. No kernel ring is created. */
#include <errno.h>
#include <string.h>
#include "fake_api.h"

#include "pg_api.h"

static void test_symbols_resolve_to_wrappers(void **state)
{
	static const char *const syms[] = {
		"io_uring_register_buffers", "io_uring_register_buffers_tags",
		"io_uring_register_buffers_sparse",
		"io_uring_register_buffers_update_tag",
		"io_uring_unregister_buffers", "io_uring_queue_exit",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(syms) / sizeof(syms[0]); i++)
		if (!wrapped_by_pinguard(syms[i]))
			fail_msg("%s is not pinguard's wrapper", syms[i]);
}

static void test_register_pins_each_iovec(void **state)
{
	static struct io_uring ring;
	char *a = pages(2), *b = pages(3);
	struct iovec iov[2] = { { a, 2 * PAGE }, { b + 10, 2 * PAGE } };
	const struct fake_call *c;

	(void)state;
	memset(&ring, 0, sizeof(ring));
	assert_int_equal(io_uring_register_buffers(&ring, iov, 2), 0);
	c = reached("io_uring_register_buffers");
	assert_int_equal(c->nargs, 3);
	assert_int_equal(c->arg[0], FAKE_U(&ring));
	assert_int_equal(c->arg[1], FAKE_U(iov));
	assert_int_equal(c->arg[2], 2);
	assert_int_equal(c->pins[0], 1);
	assert_int_equal(c->pins[1], 1);
	/* b+10 .. b+10+2 pages touches all 3 pages of b */
	expect_stats(2, 5 * PAGE);
	assert_int_equal(io_uring_unregister_buffers(&ring), 0);
	assert_int_equal(reached("io_uring_unregister_buffers")->arg[0],
			 FAKE_U(&ring));
	assert_int_equal(pins(a), 0);
	assert_int_equal(pins(b), 0);
	expect_stats(0, 0);
}

static void test_two_rings_two_pins(void **state)
{
	static struct io_uring r1, r2;
	char *a = pages(2);
	struct iovec iov = { a, 2 * PAGE };
	__u64 tag = 9;

	(void)state;
	assert_int_equal(io_uring_register_buffers(&r1, &iov, 1), 0);
	assert_int_equal(io_uring_register_buffers_tags(&r2, &iov, &tag, 1),
			 0);
	assert_int_equal(reached("io_uring_register_buffers_tags")->pins[0],
			 2);
	assert_int_equal(pins(a), 2);
	expect_stats(2, 2 * PAGE);
	assert_int_equal(io_uring_unregister_buffers(&r1), 0);
	assert_int_equal(pins(a), 1);
	expect_stats(1, 2 * PAGE);
	io_uring_queue_exit(&r2);
	assert_int_equal(reached("io_uring_queue_exit")->arg[0], FAKE_U(&r2));
	assert_int_equal(pins(a), 0);
	expect_stats(0, 0);
}

static void test_register_failure_rolls_back(void **state)
{
	static struct io_uring ring;
	char *a = pages(1), *b = pages(1);
	struct iovec iov[2] = { { a, PAGE }, { b, PAGE } };

	(void)state;
	fake_fail_next("io_uring_register_buffers", ENOMEM);
	errno = EILSEQ;	/* liburing reports -errno; errno is the caller's */
	assert_int_equal(io_uring_register_buffers(&ring, iov, 2), -ENOMEM);
	assert_int_equal(errno, EILSEQ);
	assert_int_equal(reached("io_uring_register_buffers")->pins[1], 1);
	assert_int_equal(pins(a), 0);
	assert_int_equal(pins(b), 0);
	expect_stats(0, 0);
	/* nothing remembered for the ring: exit releases nothing */
	io_uring_queue_exit(&ring);
	expect_stats(0, 0);
}

static void test_unregister_failure_keeps_pins(void **state)
{
	static struct io_uring ring;
	char *a = pages(1);
	struct iovec iov = { a, PAGE };

	(void)state;
	assert_int_equal(io_uring_register_buffers(&ring, &iov, 1), 0);
	fake_fail_next("io_uring_unregister_buffers", ENXIO);
	assert_int_equal(io_uring_unregister_buffers(&ring), -ENXIO);
	assert_int_equal(pins(a), 1);
	expect_stats(1, PAGE);
	io_uring_queue_exit(&ring);
	assert_int_equal(pins(a), 0);
	expect_stats(0, 0);
}

/* Slot 1 replaced: its old buffer unpinned, the new one pinned first. */
static void test_update_tag_replaces_slot(void **state)
{
	static struct io_uring ring;
	char *a = pages(1), *b = pages(1), *c = pages(2);
	struct iovec iov[2] = { { a, PAGE }, { b, PAGE } };
	struct iovec upd = { c, 2 * PAGE };
	__u64 tag = 3;
	const struct fake_call *f;

	(void)state;
	assert_int_equal(io_uring_register_buffers(&ring, iov, 2), 0);
	assert_int_equal(io_uring_register_buffers_update_tag(&ring, 1, &upd,
							      &tag, 1), 1);
	f = reached("io_uring_register_buffers_update_tag");
	assert_int_equal(f->nargs, 5);
	assert_int_equal(f->arg[0], FAKE_U(&ring));
	assert_int_equal(f->arg[1], 1);
	assert_int_equal(f->arg[2], FAKE_U(&upd));
	assert_int_equal(f->arg[3], FAKE_U(&tag));
	assert_int_equal(f->arg[4], 1);
	assert_int_equal(f->pins[0], 1);
	assert_int_equal(pins(a), 1);
	assert_int_equal(pins(b), 0);
	assert_int_equal(pins(c), 1);
	expect_stats(2, 3 * PAGE);
	io_uring_queue_exit(&ring);
	assert_int_equal(pins(a) + pins(c), 0);
	expect_stats(0, 0);
}

/* The kernel updated only the first of two slots: the second new buffer
 * is rolled back and slot 1 keeps its old buffer; a failure changes
 * nothing. */
static void test_update_tag_partial_and_failure(void **state)
{
	static struct io_uring ring;
	char *a = pages(1), *b = pages(1), *d = pages(1), *e = pages(1);
	struct iovec iov[2] = { { a, PAGE }, { b, PAGE } };
	struct iovec upd[2] = { { d, PAGE }, { e, PAGE } };
	__u64 tags[2] = { 1, 2 };
	const struct fake_call *f;

	(void)state;
	assert_int_equal(io_uring_register_buffers(&ring, iov, 2), 0);
	fake_return_next("io_uring_register_buffers_update_tag", 1);
	assert_int_equal(io_uring_register_buffers_update_tag(&ring, 0, upd,
							      tags, 2), 1);
	f = reached("io_uring_register_buffers_update_tag");
	assert_int_equal(f->pins[0], 1);
	assert_int_equal(f->pins[1], 1);
	assert_int_equal(pins(a), 0);
	assert_int_equal(pins(d), 1);
	assert_int_equal(pins(b), 1);
	assert_int_equal(pins(e), 0);
	expect_stats(2, 2 * PAGE);

	fake_fail_next("io_uring_register_buffers_update_tag", EINVAL);
	assert_int_equal(io_uring_register_buffers_update_tag(&ring, 0, upd + 1,
							      tags, 1),
			 -EINVAL);
	assert_int_equal(pins(d), 1);
	assert_int_equal(pins(e), 0);
	expect_stats(2, 2 * PAGE);
	assert_int_equal(io_uring_unregister_buffers(&ring), 0);
	assert_int_equal(pins(d) + pins(b), 0);
	expect_stats(0, 0);
}

/* Sparse tables pin nothing until a slot is filled. */
static void test_sparse_then_update(void **state)
{
	static struct io_uring ring;
	char *a = pages(2);
	struct iovec upd = { a, 2 * PAGE };
	__u64 tag = 0;

	(void)state;
	assert_int_equal(io_uring_register_buffers_sparse(&ring, 4), 0);
	assert_int_equal(reached("io_uring_register_buffers_sparse")->arg[1],
			 4);
	expect_stats(0, 0);
	assert_int_equal(io_uring_register_buffers_update_tag(&ring, 2, &upd,
							      &tag, 1), 1);
	assert_int_equal(pins(a), 1);
	expect_stats(1, 2 * PAGE);
	io_uring_queue_exit(&ring);
	assert_int_equal(pins(a), 0);
	expect_stats(0, 0);
}

/* An update on a ring pinguard knows nothing about pins nothing. */
static void test_update_unknown_ring(void **state)
{
	static struct io_uring ring;
	char *a = pages(1);
	struct iovec upd = { a, PAGE };
	__u64 tag = 0;

	(void)state;
	memset(&ring, 0, sizeof(ring));
	assert_int_equal(io_uring_register_buffers_update_tag(&ring, 0, &upd,
							      &tag, 1), 1);
	assert_int_equal(pins(a), 0);
	expect_stats(0, 0);
}

#define T(f) cmocka_unit_test_setup(f, pg_test_setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_symbols_resolve_to_wrappers),
		T(test_register_pins_each_iovec),
		T(test_two_rings_two_pins),
		T(test_register_failure_rolls_back),
		T(test_unregister_failure_keeps_pins),
		T(test_update_tag_replaces_slot),
		T(test_update_tag_partial_and_failure),
		T(test_sparse_then_update),
		T(test_update_unknown_ring),
	};

	return cmocka_run_group_tests(tests, pg_api_setup, NULL);
}
