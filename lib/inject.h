/* SPDX-License-Identifier: MIT */
/* Fault injection for the fork path, compiled only into the test build
 * (meson -Dfault_injection=true): PINGUARD_TEST_FAULT=<kind>:<nth>:<errno>
 * makes the nth call of that kind fail. Release builds compile it away. */
#ifndef PG_INJECT_H
#define PG_INJECT_H

enum pg_fault_kind {
	PG_FAULT_MADVISE,
	PG_FAULT_MMAP,
	PG_FAULT_MREMAP,
	PG_FAULT_MUNMAP,
	PG_FAULT_MPROTECT,
	PG_FAULT_PROC,
	PG_FAULT_KINDS
};

#ifdef PG_FAULT_INJECTION
/* 0, or the -errno to fail with. */
int pg_inject(enum pg_fault_kind kind);
#define PG_INJECT_RET(kind) do { int e_ = pg_inject(kind); \
	if (e_) return e_; } while (0)
#else
#define pg_inject(kind) 0
#define PG_INJECT_RET(kind) do { } while (0)
#endif

#endif
