/* SPDX-License-Identifier: MIT */
/*
 * Races, full size: 8 threads register and unregister overlapping ranges
 * of one buffer -- 4 through pinguard_pin/unpin (every flag combination),
 * 4 through the real liburing (io_uring_register_buffers /
 * io_uring_unregister_buffers on a ring of their own, which pinguard
 * interposes because this program links libpinguard ahead of liburing) --
 * while 2 threads fork in copy mode. The buffer is written only before
 * the threads start, so every child must see all of it as it was, and an
 * empty registry; it then _exits. At the end the counters must be exact.
 * A watchdog (tests/watchdog.c) turns a deadlock, a stretch without a
 * reaped child, into a failure.
 *
 *   test_race [--forks N] [--seed S]      (default 2000 forks)
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>	/* liburing.h brought it in; not always there */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef HAVE_LIBURING
#include <liburing.h>
#endif

#include "pinguard.h"
#include "../watchdog.h"

#define PAGE 4096ul
#define BUF_PAGES 1024			/* 4 MiB */
#define BUF_LEN (BUF_PAGES * PAGE)
#define API_WORKERS 4
#define URING_WORKERS 4
#define FORKERS 2
#define HELD_MAX 24			/* API pins one worker holds at most */
#define RANGE_MAX 48			/* pages per pin at most */
#define IOV_MAX_N 4			/* iovecs per io_uring registration */

static char *buf;
static atomic_bool done;
static atomic_int forks_left;
static atomic_int child_bad_data, child_bad_count, child_bad_other;
static atomic_int first_bad_status, first_fork_errno; /* diagnostics */
static int failures;

#define CHECK(cond, ...) do { if (!(cond)) { \
	fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
	fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); failures++; } \
	} while (0)

static uint64_t word(size_t page, size_t i)
{
	return ((uint64_t)page << 32 | i) ^ 0x9e3779b97f4a7c15ull;
}

static bool page_intact(size_t p)
{
	const uint64_t *w = (const uint64_t *)(buf + p * PAGE);
	size_t i;

	for (i = 0; i < PAGE / 8; i++)
		if (w[i] != word(p, i))
			return false;
	return true;
}

static atomic_int forks_done;

struct range {
	size_t first, n, off;	/* pages, and a byte offset inside the first */
};

static struct range random_range(unsigned *seed)
{
	struct range r;

	r.n = 1 + (size_t)rand_r(seed) % RANGE_MAX;
	r.first = (size_t)rand_r(seed) % (BUF_PAGES - r.n + 1);
	r.off = (size_t)rand_r(seed) % PAGE / 2;
	return r;
}

/* An unaligned inner range of the pages: pinguard widens it. */
static void *range_addr(const struct range *r)
{
	return buf + r->first * PAGE + r->off;
}

static size_t range_len(const struct range *r)
{
	return r->n * PAGE - r->off - r->off / 2;
}

struct worker {
	pthread_t tid;
	int idx;
	unsigned seed;
	bool uring;
	struct range held[HELD_MAX];
	size_t nheld;
	uint64_t pins, unpins, errors;	/* pins: pinguard pins taken */
	uint64_t registrations;
	int first_error;
};

static void api_release(struct worker *w, size_t k)
{
	struct range r = w->held[k];
	int ret = pinguard_unpin(range_addr(&r), range_len(&r));

	if (ret == 0) {
		w->unpins++;
	} else {
		w->errors++;
		w->first_error = w->first_error ? w->first_error : ret;
	}
	w->held[k] = w->held[--w->nheld];
}

static void api_worker(struct worker *w)
{
	static const unsigned flag_sets[] = {
		0, PINGUARD_PIN_SHORTTERM, PINGUARD_PIN_READONLY,
		PINGUARD_PIN_SHORTTERM | PINGUARD_PIN_READONLY,
	};

	while (!atomic_load(&done)) {
		unsigned r = (unsigned)rand_r(&w->seed);
		struct range p;
		int ret;

		if (w->nheld == HELD_MAX || (w->nheld && r % 2)) {
			api_release(w, (size_t)rand_r(&w->seed) % w->nheld);
			continue;
		}
		p = random_range(&w->seed);
		ret = pinguard_pin(range_addr(&p), range_len(&p),
				   flag_sets[r / 2 % 4]);
		if (ret == 0) {
			w->held[w->nheld++] = p;
			w->pins++;
		} else {
			w->errors++;
			w->first_error = w->first_error ? w->first_error : ret;
		}
	}
	while (w->nheld)
		api_release(w, w->nheld - 1);
}

#ifdef HAVE_LIBURING
static bool uring_ok = true;

/* Each registration is one pinguard pin per iovec (pinned while the
 * kernel holds them); unregistering releases them all. */
