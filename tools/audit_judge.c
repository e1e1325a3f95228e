/* SPDX-License-Identifier: MIT */
/*
 * pinguard audit's judgement of one pinned range: the kinds of memory
 * under it, what protects each at fork (pinguard's mode for that kind,
 * the application's MADV_DONTFORK, shared memory, the kernel's early COW)
 * and the verdict; for a range at an unknown address (an MR, a busy
 * ring), every place it could be.
 */
#include <string.h>

#include "tool.h"

#define HUGE_2M (2ull << 20)

static bool kind_patched(const struct proc_facts *f, int k)
{
	return f->kf->mode.kinds[k].kernel == PINGUARD_KERNEL_PATCHED;
}

/* pinguard's registry covers [a, a + len) entirely. */
static bool pg_covers(const struct snapshot *s, uint64_t a, uint64_t len)
{
	uint64_t at = a;
	size_t i;

	for (i = 0; i < s->nranges && at < a + len; i++)
		if (s->ranges[i].start <= at && s->ranges[i].end > at)
			at = s->ranges[i].end;
	return at >= a + len;
}

/* What protects a piece of kind k (not shared) at fork; PG_GUARD_NONE if
 * nothing, PG_GUARD_UNKNOWN (and *why) if it cannot be told. */
static int guard_of(const struct proc_facts *f, int k, bool dc, bool covered,
		    int *why)
{
	const struct pg_global *g = &f->snap.g;

	if (f->pg_ret == EX_OK && covered) {
		if (g->effective == PINGUARD_MODE_DONTFORK && dc)
			return PG_GUARD_PG_DONTFORK;
		/* auto's copy takes only the kinds it judged unpatched */
		if (g->effective == PINGUARD_MODE_COPY &&
		    (g->cfg.mode != PINGUARD_MODE_AUTO ||
		     g->kinds[k].kernel != PINGUARD_KERNEL_PATCHED))
			return PG_GUARD_PG_COPY;
	}
	if (dc)
		return PG_GUARD_DONTFORK;
	if (kind_patched(f, k))
		return PG_GUARD_KERNEL;
	if (f->kf->mode.kinds[k].kernel == PINGUARD_KERNEL_UNKNOWN) {
		*why = PG_WHY_KERNEL;
		return PG_GUARD_UNKNOWN;
	}
	if (f->pg_loaded && f->pg_ret != EX_OK && covered) {
		*why = f->pg_ret == EX_PERM ? PG_WHY_PERMISSION : PG_WHY_STATE;
		return PG_GUARD_UNKNOWN;
	}
	return PG_GUARD_NONE;
}

/* Of the kinds under a range, the weakest decides (nothing, then
 * unknown); among protections the kernel's is named last, as the others
 * (pinguard's, the application's MADV_DONTFORK) say more. */
static int guard_rank(int g)
{
	switch (g) {
	case PG_GUARD_NONE:
		return 0;
	case PG_GUARD_UNKNOWN:
		return 1;
	case PG_GUARD_KERNEL:
		return 9;
	default:
		return 2;
	}
}

/* Kinds, flags and verdict of a range whose address is known. */
void judge_known(const struct proc_facts *f, struct audit_range *r)
{
	uint64_t a = r->addr, e = r->addr + r->len, at = a, s, t;
	bool covered, all_shared = true;
	int k, g, best = -1, why = PG_WHY_NONE;
	size_t i;

	r->dontfork = true;
	for (i = 0; i < f->nvmas; i++) {
		const struct vma *v = &f->vmas[i];

		if (v->end <= a || v->start >= e)
			continue;
		if (v->start > at)
			break;		/* a hole */
		at = v->end;
		r->dontfork &= v->dontfork;
		if (v->shared)
			continue;
		all_shared = false;
		if (v->hugetlb) {
			r->kinds |= 1u << PINGUARD_MEM_HUGETLB;
			continue;
		}
		r->kinds |= 1u << PINGUARD_MEM_4K;
		/* a THP needs a whole aligned 2 MiB block of the VMA */
		s = (v->start + HUGE_2M - 1) & ~(HUGE_2M - 1);
		t = v->end & ~(HUGE_2M - 1);
		if (v->anon_huge && (s > a ? s : a) < (t < e ? t : e))
			r->kinds |= 1u << PINGUARD_MEM_THP;
	}
	if (at < e) {
		/* unmapped since it was pinned: the process no longer sees it */
		r->verdict = PG_AUDIT_SAFE;
		r->guard = PG_GUARD_UNMAPPED;
		return;
	}
	r->shared = all_shared;
	if (all_shared) {
		r->guard = PG_GUARD_SHARED;
		r->verdict = PG_AUDIT_SAFE;
		return;
	}
	covered = f->pg_ret == EX_OK && pg_covers(&f->snap, a, r->len);
	for (k = 0; k < PINGUARD_MEM_KINDS; k++)
		if (r->kinds & (1u << k)) {
			g = guard_of(f, k, r->dontfork, covered, &why);
			if (best < 0 || guard_rank(g) < guard_rank(best))
				best = g;
		}
	r->guard = best;
	r->verdict = best == PG_GUARD_NONE ? PG_AUDIT_AT_RISK :
		     best == PG_GUARD_UNKNOWN ? PG_AUDIT_UNKNOWN :
		     PG_AUDIT_SAFE;
	r->reason = r->verdict == PG_AUDIT_UNKNOWN ? why : PG_WHY_NONE;
}

