/* SPDX-License-Identifier: MIT */
/*
 * Fork latency against pinned bytes and against the number of pinned
 * ranges, all variants side by side in one run:
 *   plain     nothing pinned (the floor)
 *   kernel    the buffer really pinned with io_uring fixed buffers: this
 *             host kernel copies it at fork (early COW)
 *   copy      pinguard copy mode, pinned through the API only
 *   dontfork  pinguard dontfork mode
 *   memcpy    copying the same bytes into memory already faulted in
 * Parent latency: fork() call to its return in the parent. Child latency:
 * fork() call to the child running its first instruction after fork
 * (its copy is in place by then).
 * Usage: fork_latency bytes <MiB>... | ranges <MiB total> <n>...  [-r reps]
 */
#include <linux/io_uring.h>
#include <pinguard.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define MIB (1ul << 20)
#define GIB (1ul << 30)

static int reps = 7;

static void set_mode(enum pinguard_mode m)
{
	struct pinguard_config c;

	pinguard_get_config(&c, sizeof(c));
	c.mode = m;
	if (pinguard_configure(&c, sizeof(c)))
		BENCH_DIE("configure %s", pinguard_mode_name(m));
}

/* One fork; returns parent latency, child latency in *child. */
static double one_fork(double *child)
{
	double t0, t1, tc = 0;
	int p[2], st;
	pid_t pid;

	if (pipe(p))
		BENCH_DIE("pipe");
	t0 = now_ns();
	pid = fork();
	if (pid == 0) {
		tc = now_ns();
		_exit(write(p[1], &tc, sizeof(tc)) == sizeof(tc) ? 0 : 1);
	}
	t1 = now_ns();
	if (pid < 0 || read(p[0], &tc, sizeof(tc)) != sizeof(tc))
		BENCH_DIE("fork");
	waitpid(pid, &st, 0);
	close(p[0]);
	close(p[1]);
	*child = tc - t0;
	return t1 - t0;
}

static void measure(const char *metric, const char *variant,
		    const char *param)
{
	double par[64], chi[64];
	int i;

	one_fork(&chi[0]);		/* warm-up */
	for (i = 0; i < reps; i++)
		par[i] = one_fork(&chi[i]);
	result(metric, variant, param, median(par, reps) / 1e6, "ms");
	char m2[64];
	snprintf(m2, sizeof(m2), "%s-child", metric);
	result(m2, variant, param, median(chi, reps) / 1e6, "ms");
}

/* Real long-term pin by the kernel: io_uring fixed buffers (1 GiB max
 * each). Raw system calls, so no wrapper sees them. */
static int kernel_pin(char *buf, size_t len)
{
	struct io_uring_params p;
	struct iovec iov[64];
	unsigned n = 0;
	size_t off;
	int ring;

	memset(&p, 0, sizeof(p));
	ring = (int)syscall(__NR_io_uring_setup, 1, &p);
	if (ring < 0)
		return -1;
	for (off = 0; off < len && n < 64; off += GIB, n++) {
		iov[n].iov_base = buf + off;
		iov[n].iov_len = len - off < GIB ? len - off : GIB;
	}
	if (syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS,
		    iov, n)) {
		close(ring);
		return -1;
	}
	return ring;
}

static void bytes_case(size_t mib)
{
	size_t len = mib * MIB;
	char param[32], *buf, *dst;
	double v[64];
	int ring, i;

	snprintf(param, sizeof(param), "%zu", mib);
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	dst = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED || dst == MAP_FAILED)
		BENCH_DIE("mmap %zu MiB", mib);
	memset(buf, 1, len);
	memset(dst, 2, len);

	set_mode(PINGUARD_MODE_OFF);
	measure("fork", "plain", param);

	ring = kernel_pin(buf, len);
	if (ring >= 0) {
		measure("fork", "kernel", param);
		close(ring);	/* unpins (asynchronously) */
		usleep(100000);
	} else {
		fprintf(stderr, "bench: io_uring unavailable: no kernel figure\n");
	}

	set_mode(PINGUARD_MODE_COPY);
	if (pinguard_pin(buf, len, 0))
		BENCH_DIE("pin");
	measure("fork", "copy", param);
	pinguard_unpin(buf, len);

	set_mode(PINGUARD_MODE_DONTFORK);
	pinguard_pin(buf, len, 0);
	measure("fork", "dontfork", param);
	pinguard_unpin(buf, len);

	memcpy(dst, buf, len);
	for (i = 0; i < reps; i++) {
		double t = now_ns();

		memcpy(dst, buf, len);
		v[i] = now_ns() - t;
	}
	result("fork", "memcpy", param, median(v, reps) / 1e6, "ms");
	munmap(buf, len);
	munmap(dst, len);
}

static long vma_count(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	long n = 0;
	int c;

	while (f && (c = fgetc(f)) != EOF)
		n += c == '\n';
	if (f)
		fclose(f);
	return n;
}

/* n ranges of equal size making up total MiB, separated by gaps. */
static void ranges_case(size_t total_mib, long n, size_t gap,
			const char *gapname)
{
	size_t each = (total_mib * MIB / (size_t)n) & ~4095ul, len;
	char param[64], *buf;
	long i, before, after;
	static const enum pinguard_mode modes[] = {
		PINGUARD_MODE_COPY, PINGUARD_MODE_DONTFORK
	};
	unsigned m;

	if (!each)
		each = 4096;
	len = (each + gap) * (size_t)n;
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		BENCH_DIE("mmap");
	memset(buf, 1, len);
	snprintf(param, sizeof(param), "%ld", n);
	for (m = 0; m < 2; m++) {
		char variant[64];

		set_mode(modes[m]);
		for (i = 0; i < n; i++)
			if (pinguard_pin(buf + (size_t)i * (each + gap), each, 0))
				BENCH_DIE("pin range %ld", i);
		snprintf(variant, sizeof(variant), "%s-%s",
			 pinguard_mode_name(modes[m]), gapname);
		before = vma_count();
		measure("ranges", variant, param);
		after = vma_count();
		result("vmas-before", variant, param, (double)before, "count");
		result("vmas-after", variant, param, (double)after, "count");
		for (i = 0; i < n; i++)
			pinguard_unpin(buf + (size_t)i * (each + gap), each);
	}
	munmap(buf, len);
}

int main(int argc, char **argv)
{
	int i, first = 2;

	if (argc < 3)
		BENCH_DIE("usage: fork_latency bytes MiB... | ranges MiB n...");
	for (i = 1; i < argc - 1; i++)
		if (!strcmp(argv[i], "-r"))
			reps = atoi(argv[i + 1]);
	if (reps < 1 || reps > 63)
		BENCH_DIE("-r 1..63");
	if (!strcmp(argv[1], "bytes")) {
		for (i = first; i < argc && strcmp(argv[i], "-r"); i++)
			bytes_case(strtoul(argv[i], NULL, 0));
	} else if (!strcmp(argv[1], "ranges")) {
		size_t total = strtoul(argv[2], NULL, 0);

		for (i = 3; i < argc && strcmp(argv[i], "-r"); i++) {
			long n = atol(argv[i]);

			ranges_case(total, n, 4096, "gap4k");
			ranges_case(total, n, 128 << 10, "gap128k");
		}
	}
	return 0;
}
