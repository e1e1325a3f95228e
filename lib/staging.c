/* SPDX-License-Identifier: MIT */
/*
 * Staging memory for copy-mode forks. A fresh region costs the kernel
 * zeroing every page on its first touch, about as much as the copy itself
 * (a 4 MiB fork: clear_page_erms 38 % of a profile, the copy 30 %). So
 * the parent keeps the region after the fork, up to PINGUARD_KEEP_STAGING
 * bytes, and the next fork copies into it: once the earlier child has
 * exited (or replaced those pages), they are the parent's alone again and
 * a write only makes them writable. Pages a child still maps would be
 * copied by the kernel before we overwrite them (a shared huge page split
 * and copied 4 KiB at a time), so those are dropped first (MADV_DONTNEED:
 * the child keeps its copy, the parent faults fresh pages), found through
 * the exclusive bit of /proc/self/pagemap.
 *
 * Correct either way: the region is private, nothing the parent writes
 * there reaches a child. Costs: up to its size resident, and one VMA.
 * Only a process that forks again soon gains from it, so the copy helper
 * thread unmaps it after KEEP_NS without a fork (the region is kept only
 * when that thread exists, i.e. after a copy of 4 MiB or more), and the
 * last unpin unmaps it at once.
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/mman.h>

#include "internal.h"
#include "staging.h"
#include "sys.h"
#include "vmacache.h"

#define PM_PRESENT (1ull << 63)
#define PM_EXCLUSIVE (1ull << 56)	/* Linux 4.2+; else never set */
#define KEEP_NS 1000000000ull		/* unused this long: unmapped */

static struct {
	void *map;
	size_t maplen;
	size_t len;	/* bytes from the aligned base a layout may use */
} kept;
/* len of the region the current fork uses (for pg_staging_put) */
static size_t cur_len;
/* When the helper thread unmaps the kept region (0: nothing kept). Read
 * by the helper without the lock. */
static _Atomic uint64_t kept_due;
static size_t keep_max = PG_STAGING_KEEP_DEFAULT;

void pg_staging_set_keep_max(size_t bytes)
{
	keep_max = bytes;
}

static uintptr_t aligned_base(const void *map)
{
	return pg_align_down((uintptr_t)map + PG_THP_SIZE - 1, PG_THP_SIZE);
}

static void forget_kept(void)
{
	atomic_store(&kept_due, 0);
	kept.map = NULL;
	kept.maplen = 0;
	kept.len = 0;
	pg.cnt.staging_kept = 0;
}

/* Still the private anonymous read-write memory we left there, per the VMA
 * list read at this fork? The application could have unmapped it, or
 * mapped something of its own over it: never copy into that. */
static bool still_ours(void)
{
	uintptr_t a = (uintptr_t)kept.map, end = a + kept.maplen;
	const struct pg_vma *v;
	size_t n, i;

	v = pg_vmacache_range(a, end, &n);
	for (i = 0; i < n && a < end; i++) {
		if (v[i].start > a || v[i].inode ||
		    (v[i].flags & PG_VMA_SHARED) ||
		    v[i].prot != (PROT_READ | PROT_WRITE))
			return false;
		a = v[i].end;
	}
	return a >= end;
}

/* Drop the pages of [base, base + len) that a child still maps. false if
 * pagemap cannot be read (then the region is not reused). */
static bool drop_shared(uintptr_t base, size_t len)
{
	uint64_t e[512];
	uintptr_t a, pa, run = 0, end = base + len;
	size_t i, n;
	int fd = pg_sys_open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	for (a = base; a < end; a += n * PG_PAGE_SIZE) {
		n = (end - a) / PG_PAGE_SIZE;
		if (n > 512)
			n = 512;
		if (pg_sys_pread(fd, e, n * sizeof(e[0]),
				 (off_t)(a / PG_PAGE_SIZE * sizeof(e[0]))) !=
		    (ssize_t)(n * sizeof(e[0]))) {
			pg_sys_close(fd);
			return false;
		}
		for (i = 0; i < n; i++) {
			bool shared = (e[i] & PM_PRESENT) &&
				      !(e[i] & PM_EXCLUSIVE);

			pa = a + i * PG_PAGE_SIZE;
			if (shared && !run)
				run = pa;
			if (!shared && run) {
				pg_sys_madvise((void *)run, pa - run,
					       MADV_DONTNEED);
				run = 0;
			}
		}
	}
	if (run)
		pg_sys_madvise((void *)run, end - run, MADV_DONTNEED);
	pg_sys_close(fd);
	return true;
}

void *pg_staging_get(size_t need, uintptr_t *base, size_t *maplen, int *err)
{
	void *m;

	if (kept.map) {
		if (need <= kept.len && still_ours() &&
		    drop_shared(aligned_base(kept.map), need)) {
			m = kept.map;
			*maplen = kept.maplen;
			*base = aligned_base(m);
			cur_len = kept.len;
			forget_kept();
			return m;
		}
		pg_staging_drop();	/* too small, or not ours any more */
	}
	*maplen = need + PG_THP_SIZE;
	m = pg_sys_mmap(NULL, *maplen, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED) {
		*err = -ENOMEM;
		return NULL;
	}
	*base = aligned_base(m);
	cur_len = need;
	if (need >= PG_THP_SIZE)
		pg_sys_madvise((void *)*base, need, MADV_HUGEPAGE);
	return m;
}

int pg_staging_put(void *map, size_t maplen, size_t need, bool may_keep)
{
	uintptr_t m = (uintptr_t)map, b = aligned_base(map);
	uintptr_t e = b + cur_len;

	/* Only the part from the aligned base is kept, as one VMA (the
	 * rest was never touched). */
	if (!may_keep || !keep_max || need > keep_max ||
	    (b > m && pg_sys_munmap(map, b - m)))
		return pg_sys_munmap(map, maplen);
	if (m + maplen > e && pg_sys_munmap((void *)e, m + maplen - e))
		return pg_sys_munmap((void *)b, m + maplen - b);
	kept.map = (void *)b;
	kept.maplen = cur_len;
	kept.len = cur_len;
	pg.cnt.staging_kept = cur_len;
	atomic_store(&kept_due, pg_now_ns() + KEEP_NS);
	return 1;
}

uint64_t pg_staging_due_ns(void)
{
	return atomic_load(&kept_due);
}

void pg_staging_expire(void)
{
	uint64_t due;

	pg_lock();
	due = atomic_load(&kept_due);
	if (due && pg_now_ns() >= due) {
		/* not pg_sys_munmap: injected faults must not depend on when
		 * this thread runs */
		PG_SYSCALL(SYS_munmap, kept.map, kept.maplen);
		forget_kept();
	}
	pg_unlock();
}

void pg_staging_drop(void)
{
	if (kept.map && pg_sys_munmap(kept.map, kept.maplen))
		pg_log(PG_LOG_WARN, "unmapping kept staging %p failed",
		       kept.map);
	forget_kept();
}

void pg_staging_reset_child(void)
{
	pg_staging_drop();
}
