/* SPDX-License-Identifier: MIT */
/* pglab-cc: mpicc */
/* pglab-interposes: ibv_reg_mr */
/*
 * An MPI program whose send buffers the stack registers and caches, across
 * fork(); run by pglab-mpi.sh (mpirun -np 2 with the transport's settings).
 *
 *   mpirun -np 2 pglab-mpi [--size BYTES] [--iters N] [--tag k=v,...]
 *
 * Rank 0 owns two buffers, X (for the exited child) and A (alive child),
 * each --size bytes (default 1 MiB: far above every eager/SAR limit, so the
 * stack sends them by rendezvous, the peer RDMA-reading the registered
 * pages). It sends both to rank 1 --iters times (default 3), rewriting them
 * before each round, so the registration cache holds them; the last round
 * carries 'F' (the fork-time data). Then:
 *
 *   exited: fork, the child _exit()s at once and is reaped; the parent writes
 *           'N' into X and sends X again;
 *   alive:  fork, the child waits; the parent writes 'N' into A, sends A
 *           again, and only then asks the child what it sees in A
 *           (child=forktime|nomap|other).
 *
 * Rank 1 checks each message: all 'N' ok, all 'F' stale, any other mix
 * "mixed" (stale pages: detail keys *_stale_kb). Rank 0 prints the line:
 *
 *   result=coherent|stale detail=<tag>,exited=ok|stale|mixed,alive=...,
 *          ibv_fork=disabled|enabled|unneeded,child=...,iters=N,size_kb=K,
 *          round_ms=M,fork_us=U[,pinned_kb=,copied_kb=,guard_ms=][,lost=<phase>]
 *          [mode= reason= kernel=]
 * (round_ms: one warm-up round of two sends and an ack; fork_us: mean
 * duration of the two fork() calls in rank 0; pinned_kb, copied_kb,
 * guard_ms: a preloaded libpinguard's counters, see pinguard_stats()).
 *
 * A message that does not complete within --deadline seconds (default 60)
 * after the fork counts as lost (the stack's own registered memory went
 * stale too): result=stale with lost=<phase>, then MPI_Abort. Before the
 * fork there is no limit (the lab's cell timeout applies) and anything
 * unexpected is result=error.
 */
#include "pglab-common.h"

#include <getopt.h>
#include <mpi.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>

static double deadline = 60;
static double cur_deadline = 1e9; /* no limit until the first fork */
static int rank;

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* Wait for one request; 0 done, -1 not done within the deadline. */
static int wait_req(MPI_Request *req)
{
	double t0 = now();
	int done = 0;

	while (!done) {
		if (MPI_Test(req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS)
			FAIL("mpi_test");
		if (!done && now() - t0 > cur_deadline)
			return -1;
	}
	return 0;
}

static int xfer(int send, void *buf, size_t len, int tag)
{
	MPI_Request req;
	int r = send ? MPI_Isend(buf, (int)len, MPI_BYTE, 1, tag, MPI_COMM_WORLD, &req)
		     : MPI_Irecv(buf, (int)len, MPI_BYTE, 0, tag, MPI_COMM_WORLD, &req);

	if (r != MPI_SUCCESS)
		FAIL("mpi_%s", send ? "isend" : "irecv");
	return wait_req(&req);
}

/* Small control messages (verdicts) between the ranks: n ints. */
static int ctln(int send, int *v, int n, int tag)
{
	MPI_Request req;
	int peer = rank ? 0 : 1;

	if ((send ? MPI_Isend(v, n, MPI_INT, peer, tag, MPI_COMM_WORLD, &req)
		  : MPI_Irecv(v, n, MPI_INT, peer, tag, MPI_COMM_WORLD, &req)) != MPI_SUCCESS)
		FAIL("mpi_ctl");
	return wait_req(&req);
}

static int ctl(int send, int *v, int tag)
{
	return ctln(send, v, 1, tag);
}

/* Rank 1's verdict on a received buffer: 'C' all new, 'S' all fork-time,
 * 'M' a mix; *stale_kb: KiB still holding fork-time data. */
static char verdict(const char *buf, size_t len, char nw, char old, long *stale_kb)
{
	size_t n_new = 0, n_old = 0;

	for (size_t i = 0; i < len; i++)
		n_new += buf[i] == nw, n_old += buf[i] == old;
	*stale_kb = (long)(n_old / 1024);
	return n_new == len ? 'C' : n_old == len ? 'S' : 'M';
}

static const char *vword(int v)
{
	return v == 'C' ? "ok" : v == 'S' ? "stale" : v == 'M' ? "mixed" : "lost";
}

/* rdma-core's fork protection as the stack sees it after its
 * ibv_fork_init() (enum ibv_fork_status: 0 disabled, 1 enabled, 2 unneeded:
 * the kernel claims copy-on-fork, so ibv_fork_init() did nothing). A
 * preloaded libpinguard's answer comes first (RTLD_DEFAULT). */
static const char *ibv_fork_status(void)
{
	static const char *const names[] = { "disabled", "enabled", "unneeded" };
	void *h = dlopen("libibverbs.so.1", RTLD_LAZY | RTLD_NOLOAD);
	int (*st)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "ibv_is_fork_initialized");

	if (!st && h)
		st = (int (*)(void))dlsym(h, "ibv_is_fork_initialized");
	if (!st)
		return "notloaded";
	int v = st();

	return v >= 0 && v <= 2 ? names[v] : "other";
}

