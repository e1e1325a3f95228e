/* SPDX-License-Identifier: MIT */
/*
 * Auto mode judges the kernel per kind of memory (4 KiB, THP, hugetlb),
 * at the first pin of each kind, and guards only the kinds it finds
 * unpatched. The host kernel has early COW for every kind, so the
 * per-kind overrides (PINGUARD_KERNEL_4K/_THP/_HUGETLB, set by meson for
 * each scenario) make one kind "unpatched", as on Debian 11's 5.10 for
 * hugetlb: only that kind may be copied at fork, and every child must
 * still read fork-time data.
 *
 *   test_kinds probe|hugetlb|thp|4k|all-but-hugetlb
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../common.h"

#define HUGE (2ul << 20)
#define SMALL (16 * PAGE)

static const char *scenario;

struct region {
	char *buf;
	size_t len;
	char want;	/* what the child must read */
	bool guarded;	/* pinguard copies it: the parent's pages stay its
			 * own (the API pins nothing in the kernel, so the
			 * kernel's early COW cannot be seen here) */
};

/* SMALL bytes in a VMA of their own (PROT_NONE on both sides), too small
 * to ever hold a transparent huge page: 4 KiB pages only. */
static char *map_small(void)
{
	char *p = map_anon(SMALL + 2 * PAGE, PROT_READ | PROT_WRITE);

	assert_int_equal(mprotect(p, PAGE, PROT_NONE), 0);
	assert_int_equal(mprotect(p + PAGE + SMALL, PAGE, PROT_NONE), 0);
	return p + PAGE;
}

/* THP switched off entirely: no memory can be of that kind. */
static bool thp_never(void)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	char line[128] = "";

	if (!f)
		return true;
	if (!fgets(line, sizeof(line), f))
		line[0] = 0;
	fclose(f);
	return !line[0] || strstr(line, "[never]");
}

static struct pinguard_mode_info mode(void)
{
	struct pinguard_mode_info m;

	assert_int_equal(pinguard_get_mode(&m, sizeof(m)), 0);
	return m;
}

static void expect_kind(enum pinguard_memkind k, enum pinguard_kernel want,
			enum pinguard_reason why)
{
	struct pinguard_mode_info m = mode();

	printf("%s: kernel %s (%s), %llu us\n", pinguard_memkind_name(k),
	       pinguard_kernel_name(m.kinds[k].kernel),
	       pinguard_reason_name(m.kinds[k].reason),
	       (unsigned long long)m.kinds[k].probe_ns / 1000);
	assert_int_equal(m.kinds[k].kernel, want);
	if (why == PINGUARD_REASON_PROBE)	/* or what stood in for it */
		assert_true(m.kinds[k].reason == PINGUARD_REASON_PROBE ||
			    m.kinds[k].reason == PINGUARD_REASON_NETLINK ||
			    m.kinds[k].reason == PINGUARD_REASON_VERSION);
	else
		assert_int_equal(m.kinds[k].reason, why);
}

static int child_reads(void *arg)
{
	const struct region *r = arg;
	size_t i, j;

	for (i = 0; r[i].buf; i++)
		for (j = 0; j < r[i].len; j += 256)
			if (r[i].buf[j] != r[i].want)
				return (int)i + 1;
	return 0;
}

/* Fill and pin every region, fork with a child alive, overwrite in the
 * parent: the child reads fork-time data, the parent keeps the pages of
 * guarded regions, and the copy covers exactly want_copied bytes. */
static void fork_and_check(struct region *r, uint64_t want_copied)
{
	uint64_t copied0 = stats().bytes_copied;
	struct child c;
	size_t i;

	for (i = 0; r[i].buf; i++) {
		memset(r[i].buf, r[i].want, r[i].len);
		assert_int_equal(pinguard_pin(r[i].buf, r[i].len, 0), 0);
	}
	child_start(&c, child_reads, r);
	for (i = 0; r[i].buf; i++) {
		if (r[i].guarded)
			assert_int_equal(exclusive_pages(r[i].buf, r[i].len),
					 r[i].len / PAGE);
		memset(r[i].buf, 'p', r[i].len);
	}
	assert_int_equal(child_finish(&c), 0);
	assert_int_equal(stats().bytes_copied - copied0, want_copied);
	assert_int_equal(stats().fork_errors, 0);
	for (i = 0; r[i].buf; i++)
		assert_int_equal(pinguard_unpin(r[i].buf, r[i].len), 0);
}