static void uring_worker(struct worker *w)
{
	struct io_uring ring;
	struct iovec iov[IOV_MAX_N];
	unsigned n, i;
	int ret;

	ret = io_uring_queue_init(4, &ring, 0);
	if (ret) {
		w->errors++;
		w->first_error = ret;
		return;
	}
	while (!atomic_load(&done)) {
		n = 1 + (unsigned)rand_r(&w->seed) % IOV_MAX_N;
		for (i = 0; i < n; i++) {
			struct range r = random_range(&w->seed);

			iov[i].iov_base = range_addr(&r);
			iov[i].iov_len = range_len(&r);
		}
		ret = io_uring_register_buffers(&ring, iov, n);
		if (ret) {
			w->errors++;
			w->first_error = w->first_error ? w->first_error : ret;
			continue;
		}
		w->registrations++;
		w->pins += n;
		/* hold them a little while the others run */
		for (i = 0; i < (unsigned)rand_r(&w->seed) % 4; i++)
			sched_yield();
		ret = io_uring_unregister_buffers(&ring);
		if (ret) {
			w->errors++;
			w->first_error = w->first_error ? w->first_error : ret;
			break;	/* queue_exit releases them */
		}
		w->unpins += n;
	}
	io_uring_queue_exit(&ring);
}

/* Before the race: a registration must reach pinguard (interposed), and
 * its unregistration release it. */
static void uring_precheck(void)
{
	struct io_uring ring;
	struct iovec iov = { buf + 3 * PAGE + 100, 2 * PAGE };
	int ret = io_uring_queue_init(4, &ring, 0);

	if (ret) {
		printf("io_uring_queue_init: %s: skipping the io_uring half\n",
		       strerror(-ret));
		uring_ok = false;
		return;
	}
	ret = io_uring_register_buffers(&ring, &iov, 1);
	if (ret) {
		printf("io_uring_register_buffers: %s: skipping the io_uring "
		       "half\n", strerror(-ret));
		uring_ok = false;
	} else {
		CHECK(pinguard_pin_count(buf + 3 * PAGE) == 1 &&
		      pinguard_pin_count(buf + 5 * PAGE) == 1 &&
		      pinguard_pin_count(buf + 6 * PAGE) == 0,
		      "io_uring_register_buffers is not interposed");
		CHECK(io_uring_unregister_buffers(&ring) == 0, "unregister");
		CHECK(pinguard_pin_count(buf + 3 * PAGE) == 0, "still pinned");
	}
	io_uring_queue_exit(&ring);
}
#endif

static void *worker_main(void *arg)
{
	struct worker *w = arg;

#ifdef HAVE_LIBURING
	if (w->uring) {
		if (uring_ok)
			uring_worker(w);
		return NULL;
	}
#endif
	if (!w->uring)
		api_worker(w);
	return NULL;
}

/* In the child of a multi-threaded parent: no stdio, no malloc; only the
 * library (its state is reset in the child) and reads of the buffer. */
static int child_check(void)
{
	struct pinguard_stats s;
	size_t p;

	for (p = 0; p < BUF_PAGES; p++)
		if (!page_intact(p))
			return 1;
	for (p = 0; p < BUF_PAGES; p++)
		if (pinguard_pin_count(buf + p * PAGE) != 0)
			return 2;
	if (pinguard_get_stats(&s, sizeof(s)) || s.active_pins ||
	    s.pinned_bytes)
		return 2;
	return 0;
}

static void *forker_main(void *arg)
{
	int st;
	pid_t pid;

	(void)arg;
	while (atomic_fetch_sub(&forks_left, 1) > 0) {
		pid = fork();
		if (pid == 0)
			_exit(child_check());
		atomic_fetch_add(&forks_done, 1);
		pg_watchdog_child(pid);
		if (pid < 0 || waitpid(pid, &st, 0) != pid) {
			int zero = 0;

			atomic_compare_exchange_strong(&first_fork_errno, &zero,
						       errno);
			atomic_fetch_add(&child_bad_other, 1);
			continue;
		}
		pg_watchdog_progress();
		if (st) {
			int zero = 0;

			atomic_compare_exchange_strong(&first_bad_status, &zero,
						       st);
		}
		if (!WIFEXITED(st))
			atomic_fetch_add(&child_bad_other, 1);
		else if (WEXITSTATUS(st) == 1)
			atomic_fetch_add(&child_bad_data, 1);
		else if (WEXITSTATUS(st) == 2)
			atomic_fetch_add(&child_bad_count, 1);
		else if (WEXITSTATUS(st))
			atomic_fetch_add(&child_bad_other, 1);
	}
	return NULL;
}

static bool buffer_has_dontfork(void)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	unsigned long s, e;
	bool in = false, found = false;

	if (!f)
		return true;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = s < (uintptr_t)buf + BUF_LEN && e > (uintptr_t)buf;
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8) && strstr(line, " dc"))
			found = true;
	}
	fclose(f);
	return found;
}

static void stats(struct pinguard_stats *s)
{
	if (pinguard_get_stats(s, sizeof(*s)))
		abort();
}

