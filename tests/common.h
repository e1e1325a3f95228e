/* SPDX-License-Identifier: MIT */
/* Helpers shared by the test programs: what a user can observe from
 * outside the library (pagemap bits, maps, child results, counters). */
#ifndef PG_TEST_COMMON_H
#define PG_TEST_COMMON_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>
#include <cmocka.h>

#include "pinguard.h"

#define PAGE 4096ul
#define PM_EXCLUSIVE (1ull << 56)
#define PM_PRESENT   (1ull << 63)

/* Exit code of a test program that cannot run here (meson: skipped). */
#define SKIP_EXIT 77

uint64_t pagemap(const void *addr);
/* Pages of [addr, addr+len) whose pagemap "exclusively mapped" bit is set. */
size_t exclusive_pages(const void *addr, size_t len);
/* Flags of the VMA containing addr in /proc/self/smaps VmFlags ("dc"...):
 * true when flag is listed. */
bool vma_has_flag(const void *addr, const char *flag);
/* Protection (PROT_*) of the VMA containing addr, -1 if unmapped. */
int vma_prot(const void *addr);
bool is_mapped(const void *addr);

void *map_anon(size_t len, int prot);
void *map_thp(size_t len);		/* 2 MiB aligned, MADV_HUGEPAGE */
/* hugetlb memory of 2 MiB pages, reserving pages when root. NULL and a
 * printed reason when impossible. */
void *map_hugetlb(size_t len);

void set_mode(enum pinguard_mode mode);
struct pinguard_stats stats(void);

/* Run fn in a forked child that stays alive until released (common.c). */
struct child {
	pid_t pid;
	int go[2], res[2];
};
/* Fork; the child waits for release, runs fn, reports its int result. */
void child_start(struct child *c, int (*fn)(void *), void *arg);
int child_finish(struct child *c);	/* release, wait, result or -signal */

/*
 * Every case starts from a clean state: the configuration the group
 * started with (after its group setup) and nothing pinned. PG_TEST(fn)
 * runs fn between pg_test_setup (records that configuration the first
 * time; fails if something is still pinned) and pg_test_teardown (unpins
 * whatever the case left pinned, found in the library's registry, and
 * restores the configuration). pg_run_group runs the cases in the order
 * PG_TEST_ORDER says: unset or "given", "reverse", or "shuffle:SEED".
 */
#define PG_TEST(fn) \
	cmocka_unit_test_setup_teardown(fn, pg_test_setup, pg_test_teardown)
int pg_test_setup(void **state);
int pg_test_teardown(void **state);
int pg_run_group(const char *name, const struct CMUnitTest *tests, size_t n,
		 CMFixtureFunction setup, CMFixtureFunction teardown);
#define PG_RUN_GROUP(tests, setup, teardown) \
	pg_run_group(__FILE__, tests, sizeof(tests) / sizeof((tests)[0]), \
		     setup, teardown)

#endif
