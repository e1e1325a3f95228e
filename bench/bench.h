/* SPDX-License-Identifier: MIT */
/* Shared bits of the benchmark programs: clocks, medians, result lines.
 * Every figure is printed as one tab-separated line
 *   RESULT <metric> <variant> <param> <median> <unit>
 * which bench/run-bench turns into ratios and plots. */
#ifndef PG_BENCH_H
#define PG_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

/* CPU time of this thread: for loops without system calls, where wall
 * time on a shared machine would count the time other tenants ran. */
static inline double cpu_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static inline double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static inline void result(const char *metric, const char *variant,
			  const char *param, double value, const char *unit)
{
	printf("RESULT\t%s\t%s\t%s\t%.6g\t%s\n", metric, variant, param, value,
	       unit);
	fflush(stdout);
}

#define BENCH_DIE(...) do { fprintf(stderr, "bench: " __VA_ARGS__); \
	fputc('\n', stderr); exit(1); } while (0)

#endif
