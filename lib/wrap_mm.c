/* SPDX-License-Identifier: MIT */
/*
 * Interposers of libc's memory calls (exported, so LD_PRELOAD and linking
 * both route the application's calls here):
 *  - madvise: learn the application's own MADV_DONTFORK, so pinguard never
 *    clears it, and keep pinguard's DONTFORK when someone else DOFORKs a
 *    range that is still pinned (dontfork mode);
 *  - munmap, mremap, shmdt: mark the VMA cache stale.
 * Each forwards to the system call itself (what libc's wrapper does), so
 * no dlsym() is needed and nothing is resolved at load.
 */
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/shm.h>

#include "internal.h"
#include "wrap.h"
#include "sys.h"

static long ret_errno(long r)
{
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/* Set by the ibv_dontfork_range wrapper around libibverbs' own: a
 * MADV_DONTFORK made in there means rdma-core's fork tracking is on,
 * whatever ibv_is_fork_initialized() says (see wrap_fork_init.c). */
__thread bool pg_t_in_rdma_dontfork;
atomic_bool pg_rdma_tracking_seen;

static void mm_changed(void)
{
	atomic_fetch_add(&pg_mm_gen, 1);
}

/* dontfork mode: re-apply DONTFORK to pinned, guarded pages in range. */
static int reassert(uintptr_t s, uintptr_t e, const struct pg_seg *seg,
		    void *arg)
{
	(void)arg;
	if (pg_seg_guarded(seg))
		pg_sys_madvise((void *)s, e - s, MADV_DONTFORK);
	return 0;
}

int madvise(void *addr, size_t len, int advice)
{
	uintptr_t s = (uintptr_t)addr, e;
	long r;

	if (advice != MADV_DONTFORK && advice != MADV_DOFORK)
		return (int)syscall(SYS_madvise, addr, len, advice);
	if (advice == MADV_DONTFORK && pg_t_in_rdma_dontfork)
		atomic_store(&pg_rdma_tracking_seen, true);
	pg_lock();
	r = pg_sys_madvise(addr, len, advice);
	if (r == 0 && !__builtin_add_overflow(s, len, &e)) {
		e = pg_align_down(e + PG_PAGE_SIZE - 1, PG_PAGE_SIZE);
		pg_foreign_mark(s, e, advice == MADV_DONTFORK);
		if (advice == MADV_DOFORK &&
		    pg.effective == PINGUARD_MODE_DONTFORK)
			pg_reg_walk(&pg.reg, s, e, reassert, NULL);
	}
	pg_unlock();
	return (int)ret_errno(r);
}

int munmap(void *addr, size_t len)
{
	long r;

	mm_changed();
	r = PG_SYSCALL(SYS_munmap, addr, len);
	mm_changed();
	if (r == 0 && pg.foreign.nsegs) {
		uintptr_t e = (uintptr_t)addr + len;

		pg_lock();
		pg_foreign_mark((uintptr_t)addr,
				pg_align_down(e + PG_PAGE_SIZE - 1, PG_PAGE_SIZE),
				false);
		pg_unlock();
	}
	return (int)ret_errno(r);
}

void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	void *new_addr = NULL;
	va_list ap;
	long r;

	if (flags & MREMAP_FIXED) {
		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	mm_changed();
	r = PG_SYSCALL(SYS_mremap, old, old_len, new_len, flags, new_addr);
	mm_changed();
	return (void *)ret_errno(r);
}

int shmdt(const void *addr)
{
	long r;

	mm_changed();
	r = PG_SYSCALL(SYS_shmdt, addr);
	mm_changed();
	return (int)ret_errno(r);
}
