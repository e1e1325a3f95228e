/* SPDX-License-Identifier: MIT */
/*
 * Registry cost: pin + unpin of a fresh one-page range with n disjoint
 * ranges already pinned, in off and copy modes; pins overlapping existing
 * ones; memory per pinned range (RSS growth / ranges). Times are thread
 * CPU time per pin + unpin.
 * Usage: registry_ops n...
 */
#include <pinguard.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"

#define PAGE 4096ul
#define OPS 200000

static void set_mode(enum pinguard_mode m)
{
	struct pinguard_config c;

	pinguard_get_config(&c, sizeof(c));
	c.mode = m;
	if (pinguard_configure(&c, sizeof(c)))
		BENCH_DIE("configure");
}

static long rss_bytes(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f && fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	if (f)
		fclose(f);
	return rss * (long)PAGE;
}

/* Pages 4i are pinned (i < n). "pin-unpin" uses pages 4i+2 (a fresh range
 * touching nothing), "pin-unpin-adjacent" pages 4i+1 (merges with its
 * neighbour and splits again), "pin-unpin-overlap" a second pin over 4i
 * and the gap after it. */
static void one_case(char *base, long n, enum pinguard_mode mode)
{
	char param[32], variant[32];
	double v[7];
	long i, r, rss0, rss1;
	unsigned seed = 1;

	set_mode(mode);
	snprintf(param, sizeof(param), "%ld", n);
	rss0 = rss_bytes();
	for (i = 0; i < n; i++)
		if (pinguard_pin(base + 4 * i * PAGE, PAGE, 0))
			BENCH_DIE("pin %ld", i);
	rss1 = rss_bytes();
	if (n >= 100000 && mode == PINGUARD_MODE_OFF)
		result("registry-bytes-per-range", "off", param,
		       (double)(rss1 - rss0) / (double)n, "bytes");
	for (r = 0; r < 7; r++) {
		double t = cpu_ns();

		for (i = 0; i < OPS; i++) {
			char *p = base + (4 * (rand_r(&seed) % (unsigned)n) + 2) *
				  PAGE;

			if (pinguard_pin(p, PAGE, 0) || pinguard_unpin(p, PAGE))
				BENCH_DIE("pin/unpin");
		}
		v[r] = (cpu_ns() - t) / OPS;
	}
	snprintf(variant, sizeof(variant), "%s", pinguard_mode_name(mode));
	result("pin-unpin", variant, param, median(v, 7), "ns");
	for (r = 0; r < 7; r++) {
		double t = cpu_ns();

		for (i = 0; i < OPS; i++) {
			char *p = base + (4 * (rand_r(&seed) % (unsigned)n) + 1) *
				  PAGE;

			if (pinguard_pin(p, PAGE, 0) || pinguard_unpin(p, PAGE))
				BENCH_DIE("adjacent pin/unpin");
		}
		v[r] = (cpu_ns() - t) / OPS;
	}
	result("pin-unpin-adjacent", variant, param, median(v, 7), "ns");
	/* overlapping: a second pin on pinned pages, straddling a gap */
	for (r = 0; r < 7; r++) {
		double t = cpu_ns();

		for (i = 0; i < OPS; i++) {
			char *p = base + 4 * (rand_r(&seed) % (unsigned)n) * PAGE;

			if (pinguard_pin(p, 2 * PAGE, 0) ||
			    pinguard_unpin(p, 2 * PAGE))
				BENCH_DIE("overlap pin/unpin");
		}
		v[r] = (cpu_ns() - t) / OPS;
	}
	result("pin-unpin-overlap", variant, param, median(v, 7), "ns");
	for (i = 0; i < n; i++)
		pinguard_unpin(base + 4 * i * PAGE, PAGE);
}

int main(int argc, char **argv)
{
	long max = 1, n;
	char *base;
	int i;

	for (i = 1; i < argc; i++)
		if (atol(argv[i]) > max)
			max = atol(argv[i]);
	base = mmap(NULL, (size_t)(4 * max + 4) * PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		BENCH_DIE("mmap");
	for (i = 1; i < argc; i++) {
		n = atol(argv[i]);
		one_case(base, n, PINGUARD_MODE_OFF);
		one_case(base, n, PINGUARD_MODE_COPY);
	}
	return 0;
}
