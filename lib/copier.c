/* SPDX-License-Identifier: MIT */
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "copier.h"
#include "internal.h"
#include "sys.h"

/* Below this, waking a thread costs more than it saves. */
#define PARALLEL_MIN (4ul << 20)

static struct {
	atomic_uint state;	/* IDLE, WORK, DONE */
	const struct pg_copy_job *jobs;
	size_t n, from, to;	/* byte offsets into the concatenated jobs */
	bool started, failed;
} helper;

enum { IDLE, WORK, DONE };

static void futex_wait(atomic_uint *a, unsigned v)
{
	PG_SYSCALL(SYS_futex, a, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}

static void futex_wake(atomic_uint *a)
{
	PG_SYSCALL(SYS_futex, a, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void copy_span(const struct pg_copy_job *jobs, size_t n, size_t from,
		      size_t to)
{
	size_t off = 0, i, a, b;

	for (i = 0; i < n && off < to; off += jobs[i].len, i++) {
		a = from > off ? from - off : 0;
		b = to - off < jobs[i].len ? to - off : jobs[i].len;
		if (a < b)
			memcpy((char *)jobs[i].dst + a,
			       (const char *)jobs[i].src + a, b - a);
	}
}

static void *helper_main(void *arg)
{
	unsigned s;

	(void)arg;
	for (;;) {
		while ((s = atomic_load(&helper.state)) != WORK)
			futex_wait(&helper.state, s);
		copy_span(helper.jobs, helper.n, helper.from, helper.to);
		atomic_store(&helper.state, DONE);
		futex_wake(&helper.state);
	}
	return NULL;
}

static bool helper_start(void)
{
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t t;
	int ret;

	if (helper.started || helper.failed)
		return helper.started;
	/* The helper must never run the application's signal handlers. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	ret = pthread_create(&t, &attr, helper_main, NULL);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		helper.failed = true;
		pg_log(PG_LOG_WARN, "copy helper thread: error %d; copying "
		       "on one core", ret);
		return false;
	}
	pthread_setname_np(t, "pinguard-copy");
	helper.started = true;
	return true;
}

void pg_copy_run(const struct pg_copy_job *jobs, size_t n, size_t total)
{
	size_t half = total / 2;
	unsigned s;

	if (total < PARALLEL_MIN || !helper_start()) {
		copy_span(jobs, n, 0, total);
		return;
	}
	half &= ~(size_t)4095;
	helper.jobs = jobs;
	helper.n = n;
	helper.from = half;
	helper.to = total;
	atomic_store(&helper.state, WORK);
	futex_wake(&helper.state);
	copy_span(jobs, n, 0, half);
	while ((s = atomic_load(&helper.state)) != DONE)
		futex_wait(&helper.state, s);
	atomic_store(&helper.state, IDLE);
}

void pg_copy_reset_child(void)
{
	atomic_store(&helper.state, IDLE);
	helper.started = false;
	helper.failed = false;
}
