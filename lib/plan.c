/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <linux/mman.h>
#include <string.h>
#include <sys/mman.h>

#include "copier.h"
#include "internal.h"
#include "plan.h"
#include "staging.h"
#include "sys.h"
#include "vmacache.h"


enum piece_kind {
	PIECE_COPY,	/* child gets a snapshot */
	PIECE_HIDE,	/* child gets nothing (no staging memory) */
	PIECE_FOREIGN,	/* application's own DONTFORK: leave it be */
	PIECE_SKIP,	/* merged into another piece, or unprotectable */
};

struct piece {
	uintptr_t start, end, vma_start, vma_end;
	uintptr_t stage;	/* staging address for PIECE_COPY */
	uint32_t prot, pageshift;
	uint8_t kind;
	bool dontforked;	/* we applied MADV_DONTFORK: undo it after */
	bool own_stage;		/* stage is its own mapping (hugetlb) */
};

static struct {
	struct piece *p;
	size_t n, cap;
	struct pg_copy_job *jobs;
	size_t jobs_cap;
	void *stage;		/* private anonymous staging region */
	size_t stage_len;
	size_t stage_need;	/* bytes of it the layout uses */
	bool active;		/* pieces planned and DONTFORK applied */
	bool staged;		/* snapshots taken: the child may place them */
	long vma_limit;		/* vm.max_map_count read at this fork */
} plan;


