/* SPDX-License-Identifier: MIT */
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "copier.h"
#include "internal.h"
#include "staging.h"
#include "sys.h"

/* Below this, waking a thread costs more than it saves. */
#define PARALLEL_MIN (4ul << 20)
/* The unit each thread claims: small enough that the forking thread never
 * waits long for a helper that was preempted in the middle of one. */
#define CHUNK (256ul << 10)

/* The forking thread copies chunks from the front, the helper from the
 * back, until they meet. Measured on a shared 2-core host: a fixed half
 * each made the forking thread wait for a helper that was not scheduled
 * (64 MiB: 60-145 ms instead of 10-13). Now a late helper just finds less
 * (or nothing) left; the forking thread waits only for a chunk the helper
 * holds. Helper states: IDLE, OFFERED (work posted), TAKEN (the helper
 * accepted it: only then does it read the jobs), DONE. */
static struct {
	atomic_uint state;
	atomic_uint bell;	/* bumped for each offer or kick: the helper's
				 * futex */
	_Atomic uint64_t span;	/* chunk indices: low 32 bits next from the
				 * front, high 32 bits end of the back */
	const struct pg_copy_job *jobs;
	size_t n, total;
	bool started, failed;
} helper;

enum { IDLE, OFFERED, TAKEN, DONE };

static void futex_wait(atomic_uint *a, unsigned v)
{
	PG_SYSCALL(SYS_futex, a, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}

static void futex_wait_ns(atomic_uint *a, unsigned v, uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u),
			       (long)(ns % 1000000000u) };

	PG_SYSCALL(SYS_futex, a, FUTEX_WAIT_PRIVATE, v, &ts, NULL, 0);
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

/* Claim one chunk, from the front or the back; -1 when none is left. */
static int64_t claim(bool back)
{
	uint64_t w = atomic_load(&helper.span), nw;
	uint32_t lo, hi;

	do {
		lo = (uint32_t)w;
		hi = (uint32_t)(w >> 32);
		if (lo >= hi)
			return -1;
		nw = back ? (uint64_t)(hi - 1) << 32 | lo :
			    (uint64_t)hi << 32 | (lo + 1);
	} while (!atomic_compare_exchange_weak(&helper.span, &w, nw));
	return back ? hi - 1 : lo;
}

static void copy_chunks(bool back)
{
	int64_t c;
	size_t from, to;

	while ((c = claim(back)) >= 0) {
		from = (size_t)c * CHUNK;
		to = from + CHUNK < helper.total ? from + CHUNK : helper.total;
		copy_span(helper.jobs, helper.n, from, to);
	}
}

static void *helper_main(void *arg)
{
	unsigned s;

	(void)arg;
	for (;;) {
		unsigned b = atomic_load(&helper.bell);
		uint64_t due, now;

		s = atomic_load(&helper.state);
		if (s != OFFERED) {
			/* Between forks: unmap kept staging nobody used for a
			 * while (staging.c). */
			due = pg_staging_due_ns();
			now = due ? pg_now_ns() : 0;
			if (!due)
				futex_wait(&helper.bell, b);
			else if (now < due)
				futex_wait_ns(&helper.bell, b, due - now);
			else
				pg_staging_expire();
			continue;
		}
		/* the offer may have been withdrawn meanwhile */
		if (!atomic_compare_exchange_strong(&helper.state, &s, TAKEN))
			continue;
		copy_chunks(true);
		atomic_store(&helper.state, DONE);
		futex_wake(&helper.state);
	}
	return NULL;
}

static void ring(void)
{
	atomic_fetch_add(&helper.bell, 1);
	futex_wake(&helper.bell);
}

bool pg_copy_helper_running(void)
{
	return helper.started;
}

void pg_copy_kick(void)
{
	if (helper.started)
		ring();
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
	size_t chunks = (total + CHUNK - 1) / CHUNK;
	unsigned s;

	if (total < PARALLEL_MIN || chunks > UINT32_MAX || !helper_start()) {
		copy_span(jobs, n, 0, total);
		return;
	}
	helper.jobs = jobs;
	helper.n = n;
	helper.total = total;
	atomic_store(&helper.span, (uint64_t)chunks << 32);
	atomic_store(&helper.state, OFFERED);
	ring();
	copy_chunks(false);
	/* Withdraw the offer if the helper never took it; else wait for its
	 * last chunk. */
	s = OFFERED;
	if (!atomic_compare_exchange_strong(&helper.state, &s, IDLE)) {
		while ((s = atomic_load(&helper.state)) != DONE)
			futex_wait(&helper.state, s);
		atomic_store(&helper.state, IDLE);
	}
}

void pg_copy_reset_child(void)
{
	atomic_store(&helper.state, IDLE);
	helper.started = false;
	helper.failed = false;
}
