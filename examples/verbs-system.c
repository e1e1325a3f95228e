/* SPDX-License-Identifier: MIT */
/*
 * A verbs program that knows nothing about pinguard: it registers a memory
 * region and then calls system(), the way applications run a helper script
 * while RDMA traffic is live. Run it under pinguard without changing it:
 *
 *     pinguard run --mode copy -- ./verbs-system
 *     LD_PRELOAD=libpinguard.so PINGUARD_MODE=copy ./verbs-system
 *
 * system() forks with some C libraries (and glibc's creates a child sharing
 * memory until exec, which pinguard lets through at no cost): either way the
 * MR's pages must stay the parent's and hold the parent's data. Exits 77
 * (skipped) where no RDMA device exists.
 */
#include <dlfcn.h>
#include <infiniband/verbs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define LEN (1u << 20)

/* Check the whole buffer holds byte c. */
static int filled_with(const unsigned char *p, size_t len, unsigned char c)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != c)
			return 0;
	return 1;
}

int main(void)
{
	int (*pin_count)(const void *);
	struct ibv_device **list;
	struct ibv_context *ctx;
	struct ibv_device_attr attr;
	struct ibv_pd *pd;
	struct ibv_mr *mr;
	unsigned char *buf;
	int n = 0, st, ret = 1;

	list = ibv_get_device_list(&n);
	if (!list || n == 0) {
		fprintf(stderr, "verbs-system: no RDMA device here, skipped\n");
		if (list)
			ibv_free_device_list(list);
		return 77;
	}
	ctx = ibv_open_device(list[0]);
	if (!ctx) {
		fprintf(stderr, "verbs-system: cannot open %s, skipped\n",
			ibv_get_device_name(list[0]));
		ibv_free_device_list(list);
		return 77;
	}
	pd = ibv_alloc_pd(ctx);
	/* Private anonymous memory: the case early COW and pinguard are about. */
	buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!pd || buf == MAP_FAILED) {
		fprintf(stderr, "verbs-system: PD or buffer allocation failed\n");
		goto out;
	}
	memset(buf, 'a', LEN);
	mr = ibv_reg_mr(pd, buf, LEN, IBV_ACCESS_LOCAL_WRITE |
			IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ);
	if (!mr) {
		perror("verbs-system: ibv_reg_mr");
		goto out;
	}
	/* Looked up, not linked: report what a preloaded pinguard saw. */
	pin_count = (int (*)(const void *))dlsym(RTLD_DEFAULT,
						 "pinguard_pin_count");
	if (pin_count)
		printf("verbs-system: %s: MR lkey 0x%x, pinguard pin count %d\n",
		       ibv_get_device_name(list[0]), mr->lkey, pin_count(buf));
	else
		printf("verbs-system: %s: MR lkey 0x%x, pinguard not loaded\n",
		       ibv_get_device_name(list[0]), mr->lkey);
	fflush(stdout);

	st = system("echo 'verbs-system: hello from a system() child'");
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "verbs-system: system() failed (status %d)\n",
			st);
		goto dereg;
	}
	/* The parent's data is intact and its pages are still writable. */
	if (!filled_with(buf, LEN, 'a')) {
		fprintf(stderr, "verbs-system: MR contents changed by system()\n");
		goto dereg;
	}
	memset(buf, 'b', LEN);
	/* The device context still answers and the MR deregisters cleanly. */
	if (ibv_query_device(ctx, &attr)) {
		fprintf(stderr, "verbs-system: ibv_query_device failed\n");
		goto dereg;
	}
	ret = 0;
dereg:
	if (ibv_dereg_mr(mr)) {
		perror("verbs-system: ibv_dereg_mr");
		ret = 1;
	}
out:
	if (pd && ibv_dealloc_pd(pd))
		ret = 1;
	ibv_close_device(ctx);
	ibv_free_device_list(list);
	printf("verbs-system: %s\n", ret ? "FAILED" : "MR intact after system()");
	return ret;
}
