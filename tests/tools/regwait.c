/* SPDX-License-Identifier: MIT */
/* Test helper for `pinguard run` + `pinguard status`: an unmodified
 * program (pinguard only preloaded) that registers one verbs MR and two
 * io_uring fixed buffers with the stand-in libraries of tests/interpose,
 * writes "SOURCE START LENGTH" lines to argv[1], and waits (at most 60 s). */
#include "fake_api.h"
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	static struct ibv_pd pd;
	static struct io_uring ring;
	struct iovec iov[2];
	struct ibv_mr *mr;
	char *m, tmp[4096];
	FILE *f;

	if (argc != 2)
		return 2;
	m = mmap(NULL, 32 * 4096, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return 1;
	memset(m, 1, 32 * 4096);
	mr = ibv_reg_mr(&pd, m, 4 * 4096, IBV_ACCESS_LOCAL_WRITE);
	iov[0] = (struct iovec){ m + 8 * 4096, 4096 };
	iov[1] = (struct iovec){ m + 16 * 4096, 2 * 4096 };
	if (!mr || io_uring_register_buffers(&ring, iov, 2)) {
		fprintf(stderr, "regwait: registration failed\n");
		return 1;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
	f = fopen(tmp, "w");
	if (!f)
		return 1;
	fprintf(f, "verbs %p %d\nio_uring %p %zu\nio_uring %p %zu\n",
		(void *)m, 4 * 4096, iov[0].iov_base, iov[0].iov_len,
		iov[1].iov_base, iov[1].iov_len);
	if (fclose(f) || rename(tmp, argv[1]))
		return 1;
	alarm(60);
	for (;;)
		pause();
}
