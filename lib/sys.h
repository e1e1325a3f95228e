/* SPDX-License-Identifier: MIT */
/* Raw system calls. They bypass pinguard's own libc interposers and return
 * -errno without touching errno, so the fork handlers and API calls leave
 * the application's errno as they found it. */
#ifndef PG_SYS_H
#define PG_SYS_H

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "compat.h"	/* MADV_POPULATE_WRITE, SYS_io_uring_setup */
#include "inject.h"

static inline long pg_syscall_ret(long ret, int saved)
{
	if (ret == -1) {
		ret = -errno;
		errno = saved;
	}
	return ret;
}

/* Fault-injection builds fail some calls by number (pg_inject_nr). */
#define PG_SYSCALL_NR(nr, ...) (nr)
#define PG_SYSCALL(...) ({ int saved_ = errno; \
	long f_ = pg_inject_nr(PG_SYSCALL_NR(__VA_ARGS__, 0)); \
	f_ ? f_ : pg_syscall_ret(syscall(__VA_ARGS__), saved_); })

static inline int pg_sys_open(const char *path, int flags)
{
	PG_INJECT_RET(PG_FAULT_PROC);
#ifdef PG_FAULT_INJECTION
	if (!strcmp(path, "/proc/self/pagemap"))
		PG_INJECT_RET(PG_FAULT_PAGEMAP);
#endif
	/* a file we create (the log) is the user's alone: 0600 */
	return (int)PG_SYSCALL(SYS_openat, AT_FDCWD, path, flags, 0600);
}

static inline ssize_t pg_sys_read(int fd, void *buf, size_t n)
{
	return (ssize_t)PG_SYSCALL(SYS_read, fd, buf, n);
}

static inline ssize_t pg_sys_write(int fd, const void *buf, size_t n)
{
	return (ssize_t)PG_SYSCALL(SYS_write, fd, buf, n);
}

static inline ssize_t pg_sys_pread(int fd, void *buf, size_t n, off_t off)
{
	return (ssize_t)PG_SYSCALL(SYS_pread64, fd, buf, n, off);
}

static inline int pg_sys_close(int fd)
{
	return (int)PG_SYSCALL(SYS_close, fd);
}

/* mmap: MAP_FAILED on error, errno untouched. */
static inline void *pg_sys_mmap(void *addr, size_t len, int prot, int flags,
				int fd, off_t off)
{
	long r;

	if (pg_inject(PG_FAULT_MMAP))
		return MAP_FAILED;
	r = PG_SYSCALL(SYS_mmap, addr, len, prot, flags, fd, off);
	return r < 0 && r > -4096 ? MAP_FAILED : (void *)r;
}

/* pinguard's own bookkeeping memory. MADV_DONTDUMP gives it VMA flags
 * of its own, so it never merges with the application's anonymous memory
 * (where a pinned piece could take it along into MADV_DONTFORK). */
static inline void *pg_sys_alloc(size_t len)
{
	void *p = pg_sys_mmap(NULL, len, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED)
		PG_SYSCALL(SYS_madvise, p, len, MADV_DONTDUMP);
	return p;
}

static inline int pg_sys_munmap(void *addr, size_t len)
{
	PG_INJECT_RET(PG_FAULT_MUNMAP);
	return (int)PG_SYSCALL(SYS_munmap, addr, len);
}

static inline int pg_sys_madvise(void *addr, size_t len, int advice)
{
	PG_INJECT_RET(PG_FAULT_MADVISE);
	if (advice == MADV_POPULATE_WRITE)
		PG_INJECT_RET(PG_FAULT_POPULATE);
	if (advice == MADV_HUGEPAGE)
		PG_INJECT_RET(PG_FAULT_HUGEPAGE);
	return (int)PG_SYSCALL(SYS_madvise, addr, len, advice);
}

static inline int pg_sys_mprotect(void *addr, size_t len, int prot)
{
	PG_INJECT_RET(PG_FAULT_MPROTECT);
	return (int)PG_SYSCALL(SYS_mprotect, addr, len, prot);
}

/* mremap: MAP_FAILED on error. */
static inline void *pg_sys_mremap(void *old, size_t olen, size_t nlen,
				  int flags, void *new_addr)
{
	long r;

	if (pg_inject(PG_FAULT_MREMAP))
		return MAP_FAILED;
	r = PG_SYSCALL(SYS_mremap, old, olen, nlen, flags, new_addr);
	return r < 0 && r > -4096 ? MAP_FAILED : (void *)r;
}

#endif
