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
 * auto then snapshots only pieces of unpatched kinds (kinds.c says which
 * pieces).
 */
#include <string.h>

#include "internal.h"
#include "names.h"
#include "plan.h"

static pthread_mutex_t judge_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint judged;	/* bit per kind with a verdict */

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
	       pg_name_of(pg_memkind_names, k),
	       pg_name_of(pg_kernel_names, ki.kernel),
	       pg_name_of(pg_reason_names, ki.reason),
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
		if (pg_kind_unpatched((enum pinguard_memkind)k)) {
			pg.effective = PINGUARD_MODE_COPY;
			pg.reason = pg.kinds[k].reason;
			pg_plan_init();	/* a fork needs its arrays before it */
			pg_log(PG_LOG_INFO, "auto mode: copy for %s pages",
			       pg_name_of(pg_memkind_names, k));
			return;
		}
		if (pg.effective == PINGUARD_MODE_AUTO) {
			pg.effective = PINGUARD_MODE_OFF;
			pg.reason = pg.kinds[k].reason;
			pg_log(PG_LOG_INFO, "auto mode: off (%s pages: kernel "
			       "patched)", pg_name_of(pg_memkind_names, k));
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

/* A probe in flight on another thread at fork leaves judge_lock held in
 * the child: start it afresh (verdicts made stay valid: same kernel). */
void pg_verdict_reset_child(void)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

	memcpy(&judge_lock, &fresh, sizeof(fresh));
}
