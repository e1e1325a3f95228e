/* SPDX-License-Identifier: MIT */
/* pglab-libs: -libverbs */
/* pglab-interposes: ibv_fork_init */
/*
 * NCCL + a data loader, over soft-RoCE (rxe) loopback: the program calls
 * ibv_fork_init() first (as NCCL does), registers an MR over an unaligned
 * sub-range of one malloc'd "tensor arena" (other tensors share the MR's
 * first and last pages), forks workers that read those neighbouring
 * tensors and the MR, and checks that the device still sees the parent's
 * data (a peer QP RDMA-READs the MR after the parent rewrote it).
 *
 *   pglab-forkinit --fork-init yes|no|early [--rdma-cof kernel|hidden]
 *                  [--child alive|exited] [--workers N]
 *                  [--worker-reads all|nbr] [--dev rxe0] [--pinguard-api]
 *
 * --fork-init early: libibverbs' own ibv_fork_init(), past a preloaded
 *   wrapper (found in libibverbs itself), as a library that turned rdma-core's
 *   fork support on before pinguard could see it (a statically linked
 *   libibverbs) would: pinguard must not claim a takeover then.
 * --rdma-cof hidden: NETLINK_RDMA sockets fail (seccomp), so libibverbs
 *   cannot read RDMA_NLDEV_SYS_ATTR_COPY_ON_FORK, as on the kernels that
 *   lack it (< 5.12, i.e. those without early COW): ibv_fork_init() then
 *   really turns rdma-core's MADV_DONTFORK tracking on. With "kernel"
 *   (default) libibverbs asks the kernel, and the lab's 6.1 claims
 *   copy-on-fork whatever fork_early_cow says, so ibv_fork_init() does
 *   nothing (fork_state=unneeded).
 * --child alive: workers wait while the parent rewrites the MR and the
 *   peer reads it, then read; exited: workers read at once and are reaped
 *   before the parent writes.
 *
 * result: coherent if the RDMA-READ returns the parent's new data, stale if
 * it returns the fork-time data. detail: workers=forktime (every worker saw
 * its fork-time data), segv/sigbus/sig<N> (every worker was killed by that
 * signal), other (a worker saw different data), mixed; fork_init=<rc>|no
 * (ibv_fork_init()'s return), fork_state=disabled|enabled|unneeded
 * (ibv_is_fork_initialized() after it), cof=kernel|hidden, takeover=yes|no
 * (pinguard_get_mode()'s fork_init after the registration; absent without
 * pinguard),
 * parent_data=ok|lost (the parent's own view of its tensors and MR).
 */
#define PGLAB_VERBS
#include "pglab-common.h"

#include <getopt.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <malloc.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define PAGE 4096UL
#define ARENA (32 * PAGE)	/* malloc'd: above the mmap threshold */
#define MR_OFF (PAGE + 100)	/* MR starts mid-page... */
#define MR_LEN (4 * PAGE)	/* ...and ends mid-page */
#define MAXW 4

/* socket(AF_NETLINK, *, NETLINK_RDMA) fails with EPROTONOSUPPORT. */
static void hide_rdma_netlink(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_NETLINK, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NETLINK_RDMA, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPROTONOSUPPORT),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		FAIL("seccomp=%d", errno);
}

/* The fork-init takeover pinguard reports (after fallbacks): "yes", "no",
 * or NULL without pinguard. */
static const char *takeover_word(void)
{
#ifdef HAVE_PINGUARD
	struct pinguard_mode_info mi;

	if (pinguard_get_mode(&mi, sizeof(mi)))
		return NULL;
	return mi.fork_init == PINGUARD_FORK_INIT_TAKEOVER ? "yes" : "no";
#else
	/* Same layout as struct pinguard_mode_info (seven enums); takeover = 1. */
	struct { int configured, effective, reason, kernel, pretouch, scope, fork_init; } mi;
	int (*get)(void *, size_t) =
		(int (*)(void *, size_t))dlsym(RTLD_DEFAULT, "pinguard_get_mode");

	if (!get || get(&mi, sizeof(mi)))
		return NULL;
	return mi.fork_init == 1 ? "yes" : "no";
#endif
}

static const char *fork_state_word(enum ibv_fork_status s)
{
	return s == IBV_FORK_DISABLED ? "disabled" : s == IBV_FORK_ENABLED ? "enabled" :
	       s == IBV_FORK_UNNEEDED ? "unneeded" : "unknown";
}

/* The arena's fork-time contents: tensors 'a' before the MR, 'b' after it,
 * the MR 'M'. The parent later rewrites the MR with 'N'. */
