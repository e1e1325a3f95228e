/* SPDX-License-Identifier: MIT */
/* Bad input gets a negative errno and changes nothing; errno itself is
 * left alone. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* dlvsym */
#endif
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../common.h"

static void registry_unchanged(const struct pinguard_stats *before)
{
	struct pinguard_stats now = stats();

	assert_int_equal(now.pinned_bytes, before->pinned_bytes);
	assert_int_equal(now.pinned_ranges, before->pinned_ranges);
	assert_int_equal(now.active_pins, before->active_pins);
	assert_int_equal(now.pins_total, before->pins_total);
	assert_int_equal(now.unpins_total, before->unpins_total);
}

static void bad_pins(void **state)
{
	char *p = map_anon(4 * PAGE, PROT_READ | PROT_WRITE);
	char *hole = map_anon(3 * PAGE, PROT_READ | PROT_WRITE);
	struct pinguard_stats before;

	(void)state;
	assert_int_equal(pinguard_pin(p, PAGE, 0), 0);	/* something there */
	before = stats();
	assert_int_equal(munmap(hole + PAGE, PAGE), 0);
	errno = 1234;
	assert_int_equal(pinguard_pin(NULL, PAGE, 0), -EINVAL);
	assert_int_equal(pinguard_pin(p, 0, 0), -EINVAL);
	assert_int_equal(pinguard_pin((void *)(UINTPTR_MAX - PAGE), 2 * PAGE, 0),
			 -EINVAL);
	assert_int_equal(pinguard_pin(p, SIZE_MAX, 0), -EINVAL);
	assert_int_equal(pinguard_pin(p, PAGE, 0x80), -EINVAL);
	/* unmapped: entirely, and a hole in the middle */
	assert_int_equal(pinguard_pin(hole + PAGE, PAGE, 0), -EFAULT);
	assert_int_equal(pinguard_pin(hole, 3 * PAGE, 0), -EFAULT);
	assert_int_equal(pinguard_pin((void *)0x1000, PAGE, 0), -EFAULT);
	assert_int_equal(errno, 1234);
	registry_unchanged(&before);
	assert_int_equal(pinguard_unpin(p, PAGE), 0);
	munmap(p, 4 * PAGE);
	munmap(hole, 3 * PAGE);
}

static void bad_unpins(void **state)
{
	char *p = map_anon(4 * PAGE, PROT_READ | PROT_WRITE);
	struct pinguard_stats before;

	(void)state;
	assert_int_equal(pinguard_pin(p, 2 * PAGE, 0), 0);
	before = stats();
	assert_int_equal(pinguard_unpin(NULL, PAGE), -EINVAL);
	assert_int_equal(pinguard_unpin(p, 0), -EINVAL);
	/* partly pinned: nothing changes */
	assert_int_equal(pinguard_unpin(p, 3 * PAGE), -ENOENT);
	assert_int_equal(pinguard_unpin(p + 2 * PAGE, PAGE), -ENOENT);
	assert_int_equal(pinguard_pin_count(p), 1);
	registry_unchanged(&before);
	assert_int_equal(pinguard_unpin(p, 2 * PAGE), 0);
	assert_int_equal(pinguard_unpin(p, 2 * PAGE), -ENOENT);
	munmap(p, 4 * PAGE);
}

static void bad_api_arguments(void **state)
{
	struct pinguard_config c;
	char *p = map_anon(PAGE, PROT_READ | PROT_WRITE);

	(void)state;
	assert_int_equal(pinguard_get_stats(NULL, 8), -EINVAL);
	assert_int_equal(pinguard_get_mode(NULL, sizeof(struct pinguard_mode_info)),
			 -EINVAL);
	assert_int_equal(pinguard_get_mode((struct pinguard_mode_info *)&c, 0),
			 -EINVAL);
	assert_int_equal(pinguard_get_config(NULL, sizeof(c)), -EINVAL);
	assert_int_equal(pinguard_configure(NULL, sizeof(c)), -EINVAL);
	assert_int_equal(pinguard_get_config(&c, sizeof(c)), 0);
	assert_int_equal(pinguard_configure(&c, 4), -EINVAL);
	c.mode = (enum pinguard_mode)17;
	assert_int_equal(pinguard_configure(&c, sizeof(c)), -EINVAL);
	assert_int_equal(pinguard_pin_count(NULL), -EINVAL);
	assert_string_equal(pinguard_mode_name((enum pinguard_mode)9),
			    "invalid");
	/* mode changes while pages are pinned are refused */
	assert_int_equal(pinguard_get_config(&c, sizeof(c)), 0);
	assert_int_equal(pinguard_pin(p, PAGE, 0), 0);
	c.mode = c.mode == PINGUARD_MODE_COPY ? PINGUARD_MODE_DONTFORK :
						PINGUARD_MODE_COPY;
	assert_int_equal(pinguard_configure(&c, sizeof(c)), -EBUSY);
	assert_int_equal(pinguard_unpin(p, PAGE), 0);
	assert_int_equal(pinguard_configure(&c, sizeof(c)), 0);
	munmap(p, PAGE);
}

