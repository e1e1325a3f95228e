/* SPDX-License-Identifier: MIT */
/*
 * Kernels older than the features pinguard uses, played on this one with
 * fault injection: PINGUARD_TEST_FAULT=<kind>:*:<errno> fails every call
 * of a feature the way a kernel without it does (lib/inject.c).
 *
 *   io_uring  io_uring_setup fails (ENOSYS before 5.1, EPERM under
 *             kernel.io_uring_disabled): auto mode decides from the RDMA
 *             netlink attribute or the kernel version instead
 *   pagemap   /proc/self/pagemap cannot be opened: the same fallback, and
 *             copy mode does not reuse its kept staging
 *   populate  MADV_POPULATE_WRITE is EINVAL (before 5.14): pre-touching
 *             write-faults page by page, after one detecting call
 *   hugepage  MADV_HUGEPAGE is EINVAL (no THP): copy-mode staging in
 *             4 KiB pages
 *   pretouch  auto mode decided off (PINGUARD_KERNEL=patched) on a kernel
 *             the library believes is 5.15: read-only pins are still
 *             pre-touched (the read-only pin hole lasts until 5.19)
 *   partial   io_uring fails, no RDMA netlink, and the library believes
 *             PINGUARD_TEST_KERNEL_RELEASE: auto judges each kind of
 *             memory by the release that brought it early COW (4 KiB
 *             5.9, hugetlb 5.12), and on 5.10 copies hugetlb pages only
 *
 * Each then forks in copy mode with a child alive and writes: the
 * parent's pinned pages must stay exclusively mapped (pagemap bit 56, read
 * here, not through pinguard) and the child must read the fork-time data.
 *
 * With PG_TEST_NO_RDMA_NETLINK=1 this program's socket() refuses
 * NETLINK_RDMA like a kernel without the RDMA core (or before 5.13's
 * attribute), so only the kernel version is left.
 */
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "../common.h"
#include "inject.h"

unsigned long pinguard_test_fault_calls(int kind);
unsigned long pinguard_test_fault_fired(void);

#define LEN (64 * PAGE)
#define THP_LEN (8ul << 20)

/* The executable's definition wins over libc's for libpinguard too. */
int socket(int domain, int type, int protocol)
{
	if (domain == AF_NETLINK && protocol == NETLINK_RDMA &&
	    getenv("PG_TEST_NO_RDMA_NETLINK")) {
		errno = EPROTONOSUPPORT;
		return -1;
	}
	return (int)syscall(SYS_socket, domain, type, protocol);
}

static unsigned char *buf;
static size_t buf_len;

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 7 + 1);
}

static int child_reads_fork_time_data(void *arg)
{
	size_t i;

	(void)arg;
	for (i = 0; i < buf_len; i++)
		if (buf[i] != pattern(i))
			return 1;
	return 0;
}

/* buf is pinned in copy mode: fork with a child alive, write, check. */
static void fork_keeps_parent_pages(void)
{
	struct pinguard_stats before = stats();
	struct child c;
	size_t i;

	for (i = 0; i < buf_len; i++)
		buf[i] = pattern(i);
	child_start(&c, child_reads_fork_time_data, NULL);
	assert_int_equal(exclusive_pages(buf, buf_len), buf_len / PAGE);
	memset(buf, 0xee, buf_len);
	assert_int_equal(exclusive_pages(buf, buf_len), buf_len / PAGE);
	assert_int_equal(child_finish(&c), 0);
	assert_int_equal(stats().forks_guarded, before.forks_guarded + 1);
	assert_int_equal(stats().fork_errors, before.fork_errors);
}

static bool kernel_at_least(unsigned major, unsigned minor)
{
	struct utsname u;
	unsigned ma = 0, mi = 0;

	assert_int_equal(uname(&u), 0);
	assert_true(sscanf(u.release, "%u.%u", &ma, &mi) == 2);
	return ma > major || (ma == major && mi >= minor);
}

