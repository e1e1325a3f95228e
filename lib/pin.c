/* SPDX-License-Identifier: MIT */
/*
 * pinguard_pin() / pinguard_unpin(): the registry side of a pin, plus what
 * the mode needs at pin time (MADV_DONTFORK in dontfork mode, pre-touching).
 * In copy and off modes a pin of memory the VMA cache already knows is a
 * tree operation only.
 */
#include <sched.h>
#include <sys/mman.h>

#include "compat.h"
#include "internal.h"
#include "plan.h"
#include "staging.h"
#include "sys.h"
#include "vmacache.h"

#define PIN_FLAGS (PINGUARD_PIN_SHORTTERM | PINGUARD_PIN_READONLY)

static int page_range(const void *addr, size_t len, uintptr_t *s,
		      uintptr_t *e)
{
	uintptr_t a = (uintptr_t)addr, end;

	if (!addr || !len)
		return -EINVAL;
	if (__builtin_add_overflow(a, len, &end) ||
	    end > UINTPTR_MAX - PG_PAGE_SIZE)
		return -EINVAL;
	*s = pg_align_down(a, PG_PAGE_SIZE);
	*e = pg_align_down(end + PG_PAGE_SIZE - 1, PG_PAGE_SIZE);
	return 0;
}

/* Pairs with the fork hook: either the hook sees pg_active and takes the
 * lock, or we see its in-flight unguarded fork and wait it out. */
static void mark_active(void)
{
	if (!atomic_load_explicit(&pg_active, memory_order_relaxed))
		atomic_store(&pg_active, true);
	while (atomic_load(&pg_unguarded_forks))
		sched_yield();
}

/* An atomic add of zero: a write fault that changes nothing, even if
 * another thread writes the page. The zero is hidden from the compiler:
 * clang turns an add of a known zero into a load, a read fault that maps
 * the shared zero page. */
static void write_fault(volatile char *p)
{
	char zero = 0;

	__asm__ volatile("" : "+r"(zero));
	__atomic_fetch_add(p, zero, __ATOMIC_RELAXED);
}

/* MADV_POPULATE_WRITE is 5.14. Kernels that do not know an advice
 * reject it before looking at the range, so a zero-length call tells,
 * once: 1 known, 0 not (then pages are write-faulted one by one). */
static bool populate_known(uintptr_t s)
{
	static int known = -1;	/* racing first callers find the same */
	int k = __atomic_load_n(&known, __ATOMIC_RELAXED);

	if (k < 0) {
		k = pg_sys_madvise((void *)s, 0, MADV_POPULATE_WRITE) != -EINVAL;
		__atomic_store_n(&known, k, __ATOMIC_RELAXED);
	}
	return k;
}

/* Make pages present, private and writable before the device pins them,
 * so a read-only pin cannot land on the zero page or a page still shared
 * copy-on-write with an earlier child. Contents are unchanged. */
static void pretouch(uintptr_t s, uintptr_t e, unsigned int flags)
{
	enum pinguard_pretouch p = pg.cfg.pretouch;
	bool populate;
	uintptr_t a;

	/* Not pg.effective: auto decides off where fork needs no guard
	 * (5.9+), yet a read-only pin still lands on a shared page before
	 * 5.19. */
	if (p == PINGUARD_PRETOUCH_NEVER || pg.cfg.mode == PINGUARD_MODE_OFF)
		return;
	if (p == PINGUARD_PRETOUCH_AUTO &&
	    (!(flags & PINGUARD_PIN_READONLY) || pg_kernel_at_least(5, 19)))
		return;
	populate = populate_known(s);
	if (populate &&
	    pg_sys_madvise((void *)s, e - s, MADV_POPULATE_WRITE) == 0)
		goto done;
	/* Older kernels, or a page the advice refused: write-fault each page
	 * with an atomic add of 0. */
	for (a = s; a < e; a += PG_PAGE_SIZE) {
		if (!populate ||
		    pg_sys_madvise((void *)a, PG_PAGE_SIZE,
				   MADV_POPULATE_WRITE) == -EINVAL) {
			const struct pg_vma *v;
			size_t n;

			pg_lock();
			v = pg_vmacache_range(a, a + 1, &n);
			if (!n || !(v->prot & PROT_WRITE) ||
			    !(v->prot & PROT_READ)) {
				pg_unlock();
				pg_log(PG_LOG_WARN, "pretouch: %p not writable, "
				       "pin may land on a shared page",
				       (void *)a);
				return;
			}
			pg_unlock();
			write_fault((volatile char *)a);
		}
	}
done:
	__atomic_fetch_add(&pg.cnt.pretouched_bytes, e - s, __ATOMIC_RELAXED);
}

/* dontfork mode: pages whose guard count goes from 0 to 1. */
struct dontfork_ctx {
	int err;
};

static int apply_dontfork(uintptr_t s, uintptr_t e, const struct pg_seg *seg,
			  void *arg)
{
	struct dontfork_ctx *c = arg;
	int ret;

	if (seg && pg_seg_guarded(seg))
		return 0;	/* already guarded */
	ret = pg_sys_madvise((void *)s, e - s, MADV_DONTFORK);
	if (ret) {
		c->err = ret;
		return 1;
	}
	return 0;
}