/* A preloaded libpinguard's counters (struct pinguard_stats' leading
 * fields; the size argument tells it how much we know): pinned_kb (bytes
 * pinned now), copied_kb (copy mode: bytes copied for the two children),
 * guard_ms (time spent in its fork hook). Nothing without pinguard. */
static void pinguard_stats(void)
{
	struct { uint64_t ranges, bytes, active, pins, unpins, seen, guarded, copied,
		 dontfork, errors, fork_ns; } st;
	int (*get)(void *, size_t) = (int (*)(void *, size_t))dlsym(RTLD_DEFAULT,
								    "pinguard_get_stats");

	if (get && get(&st, sizeof(st)) == 0)
		detail("pinned_kb=%llu,copied_kb=%llu,guard_ms=%llu",
		       (unsigned long long)st.bytes / 1024, (unsigned long long)st.copied / 1024,
		       (unsigned long long)st.fork_ns / 1000000);
}

static char *map(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		FAIL("mmap=%d", errno);
	return p;
}

/* Rank 0 lost a message after the fork: the stack itself is corrupted. */
static void lost(const char *phase)
{
	detail("lost=%s", phase);
	printf("result=stale detail=%s%s\n", pglab_detail, pglab_mode);
	fflush(stdout);
	MPI_Abort(MPI_COMM_WORLD, 3);
	exit(3);
}

