/* SPDX-License-Identifier: MIT */
/*
 * Auto mode, judged per kind of memory. Early COW reached the kernel in
 * steps: 4 KiB anonymous pages and THP in 5.9, hugetlb pages in 5.12, so a
 * stock 5.10 (Debian 11) copies pinned 4 KiB pages at fork and shares
 * pinned huge pages copy-on-write. Each kind is judged at the first pin of
 * that kind (override, probe, netlink, version) and the verdict is kept
 * for the life of the process. The mode in force follows the kinds pinned
 * so far: off while all of them are patched, copy (sticky, like the
 * kernel's has_pinned) from the first pin of an unpatched kind; copy from
 * auto then snapshots only pieces of unpatched kinds.
 */
#include <fcntl.h>
#include <string.h>

#include "internal.h"
#include "plan.h"
#include "sys.h"
#include "vmacache.h"

static pthread_mutex_t judge_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint judged;	/* bit per kind with a verdict */

enum { THP_UNREAD = 0, THP_NEVER, THP_MAYBE };
static int thp_state;

/* /sys/kernel/mm/transparent_hugepage/enabled: "[never]" means no THP
 * can back new faults. Unreadable (no THP support): never. */
static int thp_enabled(void)
{
	char buf[64];
	ssize_t n;
	int fd;

	if (thp_state != THP_UNREAD)
		return thp_state;
	fd = pg_sys_open("/sys/kernel/mm/transparent_hugepage/enabled",
			 O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : pg_sys_read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		pg_sys_close(fd);
	if (n <= 0) {
		thp_state = THP_NEVER;
	} else {
		buf[n] = 0;
		thp_state = strstr(buf, "[never]") ? THP_NEVER : THP_MAYBE;
	}
	return thp_state;
}

/* A THP needs a whole aligned 2 MiB block inside a private anonymous VMA;
 * the pin may cover part of it (a pinned 4 KiB page of a THP pins the
 * THP). Whether the VMA has MADV_HUGEPAGE is not in /proc/self/maps:
 * "possible" errs on the side of judging (and guarding) THP too. */
bool pg_thp_possible(const struct pg_vma *v, uintptr_t s, uintptr_t e)
{
	uintptr_t lo, hi;

	if (v->flags & (PG_VMA_SHARED | PG_VMA_FILE | PG_VMA_HUGETLB))
		return false;
	if (thp_state == THP_NEVER)
		return false;
	lo = pg_align_down(v->start + PG_THP_SIZE - 1, PG_THP_SIZE);
	hi = pg_align_down(v->end, PG_THP_SIZE);
	if (s < lo)
		s = lo;
	if (e > hi)
		e = hi;
	return s < e;
}

unsigned pg_kinds_of(uintptr_t s, uintptr_t e)
{
	const struct pg_vma *v;
	unsigned kinds = 0;
	size_t i, n;

	thp_enabled();
	v = pg_vmacache_last(&n);
	for (i = 0; i < n; i++) {
		if (v[i].flags & PG_VMA_SHARED)
			continue;	/* never copy-on-write */
		if (v[i].flags & PG_VMA_HUGETLB) {
			kinds |= 1u << PINGUARD_MEM_HUGETLB;
			continue;
		}
		kinds |= 1u << PINGUARD_MEM_4K;
		if (pg_thp_possible(&v[i], s, e))
			kinds |= 1u << PINGUARD_MEM_THP;
	}
	/* Only shared memory: nothing to judge, but the first pin decides
	 * auto mode as it always did, by the base pages. */
	return kinds ? kinds : 1u << PINGUARD_MEM_4K;
}

unsigned pg_kinds_unjudged(unsigned kinds)
{
	return kinds & ~atomic_load_explicit(&judged, memory_order_acquire);
}

/* pg.kernel and kernel_reason, for callers that know one verdict: the
 * first unpatched kind, else the first kind judged. Lock held. */
static void sum_up(void)
{
	int k, first = -1;

	for (k = 0; k < PINGUARD_MEM_KINDS; k++) {
		if (pg.kinds[k].kernel == PINGUARD_KERNEL_UNKNOWN)
			continue;
		if (first < 0)
			first = k;
		if (pg.kinds[k].kernel == PINGUARD_KERNEL_UNPATCHED) {
			first = k;
			break;
		}
	}
	if (first < 0)
		return;
	pg.kernel = pg.kinds[first].kernel;
	pg.kernel_reason = pg.kinds[first].reason;
}

static void judge(enum pinguard_memkind k)
{
	struct pinguard_kind_info ki = { PINGUARD_KERNEL_UNKNOWN,
					 PINGUARD_REASON_OVERRIDE, 0 };
	uint64_t t0 = pg_now_ns();

	/* the per-kind variable is the more specific override */
	if (pg.kind_override[k] != PINGUARD_KERNEL_UNKNOWN)
		ki.kernel = pg.kind_override[k];
	else if (pg.cfg.kernel != PINGUARD_KERNEL_UNKNOWN)
		ki.kernel = pg.cfg.kernel;
	else
		ki.kernel = pg_probe_kernel(k, &ki.reason);
	ki.probe_ns = pg_now_ns() - t0;
	pg_lock();
	pg.kinds[k] = ki;
	sum_up();
	pg_unlock();
	pg_log(PG_LOG_INFO, "auto mode: %s pages: kernel %s (by %s, %lu us)",
	       pinguard_memkind_name(k), pinguard_kernel_name(ki.kernel),
	       pinguard_reason_name(ki.reason),
	       (unsigned long)(ki.probe_ns / 1000));
}

void pg_judge_kinds(unsigned kinds)
{
	int k;

	pthread_mutex_lock(&judge_lock);
	for (k = 0; k < PINGUARD_MEM_KINDS; k++)
		if (pg_kinds_unjudged(kinds & (1u << k))) {
			judge((enum pinguard_memkind)k);
			atomic_fetch_or_explicit(&judged, 1u << k,
						 memory_order_release);
		}
	pthread_mutex_unlock(&judge_lock);
}

static bool unpatched(enum pinguard_memkind k)
{
	return pg.kinds[k].kernel != PINGUARD_KERNEL_PATCHED;
}

void pg_auto_apply(unsigned kinds)
{
	int k;

	if (pg.cfg.mode != PINGUARD_MODE_AUTO ||
	    pg.effective == PINGUARD_MODE_COPY)
		return;
	for (k = 0; k < PINGUARD_MEM_KINDS; k++) {
		if (!(kinds & (1u << k)) ||
		    pg.kinds[k].kernel == PINGUARD_KERNEL_UNKNOWN)
			continue;
		if (unpatched((enum pinguard_memkind)k)) {
			pg.effective = PINGUARD_MODE_COPY;
			pg.reason = pg.kinds[k].reason;
			pg_plan_init();
			pg_log(PG_LOG_INFO, "auto mode: copy for %s pages",
			       pinguard_memkind_name(k));
			return;
		}
		if (pg.effective == PINGUARD_MODE_AUTO) {
			pg.effective = PINGUARD_MODE_OFF;
			pg.reason = pg.kinds[k].reason;
			pg_log(PG_LOG_INFO, "auto mode: off (%s pages: kernel "
			       "patched)", pinguard_memkind_name(k));
		}
	}
}

void pg_auto_reapply(void)
{
	pg.effective = PINGUARD_MODE_AUTO;
	pg.reason = PINGUARD_REASON_PENDING;
	pg_auto_apply(atomic_load(&judged));
}

void pg_auto_judge_all(void)
{
	pg_judge_kinds(PG_ALL_KINDS);
	pg_lock();
	pg_auto_apply(PG_ALL_KINDS);
	pg_unlock();
}

bool pg_kind_needs_guard(const struct pg_vma *v, uintptr_t s, uintptr_t e)
{
	if (pg.cfg.mode != PINGUARD_MODE_AUTO || !v)
		return true;	/* a configured copy mode copies everything */
	if (v->flags & PG_VMA_HUGETLB)
		return unpatched(PINGUARD_MEM_HUGETLB);
	/* a kind not judged yet (the VMA grew since the pin) is guarded */
	return unpatched(PINGUARD_MEM_4K) ||
	       (pg_thp_possible(v, s, e) && unpatched(PINGUARD_MEM_THP));
}

/* A probe in flight on another thread at fork leaves judge_lock held in
 * the child: start it afresh (verdicts made stay valid: same kernel). */
void pg_verdict_reset_child(void)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

	memcpy(&judge_lock, &fresh, sizeof(fresh));
}

const char *pinguard_memkind_name(enum pinguard_memkind kind)
{
	static const char *const n[] = { "4k", "thp", "hugetlb" };

	return (unsigned)kind < PINGUARD_MEM_KINDS ? n[kind] : "invalid";
}
