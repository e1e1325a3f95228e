/* SPDX-License-Identifier: MIT */
/*
 * Races: 4 threads pin and unpin random overlapping page ranges of one
 * buffer while another thread forks. The buffer is never written after it
 * is filled, so every child must see all of it intact (copy mode) or see
 * intact data wherever it has a mapping (dontfork mode). At the end the
 * counters must be exact. A watchdog (tests/watchdog.c) turns a
 * deadlock, a stretch without a reaped child, into a failure.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common.h"
#include "../watchdog.h"

#define BUF_PAGES 1024			/* 4 MiB */
#define BUF_LEN (BUF_PAGES * PAGE)
#define WORKERS 4
#define HELD_MAX 24			/* pins one worker holds at most */
#define RANGE_MAX 48			/* pages per pin at most */

static char *buf;
static atomic_bool done;

/* Child results, checked by the main thread (cmocka asserts only there). */
static atomic_int child_bad_data, child_bad_count, child_bad_other;

static uint64_t word(size_t page, size_t i)
{
	return ((uint64_t)page << 32 | i) ^ 0x9e3779b97f4a7c15ull;
}

static void fill(void)
{
	size_t p, i;

	buf = map_anon(BUF_LEN, PROT_READ | PROT_WRITE);
	for (p = 0; p < BUF_PAGES; p++)
		for (i = 0; i < PAGE / 8; i++)
			((uint64_t *)(buf + p * PAGE))[i] = word(p, i);
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

struct pin {
	size_t first, n;
};

struct worker {
	pthread_t tid;
	unsigned seed;
	struct pin held[HELD_MAX];
	size_t nheld;
	uint64_t pins, unpins, errors;
};

static void release_one(struct worker *w, size_t k)
{
	struct pin p = w->held[k];

	if (pinguard_unpin(buf + p.first * PAGE, p.n * PAGE) == 0)
		w->unpins++;
	else
		w->errors++;
	w->held[k] = w->held[--w->nheld];
	if (atomic_load(&done))
		pg_watchdog_progress();	/* the workers' last unpins */
}

static void *worker_main(void *arg)
{
	static const unsigned flag_sets[] = {
		0, PINGUARD_PIN_SHORTTERM, PINGUARD_PIN_READONLY,
		PINGUARD_PIN_SHORTTERM | PINGUARD_PIN_READONLY,
	};
	struct worker *w = arg;

	while (!atomic_load(&done)) {
		unsigned r = (unsigned)rand_r(&w->seed);

		if (w->nheld == HELD_MAX || (w->nheld && r % 2)) {
			release_one(w, (size_t)rand_r(&w->seed) % w->nheld);
			continue;
		}
		struct pin p;
		size_t off = (size_t)rand_r(&w->seed) % PAGE;

		p.n = 1 + (size_t)rand_r(&w->seed) % RANGE_MAX;
		p.first = (size_t)rand_r(&w->seed) % (BUF_PAGES - p.n + 1);
		/* unaligned inner range: the library widens it to pages */
		if (pinguard_pin(buf + p.first * PAGE + off / 2,
				 p.n * PAGE - off, flag_sets[r / 2 % 4]) == 0) {
			w->held[w->nheld++] = p;
			w->pins++;
		} else {
			w->errors++;
		}
	}
	while (w->nheld)
		release_one(w, w->nheld - 1);
	return NULL;
}

/* Runs in the child of a multi-threaded parent: no locks but the
 * library's own (reset in the child), no stdio. */
static int child_check(bool copy)
{
	unsigned char v;
	size_t p;

	for (p = 0; p < BUF_PAGES; p++) {
		if (!copy && mincore(buf + p * PAGE, PAGE, &v) && errno == ENOMEM)
			continue;	/* DONTFORK: no mapping here */
		if (!page_intact(p))
			return 1;
	}
	if (pinguard_pin_count(buf) != 0 ||
	    pinguard_pin_count(buf + BUF_LEN / 2) != 0)
		return 2;
	return 0;
}

struct forker {
	int forks;
	bool copy;
};

static void *forker_main(void *arg)
{
	struct forker *f = arg;
	int i, st;
	pid_t pid;

	for (i = 0; i < f->forks; i++) {
		pid = fork();
		if (pid == 0)
			_exit(child_check(f->copy));
		pg_watchdog_child(pid);
		if (pid < 0 || waitpid(pid, &st, 0) != pid) {
			atomic_fetch_add(&child_bad_other, 1);
			continue;
		}
		pg_watchdog_progress();
		if (!WIFEXITED(st))
			atomic_fetch_add(&child_bad_other, 1);
		else if (WEXITSTATUS(st) == 1)
			atomic_fetch_add(&child_bad_data, 1);
		else if (WEXITSTATUS(st) == 2)
			atomic_fetch_add(&child_bad_count, 1);
		else if (WEXITSTATUS(st))
			atomic_fetch_add(&child_bad_other, 1);
	}
	atomic_store(&done, true);
	return NULL;
}

/* No VMA of the buffer may keep a DONTFORK ("dc") once all is unpinned. */
static bool buffer_has_dontfork(void)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	unsigned long s, e;
	bool in = false, found = false;

	assert_non_null(f);
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

static void run(enum pinguard_mode mode, int forks)
{
	struct worker w[WORKERS];
	struct forker f = { forks, mode == PINGUARD_MODE_COPY };
	struct pinguard_stats before, after;
	pthread_t ft;
	uint64_t pins = 0, unpins = 0;
	unsigned seed = (unsigned)getpid() * 2654435761u + (unsigned)mode;
	size_t p;
	int i;

	set_mode(mode);
	fill();
	atomic_store(&done, false);
	atomic_store(&child_bad_data, 0);
	atomic_store(&child_bad_count, 0);
	atomic_store(&child_bad_other, 0);
	printf("mode %s, %d forks, seed %u\n", pinguard_mode_name(mode), forks,
	       seed);
	fflush(stdout);
	before = stats();
	/* One long-term pin for the whole run: every fork is then guarded. */
	assert_int_equal(pinguard_pin(buf, PAGE, 0), 0);
	pg_watchdog_start("test_threads", PG_STALL_S);
	for (i = 0; i < WORKERS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].seed = seed + (unsigned)i * 7919u;
		assert_int_equal(pthread_create(&w[i].tid, NULL, worker_main,
						&w[i]), 0);
	}
	assert_int_equal(pthread_create(&ft, NULL, forker_main, &f), 0);
	assert_int_equal(pthread_join(ft, NULL), 0);
	for (i = 0; i < WORKERS; i++) {
		assert_int_equal(pthread_join(w[i].tid, NULL), 0);
		assert_int_equal(w[i].errors, 0);
		pins += w[i].pins;
		unpins += w[i].unpins;
	}
	assert_int_equal(pinguard_unpin(buf, PAGE), 0);
	pg_watchdog_stop();
	after = stats();

	assert_int_equal(child_bad_data, 0);
	assert_int_equal(child_bad_count, 0);
	assert_int_equal(child_bad_other, 0);
	assert_true(pins > 0);
	assert_int_equal(after.pins_total - before.pins_total, pins + 1);
	assert_int_equal(after.unpins_total - before.unpins_total, unpins + 1);
	assert_int_equal(after.pins_total - after.unpins_total,
			 after.active_pins);
	assert_int_equal(after.active_pins, 0);
	assert_int_equal(after.pinned_bytes, 0);
	assert_int_equal(after.pinned_ranges, 0);
	assert_int_equal(after.ranges_dontfork, 0);
	assert_int_equal(after.forks_seen - before.forks_seen, forks);
	assert_int_equal(after.forks_guarded - before.forks_guarded, forks);
	assert_int_equal(after.fork_errors, before.fork_errors);
	if (mode == PINGUARD_MODE_COPY)
		assert_true(after.bytes_copied - before.bytes_copied >=
			    (uint64_t)forks * PAGE);
	/* The parent's data and mappings are as they were. */
	for (p = 0; p < BUF_PAGES; p++) {
		assert_int_equal(pinguard_pin_count(buf + p * PAGE), 0);
		assert_true(page_intact(p));
	}
	assert_false(buffer_has_dontfork());
	munmap(buf, BUF_LEN);
}

static void copy_mode_races(void **state)
{
	(void)state;
	run(PINGUARD_MODE_COPY, 1000);
}

static void dontfork_mode_races(void **state)
{
	(void)state;
	run(PINGUARD_MODE_DONTFORK, 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		PG_TEST(copy_mode_races),
		PG_TEST(dontfork_mode_races),
	};

	return PG_RUN_GROUP(tests, NULL, NULL);
}