int main(int argc, char **argv)
{
	struct worker w[API_WORKERS + URING_WORKERS];
	pthread_t ft[FORKERS];
	struct pinguard_config cfg;
	struct pinguard_stats before, after;
	uint64_t pins = 0, unpins = 0, regs = 0;
	unsigned seed = (unsigned)getpid() * 2654435761u;
	int forks = 2000, i;
	size_t p, j;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--forks") && i + 1 < argc)
			forks = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = (unsigned)strtoul(argv[++i], NULL, 0);
		else {
			fprintf(stderr, "usage: %s [--forks N] [--seed S]\n",
				argv[0]);
			return 2;
		}
	}
	pinguard_get_config(&cfg, sizeof(cfg));
	cfg.mode = PINGUARD_MODE_COPY;
	if (pinguard_configure(&cfg, sizeof(cfg)))
		return 1;

	buf = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return 1;
	for (p = 0; p < BUF_PAGES; p++)
		for (j = 0; j < PAGE / 8; j++)
			((uint64_t *)(buf + p * PAGE))[j] = word(p, j);
#ifdef HAVE_LIBURING
	uring_precheck();
#else
	printf("built without liburing: skipping the io_uring half\n");
#endif
	printf("copy mode, %d forks, %d API + %d io_uring threads, seed %u\n",
	       forks, API_WORKERS, URING_WORKERS, seed);
	fflush(stdout);

	stats(&before);
	/* One long-term pin for the whole run: every fork is guarded. */
	CHECK(pinguard_pin(buf, PAGE, 0) == 0, "first pin");
	pg_watchdog_start("test_race", PG_STALL_S);
	atomic_store(&forks_left, forks);
	for (i = 0; i < API_WORKERS + URING_WORKERS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].idx = i;
		w[i].uring = i >= API_WORKERS;
		w[i].seed = seed + (unsigned)i * 7919u;
		if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]))
			return 1;
	}
	for (i = 0; i < FORKERS; i++)
		if (pthread_create(&ft[i], NULL, forker_main, NULL))
			return 1;
	for (i = 0; i < FORKERS; i++)
		pthread_join(ft[i], NULL);
	atomic_store(&done, true);
	for (i = 0; i < API_WORKERS + URING_WORKERS; i++) {
		pthread_join(w[i].tid, NULL);
		CHECK(w[i].errors == 0, "worker %d (%s): %lu errors, first %d",
		      i, w[i].uring ? "io_uring" : "API",
		      (unsigned long)w[i].errors, w[i].first_error);
		pins += w[i].pins;
		unpins += w[i].unpins;
		regs += w[i].registrations;
	}
	CHECK(pinguard_unpin(buf, PAGE) == 0, "last unpin");
	pg_watchdog_stop();
	stats(&after);

	printf("pins %lu (%lu io_uring registrations), forks seen %lu, "
	       "copied %lu MiB\n", (unsigned long)pins, (unsigned long)regs,
	       (unsigned long)(after.forks_seen - before.forks_seen),
	       (unsigned long)((after.bytes_copied - before.bytes_copied) >> 20));
	CHECK(child_bad_data == 0, "%d children saw changed data",
	      child_bad_data);
	CHECK(child_bad_count == 0, "%d children saw pins", child_bad_count);
	CHECK(child_bad_other == 0, "%d children failed otherwise (first "
	      "fork/wait errno %d, first wait status %#x)", child_bad_other,
	      first_fork_errno, first_bad_status);
	CHECK(pins > 0, "no pins");
#ifdef HAVE_LIBURING
	CHECK(!uring_ok || regs > 0, "no io_uring registrations");
#endif
	CHECK(after.pins_total - before.pins_total == pins + 1,
	      "pins_total +%lu, expected +%lu",
	      (unsigned long)(after.pins_total - before.pins_total),
	      (unsigned long)pins + 1);
	CHECK(after.unpins_total - before.unpins_total == unpins + 1,
	      "unpins_total +%lu, expected +%lu",
	      (unsigned long)(after.unpins_total - before.unpins_total),
	      (unsigned long)unpins + 1);
	CHECK(after.active_pins == 0, "active_pins %lu",
	      (unsigned long)after.active_pins);
	CHECK(after.pinned_bytes == 0, "pinned_bytes %lu",
	      (unsigned long)after.pinned_bytes);
	CHECK(after.pinned_ranges == 0, "pinned_ranges %lu",
	      (unsigned long)after.pinned_ranges);
	CHECK(after.fork_errors == 0, "fork_errors %lu",
	      (unsigned long)after.fork_errors);
	CHECK(after.forks_seen - before.forks_seen == (uint64_t)forks,
	      "forks_seen +%lu", (unsigned long)(after.forks_seen -
						 before.forks_seen));
	CHECK(after.forks_guarded - before.forks_guarded == (uint64_t)forks,
	      "forks_guarded +%lu", (unsigned long)(after.forks_guarded -
						    before.forks_guarded));
	CHECK(after.bytes_copied - before.bytes_copied >= (uint64_t)forks * PAGE,
	      "bytes_copied");
	for (p = 0; p < BUF_PAGES; p++) {
		CHECK(pinguard_pin_count(buf + p * PAGE) == 0, "page %zu", p);
		CHECK(page_intact(p), "parent page %zu changed", p);
	}
	CHECK(!buffer_has_dontfork(), "buffer left MADV_DONTFORK");
	munmap(buf, BUF_LEN);
	printf("%s\n", failures ? "FAILED" : "OK");
	return failures ? 1 : 0;
}
