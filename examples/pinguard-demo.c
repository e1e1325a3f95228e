/* SPDX-License-Identifier: MIT */
/*
 * pinguard-demo: pin a buffer, fork, and show what pinguard did and why.
 *
 * The buffer is declared pinned through the API, as middleware would do
 * around its own ibv_reg_mr() or io_uring_register_buffers(). For each
 * policy the demo forks a child that stays alive, then reads the parent's
 * /proc/self/pagemap: a pinned page that is no longer "exclusively
 * mapped" (bit 56) is shared copy-on-write with the child, and on a kernel
 * without early COW the parent's next write would move it away from the
 * device. Then the parent writes, and the child reports what it sees.
 */
#include <errno.h>
#include <fcntl.h>
#include <pinguard.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024ul * 1024)

static size_t exclusive_pages(const char *p, size_t len)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	size_t n = 0, i;
	uint64_t e;

	for (i = 0; fd >= 0 && i < len; i += 4096)
		if (pread(fd, &e, 8, (off_t)((uintptr_t)(p + i) / 4096 * 8)) == 8 &&
		    (e >> 56 & 1) && (e >> 63 & 1))
			n++;
	if (fd >= 0)
		close(fd);
	return n;
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1e3 + (t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* In the child: 'F' everywhere is the fork-time data; '-' means the
 * pinned range is absent; 'P' would be the parent's later write. */
static char child_view(const char *buf, size_t len)
{
	unsigned char v;

	if (mincore((void *)buf, 4096, &v) && errno == ENOMEM)
		return '-';
	return buf[len - 1];
}

static int demo_mode(enum pinguard_mode mode, char *buf, size_t len)
{
	struct pinguard_config cfg;
	struct pinguard_stats st;
	struct timespec t0;
	int go[2], res[2], status, ret;
	char seen = '?', b;
	size_t excl;
	double fork_ms;
	pid_t pid;

	pinguard_get_config(&cfg, sizeof(cfg));
	cfg.mode = mode;
	ret = pinguard_configure(&cfg, sizeof(cfg));
	if (!ret)
		ret = pinguard_pin(buf, len, 0);
	if (ret) {
		fprintf(stderr, "pinguard-demo: %s: %s\n", pinguard_mode_name(mode),
			strerror(-ret));
		return 1;
	}
	memset(buf, 'F', len);
	if (pipe(go) || pipe(res))
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		if (read(go[0], &b, 1) != 1)
			_exit(1);
		b = child_view(buf, len);
		_exit(write(res[1], &b, 1) == 1 ? 0 : 1);
	}
	fork_ms = ms_since(&t0);
	excl = exclusive_pages(buf, len);
	memset(buf, 'P', len);		/* the parent goes on working */
	if (write(go[1], "g", 1) != 1 || read(res[0], &seen, 1) != 1)
		seen = '?';
	waitpid(pid, &status, 0);
	close(go[0]); close(go[1]); close(res[0]); close(res[1]);
	pinguard_get_stats(&st, sizeof(st));
	printf("  %-9s %8.2f ms %7zu/%-7zu %-22s %s\n", pinguard_mode_name(mode),
	       fork_ms, excl, len / 4096,
	       excl == len / 4096 ? "yes: stays coherent" :
				    "NO: shared copy-on-write",
	       seen == 'F' ? "fork-time data (a copy)" :
	       seen == '-' ? "nothing mapped there" :
	       seen == 'P' ? "the parent's later write" : "(unknown)");
	pinguard_unpin(buf, len);
	return 0;
}

int main(int argc, char **argv)
{
	size_t len = (argc > 1 ? strtoul(argv[1], NULL, 0) : 64) * MIB;
	struct pinguard_mode_info mi;
	struct pinguard_stats st;
	char *buf;
	int ret = 0;

	buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED || !len) {
		perror("pinguard-demo: mmap");
		return 1;
	}
	memset(buf, 'F', len);
	/* The first pin resolves auto mode: what does this kernel need? */
	pinguard_pin(buf, 4096, 0);
	pinguard_get_mode(&mi, sizeof(mi));
	pinguard_unpin(buf, 4096);
	printf("pinguard %s demo: %zu MiB buffer, pinned through the API\n\n",
	       pinguard_version(), len / MIB);
	if (mi.kernel == PINGUARD_KERNEL_UNKNOWN)
		printf("This kernel: not probed (PINGUARD_MODE=%s set).\n",
		       pinguard_mode_name(mi.configured));
	else
		printf("This kernel: %s (found by %s).\n",
		       pinguard_kernel_name(mi.kernel),
		       pinguard_reason_name(mi.reason));
	printf("Mode in force: %s (%s)%s\n\n", pinguard_mode_name(mi.effective),
	       pinguard_reason_name(mi.reason),
	       mi.kernel == PINGUARD_KERNEL_PATCHED && mi.configured == PINGUARD_MODE_AUTO ?
	       ": the kernel copies pinned pages at fork itself" :
	       mi.kernel == PINGUARD_KERNEL_UNPATCHED ?
	       ": the kernel would share pinned pages with the child" : "");
	printf("Each policy, with a child alive (parent pages exclusive = the device\n"
	       "and the parent still see the same memory on any kernel):\n\n");
	printf("  %-9s %11s %15s %-22s %s\n", "mode", "fork", "excl. pages",
	       "parent coherent?", "child reads");
	ret |= demo_mode(PINGUARD_MODE_COPY, buf, len);
	ret |= demo_mode(PINGUARD_MODE_DONTFORK, buf, len);
	ret |= demo_mode(PINGUARD_MODE_OFF, buf, len);
	pinguard_get_stats(&st, sizeof(st));
	printf("\nTotals: %lu forks guarded, %lu MiB copied for children, "
	       "%lu errors in the fork path.\n",
	       (unsigned long)st.forks_guarded,
	       (unsigned long)(st.bytes_copied / MIB),
	       (unsigned long)st.fork_errors);
	printf("off is what an unguarded process gets: on a kernel without early COW\n"
	       "its pinned pages silently stop being the ones the device uses.\n");
	return ret;
}
