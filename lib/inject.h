/* SPDX-License-Identifier: MIT */
/* Fault injection for the fork path, compiled only into the test build
 * (meson -Dfault_injection=true): PINGUARD_TEST_FAULT=<kind>:<nth>:<errno>
 * makes the nth call of that kind fail. Release builds compile it away. */
#ifndef PG_INJECT_H
#define PG_INJECT_H

#include "compat.h"	/* SYS_io_uring_setup */

enum pg_fault_kind {
	PG_FAULT_MADVISE,
	PG_FAULT_MMAP,
	PG_FAULT_MREMAP,
	PG_FAULT_MUNMAP,
	PG_FAULT_MPROTECT,
	PG_FAULT_PROC,
	/* Kernel features newer than 3.10, each failed the way an old or
	 * restricted kernel fails it (counted apart from the kinds above):
	 * madvise(MADV_POPULATE_WRITE) (5.14), madvise(MADV_HUGEPAGE) (no
	 * THP), io_uring_setup (5.1, kernel.io_uring_disabled), opening
	 * /proc/self/pagemap (restricted on some kernels). */
	PG_FAULT_POPULATE,
	PG_FAULT_HUGEPAGE,
	PG_FAULT_IO_URING,
	PG_FAULT_PAGEMAP,
	PG_FAULT_KINDS
};

#ifdef PG_FAULT_INJECTION
/* 0, or the -errno to fail with. */
int pg_inject(enum pg_fault_kind kind);
#define PG_INJECT_RET(kind) do { int e_ = pg_inject(kind); \
	if (e_) return e_; } while (0)
/* 0, or the -errno a raw system call (PG_SYSCALL) fails with. */
static inline int pg_inject_nr(long nr)
{
	return nr == SYS_io_uring_setup ? pg_inject(PG_FAULT_IO_URING) : 0;
}
#else
#define pg_inject(kind) 0
#define PG_INJECT_RET(kind) do { } while (0)
#define pg_inject_nr(nr) 0
#endif

#endif