/* No override: each kind is probed at its first pin, not before. */
static void probe(void **state)
{
	char *small = map_small(), *thp = map_thp(2 * HUGE), *huge;
	struct region r[4] = { { small, SMALL, 's', false },
			       { thp, 2 * HUGE, 't', false } };

	(void)state;
	assert_int_equal(mode().effective, PINGUARD_MODE_AUTO);
	memset(small, 1, SMALL);
	assert_int_equal(pinguard_pin(small, SMALL, 0), 0);
	expect_kind(PINGUARD_MEM_4K, PINGUARD_KERNEL_PATCHED,
		    PINGUARD_REASON_PROBE);
	expect_kind(PINGUARD_MEM_THP, PINGUARD_KERNEL_UNKNOWN,
		    PINGUARD_REASON_PENDING);
	expect_kind(PINGUARD_MEM_HUGETLB, PINGUARD_KERNEL_UNKNOWN,
		    PINGUARD_REASON_PENDING);
	assert_int_equal(mode().effective, PINGUARD_MODE_OFF);
	assert_int_equal(pinguard_unpin(small, SMALL), 0);

	memset(thp, 1, 2 * HUGE);
	assert_int_equal(pinguard_pin(thp, PAGE, 0), 0);
	if (!thp_never())
		expect_kind(PINGUARD_MEM_THP, PINGUARD_KERNEL_PATCHED,
			    PINGUARD_REASON_PROBE);
	assert_int_equal(pinguard_unpin(thp, PAGE), 0);

	huge = map_hugetlb(HUGE);
	if (huge) {
		r[2] = (struct region){ huge, HUGE, 'h', false };
		memset(huge, 1, HUGE);
		assert_int_equal(pinguard_pin(huge, HUGE, 0), 0);
		expect_kind(PINGUARD_MEM_HUGETLB, PINGUARD_KERNEL_PATCHED,
			    PINGUARD_REASON_PROBE);
		assert_int_equal(pinguard_unpin(huge, HUGE), 0);
	}
	/* all patched: off, nothing copied, children still right */
	fork_and_check(r, 0);
	assert_int_equal(mode().effective, PINGUARD_MODE_OFF);
	assert_int_equal(mode().kernel, PINGUARD_KERNEL_PATCHED);
	assert_int_equal(stats().forks_guarded, 0);
}

/* PINGUARD_KERNEL_HUGETLB=unpatched (Debian 11's 5.10): hugetlb is
 * copied, the 4 KiB pages next to it are left to the kernel. */
static void hugetlb(void **state)
{
	char *small = map_small(), *huge = map_hugetlb(HUGE);
	struct region r[3] = { { small, SMALL, 's', false },
			       { huge, HUGE, 'h', true } };

	(void)state;
	if (!huge)
		skip();
	memset(small, 1, SMALL);
	assert_int_equal(pinguard_pin(small, SMALL, 0), 0);
	assert_int_equal(mode().effective, PINGUARD_MODE_OFF);
	assert_int_equal(pinguard_unpin(small, SMALL), 0);
	fork_and_check(r, HUGE);
	expect_kind(PINGUARD_MEM_4K, PINGUARD_KERNEL_PATCHED,
		    PINGUARD_REASON_PROBE);
	expect_kind(PINGUARD_MEM_HUGETLB, PINGUARD_KERNEL_UNPATCHED,
		    PINGUARD_REASON_OVERRIDE);
	assert_int_equal(mode().effective, PINGUARD_MODE_COPY);
	assert_int_equal(mode().reason, PINGUARD_REASON_OVERRIDE);
	assert_int_equal(mode().kernel, PINGUARD_KERNEL_UNPATCHED);
	/* sticky, like the kernel's has_pinned: a later fork with only 4 KiB
	 * pages pinned copies nothing */
	r[1].buf = NULL;
	fork_and_check(r, 0);
	assert_int_equal(mode().effective, PINGUARD_MODE_COPY);
}