/* auto mode, with the empirical probe made impossible (kind). */
static void auto_falls_back(int kind)
{
	struct pinguard_mode_info m;

	buf_len = LEN;
	buf = map_anon(buf_len, PROT_READ | PROT_WRITE);
	memset(buf, 1, buf_len);
	set_mode(PINGUARD_MODE_AUTO);
	assert_int_equal(pinguard_pin(buf, buf_len, 0), 0);
	assert_int_equal(pinguard_get_mode(&m, sizeof(m)), 0);
	print_message("kernel %s, decided by %s\n",
		      pinguard_kernel_name(m.kernel),
		      pinguard_reason_name(m.reason));
	assert_true(pinguard_test_fault_fired() >= 1);
	assert_true(pinguard_test_fault_calls(kind) >= 1);
	assert_true(m.reason == PINGUARD_REASON_NETLINK ||
		    m.reason == PINGUARD_REASON_VERSION);
	if (getenv("PG_TEST_NO_RDMA_NETLINK")) {
		assert_int_equal(m.reason, PINGUARD_REASON_VERSION);
		assert_int_equal(m.kernel, kernel_at_least(5, 9) ?
			PINGUARD_KERNEL_PATCHED : PINGUARD_KERNEL_UNPATCHED);
	}
	assert_int_equal(pinguard_unpin(buf, buf_len), 0);

	/* the policy an unpatched verdict leads to, on the same kernel */
	set_mode(PINGUARD_MODE_COPY);
	assert_int_equal(pinguard_pin(buf, buf_len, 0), 0);
	fork_keeps_parent_pages();
	fork_keeps_parent_pages();	/* with the staging kept, if it was */
	assert_int_equal(pinguard_unpin(buf, buf_len), 0);
}

static void no_io_uring(void **state)
{
	(void)state;
	auto_falls_back(PG_FAULT_IO_URING);
}

static void no_pagemap(void **state)
{
	(void)state;
	auto_falls_back(PG_FAULT_PAGEMAP);
}

static void no_populate(void **state)
{
	struct pinguard_config c;

	(void)state;
	assert_int_equal(pinguard_get_config(&c, sizeof(c)), 0);
	c.mode = PINGUARD_MODE_COPY;
	c.pretouch = PINGUARD_PRETOUCH_ALWAYS;
	assert_int_equal(pinguard_configure(&c, sizeof(c)), 0);
	buf_len = LEN;
	buf = map_anon(buf_len, PROT_READ | PROT_WRITE);	/* untouched */
	assert_int_equal(exclusive_pages(buf, buf_len), 0);
	assert_int_equal(pinguard_pin(buf, buf_len, PINGUARD_PIN_READONLY), 0);
	/* present and private before the device would pin them */
	assert_int_equal(exclusive_pages(buf, buf_len), buf_len / PAGE);
	assert_int_equal(stats().pretouched_bytes, buf_len);
	/* one detecting call, none per page afterwards */
	assert_int_equal(pinguard_test_fault_calls(PG_FAULT_POPULATE), 1);
	assert_int_equal(pinguard_test_fault_fired(), 1);
	fork_keeps_parent_pages();
	assert_int_equal(pinguard_unpin(buf, buf_len), 0);
}

static void no_hugepage(void **state)
{
	(void)state;
	set_mode(PINGUARD_MODE_COPY);
	buf_len = THP_LEN;
	buf = map_anon(buf_len, PROT_READ | PROT_WRITE);
	assert_int_equal(pinguard_pin(buf, buf_len, 0), 0);
	fork_keeps_parent_pages();
	assert_true(pinguard_test_fault_calls(PG_FAULT_HUGEPAGE) >= 1);
	assert_true(pinguard_test_fault_fired() >= 1);
	assert_int_equal(pinguard_unpin(buf, buf_len), 0);
}

/* The release the library was told it runs on, as major << 16 | minor. */
static unsigned told_release(void)
{
	const char *r = getenv("PINGUARD_TEST_KERNEL_RELEASE");
	unsigned ma = 0, mi = 0;

	assert_non_null(r);
	assert_true(sscanf(r, "%u.%u", &ma, &mi) == 2);
	return ma << 16 | mi;
}