static int arena_is(const char *t, char mr, int with_mr)
{
	return all_eq(t, MR_OFF, 'a') && all_eq(t + MR_OFF + MR_LEN, ARENA - MR_OFF - MR_LEN, 'b') &&
	       (!with_mr || all_eq(t + MR_OFF, MR_LEN, mr));
}

/* A worker: no signal handler, a fault kills it as it would a data loader.
 * Neighbouring tensors first (they share the MR's first and last pages),
 * then the MR. Reports 'F' fork-time data, 'n' neighbours changed, 'm' MR
 * changed. */
static void worker(const char *t, int go, int rep, int read_mr)
{
	char v = 'F', x;

	if (go >= 0 && read(go, &x, 1) != 1)
		_exit(1);
	if (!all_eq(t, MR_OFF, 'a') || !all_eq(t + MR_OFF + MR_LEN, ARENA - MR_OFF - MR_LEN, 'b'))
		v = 'n';
	else if (read_mr && !all_eq(t + MR_OFF, MR_LEN, 'M'))
		v = 'm';
	if (write(rep, &v, 1) != 1)
		_exit(1);
	_exit(0);
}

int main(int argc, char **argv)
{
	const char *fi = NULL, *cof = "kernel", *child = "alive", *reads = "all";
	const char *devname = "rxe0";
	int nw = 3, use_api = 0, c;
	static const struct option opts[] = {
		{ "fork-init", 1, 0, 'f' }, { "rdma-cof", 1, 0, 'r' }, { "child", 1, 0, 'c' },
		{ "workers", 1, 0, 'w' }, { "worker-reads", 1, 0, 'R' }, { "dev", 1, 0, 'D' },
		{ "pinguard-api", 0, 0, 'p' }, { 0 }
	};

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'f': fi = optarg; break;
		case 'r': cof = optarg; break;
		case 'c': child = optarg; break;
		case 'w': nw = atoi(optarg); break;
		case 'R': reads = optarg; break;
		case 'D': devname = optarg; break;
		case 'p': use_api = 1; break;
		default: FAIL("usage");
		}
	}
	if (!fi || (strcmp(fi, "yes") && strcmp(fi, "no") && strcmp(fi, "early")))
		FAIL("bad_fork_init");
	if (strcmp(cof, "kernel") && strcmp(cof, "hidden"))
		FAIL("bad_rdma_cof=%s", cof);
	if (strcmp(child, "alive") && strcmp(child, "exited"))
		FAIL("bad_child=%s", child);
	if (strcmp(reads, "all") && strcmp(reads, "nbr"))
		FAIL("bad_worker_reads=%s", reads);
	if (nw < 1 || nw > MAXW)
		FAIL("bad_workers=%d", nw);
	int alive = !strcmp(child, "alive"), read_mr = !strcmp(reads, "all");

	if (!strcmp(cof, "hidden"))
		hide_rdma_netlink();
	/* As NCCL: before any device is opened or memory registered. */
	if (!strcmp(fi, "yes")) {
		detail("fork_init=%d", ibv_fork_init());
	} else if (!strcmp(fi, "early")) {
		void *h = dlopen("libibverbs.so.1", RTLD_NOW | RTLD_NOLOAD);
		int (*own)(void) = h ? (int (*)(void))dlsym(h, "ibv_fork_init") : NULL;

		if (!own)
			FAIL("libibverbs_ibv_fork_init");
		detail("fork_init=%d", own());
	} else {
		detail("fork_init=no");
	}
	detail("fork_state=%s", fork_state_word(ibv_is_fork_initialized()));
	detail("cof=%s", cof);

	struct ibv_pd *pd;
	struct ibv_cq *cq;
	union ibv_gid gid;
	int gidx;
	pglab_open(devname, &pd, &cq, &gid, &gidx);

	/* The arena: malloc, as a framework's allocator would (glibc mmaps it,
	 * 16 bytes into a page, with a fixed threshold). */
	mallopt(M_MMAP_THRESHOLD, 64 * 1024);
	char *t = malloc(ARENA);
	size_t plen;
	char *peer = alloc_mem("4k", &plen);
	if (!t)
		FAIL("malloc=%d", errno);
	memset(t, 'a', MR_OFF);
	memset(t + MR_OFF, 'M', MR_LEN);
	memset(t + MR_OFF + MR_LEN, 'b', ARENA - MR_OFF - MR_LEN);
	memset(peer, 'P', plen);
	/* The peer stands for another process: keep it out of the fork. */
	if (madvise(peer, plen, MADV_DONTFORK))
		FAIL("madv_dontfork=%d", errno);
	api_pin(use_api, t + MR_OFF, MR_LEN);
	int acc = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE;
	struct ibv_mr *mr = ibv_reg_mr(pd, t + MR_OFF, MR_LEN, acc);
	struct ibv_mr *pmr = ibv_reg_mr(pd, peer, plen, acc);
	if (!mr || !pmr)
		FAIL("reg_mr=%d", errno);
	note_mode(); /* after the first pin: api_pin() or the preloaded wrapper */
	const char *tw = takeover_word();
	struct ibv_qp *qa = pglab_make_qp(pd, cq), *qb = pglab_make_qp(pd, cq);
	pglab_connect_qp(qa, qb->qp_num, &gid, gidx);
	pglab_connect_qp(qb, qa->qp_num, &gid, gidx);

	int go[2], rep[MAXW][2];
	pid_t pid[MAXW];
	if (pipe(go))
		FAIL("pipe=%d", errno);
	fflush(stdout);
	for (int i = 0; i < nw; i++) {
		if (pipe(rep[i]))
			FAIL("pipe=%d", errno);
		pid[i] = fork();
		if (pid[i] < 0)
			FAIL("fork=%d", errno);
		if (pid[i] == 0) {
			close(go[1]);
			worker(t, alive ? go[0] : -1, rep[i][1], read_mr);
		}
		close(rep[i][1]);
	}
	close(go[0]);

	/* Worker views: the report byte, or 'X' (none: killed). */
	char view[MAXW];
	int status[MAXW];
	if (!alive)
		for (int i = 0; i < nw; i++) {
			if (read(rep[i][0], &view[i], 1) != 1)
				view[i] = 'X';
			if (waitpid(pid[i], &status[i], 0) != pid[i])
				FAIL("waitpid=%d", errno);
		}

	memset(t + MR_OFF, 'N', MR_LEN); /* the parent's post-fork write */

	struct ibv_sge sge = { (uintptr_t)peer, MR_LEN, pmr->lkey };
	struct ibv_send_wr wr = { .num_sge = 1, .sg_list = &sge, .send_flags = IBV_SEND_SIGNALED,
				  .opcode = IBV_WR_RDMA_READ }, *bad;
	wr.wr.rdma.remote_addr = (uintptr_t)(t + MR_OFF);
	wr.wr.rdma.rkey = mr->rkey;
	if (ibv_post_send(qb, &wr, &bad))
		FAIL("post_send=%d", errno);
	pglab_poll_one(cq, "rdma-read");
	const char *result = all_eq(peer, MR_LEN, 'N') ? "coherent" :
			     all_eq(peer, MR_LEN, 'M') ? "stale" : "mixed";
	if (!strcmp(result, "mixed")) {
		detail("mixed");
		result = "stale";
	}
	detail("parent_data=%s", arena_is(t, 'N', 1) ? "ok" : "lost");

	if (alive) {
		/* One byte for each worker, then read the reports. */
		for (int i = 0; i < nw; i++)
			if (write(go[1], "x", 1) != 1)
				FAIL("go_pipe=%d", errno);
		for (int i = 0; i < nw; i++) {
			if (read(rep[i][0], &view[i], 1) != 1)
				view[i] = 'X';
			if (waitpid(pid[i], &status[i], 0) != pid[i])
				FAIL("waitpid=%d", errno);
		}
	}

	/* Every worker's outcome as one word; "mixed" when they differ. */
	char word[MAXW][16];
	for (int i = 0; i < nw; i++) {
		int sig = WIFSIGNALED(status[i]) ? WTERMSIG(status[i]) : 0;

		if (sig == SIGSEGV)
			strcpy(word[i], "segv");
		else if (sig == SIGBUS)
			strcpy(word[i], "sigbus");
		else if (sig)
			snprintf(word[i], sizeof(word[i]), "sig%d", sig);
		else if (view[i] == 'F')
			strcpy(word[i], "forktime");
		else if (view[i] == 'n' || view[i] == 'm')
			strcpy(word[i], "other");
		else
			snprintf(word[i], sizeof(word[i]), "exit%d",
				 WIFEXITED(status[i]) ? WEXITSTATUS(status[i]) : -1);
	}
	const char *w = word[0];
	for (int i = 1; i < nw; i++)
		if (strcmp(word[i], w))
			w = "mixed";
	detail("workers=%s", w);
	if (tw)
		detail("takeover=%s", tw);
	detail("nworkers=%d", nw);
	if (!read_mr)
		detail("worker_reads=nbr");

	ibv_destroy_qp(qa);
	ibv_destroy_qp(qb);
	ibv_dereg_mr(mr);
	ibv_dereg_mr(pmr);
	api_unpin(use_api, t + MR_OFF, MR_LEN);
	finish(result);
}
