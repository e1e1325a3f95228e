/* SPDX-License-Identifier: MIT */
/*
 * pinguard audit [PID...]: the pinned memory of every process (or of the
 * ones named), and whether a fork would leave the device and the process
 * out of step. Everything is read from outside, nothing is written to or
 * stopped: io_uring fixed buffers from fdinfo (uringfd.c), RDMA MRs from
 * the RDMA netlink (rdmamr.c), the memory behind them from smaps (smaps.c),
 * pinguard's mode and registrations from its state (snapshot.c), and this
 * kernel's verdict per kind from the library's own detection (kernel.c).
 * audit_out.c prints the result.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tool.h"

#define PF_KTHREAD_FLAG 0x00200000	/* include/linux/sched.h */
#define HUGE_2M (2ull << 20)

/* What one process's ranges are judged against. */
struct proc_facts {
	const struct kernel_facts *kf;
	struct vma *vmas;
	size_t nvmas;
	bool pg_loaded;
	int pg_ret;		/* snapshot: EX_OK or why not */
	struct snapshot snap;
	bool *mr_used;		/* pinguard registrations matched to MRs */
};

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
static void judge_known(const struct proc_facts *f, struct audit_range *r)
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
static void judge_unknown(const struct proc_facts *f, struct audit_range *r,
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

static int add_range(struct audit_proc *p, const struct audit_range *r)
{
	struct audit_range *t = realloc(p->r, (p->nr + 1) * sizeof(*t));

	if (!t)
		return -ENOMEM;
	p->r = t;
	p->r[p->nr++] = *r;
	p->pinned += r->len;
	if (r->verdict == PG_AUDIT_AT_RISK)
		p->at_risk += r->len;
	return 0;
}

/* An MR's address: the kernel's iova, else a registration of pinguard's of
 * the same length (verbs, provider, DEVX) not matched yet. */
static bool mr_address(struct proc_facts *f, const struct rdma_mr *mr,
		       uint64_t *addr, bool *from_pinguard)
{
	const struct snapshot *s = &f->snap;
	size_t i;

	*from_pinguard = false;
	if (mr->has_iova && mr->iova) {
		*addr = mr->iova;
		return true;
	}
	if (f->pg_ret != EX_OK || !s->htab || !f->mr_used)
		return false;
	for (i = 0; i < s->g.htab_cap; i++) {
		const struct pg_reg_entry *e = &s->htab[i];

		if (!snapshot_live_key(e->key) || e->src == PG_SRC_IO_URING ||
		    f->mr_used[i] || e->len != mr->len)
			continue;
		f->mr_used[i] = true;
		*addr = e->addr;
		*from_pinguard = true;
		return true;
	}
	return false;
}

static int judge_ranges(struct proc_facts *f, struct audit_proc *p,
			const struct uring_scan *u, const struct audit_report *a,
			const struct rdma_mr *mrs, size_t nmrs)
{
	struct audit_range r;
	bool from_pg;
	size_t i;
	int ret = 0;

	for (i = 0; !ret && i < u->n; i++) {
		memset(&r, 0, sizeof(r));
		r.source = PG_AUDIT_IO_URING;
		r.addr = u->bufs[i].addr;
		r.len = u->bufs[i].len;
		r.addr_known = true;
		snprintf(r.where, sizeof(r.where), "ring fd %d slot %u",
			 u->bufs[i].fd, u->bufs[i].slot);
		judge_known(f, &r);
		ret = add_range(p, &r);
	}
	if (!ret && u->unprinted) {
		memset(&r, 0, sizeof(r));
		r.source = PG_AUDIT_IO_URING;
		snprintf(r.where, sizeof(r.where), "%u buffers not listed",
			 u->unprinted);
		judge_unknown(f, &r, PG_WHY_RING_BUSY);
		ret = add_range(p, &r);
	}
	for (i = 0; !ret && i < nmrs; i++) {
		if (mrs[i].pid != p->pid)
			continue;
		memset(&r, 0, sizeof(r));
		r.source = PG_AUDIT_RDMA_MR;
		r.len = mrs[i].len;
		r.addr_known = mr_address(f, &mrs[i], &r.addr, &from_pg);
		snprintf(r.where, sizeof(r.where), "%s mrn %u%s", mrs[i].dev,
			 mrs[i].mrn, from_pg ? " (address from pinguard)" : "");
		if (r.addr_known)
			judge_known(f, &r);
		/* an iova that is not the address (ibv_reg_mr_iova) */
		if (!r.addr_known || r.guard == PG_GUARD_UNMAPPED) {
			r.addr_known = false;
			r.kinds = 0;
			judge_unknown(f, &r, PG_WHY_NO_ADDRESS);
		}
		ret = add_range(p, &r);
	}
	/* a device open and no MR dump: what it pinned cannot be listed */
	if (!ret && u->uverbs && a->rdma_error) {
		memset(&r, 0, sizeof(r));
		r.source = PG_AUDIT_RDMA_MR;
		snprintf(r.where, sizeof(r.where), "%u RDMA device(s) open",
			 u->uverbs);
		judge_unknown(f, &r, PG_WHY_NO_NETLINK);
		ret = add_range(p, &r);
	}
	return ret;
}

static void read_comm(int pid, char *buf, size_t len, bool *kthread)
{
	char path[64], line[512], *q;
	unsigned long flags = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	buf[0] = 0;
	*kthread = false;
	f = fopen(path, "re");
	if (!f)
		return;
	/* "pid (comm) S ppid ...": comm may hold spaces and parentheses */
	if (fgets(line, sizeof(line), f) && (q = strrchr(line, ')'))) {
		char *open = strchr(line, '(');

		if (open && open < q)
			snprintf(buf, len, "%.*s", (int)(q - open - 1),
				 open + 1);
		if (sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %lu", &flags) == 1)
			*kthread = flags & PF_KTHREAD_FLAG;
	}
	fclose(f);
}

/* One process: 0 listed in p (or nothing pinned: p->nr 0), -ESRCH gone,
 * -ENOMEM. Permission and other failures are verdicts of p. */
static int audit_pid(int pid, struct audit_report *a, struct audit_proc *p,
		     const struct rdma_mr *mrs, size_t nmrs)
{
	struct proc_facts f;
	struct uring_scan u;
	bool kthread, has_mr = false;
	size_t i;
	int ret;

	memset(p, 0, sizeof(*p));
	memset(&f, 0, sizeof(f));
	p->pid = pid;
	read_comm(pid, p->comm, sizeof(p->comm), &kthread);
	if (!p->comm[0])
		return -ESRCH;
	p->verdict = PG_AUDIT_SAFE;
	if (kthread)
		return 0;	/* no user memory to pin */
	for (i = 0; i < nmrs; i++)
		has_mr |= mrs[i].pid == pid;
	ret = uring_scan(pid, &u);
	if (!ret && (u.n || u.unprinted || has_mr ||
		     (u.uverbs && a->rdma_error))) {
		ret = read_smaps(pid, &f.vmas, &f.nvmas);
		p->rings = u.rings;
	}
	if (ret == -EACCES || ret == -EPERM) {
		p->verdict = PG_AUDIT_UNKNOWN;
		p->reason = PG_WHY_PERMISSION;
		ret = 0;
		goto out;
	}
	if (ret)
		goto out;
	p->rings = u.rings;
	f.kf = &a->kernel;
	for (i = 0; i < f.nvmas; i++)
		if (strstr(f.vmas[i].path, "/libpinguard.so"))
			f.pg_loaded = true;
	f.pg_ret = EX_NOPROC;
	if (f.pg_loaded) {
		f.pg_ret = snapshot_take_quiet(pid, &f.snap);
		p->pinguard = true;
		if (f.pg_ret == EX_OK) {
			p->mode = pg_name_of(pg_mode_names, f.snap.g.effective);
			f.mr_used = calloc(f.snap.g.htab_cap + 1, 1);
		}
	}
	ret = judge_ranges(&f, p, &u, a, mrs, nmrs);
	for (i = 0; i < p->nr; i++) {
		if (p->r[i].verdict == PG_AUDIT_AT_RISK)
			p->verdict = PG_AUDIT_AT_RISK;
		else if (p->r[i].verdict == PG_AUDIT_UNKNOWN &&
			 p->verdict == PG_AUDIT_SAFE) {
			p->verdict = PG_AUDIT_UNKNOWN;
			p->reason = p->r[i].reason;
		}
	}
	free(f.mr_used);
	if (f.pg_loaded)
		snapshot_free(&f.snap);
	free_smaps(f.vmas, f.nvmas);
out:
	free(u.bufs);
	return ret;
}

static int add_proc(struct audit_report *a, const struct audit_proc *p)
{
	struct audit_proc *t = realloc(a->procs, (a->nprocs + 1) * sizeof(*t));

	if (!t)
		return -ENOMEM;
	a->procs = t;
	a->procs[a->nprocs++] = *p;
	return 0;
}

static void free_report(struct audit_report *a)
{
	size_t i;

	for (i = 0; i < a->nprocs; i++)
		free(a->procs[i].r);
	free(a->procs);
}

/* Audit one pid and keep it if it is to be shown; EX_NOPROC if it is
 * gone (named: with a message). */
static int one(struct audit_report *a, int pid, bool named,
	       const struct rdma_mr *mrs, size_t nmrs)
{
	struct audit_proc p;
	int ret = audit_pid(pid, a, &p, mrs, nmrs);

	a->scanned++;
	if (ret == -ESRCH) {
		free(p.r);
		a->exited++;
		if (named)
			errmsg("no process with PID %d (or it exited during "
			       "the scan)", pid);
		return EX_NOPROC;
	}
	if (ret) {
		free(p.r);
		a->failed++;
		errmsg("process %d: %s", pid, strerror(-ret));
		return EX_FAIL;
	}
	a->denied += p.reason == PG_WHY_PERMISSION && !p.nr;
	if (!named && !a->all && !p.nr && p.verdict == PG_AUDIT_SAFE)
		return EX_OK;	/* nothing pinned */
	if (!named && !a->all && p.reason == PG_WHY_PERMISSION && !p.nr)
		return EX_OK;	/* counted, listed with --all */
	if (add_proc(a, &p)) {
		free(p.r);
		return EX_FAIL;
	}
	return EX_OK;
}

static int scan_all(struct audit_report *a, const struct rdma_mr *mrs,
		    size_t nmrs)
{
	struct dirent *d;
	DIR *dir = opendir("/proc");
	int ret = EX_OK;

	if (!dir) {
		errmsg("cannot read /proc: %s", strerror(errno));
		return EX_FAIL;
	}
	while ((d = readdir(dir)))
		if (isdigit((unsigned char)d->d_name[0]) &&
		    one(a, atoi(d->d_name), false, mrs, nmrs) == EX_FAIL)
			ret = EX_FAIL;
	closedir(dir);
	return ret;
}

/* 5 at risk, then 4 permission, 3 a named process gone, 1 unknown or
 * failure, 0. */
static int exit_status(const struct audit_report *a, int scan)
{
	bool risk = false, perm = a->denied > 0, unknown = false;
	size_t i;

	for (i = 0; i < a->nprocs; i++) {
		risk |= a->procs[i].verdict == PG_AUDIT_AT_RISK;
		perm |= a->procs[i].reason == PG_WHY_PERMISSION;
		unknown |= a->procs[i].verdict == PG_AUDIT_UNKNOWN;
	}
	return risk ? EX_AT_RISK : perm ? EX_PERM :
	       scan == EX_NOPROC ? EX_NOPROC :
	       unknown || scan == EX_FAIL ? EX_FAIL : EX_OK;
}

int cmd_audit(int argc, char **argv)
{
	enum { TEXT, JSON, PROM } out = TEXT;
	struct audit_report a;
	struct rdma_mr *mrs = NULL;
	struct timespec t0, t1;
	size_t nmrs = 0;
	int i, npids = 0, ret, scan = EX_OK;
	int *pids = calloc((size_t)argc, sizeof(int));
	char *end;
	long pid;

	memset(&a, 0, sizeof(a));
	if (!pids)
		return EX_FAIL;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			out = JSON;
		else if (!strcmp(argv[i], "--prometheus"))
			out = PROM;
		else if (!strcmp(argv[i], "--all"))
			a.all = true;
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("Usage: pinguard audit [--all] [--json | "
			       "--prometheus] [PID...]\n");
			free(pids);
			return EX_OK;
		} else if (argv[i][0] == '-') {
			free(pids);
			return usage_error("audit: unknown option '%s'",
					   argv[i]);
		} else {
			errno = 0;
			pid = strtol(argv[i], &end, 10);
			if (errno || end == argv[i] || *end || pid <= 0 ||
			    pid > INT_MAX) {
				free(pids);
				return usage_error("audit: PID '%s' is not a "
						   "process id", argv[i]);
			}
			pids[npids++] = (int)pid;
		}
	}
	kernel_judge(&a.kernel);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	a.rdma_error = rdma_mr_dump(&mrs, &nmrs, &a.rdma_devs);
	/* no RDMA core in this kernel: no MR anywhere */
	if (a.rdma_error == -EPROTONOSUPPORT)
		a.rdma_error = 0;
	if (!npids)
		scan = scan_all(&a, mrs, nmrs);
	for (i = 0; i < npids; i++) {
		ret = one(&a, pids[i], true, mrs, nmrs);
		if (ret != EX_OK && scan != EX_FAIL)
			scan = ret;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	a.seconds = (double)(t1.tv_sec - t0.tv_sec) +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (out == JSON)
		audit_print_json(&a);
	else if (out == PROM)
		audit_print_prometheus(&a);
	else
		audit_print_text(&a);
	ret = exit_status(&a, scan);
	free_report(&a);
	free(mrs);
	free(pids);
	return ret;
}