/* A short stats structure (an older caller) gets a prefix. */
static void stats_prefix(void **state)
{
	uint64_t two[3] = { 0, 0, 0xdead };
	char *p = map_anon(PAGE, PROT_READ | PROT_WRITE);

	(void)state;
	assert_int_equal(pinguard_pin(p, PAGE, 0), 0);
	assert_int_equal(pinguard_get_stats((struct pinguard_stats *)two,
					    2 * sizeof(uint64_t)), 0);
	assert_int_equal(two[0], 1);		/* pinned_ranges */
	assert_int_equal(two[1], PAGE);		/* pinned_bytes */
	assert_int_equal(two[2], 0xdead);
	assert_int_equal(pinguard_unpin(p, PAGE), 0);
	munmap(p, PAGE);
}

/* struct pinguard_mode_info grew fork_init in 0.2. A short structure
 * gets a prefix; a program built against 0.1 (no size argument) binds to
 * pinguard_get_mode@PINGUARD_0.1, which must not write past the six
 * fields it knew (it did: 4 bytes of the caller's stack). */
static void mode_info_versions(void **state)
{
	typedef int (*get_0_1)(struct pinguard_mode_info *);
	get_0_1 old = (get_0_1)dlvsym(RTLD_DEFAULT, "pinguard_get_mode",
				      "PINGUARD_0.1");
	void *cur = dlvsym(RTLD_DEFAULT, "pinguard_get_mode", "PINGUARD_0.2");
	struct pinguard_mode_info mi;
	struct pinguard_config c;
	int two[3] = { -1, -1, 0x5a5a };

	(void)state;
	assert_int_equal(pinguard_get_config(&c, sizeof(c)), 0);
	assert_non_null(old);
	assert_non_null(cur);
	assert_ptr_equal(cur, dlsym(RTLD_DEFAULT, "pinguard_get_mode"));
	assert_ptr_not_equal((void *)old, cur);

	memset(&mi, 0x5a, sizeof(mi));
	assert_int_equal(pinguard_get_mode(&mi, sizeof(mi)), 0);
	assert_int_equal(mi.configured, (int)c.mode);
	assert_int_equal(mi.effective, (int)c.mode);
	assert_int_equal(mi.reason, PINGUARD_REASON_CONFIGURED);
	assert_int_equal(mi.fork_init, PINGUARD_FORK_INIT_PASSTHROUGH);

	assert_int_equal(pinguard_get_mode((struct pinguard_mode_info *)two,
					   2 * sizeof(int)), 0);
	assert_int_equal(two[0], (int)c.mode);
	assert_int_equal(two[1], (int)c.mode);
	assert_int_equal(two[2], 0x5a5a);

	memset(&mi, 0x5a, sizeof(mi));
	assert_int_equal(old(&mi), 0);
	assert_int_equal(mi.configured, (int)c.mode);
	assert_int_equal(mi.effective, (int)c.mode);
	assert_int_equal(mi.reason, PINGUARD_REASON_CONFIGURED);
	assert_int_equal(mi.scope, PINGUARD_SCOPE_LONGTERM);
	assert_int_equal(mi.fork_init, 0x5a5a5a5a);	/* untouched */
	assert_int_equal(old(NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		PG_TEST(bad_pins),
		PG_TEST(bad_unpins),
		PG_TEST(bad_api_arguments),
		PG_TEST(stats_prefix),
		PG_TEST(mode_info_versions),
	};

	set_mode(PINGUARD_MODE_COPY);
	return PG_RUN_GROUP(tests, NULL, NULL);
}