static void partial(void **state)
{
	bool huge_patched = told_release() >= (5u << 16 | 12);
	size_t huge_len = 2ul << 20;
	unsigned char *small = map_anon(LEN, PROT_READ | PROT_WRITE);
	unsigned char *huge = map_hugetlb(huge_len);
	struct pinguard_mode_info m;
	uint64_t copied;

	(void)state;
	assert_true(told_release() >= (5u << 16 | 9));
	set_mode(PINGUARD_MODE_AUTO);
	memset(small, 1, LEN);
	assert_int_equal(pinguard_pin(small, LEN, 0), 0);
	assert_int_equal(pinguard_get_mode(&m, sizeof(m)), 0);
	assert_int_equal(m.kinds[PINGUARD_MEM_4K].kernel,
			 PINGUARD_KERNEL_PATCHED);
	assert_int_equal(m.kinds[PINGUARD_MEM_4K].reason,
			 PINGUARD_REASON_VERSION);
	assert_int_equal(m.effective, PINGUARD_MODE_OFF);
	if (!huge)
		skip();
	buf = huge;
	buf_len = huge_len;
	memset(buf, 1, buf_len);
	assert_int_equal(pinguard_pin(buf, buf_len, 0), 0);
	assert_int_equal(pinguard_get_mode(&m, sizeof(m)), 0);
	print_message("hugetlb: kernel %s, decided by %s; mode %s\n",
		      pinguard_kernel_name(m.kinds[PINGUARD_MEM_HUGETLB].kernel),
		      pinguard_reason_name(m.kinds[PINGUARD_MEM_HUGETLB].reason),
		      pinguard_mode_name(m.effective));
	assert_int_equal(m.kinds[PINGUARD_MEM_HUGETLB].reason,
			 PINGUARD_REASON_VERSION);
	assert_int_equal(m.kinds[PINGUARD_MEM_HUGETLB].kernel, huge_patched ?
			 PINGUARD_KERNEL_PATCHED : PINGUARD_KERNEL_UNPATCHED);
	assert_int_equal(m.effective, huge_patched ? PINGUARD_MODE_OFF :
			 PINGUARD_MODE_COPY);
	if (huge_patched)
		return;
	/* 5.10: the hugetlb page is copied for the child, the 4 KiB pages
	 * are left to the kernel's own early COW */
	copied = stats().bytes_copied;
	fork_keeps_parent_pages();
	assert_int_equal(stats().bytes_copied - copied, huge_len);
}

static void pretouch_when_auto_is_off(void **state)
{
	struct pinguard_mode_info m;
	size_t len = LEN;
	unsigned char *p = map_anon(len, PROT_READ | PROT_WRITE); /* untouched */

	(void)state;
	set_mode(PINGUARD_MODE_AUTO);
	assert_int_equal(exclusive_pages(p, len), 0);
	assert_int_equal(pinguard_pin(p, len, PINGUARD_PIN_READONLY), 0);
	assert_int_equal(pinguard_get_mode(&m, sizeof(m)), 0);
	assert_int_equal(m.effective, PINGUARD_MODE_OFF);
	/* present and private before the device would pin them */
	assert_int_equal(exclusive_pages(p, len), len / PAGE);
	assert_int_equal(stats().pretouched_bytes, len);
	assert_int_equal(pinguard_unpin(p, len), 0);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		struct CMUnitTest test;
	} tests[] = {
		{ "io_uring", cmocka_unit_test(no_io_uring) },
		{ "pagemap", cmocka_unit_test(no_pagemap) },
		{ "populate", cmocka_unit_test(no_populate) },
		{ "hugepage", cmocka_unit_test(no_hugepage) },
		{ "partial", cmocka_unit_test(partial) },
		{ "pretouch", cmocka_unit_test(pretouch_when_auto_is_off) },
	};
	size_t i;

	for (i = 0; argc == 2 && i < sizeof(tests) / sizeof(tests[0]); i++)
		if (!strcmp(argv[1], tests[i].name))
			return _cmocka_run_group_tests(tests[i].name,
						       &tests[i].test, 1,
						       NULL, NULL);
	fprintf(stderr, "usage: %s io_uring|pagemap|populate|hugepage|"
		"partial|pretouch\n",
		argv[0]);
	return 2;
}
