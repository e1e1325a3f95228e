/* SPDX-License-Identifier: MIT */
/* Helpers of test_exotic_forks.c (children use none of cmocka). */
#ifndef PG_STRESS_EXOTIC_H
#define PG_STRESS_EXOTIC_H

#include <stdatomic.h>

#include "../common.h"

/* ThreadSanitizer (gcc defines __SANITIZE_THREAD__) changes two things
 * these tests look at: its vfork() interceptor calls fork() (so the fork
 * hook does run), and a thread created in a fork child may reuse the
 * pthread_t of a parent thread that was running at fork time, which its
 * thread registry rejects ("dup thread with used id"). */
#ifdef __SANITIZE_THREAD__
#define UNDER_TSAN 1
#else
#define UNDER_TSAN 0
#endif

#define NPAGES 16
#define LEN (NPAGES * PAGE)
#define WATCHDOG_S 60

void fill(char *b, size_t len, unsigned char v);
bool all_equal(const char *b, size_t len, unsigned char v);
/* pagemap without cmocka (usable in children): exclusive present pages */
size_t excl_pages_raw(const void *addr, size_t len);
int wait_status(pid_t pid);	/* exit status, or -signal */

/* A thread pinning and unpinning random ranges of b until stop. */
struct spinner {
	char *b;
	atomic_bool stop;
	unsigned long pins, errors;
};
void *spin_pins(void *arg);

/* main(): the tests that --only / --skip NAME (repeatable) leave. */
int run_filtered(int argc, char **argv, const struct CMUnitTest *tests,
		 size_t count);

#endif