static int grow(void **arr, size_t *cap, size_t elem, size_t want)
{
	size_t ncap = *cap ? *cap : 64;
	void *p;

	if (want <= *cap)
		return 0;
	while (ncap < want)
		ncap *= 2;
	p = *arr ? pg_sys_mremap(*arr, *cap * elem, ncap * elem,
				 MREMAP_MAYMOVE, NULL)
		 : pg_sys_alloc(ncap * elem);
	if (p == MAP_FAILED)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

static void fork_error(const char *what, uintptr_t s, uintptr_t e, int err)
{
	pg.cnt.fork_errors++;
	pg_log(PG_LOG_ERROR, "fork: %s %p-%p failed (errno %d)", what,
	       (void *)s, (void *)e, -err);
}

static void add_piece(uintptr_t s, uintptr_t e, const struct pg_vma *v,
		      uint8_t kind)
{
	struct piece *p;

	/* Pieces are never merged across unpinned pages here: those are
	 * snapshotted at prepare time, and whatever the forking thread or
	 * glibc's fork writes there before the fork (malloc state, a thread's
	 * TLS) would reach the child stale. Only near vm.max_map_count
	 * (merge_per_vma) is that risk taken, to keep the parent coherent. */
	if (grow((void **)&plan.p, &plan.cap, sizeof(*p), plan.n + 1)) {
		/* No room to remember it: hide it from the child now. It stays
		 * DONTFORK afterwards (later children do not get it either). */
		fork_error("plan allocation (hiding for good) for", s, e,
			   -ENOMEM);
		if (kind != PIECE_FOREIGN && !(v && (v->flags & PG_VMA_SHARED)))
			pg_sys_madvise((void *)s, e - s, MADV_DONTFORK);
		return;
	}
	p = &plan.p[plan.n++];
	memset(p, 0, sizeof(*p));
	p->start = s;
	p->end = e;
	p->vma_start = v ? v->start : s;
	p->vma_end = v ? v->end : e;
	p->prot = v ? v->prot : PROT_READ | PROT_WRITE;
	p->pageshift = v ? v->pageshift : PG_PAGE_SHIFT;
	p->kind = kind;
}

/* Split [s, e) of one VMA by the application's own DONTFORK ranges. */
static int split_foreign(uintptr_t s, uintptr_t e, const struct pg_seg *seg,
			 void *arg)
{
	add_piece(s, e, arg, seg ? PIECE_FOREIGN : PIECE_COPY);
	return 0;
}

/* One pinned extent: cut it along VMAs, skipping shared and unmapped
 * parts (MAP_SHARED is never copy-on-write) and, in auto mode, kinds of
 * memory the kernel copies itself. */
static void plan_extent(uintptr_t s, uintptr_t e, bool have_vmas)
{
	const struct pg_vma *v;
	size_t n, i;
	uintptr_t a, b, hp;

	if (!have_vmas) {
		add_piece(s, e, NULL, PIECE_HIDE);
		return;
	}
	v = pg_vmacache_range(s, e, &n);
	for (i = 0; i < n; i++) {
		if (v[i].flags & PG_VMA_SHARED)
			continue;
		a = s > v[i].start ? s : v[i].start;
		b = e < v[i].end ? e : v[i].end;
		/* auto mode: the kernel copies pinned pages of this kind */
		if (!pg_kind_needs_guard(&v[i], a, b))
			continue;
		hp = 1ul << v[i].pageshift;
		a = pg_align_down(a, hp);
		b = pg_align_down(b + hp - 1, hp);
		if (a < v[i].start)
			a = v[i].start;
		if (b > v[i].end)
			b = v[i].end;
		if (!pg.foreign.nsegs) {
			add_piece(a, b, &v[i], PIECE_COPY);
			continue;
		}
		pg_reg_walk_gaps(&pg.foreign, a, b, split_foreign,
				 (void *)&v[i]);
		pg_reg_walk(&pg.foreign, a, b, split_foreign, (void *)&v[i]);
	}
}

struct extent_acc {
	uintptr_t s, e;
	bool have_vmas;
};

static int collect(uintptr_t s, uintptr_t e, const struct pg_seg *seg,
		   void *arg)
{
	struct extent_acc *x = arg;

	if (!pg_seg_guarded(seg))
		return 0;	/* short-term only: out of scope */
	if (x->e == s) {
		x->e = e;
		return 0;
	}
	if (x->s < x->e)
		plan_extent(x->s, x->e, x->have_vmas);
	x->s = s;
	x->e = e;
	return 0;
}

static long read_max_map_count(void)
{
	char buf[32];
	long v = 0;
	ssize_t n, i;
	int fd = pg_sys_open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fork_error("reading vm.max_map_count (assuming 65530)", 0, 0, fd);
		return 65530;
	}
	n = pg_sys_read(fd, buf, sizeof(buf));
	pg_sys_close(fd);
	for (i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
		v = v * 10 + (buf[i] - '0');
	return v > 0 ? v : 65530;
}

/* Near vm.max_map_count: one piece per VMA, spanning its first to last
 * pinned page. The unpinned pages between are copied too; hiding whole
 * VMAs instead would also hide whatever else the kernel merged into them
 * (thread stacks, TLS, pinguard's own arrays). */
static void merge_per_vma(void)
{
	size_t i, out = 0;

	for (i = 0; i < plan.n; i++) {
		struct piece *p = &plan.p[i];

		if (out && plan.p[out - 1].vma_start == p->vma_start &&
		    plan.p[out - 1].kind == p->kind && p->kind != PIECE_FOREIGN &&
		    p->start >= plan.p[out - 1].end) {
			plan.p[out - 1].end = p->end;
			continue;
		}
		plan.p[out++] = *p;
	}
	plan.n = out;
}

/* Undo the DONTFORK of pieces [0, n): strict prepare failed. */
static void undo_dontfork(size_t n)
{
	size_t i;
	int ret;

	for (i = 0; i < n; i++) {
		struct piece *p = &plan.p[i];

		if (!p->dontforked)
			continue;
		ret = pg_dofork_except_foreign(p->start, p->end);
		if (ret)
			fork_error("MADV_DOFORK after a refused fork of",
				   p->start, p->end, ret);
		p->dontforked = false;
	}
}

/* VMAs left under vm.max_map_count (read at this fork) if each planned
 * piece split its VMA twice. */
static long vma_room(size_t vmas)
{
	return plan.vma_limit - (long)(vmas + 2 * plan.n + 16);
}

/* strict: a piece that cannot be made DONTFORK refuses the fork (the
 * interposed fork() can still fail): undo and return -errno. Otherwise
 * (atfork hook, too late to fail) the piece stays unprotected, counted
 * and logged. */
static int apply_dontfork(size_t vmas, bool strict)
{
	size_t i;
	int ret;

	plan.vma_limit = read_max_map_count();
	if (vma_room(vmas) < 0) {
		pg_log(PG_LOG_WARN, "fork: %zu pinned pieces would pass "
		       "vm.max_map_count (%ld): copying one span per VMA",
		       plan.n, plan.vma_limit);
		merge_per_vma();
	}
	for (i = 0; i < plan.n; i++) {
		struct piece *p = &plan.p[i];

		if (p->kind == PIECE_SKIP)
			continue;
		ret = pg_sys_madvise((void *)p->start, p->end - p->start,
				     MADV_DONTFORK);
		if (ret && strict) {
			/* EAGAIN/ENOMEM: no VMA left to split */
			fork_error("MADV_DONTFORK (fork refused) of pinned",
				   p->start, p->end, ret);
			undo_dontfork(i);
			return ret;
		}
		if (ret) {
			fork_error("MADV_DONTFORK of pinned", p->start, p->end,
				   ret);
			p->kind = PIECE_SKIP;
			continue;
		}
		p->dontforked = p->kind != PIECE_FOREIGN;
	}
	return 0;
}

static uintptr_t align_congruent(uintptr_t off, uintptr_t addr, uintptr_t a)
{
	return pg_align_down(off + a - 1, a) + (addr & (a - 1));
}

/* Staging: hugetlb pieces get their own hugetlb mapping of the same page
 * size; the rest share one THP-backed region, laid out so that each
 * piece has the same 2 MiB offset as its destination (mremap then moves
 * whole huge pages). */
static void stage_pieces(void)
{
	size_t i, len = 0;
	uintptr_t base;
	int err = 0;

	for (i = 0; i < plan.n; i++) {
		struct piece *p = &plan.p[i];
		size_t sz = p->end - p->start;
		void *m;

		if (p->kind != PIECE_COPY || p->pageshift == PG_PAGE_SHIFT)
			continue;
		m = pg_sys_mmap(NULL, sz, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB |
				(int)(p->pageshift << MAP_HUGE_SHIFT), -1, 0);
		if (m == MAP_FAILED) {
			fork_error("hugetlb staging (using 4 KiB pages) for",
				   p->start, p->end, -ENOMEM);
			p->pageshift = PG_PAGE_SHIFT;
			continue;
		}
		p->stage = (uintptr_t)m;
		p->own_stage = true;
	}
	for (i = 0; i < plan.n; i++) {
		struct piece *p = &plan.p[i];
		size_t sz = p->end - p->start;

		if (p->kind != PIECE_COPY || p->own_stage)
			continue;
		len = align_congruent(len, p->start, sz >= PG_THP_SIZE ?
				      PG_THP_SIZE : PG_PAGE_SIZE);
		p->stage = len;		/* offset for now */
		len += sz;
	}
	if (!len)
		return;
	plan.stage_need = len;
	plan.stage = pg_staging_get(len, &base, &plan.stage_len, &err);
	if (!plan.stage) {
		for (i = 0; i < plan.n; i++)
			if (plan.p[i].kind == PIECE_COPY && !plan.p[i].own_stage)
				plan.p[i].kind = PIECE_HIDE;
		fork_error("staging memory (children get no copy) for",
			   0, len, err);
		return;
	}
	for (i = 0; i < plan.n; i++)
		if (plan.p[i].kind == PIECE_COPY && !plan.p[i].own_stage)
			plan.p[i].stage += base;
}

/* Pages the application made unreadable are read through /proc/self/mem,
 * which ignores protections like a debugger does. */
static void copy_unreadable(struct piece *p)
{
	int fd = pg_sys_open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
	size_t done = 0, len = p->end - p->start;
	ssize_t n;

	while (fd >= 0 && done < len) {
		n = pg_sys_pread(fd, (char *)p->stage + done, len - done,
				 (off_t)(p->start + done));
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	if (fd >= 0)
		pg_sys_close(fd);
	if (done < len) {
		fork_error("reading unreadable pinned", p->start, p->end,
			   fd < 0 ? fd : -EIO);
		p->kind = PIECE_HIDE;
	}
}

static void copy_pieces(void)
{
	size_t i, nj = 0, total = 0;

	if (grow((void **)&plan.jobs, &plan.jobs_cap, sizeof(*plan.jobs),
		 plan.n)) {
		for (i = 0; i < plan.n; i++)
			if (plan.p[i].kind == PIECE_COPY)
				plan.p[i].kind = PIECE_HIDE;
		fork_error("copy job list", 0, 0, -ENOMEM);
		return;
	}
	for (i = 0; i < plan.n; i++) {
		struct piece *p = &plan.p[i];

		if (p->kind != PIECE_COPY)
			continue;
		if (!(p->prot & PROT_READ)) {
			copy_unreadable(p);
			continue;
		}
		plan.jobs[nj].dst = (void *)p->stage;
		plan.jobs[nj].src = (const void *)p->start;
		plan.jobs[nj].len = p->end - p->start;
		total += plan.jobs[nj++].len;
	}
	pg_copy_run(plan.jobs, nj, total);
	for (i = 0; i < plan.n; i++)
		if (plan.p[i].kind == PIECE_COPY)
			pg.cnt.bytes_copied += plan.p[i].end - plan.p[i].start;
}

/* At the first pin in copy mode, not at the first fork: the arrays a fork
 * needs exist before it, so a fork never adds a mapping of ours. */
void pg_plan_init(void)
{
	size_t want = pg.reg.nsegs + pg.foreign.nsegs + 64;

	/* doubling: amortized over pins, and rare */
	if (plan.cap < want)
		grow((void **)&plan.p, &plan.cap, sizeof(*plan.p), want);
	if (plan.jobs_cap < want)
		grow((void **)&plan.jobs, &plan.jobs_cap, sizeof(*plan.jobs),
		     want);
}

int pg_plan_protect(bool strict)
{
	struct extent_acc x = { 0, 0, true };
	int ret;

	plan.n = 0;
	plan.stage = NULL;
	plan.staged = false;
	plan.active = true;
	ret = pg_vmacache_refresh();
	if (ret) {
		/* Without the VMA list: hide the pinned pages from the child,
		 * which keeps the parent coherent. */
		fork_error("reading /proc/self/maps; hiding", 0, 0, ret);
		x.have_vmas = false;
	}
	/* room for every piece up front: no allocation while walking */
	ret = grow((void **)&plan.p, &plan.cap, sizeof(*plan.p),
		   pg.reg.nsegs + pg.foreign.nsegs + pg_vmacache_count() + 1);
	if (ret)
		fork_error("plan allocation", 0, 0, ret);
	pg_reg_walk(&pg.reg, 0, UINTPTR_MAX, collect, &x);
	if (x.s < x.e)
		plan_extent(x.s, x.e, x.have_vmas);
	if (!plan.n)
		return 0;
	ret = apply_dontfork(pg_vmacache_count(), strict);
	if (ret) {
		plan.n = 0;
		plan.active = false;
		return ret;
	}
	return 0;
}

void pg_plan_unprotect(void)
{
	if (!plan.active)
		return;
	undo_dontfork(plan.n);
	plan.n = 0;
	plan.active = false;
}

void pg_plan_stage(void)
{
	if (!plan.active || !plan.n)
		return;
	stage_pieces();
	copy_pieces();
	plan.staged = true;
	pg.cnt.forks_guarded++;
}

void pg_plan_copy_parent(void)
{
	size_t i;
	int ret;

	if (!plan.active)
		return;
	plan.active = false;
	for (i = 0; i < plan.n; i++) {
		struct piece *p = &plan.p[i];

		if (p->own_stage &&
		    (ret = pg_sys_munmap((void *)p->stage, p->end - p->start)))
			fork_error("unmapping hugetlb staging", p->stage,
				   p->stage + (p->end - p->start), ret);
		if (!p->dontforked)
			continue;
		ret = pg_dofork_except_foreign(p->start, p->end);
		if (ret)
			fork_error("MADV_DOFORK (later children will not see "
				   "it) of", p->start, p->end, ret);
	}
	/* Kept for the next fork only after copies on two threads (4 MiB
	 * and more: the helper thread unmaps it when no fork comes), and
	 * not near vm.max_map_count (it is one more VMA while it waits). */
	if (plan.stage) {
		ret = pg_staging_put(plan.stage, plan.stage_len,
				     plan.stage_need, pg_copy_helper_running() &&
				     vma_room(pg_vmacache_count()) > 0);
		if (ret > 0)
			pg_copy_kick();	/* the helper's new deadline */
		else if (ret < 0)
			fork_error("unmapping staging", (uintptr_t)plan.stage,
				   (uintptr_t)plan.stage + plan.stage_len, ret);
	}
	plan.stage = NULL;
	pg_retry_dofork();
}

/* Put one snapshot in place: move the staging pages (the child inherited
 * them copy-on-write from the parent, which drops its side), or, where
 * mremap cannot, map fresh memory and copy. */
static void place_piece(const struct piece *p)
{
	size_t len = p->end - p->start;
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
	void *m;

	m = pg_sys_mremap((void *)p->stage, len, len,
			  MREMAP_MAYMOVE | MREMAP_FIXED, (void *)p->start);
	if (m == MAP_FAILED) {
		if (p->pageshift != PG_PAGE_SHIFT && p->own_stage)
			flags |= MAP_HUGETLB |
				 (int)(p->pageshift << MAP_HUGE_SHIFT);
		m = pg_sys_mmap((void *)p->start, len, PROT_READ | PROT_WRITE,
				flags, -1, 0);
		if (m == MAP_FAILED)
			return;		/* the child has no mapping here */
		memcpy(m, (void *)p->stage, len);
		if (p->own_stage)
			pg_sys_munmap((void *)p->stage, len);
	}
	/* no mapping rather than one with the wrong protection */
	if (p->prot != (PROT_READ | PROT_WRITE) &&
	    pg_sys_mprotect(m, len, (int)p->prot))
		pg_sys_munmap(m, len);
}

void pg_plan_copy_child(void)
{
	size_t i;

	if (!plan.active)
		return;
	plan.active = false;
	for (i = 0; plan.staged && i < plan.n; i++)
		if (plan.p[i].kind == PIECE_COPY)
			place_piece(&plan.p[i]);
	if (plan.stage)
		pg_sys_munmap(plan.stage, plan.stage_len);
	plan.stage = NULL;
}
