/* SPDX-License-Identifier: MIT */
/*
 * Fault injection for tests (built only with -Dfault_injection=true, or
 * into the test-only library tests/hardening builds, never into a release):
 *
 *   PINGUARD_TEST_FAULT=<kind>:<nth>:<errno>
 *
 * kind is madvise, mmap, mremap, munmap, mprotect or proc (opening a /proc
 * file), or one of the kernel features an old kernel lacks: populate
 * (madvise MADV_POPULATE_WRITE, also counted as madvise), hugepage
 * (madvise MADV_HUGEPAGE, also counted as madvise), io_uring
 * (io_uring_setup), pagemap (opening /proc/self/pagemap, also counted as
 * proc); nth counts the calls of that kind from 1, from the moment the
 * variable is first read (the first pg_inject() call of the process);
 * errno is a number or a name (ENOMEM, EAGAIN, EINVAL, ...). The nth call
 * fails with -errno instead of being made. nth 0 never fails: the calls
 * are only counted. nth * fails every call: the kernel does not have it.
 *
 * Read once, lazily, with getenv: no malloc, no stdio, no lock (a CAS and
 * a spin for the few instructions of parsing), so it is safe in the fork
 * handlers. Counters are per process: a fork child inherits them.
 *
 * Two functions with default visibility let a test see what happened:
 * pinguard_test_fault_calls(kind) (calls of that kind so far) and
 * pinguard_test_fault_fired() (injected failures so far). They are not in
 * the version script's API node and exist only in fault-injection builds.
 */
#ifdef PG_FAULT_INJECTION
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "inject.h"
#include "internal.h"

#define VAR "PINGUARD_TEST_FAULT"

unsigned long pinguard_test_fault_calls(int kind);
unsigned long pinguard_test_fault_fired(void);

static const char *const kind_names[PG_FAULT_KINDS] = {
	[PG_FAULT_MADVISE] = "madvise", [PG_FAULT_MMAP] = "mmap",
	[PG_FAULT_MREMAP] = "mremap", [PG_FAULT_MUNMAP] = "munmap",
	[PG_FAULT_MPROTECT] = "mprotect", [PG_FAULT_PROC] = "proc",
	[PG_FAULT_POPULATE] = "populate", [PG_FAULT_HUGEPAGE] = "hugepage",
	[PG_FAULT_IO_URING] = "io_uring", [PG_FAULT_PAGEMAP] = "pagemap",
};

#define EVERY_CALL (~0ul)

static const struct {
	const char *name;
	int value;
} errnos[] = {
	{ "ENOMEM", ENOMEM }, { "EAGAIN", EAGAIN }, { "EINVAL", EINVAL },
	{ "EPERM", EPERM }, { "EACCES", EACCES }, { "EFAULT", EFAULT },
	{ "EIO", EIO }, { "EBUSY", EBUSY }, { "EINTR", EINTR },
	{ "ENOENT", ENOENT }, { "EMFILE", EMFILE }, { "ENFILE", ENFILE },
	{ "ENOSPC", ENOSPC }, { "ENOSYS", ENOSYS },
};

enum { UNREAD, READING, READY };

static atomic_int state;
static int fault_kind = -1;
static unsigned long fault_nth;
static int fault_errno;
static atomic_ulong calls[PG_FAULT_KINDS];
static atomic_ulong fired;

/* Decimal number of [p, end), or -1. */
static long number(const char *p, const char *end)
{
	long v = 0;

	if (p == end || end - p > 9)
		return -1;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
	}
	return v;
}

static bool parse(const char *v)
{
	const char *c1, *c2, *end;
	long nth, err = -1;
	int k;
	size_t i;

	c1 = strchr(v, ':');
	c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (!c2)
		return false;
	end = c2 + 1 + strlen(c2 + 1);
	for (k = 0; k < PG_FAULT_KINDS; k++)
		if (strlen(kind_names[k]) == (size_t)(c1 - v) &&
		    !strncmp(v, kind_names[k], (size_t)(c1 - v)))
			break;
	nth = c2 - c1 == 2 && c1[1] == '*' ? 0 : number(c1 + 1, c2);
	for (i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (!strcmp(c2 + 1, errnos[i].name))
			err = errnos[i].value;
	if (err < 0)
		err = number(c2 + 1, end);
	if (k == PG_FAULT_KINDS || nth < 0 || err <= 0 || err >= 4096)
		return false;
	fault_kind = k;
	fault_nth = c2 - c1 == 2 && c1[1] == '*' ? EVERY_CALL :
		    (unsigned long)nth;
	fault_errno = (int)err;
	return true;
}

static void load(void)
{
	int s = UNREAD;
	const char *v;

	if (atomic_compare_exchange_strong(&state, &s, READING)) {
		v = getenv(VAR);
		if (v && *v && !parse(v))
			pg_warn_config(VAR ": invalid value (expected "
				       "<madvise|mmap|mremap|munmap|mprotect|proc|"
				       "populate|hugepage|io_uring|pagemap>"
				       ":<nth|*>:<errno>); no fault injected");
		atomic_store(&state, READY);
		return;
	}
	while (atomic_load(&state) != READY)
		sched_yield();
}

int pg_inject(enum pg_fault_kind kind)
{
	unsigned long n;

	if (atomic_load_explicit(&state, memory_order_acquire) != READY)
		load();
	if ((unsigned)kind >= PG_FAULT_KINDS)
		return 0;
	n = atomic_fetch_add(&calls[kind], 1) + 1;
	if ((int)kind != fault_kind || (n != fault_nth && fault_nth != EVERY_CALL))
		return 0;
	atomic_fetch_add(&fired, 1);
	pg_log(PG_LOG_DEBUG, "injected fault: %s call %lu fails with errno %d",
	       kind_names[kind], n, fault_errno);
	return -fault_errno;
}

unsigned long pinguard_test_fault_calls(int kind)
{
	if (atomic_load(&state) != READY)
		load();
	return (unsigned)kind < PG_FAULT_KINDS ? atomic_load(&calls[kind]) : 0;
}

unsigned long pinguard_test_fault_fired(void)
{
	return atomic_load(&fired);
}
#endif
