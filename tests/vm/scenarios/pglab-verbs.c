/* SPDX-License-Identifier: MIT */
/* pglab-libs: -libverbs */
/* pglab-interposes: ibv_reg_mr */
/*
 * Verbs MR across fork(), over soft-RoCE (rxe) loopback: QP "a" owns the MR
 * on private anonymous memory, QP "b" in the same process is the peer.
 *
 *   pglab-verbs --op rdma-read|rdma-write|send --child alive|exited|none
 *               [--mem 4k|hugetlb] [--ro] [--shared-before] [--dev rxe0]
 *               [--dontfork] [--pinguard-api]
 *
 * --ro: the MR is registered with IBV_ACCESS_REMOTE_READ only, a read-only
 * pin (rdma-read only; the API variant pins with PINGUARD_PIN_READONLY).
 * --shared-before: a "sharer" child is forked before the registration and
 * stays alive to the end, so the pages are shared copy-on-write when the
 * device pins them; before 5.19 a read-only pin does not unshare them and
 * the parent's next write moves the parent away from the device's page,
 * no fork after the pin needed. --child none: no fork after the pin.
 *
 * --mem: what the MR covers, 64 KiB of 4 KiB pages (default) or one 2 MiB
 * hugetlb page (MAP_HUGETLB; skips without reserved huge pages). The peer
 * buffer is always 4 KiB pages of the same length.
 *
 * rdma-read:  parent writes 'B' after fork; b RDMA-READs the MR: 'B' coherent,
 *             'A' (fork-time data) stale.
 * rdma-write: parent writes 'B' after fork; b RDMA-WRITEs 'C' into the MR;
 *             parent sees 'C' coherent, 'B' stale.
 * send:       parent writes 'B' after fork and posts a SEND from the MR on a
 *             (the provider's send queue is used after fork too); b receives.
 */
#define PGLAB_VERBS
#include "pglab-common.h"

#include <getopt.h>
#include <infiniband/verbs.h>
#include <sys/wait.h>
#include <time.h>

static struct ibv_cq *cq;

int main(int argc, char **argv)
{
	const char *op = "rdma-read", *child = "alive", *devname = "rxe0", *mem = "4k";
	int dontfork = 0, use_api = 0, ro = 0, shared_before = 0, c;
	static const struct option opts[] = {
		{ "op", 1, 0, 'o' }, { "child", 1, 0, 'c' }, { "dev", 1, 0, 'D' }, { "mem", 1, 0, 'm' },
		{ "ro", 0, 0, 'r' }, { "shared-before", 0, 0, 's' },
		{ "dontfork", 0, 0, 'd' }, { "pinguard-api", 0, 0, 'p' }, { 0 }
	};

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'o': op = optarg; break;
		case 'c': child = optarg; break;
		case 'D': devname = optarg; break;
		case 'm': mem = optarg; break;
		case 'r': ro = 1; break;
		case 's': shared_before = 1; break;
		case 'd': dontfork = 1; break;
		case 'p': use_api = 1; break;
		default: FAIL("usage");
		}
	}
	int alive = !strcmp(child, "alive"), nofork = !strcmp(child, "none");
	int is_read = !strcmp(op, "rdma-read"), is_write = !strcmp(op, "rdma-write");

	if (!is_read && !is_write && strcmp(op, "send"))
		FAIL("bad_op=%s", op);
	if (strcmp(mem, "4k") && strcmp(mem, "hugetlb"))
		FAIL("bad_mem=%s", mem);
	if (ro && !is_read)
		FAIL("ro_needs_rdma_read");

	struct ibv_device **list = ibv_get_device_list(NULL), *dev = NULL;
	for (int i = 0; list && list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), devname))
			dev = list[i];
	if (!dev)
		SKIP("no_device_%s", devname);
	struct ibv_context *ctx = ibv_open_device(dev);
	if (!ctx)
		FAIL("open_device=%d", errno);
	union ibv_gid gid;
	int gidx = pglab_pick_gid(ctx, &gid);
	if (gidx < 0)
		SKIP("no_gid");
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	if (!pd || !cq)
		FAIL("pd_cq=%d", errno);

	size_t len;
	char *buf = alloc_mem(mem, &len);
	char *peer = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (peer == MAP_FAILED)
		FAIL("mmap=%d", errno);
	memset(buf, 'A', len);
	/* The peer stands for another process: keep it out of the fork. */
	memset(peer, is_write ? 'C' : 'P', len);
	if (madvise(peer, len, MADV_DONTFORK))
		FAIL("madv_dontfork=%d", errno);
	/* The sharer keeps buf's pages shared copy-on-write until the end. */
	int sh[2] = { -1, -1 };
	pid_t sharer = -1;
	if (shared_before) {
		if (pipe(sh))
			FAIL("pipe=%d", errno);
		fflush(stdout);
		sharer = fork();
		if (sharer < 0)
			FAIL("fork=%d", errno);
		if (sharer == 0) {
			char x;

			close(sh[1]);
			(void)!read(sh[0], &x, 1);
			_exit(0);
		}
		close(sh[0]);
		detail("sharer=alive");
	}
