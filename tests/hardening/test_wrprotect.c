/* SPDX-License-Identifier: MIT */
/*
 * Write permission taken from pinned private pages: on 5.9-5.18 the next
 * write fault replaces such a page and the device keeps the old one, so
 * pinguard counts each mprotect()/pkey_mprotect() that does it
 * (stats.pinned_wrprotects) and warns once per range. Built against the
 * fault-injection library, which can pretend to run on another kernel
 * release (PINGUARD_TEST_KERNEL_RELEASE, set by meson):
 *
 *   test_wrprotect affected     (5.10: counted and warned)
 *   test_wrprotect unaffected   (6.1: nothing)
 *
 * PINGUARD_LOG=warn and PINGUARD_LOG_FILE name the log this reads.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common.h"

static bool affected;
static const char *log_path;

/* Lines of the log that contain text. */
static int log_lines(const char *text)
{
	FILE *f = fopen(log_path, "r");
	char line[512];
	int n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, text) != NULL;
	fclose(f);
	return n;
}

/* Lines of the log that warn about write protection. */
static int warnings(void)
{
	return log_lines("write permission taken from pinned");
}

static uint64_t events(void)
{
	return stats().pinned_wrprotects;
}

static void private_anon(void **state)
{
	char *p = map_anon(8 * PAGE, PROT_READ | PROT_WRITE);
	char want[64];

	(void)state;
	memset(p, 1, 8 * PAGE);
	assert_int_equal(pinguard_pin(p + 2 * PAGE, 4 * PAGE, 0), 0);
	/* read-only over the whole buffer: one event, one warning naming the
	 * pinned part */
	assert_int_equal(mprotect(p, 8 * PAGE, PROT_READ), 0);
	assert_int_equal(events(), affected ? 1 : 0);
	assert_int_equal(warnings(), affected ? 1 : 0);
	snprintf(want, sizeof(want), "pinned pages %p+%lu:",
		 (void *)(p + 2 * PAGE), 4 * PAGE);
	assert_int_equal(log_lines(want), affected ? 1 : 0);
	/* giving write back is no event */
	assert_int_equal(mprotect(p, 8 * PAGE, PROT_READ | PROT_WRITE), 0);
	assert_int_equal(events(), affected ? 1 : 0);
	/* the same range again: counted, not warned again */
	assert_int_equal(mprotect(p, 8 * PAGE, PROT_READ), 0);
	assert_int_equal(events(), affected ? 2 : 0);
	assert_int_equal(warnings(), affected ? 1 : 0);
	/* pkey_mprotect without a key is mprotect */
	assert_int_equal(pkey_mprotect(p + 3 * PAGE, PAGE, PROT_NONE, -1), 0);
	assert_int_equal(events(), affected ? 3 : 0);
	assert_int_equal(warnings(), affected ? 2 : 0);
	assert_int_equal(mprotect(p, 8 * PAGE, PROT_READ | PROT_WRITE), 0);
	/* unpinned pages: nothing */
	assert_int_equal(mprotect(p + 7 * PAGE, PAGE, PROT_READ), 0);
	assert_int_equal(events(), affected ? 3 : 0);
	assert_int_equal(pinguard_unpin(p + 2 * PAGE, 4 * PAGE), 0);
	assert_int_equal(mprotect(p, 8 * PAGE, PROT_READ), 0);
	assert_int_equal(events(), affected ? 3 : 0);
	/* a failing mprotect is no event either, and keeps its errno */
	assert_int_equal(pinguard_pin(p, PAGE, 0), 0);
	errno = 0;
	assert_int_equal(mprotect(p + 1, PAGE, PROT_READ), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(events(), affected ? 3 : 0);
	assert_int_equal(pinguard_unpin(p, PAGE), 0);
	munmap(p, 8 * PAGE);
}

/* MAP_SHARED is never copy-on-write; hugetlb reuses by map count. */
static void shared_and_hugetlb(void **state)
{
	uint64_t before = events();
	char *s = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char *h = map_hugetlb(2ul << 20);

	(void)state;
	assert_true(s != MAP_FAILED);
	memset(s, 1, 4 * PAGE);
	assert_int_equal(pinguard_pin(s, 4 * PAGE, 0), 0);
	assert_int_equal(mprotect(s, 4 * PAGE, PROT_READ), 0);
	assert_int_equal(events(), before);
	assert_int_equal(pinguard_unpin(s, 4 * PAGE), 0);
	munmap(s, 4 * PAGE);
	if (!h)
		return;
	memset(h, 1, 2ul << 20);
	assert_int_equal(pinguard_pin(h, PAGE, 0), 0);
	assert_int_equal(mprotect(h, 2ul << 20, PROT_READ), 0);
	assert_int_equal(events(), before);
	assert_int_equal(pinguard_unpin(h, PAGE), 0);
	munmap(h, 2ul << 20);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(private_anon),
		cmocka_unit_test(shared_and_hugetlb),
	};
	int fd;

	log_path = getenv("PINGUARD_LOG_FILE");
	if (argc != 2 || !log_path ||
	    (strcmp(argv[1], "affected") && strcmp(argv[1], "unaffected"))) {
		fprintf(stderr, "usage: PINGUARD_LOG_FILE=F %s "
			"affected|unaffected\n", argv[0]);
		return 2;
	}
	affected = !strcmp(argv[1], "affected");
	/* the library opened it (append) at load: start it empty */
	fd = open(log_path, O_WRONLY | O_TRUNC);
	if (fd >= 0)
		close(fd);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
