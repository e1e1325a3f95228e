/* SPDX-License-Identifier: MIT */
/*
 * The registry's tree alone (lib/registry.c + regbtree.c, no lock, no VMA
 * cache, no mode): pin + unpin of a fresh one-page range with n disjoint
 * ranges pinned, the same layout and random order as registry_ops. The
 * difference between the two is what the API adds around the tree.
 * Usage: registry_tree n...   (thread CPU time, median of 7 x 200k)
 */
#include <unistd.h>

#include "bench.h"
#include "registry.h"

#define PAGE 4096ul
#define OPS 200000
#define BASE (1ul << 40)	/* addresses only: nothing is mapped */

int main(int argc, char **argv)
{
	static struct pg_registry reg;
	char param[32];
	double v[7];
	unsigned seed = 1;
	long i, n, r;
	int a;

	for (a = 1; a < argc; a++) {
		n = atol(argv[a]);
		if (n < 1)
			BENCH_DIE("n must be >= 1");
		for (i = 0; i < n; i++)
			if (pg_reg_pin(&reg, BASE + 4 * i * PAGE,
				       BASE + (4 * i + 1) * PAGE, false))
				BENCH_DIE("pin %ld", i);
		for (r = 0; r < 7; r++) {
			double t = cpu_ns();

			for (i = 0; i < OPS; i++) {
				uintptr_t p = BASE + (4 * (rand_r(&seed) %
						      (unsigned)n) + 2) * PAGE;

				if (pg_reg_pin(&reg, p, p + PAGE, false) ||
				    pg_reg_unpin(&reg, p, p + PAGE))
					BENCH_DIE("pin/unpin");
			}
			v[r] = (cpu_ns() - t) / OPS;
		}
		snprintf(param, sizeof(param), "%ld", n);
		result("pin-unpin", "tree", param, median(v, 7), "ns");
		for (i = 0; i < n; i++)
			pg_reg_unpin(&reg, BASE + 4 * i * PAGE,
				     BASE + (4 * i + 1) * PAGE);
	}
	return 0;
}
