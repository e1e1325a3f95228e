// SPDX-License-Identifier: MIT
/* pglab-libs: -luring -libverbs */
/* pglab-interposes: io_uring_register_buffers */
/*
 * Helper of pglab-audit.sh (not a scenario of its own): pins memory of one
 * kind with an io_uring fixed buffer and, on rxe0, an RDMA MR, then waits
 * for the audit to look at it (at most 120 s, or SIGTERM).
 *
 *   pglab-hold --mem 4k|hugetlb --ready FILE
 *
 * FILE gets "uring ADDR LEN" and "mr ADDR LEN" lines (no mr line without
 * rxe0) once everything is pinned.
 */
#define PGLAB_VERBS
#include "pglab-common.h"
#include <liburing.h>

int main(int argc, char **argv)
{
	const char *mem = "4k", *ready = NULL;
	struct ibv_context *ctx = NULL;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_mr *mr = NULL;
	struct io_uring ring;
	union ibv_gid gid;
	struct iovec iov;
	char tmp[4096];
	size_t len;
	char *buf;
	int gidx;
	FILE *f;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--mem"))
			mem = argv[i + 1];
		else if (!strcmp(argv[i], "--ready"))
			ready = argv[i + 1];
	}
	if (!ready)
		FAIL("usage");
	buf = alloc_mem(mem, &len);
	memset(buf, 1, len);
	if (io_uring_queue_init(4, &ring, 0))
		FAIL("io_uring_queue_init");
	iov = (struct iovec){ buf, len };
	if (io_uring_register_buffers(&ring, &iov, 1))
		FAIL("register_buffers");
	if (!access("/sys/class/infiniband/rxe0", F_OK)) {
		ctx = pglab_open("rxe0", &pd, &cq, &gid, &gidx);
		mr = ibv_reg_mr(pd, buf, len, IBV_ACCESS_LOCAL_WRITE |
				IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ);
		if (!mr)
			FAIL("reg_mr=%d", errno);
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", ready);
	f = fopen(tmp, "w");
	if (!f)
		FAIL("ready_file");
	fprintf(f, "uring %p %zu\n", (void *)buf, len);
	if (mr)
		fprintf(f, "mr %p %zu\n", (void *)buf, len);
	if (fclose(f) || rename(tmp, ready))
		FAIL("ready_file");
	alarm(120);
	pause();
	(void)ctx;
	return 0;
}
