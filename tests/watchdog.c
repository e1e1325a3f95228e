/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "watchdog.h"

static atomic_ulong progress;
static atomic_int child;
static pthread_t tid;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static bool stop, running;
static const char *who;
static unsigned stall;

void pg_watchdog_progress(void)
{
	atomic_fetch_add_explicit(&progress, 1, memory_order_relaxed);
}

unsigned long pg_watchdog_count(void)
{
	return atomic_load(&progress);
}

void pg_watchdog_child(pid_t pid)
{
	atomic_store(&child, (int)pid);
}

/* One line of a small /proc file, without its newline; "?" if unreadable. */
static const char *proc_line(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "r");

	if (!f || !fgets(out, (int)cap, f))
		snprintf(out, cap, "?");
	if (f)
		fclose(f);
	out[strcspn(out, "\n")] = 0;
	return out;
}

/* What a reader of the failure needs to tell a hung child from a lock
 * held in the parent: where each one sleeps in the kernel. */
static void report(unsigned long count)
{
	char path[64], a[512], b[128];
	const char *state;
	pid_t c = (pid_t)atomic_load(&child);
	DIR *d;
	struct dirent *e;

	fprintf(stderr, "watchdog: %s: no progress for %u s after %lu steps: "
		"deadlocked\n", who, stall, count);
	if (c > 0) {
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)c);
		proc_line(path, a, sizeof(a));
		state = strrchr(a, ')');	/* "pid (comm) S ..." */
		snprintf(path, sizeof(path), "/proc/%d/wchan", (int)c);
		fprintf(stderr, "watchdog: waiting for child %d: state %.1s, "
			"wchan %s\n", (int)c, state ? state + 2 : "?",
			proc_line(path, b, sizeof(b)));
	}
	d = opendir("/proc/self/task");
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%.16s/wchan",
			 e->d_name);
		fprintf(stderr, "watchdog: thread %s: wchan %s\n", e->d_name,
			proc_line(path, b, sizeof(b)));
	}
	if (d)
		closedir(d);
	if (c > 0)
		kill(c, SIGKILL);
}

static void *watchdog_main(void *arg)
{
	unsigned long last = pg_watchdog_count(), now;
	unsigned idle = 0;
	struct timespec t;

	(void)arg;
	pthread_mutex_lock(&lock);
	while (!stop) {
		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_sec += 1;
		if (pthread_cond_timedwait(&wake, &lock, &t) == 0 || stop)
			continue;
		now = pg_watchdog_count();
		idle = now == last ? idle + 1 : 0;
		last = now;
		if (idle >= stall) {
			report(now);
			_exit(2);
		}
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

void pg_watchdog_start(const char *name, unsigned stall_s)
{
	who = name;
	stall = stall_s;
	stop = false;
	atomic_store(&child, 0);
	if (pthread_create(&tid, NULL, watchdog_main, NULL)) {
		fprintf(stderr, "watchdog: %s: cannot start its thread\n", who);
		_exit(2);
	}
	running = true;
}

void pg_watchdog_stop(void)
{
	if (!running)
		return;
	pthread_mutex_lock(&lock);
	stop = true;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
	pthread_join(tid, NULL);
	running = false;
}
