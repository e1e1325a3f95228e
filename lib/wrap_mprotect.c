/* SPDX-License-Identifier: MIT */
/*
 * mprotect() and pkey_mprotect() interposers: see write permission taken
 * from pinned private pages on kernels where that breaks the pin.
 *
 * From 5.9 ("mm: do_wp_page() simplification") to 5.18, a write fault on
 * a private anonymous page copies it whenever its reference count is
 * above one, and a pin holds such a count. A pinned page that loses
 * write permission (mprotect(PROT_READ), PROT_NONE) and gets it back is
 * replaced at the next write: the device keeps the old page, fork or not.
 * 5.19 fixed it (PG_anon_exclusive); hugetlb never had it (it reuses by
 * map count), nor a THP still mapped huge (the lab on Debian 11's 5.10:
 * a THP protected whole is reused, one protected in part is split and
 * replaced). How a THP is mapped cannot be seen from here: it is counted
 * like base pages. No fork policy helps, and there is no sound way to keep
 * the pin from userspace: refusing or skipping the mprotect would change
 * what the application asked for, and pre-faulting the page writable
 * again is the very fault that copies. pinguard counts and warns.
 */
#include <stdint.h>
#include <sys/mman.h>

#include "internal.h"
#include "sys.h"
#include "vmacache.h"

/* Ranges warned about already (a program toggling the same buffer's
 * protection warns once); a ring, oldest forgotten first. */
#define WARNED_MAX 64
static struct {
	uintptr_t start, end;
} warned[WARNED_MAX];
static unsigned warned_next;

static bool warned_before(uintptr_t s, uintptr_t e)
{
	unsigned i;

	for (i = 0; i < WARNED_MAX; i++)
		if (warned[i].start == s && warned[i].end == e)
			return true;
	warned[warned_next].start = s;
	warned[warned_next].end = e;
	warned_next = (warned_next + 1) % WARNED_MAX;
	return false;
}

struct wp_scan {
	uintptr_t s, e;		/* current run of affected pages */
	bool hit;
};

static void flush_run(struct wp_scan *w)
{
	if (w->s < w->e && !warned_before(w->s, w->e))
		pg_log(PG_LOG_WARN, "mprotect: write permission taken from "
		       "pinned pages %p+%lu: this kernel (5.9-5.18) replaces "
		       "such pages at the next write fault (a THP only when "
		       "mapped by 4 KiB entries) and the device keeps the old "
		       "ones", (void *)w->s, (unsigned long)(w->e - w->s));
	w->s = w->e = 0;
}

/* Pinned pieces of the range: the private, non-hugetlb parts count. */
static int scan_piece(uintptr_t s, uintptr_t e, const struct pg_seg *seg,
		      void *arg)
{
	struct wp_scan *w = arg;
	const struct pg_vma *v;
	uintptr_t a, b;
	size_t i, n;

	(void)seg;
	/* The cache knew the pinned memory at pin time; whether it is
	 * shared or hugetlb cannot have changed while pinned. Not in the
	 * cache: count it as private. */
	v = pg_vmacache_range(s, e, &n);
	if (!n) {
		static const struct pg_vma anon = { .end = UINTPTR_MAX };

		v = &anon;
		n = 1;
	}
	for (i = 0; i < n; i++) {
		if (v[i].flags & (PG_VMA_SHARED | PG_VMA_HUGETLB))
			continue;
		a = s > v[i].start ? s : v[i].start;
		b = e < v[i].end ? e : v[i].end;
		w->hit = true;
		if (w->e != a)
			flush_run(w);
		if (w->s == w->e)
			w->s = a;
		w->e = b;
	}
	return 0;
}

static void check_wrprotect(void *addr, size_t len, int prot)
{
	struct wp_scan w = { 0, 0, false };
	uintptr_t s = (uintptr_t)addr, e;

	if ((prot & PROT_WRITE) || !atomic_load(&pg_active) ||
	    __builtin_add_overflow(s, len, &e) || !pg_kernel_wp_breaks_pins())
		return;
	e = pg_align_down(e + PG_PAGE_SIZE - 1, PG_PAGE_SIZE);
	pg_lock();
	pg_reg_walk(&pg.reg, s, e, scan_piece, &w);
	flush_run(&w);
	if (w.hit)
		pg.cnt.wrprotects++;
	pg_unlock();
}

static int ret_errno(long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return (int)r;
}

int mprotect(void *addr, size_t len, int prot)
{
	long r = PG_SYSCALL(SYS_mprotect, addr, len, prot);

	if (r == 0)
		check_wrprotect(addr, len, prot);
	return ret_errno(r);
}

#ifdef SYS_pkey_mprotect
int pkey_mprotect(void *addr, size_t len, int prot, int pkey)
{
	long r;

	/* glibc's pkey_mprotect(-1) is a plain mprotect (kernels without
	 * protection keys reject pkey -1 with ENOSYS) */
	if (pkey == -1)
		return mprotect(addr, len, prot);
	r = PG_SYSCALL(SYS_pkey_mprotect, addr, len, prot, pkey);
	if (r == 0)
		check_wrprotect(addr, len, prot);
	return ret_errno(r);
}
#endif
