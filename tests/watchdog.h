/* SPDX-License-Identifier: MIT */
/*
 * A deadlock detector for the tests that race threads with forks, not a
 * time limit: the test reports progress (a fork reaped, an operation
 * done); when none comes for stall_s seconds the watchdog prints what it
 * knows (the child being waited for, its state and kernel wait channel,
 * the wait channels of this process's threads), kills that child and
 * ends the program with exit status 2. Load and sanitizers make a test
 * slower; only a stall is a failure. No cmocka: test_race uses it too.
 */
#ifndef PG_TEST_WATCHDOG_H
#define PG_TEST_WATCHDOG_H

#include <sys/types.h>

/* No progress for this long is a deadlock. A fork under ThreadSanitizer
 * stops the world; ten times slower under load is still not 60 s. */
#ifdef __SANITIZE_THREAD__
#define PG_STALL_S 300
#else
#define PG_STALL_S 60
#endif

/* Starts the watchdog thread; name goes into its message. */
void pg_watchdog_start(const char *name, unsigned stall_s);
void pg_watchdog_progress(void);
/* The child the test is waiting for (0: none), named when it stalls. */
void pg_watchdog_child(pid_t pid);
unsigned long pg_watchdog_count(void);
/* Stops and joins the watchdog thread. */
void pg_watchdog_stop(void);

#endif