#ifdef HAVE_PINGUARD
	if (ro)
		pglab_pin_flags = PINGUARD_PIN_READONLY;
#endif
	api_pin(use_api, buf, len);
	if (dontfork && madvise(buf, len, MADV_DONTFORK))
		FAIL("madv_dontfork=%d", errno);
	int acc = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE;
	struct ibv_mr *mr = ibv_reg_mr(pd, buf, len, ro ? IBV_ACCESS_REMOTE_READ : acc);
	if (ro)
		detail("pin=ro");
	struct ibv_mr *pmr = ibv_reg_mr(pd, peer, len, acc);
	if (!mr || !pmr)
		FAIL("reg_mr=%d", errno);
	note_mode(); /* after the first pin: api_pin() or the preloaded wrapper */
	struct ibv_qp *qa = pglab_make_qp(pd, cq), *qb = pglab_make_qp(pd, cq);
	pglab_connect_qp(qa, qb->qp_num, &gid, gidx);
	pglab_connect_qp(qb, qa->qp_num, &gid, gidx);
	detail("gid=%d", gidx);
	if (strcmp(mem, "4k"))
		detail("mem=%s", mem);

	int go[2], rep[2];
	if (pipe(go) || pipe(rep))
		FAIL("pipe=%d", errno);
	fflush(stdout);
	pid_t pid = nofork ? 1 : fork();
	if (pid < 0)
		FAIL("fork=%d", errno);
	if (pid == 0) {
		char v = 'N';

		if (alive) {
			if (read(go[0], &v, 1) != 1)
				_exit(1);
			v = child_view(buf, len, 'A');
			if (write(rep[1], &v, 1) != 1)
				_exit(1);
		}
		_exit(0);
	}
	if (!alive && !nofork && waitpid(pid, NULL, 0) != pid)
		FAIL("waitpid=%d", errno);

	memset(buf, 'B', len); /* the parent's post-fork write */

	struct ibv_sge sge;
	struct ibv_send_wr wr = { .num_sge = 1, .sg_list = &sge, .send_flags = IBV_SEND_SIGNALED }, *bad;
	struct ibv_recv_wr rwr = { .num_sge = 1, .sg_list = &sge }, *rbad;
	const char *result;
	if (is_read || is_write) {
		sge = (struct ibv_sge){ (uintptr_t)peer, len, pmr->lkey };
		wr.opcode = is_read ? IBV_WR_RDMA_READ : IBV_WR_RDMA_WRITE;
		wr.wr.rdma.remote_addr = (uintptr_t)buf;
		wr.wr.rdma.rkey = mr->rkey;
		if (ibv_post_send(qb, &wr, &bad))
			FAIL("post_send=%d", errno);
		pglab_poll_one(cq, op);
	} else {
		sge = (struct ibv_sge){ (uintptr_t)peer, len, pmr->lkey };
		if (ibv_post_recv(qb, &rwr, &rbad))
			FAIL("post_recv=%d", errno);
		sge = (struct ibv_sge){ (uintptr_t)buf, len, mr->lkey };
		wr.opcode = IBV_WR_SEND;
		if (ibv_post_send(qa, &wr, &bad))
			FAIL("post_send=%d", errno);
		pglab_poll_one(cq, "send");
		pglab_poll_one(cq, "recv");
	}
	if (is_write)
		result = all_eq(buf, len, 'C') ? "coherent" : all_eq(buf, len, 'B') ? "stale" : "mixed";
	else
		result = all_eq(peer, len, 'B') ? "coherent" : all_eq(peer, len, 'A') ? "stale" : "mixed";
	if (!strcmp(result, "mixed")) {
		detail("mixed");
		result = "stale";
	}

	char v = 'N';
	if (alive) {
		if (write(go[1], "x", 1) != 1 || read(rep[0], &v, 1) != 1)
			FAIL("child_pipe=%d", errno);
		waitpid(pid, NULL, 0);
	}
	detail("child=%s", child_word(v));
	if (sharer > 0) {
		close(sh[1]);
		waitpid(sharer, NULL, 0);
	}
	ibv_destroy_qp(qa);
	ibv_destroy_qp(qb);
	ibv_dereg_mr(mr);
	ibv_dereg_mr(pmr);
	api_unpin(use_api, buf, len);
	finish(result);
}