int main(int argc, char **argv)
{
	size_t len = 1UL << 20;
	int iters = 3, size, c;
	const char *tag = NULL;
	static const struct option opts[] = {
		{ "size", 1, 0, 's' }, { "iters", 1, 0, 'i' }, { "tag", 1, 0, 't' },
		{ "deadline", 1, 0, 'd' }, { 0 }
	};

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': len = strtoul(optarg, NULL, 0); break;
		case 'i': iters = atoi(optarg); break;
		case 't': tag = optarg; break;
		case 'd': deadline = atof(optarg); break;
		default: FAIL("usage");
		}
	}
	if (tag)
		detail("%s", tag);
	if (MPI_Init(&argc, &argv) != MPI_SUCCESS)
		FAIL("mpi_init");
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (size != 2)
		FAIL("np=%d", size);
	if (len < 4096 || iters < 1)
		FAIL("bad_args");

	char *x = map(len), *a = map(len);
	int bad = 0, vx = 0, va = 0;
	long skb_x = 0, skb_a = 0;

	/* Warm-up: the same two buffers, rewritten and sent iters times. */
	double t0 = now(), fork_us = 0;

	for (int i = 0; i < iters; i++) {
		char v = i == iters - 1 ? 'F' : (char)('a' + i);

		if (rank == 0) {
			memset(x, v, len);
			memset(a, v, len);
			if (xfer(1, x, len, 10) || xfer(1, a, len, 11))
				FAIL("warmup_send_timeout=%d", i);
			if (ctl(0, &bad, 12))
				FAIL("warmup_ack_timeout=%d", i);
			if (bad)
				FAIL("warmup_mismatch=%d", i);
		} else {
			memset(x, 0, len);
			memset(a, 0, len);
			if (xfer(0, x, len, 10) || xfer(0, a, len, 11))
				FAIL("warmup_recv_timeout=%d", i);
			bad = !all_eq(x, len, v) || !all_eq(a, len, v);
			if (ctl(1, &bad, 12))
				FAIL("warmup_ack_timeout=%d", i);
			if (bad)
				FAIL("warmup_mismatch=%d", i);
		}
	}
	double round_ms = (now() - t0) * 1e3 / iters;

	if (rank == 0) {
		note_mode(); /* after the stack registered (preload: pinned) */
		detail("ibv_fork=%s", ibv_fork_status());
	}

	if (rank == 1) {
		/* Receive X (exited), then A (alive); send a verdict for each.
		 * Twice rank 0's deadline: rank 0 reports a loss first. */
		cur_deadline = 2 * deadline;
		memset(x, 0, len);
		memset(a, 0, len);
		if (xfer(0, x, len, 20))
			FAIL("lost_exited_recv");
		vx = verdict(x, len, 'N', 'F', &skb_x);
		if (ctl(1, &vx, 21))
			FAIL("lost_exited_verdict");
		if (xfer(0, a, len, 30))
			FAIL("lost_alive_recv");
		va = verdict(a, len, 'N', 'F', &skb_a);
		if (ctl(1, &va, 31))
			FAIL("lost_alive_verdict");
		int sk[2] = { (int)skb_x, (int)skb_a };

		if (ctln(1, sk, 2, 40))
			FAIL("lost_stale_kb");
		MPI_Finalize();
		return 0;
	}

	/* Rank 0. exited: the child is gone before the parent writes. */
	cur_deadline = deadline;
	t0 = now();
	pid_t pid = fork();

	fork_us += (now() - t0) * 1e6;

	if (pid < 0)
		FAIL("fork=%d", errno);
	if (pid == 0)
		_exit(0);
	if (waitpid(pid, NULL, 0) != pid)
		FAIL("waitpid=%d", errno);
	memset(x, 'N', len);
	if (xfer(1, x, len, 20))
		lost("exited_send");
	if (ctl(0, &vx, 21))
		lost("exited_verdict");

	/* alive: the child keeps its view of A until the parent resent it. */
	int go[2], back[2];
	char cv = 0;

	if (pipe(go) || pipe(back))
		FAIL("pipe=%d", errno);
	t0 = now();
	pid = fork();
	if (pid > 0)
		fork_us += (now() - t0) * 1e6;
	if (pid < 0)
		FAIL("fork=%d", errno);
	if (pid == 0) {
		char b;

		close(go[1]);
		close(back[0]);
		if (read(go[0], &b, 1) != 1)
			_exit(1);
		b = child_view(a, len, 'F');
		if (write(back[1], &b, 1) != 1)
			_exit(1);
		_exit(0);
	}
	close(go[0]);
	close(back[1]);
	memset(a, 'N', len);
	int lost_a = xfer(1, a, len, 30) ? 1 : ctl(0, &va, 31) ? 2 : 0;

	if (write(go[1], "x", 1) != 1 || read(back[0], &cv, 1) != 1)
		cv = 0;
	waitpid(pid, NULL, 0);
	if (lost_a) {
		detail("exited=%s,child=%s", vword(vx), child_word(cv));
		lost(lost_a == 1 ? "alive_send" : "alive_verdict");
	}

	int sk[2] = { -1, -1 };

	if (ctln(0, sk, 2, 40))
		lost("stale_kb");
	detail("exited=%s,alive=%s,child=%s,iters=%d,size_kb=%zu,round_ms=%.0f,fork_us=%.0f",
	       vword(vx), vword(va), child_word(cv), iters, len / 1024, round_ms, fork_us / 2);
	if (vx != 'C')
		detail("exited_stale_kb=%d", sk[0]);
	if (va != 'C')
		detail("alive_stale_kb=%d", sk[1]);
	pinguard_stats();
	MPI_Finalize();
	finish(vx == 'C' && va == 'C' ? "coherent" : "stale");
}