/* A memory region a device could be given: not device memory, not the
 * vDSO, not a device's or an io_uring ring's own mapping (anon_inode:);
 * shared memory under /dev/shm and hugetlbfs stay. */
static bool candidate(const struct vma *v)
{
	if (v->io || !strncmp(v->path, "[v", 2) ||
	    !strncmp(v->path, "anon_inode:", 11))
		return false;
	return strncmp(v->path, "/dev/", 5) ||
	       !strncmp(v->path, "/dev/shm/", 9) ||
	       !strncmp(v->path, "/dev/hugepages", 14);
}

/*
 * Pinned memory of a known length at an unknown address (an MR, as the
 * kernel does not report its address; a ring busy while read): if every
 * place it could be (runs of candidate mappings at least len long) is
 * protected, it is safe; if none is, at risk; else unknown (why).
 */
void judge_unknown(const struct proc_facts *f, struct audit_range *r,
			  int why)
{
	bool any_safe = false, any_risk = false, any_unknown = false;
	struct audit_range t;
	size_t i, j, k;

	for (i = 0; i < f->nvmas; i = j) {
		uint64_t run = 0;

		for (j = i; j < f->nvmas && candidate(&f->vmas[j]) &&
		     (j == i || f->vmas[j].start == f->vmas[j - 1].end); j++)
			run += f->vmas[j].end - f->vmas[j].start;
		if (j == i) {
			j++;	/* not a candidate */
			continue;
		}
		if (run < r->len)
			continue;
		for (k = i; k < j; k++) {
			memset(&t, 0, sizeof(t));
			t.addr = f->vmas[k].start;
			t.len = f->vmas[k].end - f->vmas[k].start;
			judge_known(f, &t);
			/* pinguard guards only what it registered */
			if (t.guard == PG_GUARD_PG_COPY ||
			    t.guard == PG_GUARD_PG_DONTFORK) {
				t.guard = t.dontfork ? PG_GUARD_DONTFORK :
					  PG_GUARD_NONE;
				t.verdict = t.dontfork ? PG_AUDIT_SAFE :
					    PG_AUDIT_AT_RISK;
			}
			any_safe |= t.verdict == PG_AUDIT_SAFE;
			any_risk |= t.verdict == PG_AUDIT_AT_RISK;
			any_unknown |= t.verdict == PG_AUDIT_UNKNOWN;
			r->kinds |= t.kinds;
			if (t.verdict == PG_AUDIT_SAFE)
				r->guard = t.guard;
		}
	}
	if (any_safe && !any_risk && !any_unknown) {
		r->verdict = PG_AUDIT_SAFE;
		if (r->guard != PG_GUARD_KERNEL)
			r->guard = PG_GUARD_UNKNOWN;	/* it varies */
	} else if (any_risk && !any_safe && !any_unknown) {
		r->verdict = PG_AUDIT_AT_RISK;
		r->guard = PG_GUARD_NONE;
	} else {
		r->verdict = PG_AUDIT_UNKNOWN;
		r->guard = PG_GUARD_UNKNOWN;
	}
	r->reason = why;	/* shown even when the verdict did not need it */
}