static int undo_dontfork(uintptr_t s, uintptr_t e, const struct pg_seg *seg,
			 void *arg)
{
	(void)arg;
	if (!seg || !pg_seg_guarded(seg))
		pg_dofork_except_foreign(s, e);
	return 0;
}

static int walk_all(uintptr_t s, uintptr_t e, pg_walk_fn fn, void *arg)
{
	int ret = pg_reg_walk_gaps(&pg.reg, s, e, fn, arg);

	return ret ? ret : pg_reg_walk(&pg.reg, s, e, fn, arg);
}

/* dontfork mode: pages whose guard goes from 1 to 0 on this unpin. */
static int release_dontfork(uintptr_t s, uintptr_t e, const struct pg_seg *seg,
			    void *arg)
{
	bool loses;
	int ret;

	(void)arg;
	if (pg.cfg.scope == PINGUARD_SCOPE_ALL)
		loses = pg_seg_pins(seg) == 1;
	else
		loses = seg->nshort == 0 && seg->nlong == 1;
	if (!loses)
		return 0;
	ret = pg_dofork_except_foreign(s, e);
	if (ret)
		pg_log(PG_LOG_WARN, "MADV_DOFORK %p-%p failed (errno %d): "
		       "children will not inherit it", (void *)s, (void *)e,
		       -ret);
	return 0;
}

/* Auto mode, lock held, [s, e) just checked: judge the kinds of memory
 * of this pin not judged yet (false: the lock was dropped for the probes,
 * which take milliseconds and fork; check again), then apply. */
static bool auto_mode(uintptr_t s, uintptr_t e)
{
	unsigned kinds;

	if (pg.effective == PINGUARD_MODE_COPY &&
	    !pg_kinds_unjudged(PG_ALL_KINDS))
		return true;
	kinds = pg_kinds_of(s, e);
	if (pg_kinds_unjudged(kinds)) {
		pg_unlock();
		pg_judge_kinds(kinds);
		pg_lock();
		return false;
	}
	pg_auto_apply(kinds);
	return true;
}

int pinguard_pin(void *addr, size_t len, unsigned int flags)
{
	bool shortterm = flags & PINGUARD_PIN_SHORTTERM;
	uintptr_t s, e;
	int ret;

	if (flags & ~PIN_FLAGS)
		return -EINVAL;
	ret = page_range(addr, len, &s, &e);
	if (ret)
		return ret;
	mark_active();
	pg_lock();
	do {
		ret = pg_vmacache_check(&s, &e);
		if (ret)
			goto out;
	} while (pg.cfg.mode == PINGUARD_MODE_AUTO && !auto_mode(s, e));
	if (pg.effective == PINGUARD_MODE_DONTFORK && pg_guarded_scope(shortterm)) {
		struct dontfork_ctx c = { 0 };

		ret = pg_reg_reserve_for(&pg.reg, s, e);
		if (ret)
			goto out;
		walk_all(s, e, apply_dontfork, &c);
		if (c.err) {
			walk_all(s, e, undo_dontfork, NULL);
			ret = c.err;
			goto out;
		}
		pg_reg_add(&pg.reg, s, e, shortterm);
	} else {
		ret = pg_reg_pin(&pg.reg, s, e, shortterm);
		if (ret)
			goto out;
		if (pg.effective == PINGUARD_MODE_COPY)
			pg_plan_init();
	}
	pg.cnt.active_pins++;
	pg.cnt.pins_total++;
out:
	pg_unlock();
	if (!ret)
		pretouch(s, e, flags);
	pg_log(PG_LOG_DEBUG, "pin %p+%zu flags %u: %d", addr, len, flags, ret);
	return ret;
}

int pinguard_unpin(void *addr, size_t len)
{
	uintptr_t s, e;
	int ret;

	ret = page_range(addr, len, &s, &e);
	if (ret)
		return ret;
	pg_lock();
	/* a hugetlb pin was widened to whole huge pages: unpin the same */
	pg_vmacache_widen(&s, &e);
	if (pg.effective != PINGUARD_MODE_DONTFORK) {
		ret = pg_reg_unpin(&pg.reg, s, e);
		if (ret)
			goto out;
	} else {
		if (!pg_reg_covered(&pg.reg, s, e)) {
			ret = -ENOENT;
			goto out;
		}
		ret = pg_reg_reserve_for(&pg.reg, s, e);
		if (ret)
			goto out;
		pg_reg_walk(&pg.reg, s, e, release_dontfork, NULL);
		pg_reg_remove(&pg.reg, s, e);
		pg_retry_dofork();
	}
	pg.cnt.active_pins--;
	pg.cnt.unpins_total++;
	if (!pg.reg.nsegs)
		pg_staging_drop();	/* nothing pinned: give the memory back */
out:
	pg_unlock();
	pg_log(PG_LOG_DEBUG, "unpin %p+%zu: %d", addr, len, ret);
	return ret;
}

int pinguard_pin_count(const void *addr)
{
	const struct pg_seg *seg;
	int n;

	if (!addr)
		return -EINVAL;
	pg_lock();
	seg = pg_reg_find(&pg.reg, (uintptr_t)addr);
	n = seg ? (int)pg_seg_pins(seg) : 0;
	pg_unlock();
	return n;
}