/* PINGUARD_KERNEL_THP=unpatched: memory that may be backed by a THP is
 * copied (even where the pin covers a single page of it), small VMAs
 * are not. */
static void thp(void **state)
{
	char *small = map_small(), *t = map_thp(2 * HUGE);
	struct region r[3] = { { small, SMALL, 's', false },
			       { t, 2 * HUGE, 't', true } };

	(void)state;
	if (thp_never())
		skip();
	fork_and_check(r, 2 * HUGE);
	expect_kind(PINGUARD_MEM_THP, PINGUARD_KERNEL_UNPATCHED,
		    PINGUARD_REASON_OVERRIDE);
	expect_kind(PINGUARD_MEM_4K, PINGUARD_KERNEL_PATCHED,
		    PINGUARD_REASON_PROBE);
	expect_kind(PINGUARD_MEM_HUGETLB, PINGUARD_KERNEL_UNKNOWN,
		    PINGUARD_REASON_PENDING);
}

/* PINGUARD_KERNEL_4K=unpatched: base pages are copied, hugetlb not. A
 * THP-capable region is copied too: it may be split into base pages. */
static void base(void **state)
{
	char *small = map_small(), *huge = map_hugetlb(HUGE);
	char *t = map_thp(2 * HUGE);
	struct region r[4] = { { small, SMALL, 's', true },
			       { t, 2 * HUGE, 't', true } };

	(void)state;
	if (huge)
		r[2] = (struct region){ huge, HUGE, 'h', false };
	fork_and_check(r, SMALL + 2 * HUGE);
	expect_kind(PINGUARD_MEM_4K, PINGUARD_KERNEL_UNPATCHED,
		    PINGUARD_REASON_OVERRIDE);
	if (!thp_never())
		expect_kind(PINGUARD_MEM_THP, PINGUARD_KERNEL_PATCHED,
			    PINGUARD_REASON_PROBE);
	if (huge)
		expect_kind(PINGUARD_MEM_HUGETLB, PINGUARD_KERNEL_PATCHED,
			    PINGUARD_REASON_PROBE);
}

/* PINGUARD_KERNEL=unpatched forces every kind, except the one a more
 * specific PINGUARD_KERNEL_HUGETLB=patched names. */
static void all_but_hugetlb(void **state)
{
	char *small = map_small(), *huge = map_hugetlb(HUGE);
	struct region r[3] = { { small, SMALL, 's', true } };

	(void)state;
	if (huge)
		r[1] = (struct region){ huge, HUGE, 'h', false };
	fork_and_check(r, SMALL);
	expect_kind(PINGUARD_MEM_4K, PINGUARD_KERNEL_UNPATCHED,
		    PINGUARD_REASON_OVERRIDE);
	if (huge)
		expect_kind(PINGUARD_MEM_HUGETLB, PINGUARD_KERNEL_PATCHED,
			    PINGUARD_REASON_OVERRIDE);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		struct CMUnitTest t;
	} all[] = {
		{ "probe", cmocka_unit_test(probe) },
		{ "hugetlb", cmocka_unit_test(hugetlb) },
		{ "thp", cmocka_unit_test(thp) },
		{ "4k", cmocka_unit_test(base) },
		{ "all-but-hugetlb", cmocka_unit_test(all_but_hugetlb) },
	};
	size_t i;

	scenario = argc > 1 ? argv[1] : "";
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (!strcmp(scenario, all[i].name)) {
			const struct CMUnitTest t[] = { all[i].t };

			return cmocka_run_group_tests_name(all[i].name, t,
							   NULL, NULL);
		}
	fprintf(stderr, "usage: %s probe|hugetlb|thp|4k|all-but-hugetlb\n",
		argv[0]);
	return 2;
}
