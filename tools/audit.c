/* SPDX-License-Identifier: MIT */
/*
 * pinguard audit [PID...]: the pinned memory of every process (or of the
 * ones named), and whether a fork would leave the device and the process
 * out of step. Everything is read from outside, nothing is written to or
 * stopped: io_uring fixed buffers from fdinfo (uringfd.c), RDMA MRs from
 * the RDMA netlink (rdmamr.c), the memory behind them from smaps (smaps.c),
 * pinguard's mode and registrations from its state (snapshot.c), and this
 * kernel's verdict per kind from the library's own detection (kernel.c).
 * audit_judge.c judges each range, audit_out.c prints the result.
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

static int add_range(struct audit_proc *p, const struct audit_range *r)
{
	if (array_append(&p->r, &p->nr, r, sizeof(*r)))
		return -ENOMEM;
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
	return array_append(&a->procs, &a->nprocs, p, sizeof(*p));
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
