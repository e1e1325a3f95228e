/* SPDX-License-Identifier: MIT */
/* MADV_DONTFORK that the application (or rdma-core's ibv_fork_init) set
 * itself, learnt from the madvise() interposer. pinguard never clears
 * those; it only undoes the DONTFORK it applied. Caller holds pg_lock. */
#include <sys/mman.h>

#include "internal.h"
#include "sys.h"

struct piece {
	uintptr_t s, e;
};

static int first_piece(uintptr_t s, uintptr_t e, const struct pg_seg *seg,
		       void *arg)
{
	struct piece *p = arg;

	(void)seg;
	p->s = s;
	p->e = e;
	return 1;
}

/* One piece at a time, looked up afresh: changing the tree while walking
 * it would follow freed nodes. */
void pg_foreign_mark(uintptr_t start, uintptr_t end, bool dontfork)
{
	struct pg_registry *r = &pg.foreign;
	struct piece p;
	uintptr_t cur = start;

	while (cur < end) {
		p.s = p.e = 0;
		if (dontfork)
			pg_reg_walk_gaps(r, cur, end, first_piece, &p);
		else
			pg_reg_walk(r, cur, end, first_piece, &p);
		if (p.s == p.e)
			return;
		if (pg_reg_reserve_for(r, p.s, p.e)) {
			pg_log(PG_LOG_WARN, "cannot track MADV_%s of %p-%p: "
			       "out of memory", dontfork ? "DONTFORK" : "DOFORK",
			       (void *)p.s, (void *)p.e);
			return;
		}
		if (dontfork)
			pg_reg_add(r, p.s, p.e, false);
		else
			pg_reg_remove(r, p.s, p.e);
		cur = p.e;
	}
}

struct dofork_ctx {
	int err;
};

static int dofork_gap(uintptr_t s, uintptr_t e, const struct pg_seg *seg,
		      void *arg)
{
	struct dofork_ctx *c = arg;
	int ret;

	(void)seg;
	ret = pg_sys_madvise((void *)s, e - s, MADV_DOFORK);
	if (ret && !c->err)
		c->err = ret;
	return 0;
}

/* MADV_DOFORK that failed (no VMA to merge or split into): retried at
 * the next fork and unpin, so a range does not stay DONTFORK for good. */
static struct { uintptr_t s, e; } pending[64];
static unsigned npending;

int pg_dofork_except_foreign(uintptr_t start, uintptr_t end)
{
	struct dofork_ctx c = { 0 };

	pg_reg_walk_gaps(&pg.foreign, start, end, dofork_gap, &c);
	if (c.err && npending < sizeof(pending) / sizeof(pending[0])) {
		pending[npending].s = start;
		pending[npending++].e = end;
	}
	return c.err;
}

/* Pages pinned again in dontfork mode keep their DONTFORK. */
static int retry_gap(uintptr_t s, uintptr_t e, const struct pg_seg *seg,
		     void *arg)
{
	struct dofork_ctx *c = arg;

	if (seg && pg_seg_guarded(seg))
		return 0;
	pg_reg_walk_gaps(&pg.foreign, s, e, dofork_gap, c);
	return 0;
}

void pg_retry_dofork(void)
{
	unsigned i, n = npending;

	npending = 0;
	for (i = 0; i < n; i++) {
		struct dofork_ctx c = { 0 };
		uintptr_t s = pending[i].s, e = pending[i].e;

		if (pg.effective == PINGUARD_MODE_DONTFORK) {
			pg_reg_walk_gaps(&pg.reg, s, e, retry_gap, &c);
			pg_reg_walk(&pg.reg, s, e, retry_gap, &c);
		} else {
			pg_reg_walk_gaps(&pg.foreign, s, e, dofork_gap, &c);
		}
		if (c.err && npending < sizeof(pending) / sizeof(pending[0])) {
			pending[npending].s = s;
			pending[npending++].e = e;
		}
	}
}

void pg_retry_reset_child(void)
{
	npending = 0;	/* the child has no DONTFORK ranges of ours */
}
