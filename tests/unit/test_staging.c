/* SPDX-License-Identifier: MIT */
/*
 * Copy mode keeps its staging region between forks (PINGUARD_KEEP_STAGING,
 * 64 MiB by default) and copies the next fork's snapshot into it. What a
 * user must still see: every child gets its own fork-time data, whether
 * the children before it are still alive (they share the kept pages) or
 * gone; the parent keeps its pinned pages; the kept memory is reported in
 * the stats and given back at the last unpin, or a second after the last
 * fork.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../common.h"

#define LEN ((6ul << 20) + 5 * PAGE)	/* over 3 huge pages, odd end */
#define OFF (3 * PAGE)			/* pinned from an unaligned page */
#define NKIDS 4

struct view {
	uint64_t *buf;
	unsigned gen;
};

static uint64_t word(unsigned gen, size_t i)
{
	return ((uint64_t)gen << 48) ^ (i * 0x9e3779b97f4a7c15ull);
}

static void fill(uint64_t *b, unsigned gen)
{
	size_t i;

	for (i = 0; i < LEN / 8; i++)
		b[i] = word(gen, i);
}

/* In the child: words of the pinned buffer not from its fork's gen. */
static int wrong_words(void *arg)
{
	const struct view *v = arg;
	size_t i;
	int bad = 0;

	for (i = 0; i < LEN / 8; i++)
		bad += v->buf[i] != word(v->gen, i);
	return bad;
}

/* Resident pages, exactly: smaps_rollup walks the page tables (4.14+),
 * while statm's counter is per-CPU and approximate since 6.2 (up to 32
 * pages a CPU): with statm last_unpin_gives_memory_back failed 2 runs in
 * 61 in a Debian 13 root, where the difference must be the whole LEN. */
static long rss_pages(void)
{
	long size = 0, rss = 0;
	char line[256];
	FILE *f = fopen("/proc/self/smaps_rollup", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Rss: %ld kB", &rss) == 1) {
			fclose(f);
			return rss * 1024 / (long)PAGE;
		}
	if (f)
		fclose(f);
	f = fopen("/proc/self/statm", "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%ld %ld", &size, &rss), 2);
	fclose(f);
	return rss;
}

/* Private anonymous read-write mappings of at least LEN bytes: the
 * pinned buffer, the kept staging, and whatever the runtime has (constant
 * here; counting all VMAs is not, under ASan). */
static int big_anon_mappings(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512], perm[8];
	unsigned long s, e, ino;
	int n = 0, path;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		path = 0;
		if (sscanf(line, "%lx-%lx %7s %*s %*s %lu %n", &s, &e, perm,
			   &ino, &path) < 4)
			continue;
		if (e - s >= LEN && !strcmp(perm, "rw-p") && !ino &&
		    (!path || line[path] == '\n' || !line[path]))
			n++;
	}
	fclose(f);
	return n;
}

static uint64_t *pinned_buffer(void)
{
	char *m = map_anon(LEN + OFF, PROT_READ | PROT_WRITE);

	set_mode(PINGUARD_MODE_COPY);
	assert_int_equal(pinguard_pin(m + OFF, LEN, 0), 0);
	return (uint64_t *)(m + OFF);
}

static void release(uint64_t *buf)
{
	assert_int_equal(pinguard_unpin(buf, LEN), 0);
	assert_int_equal(stats().staging_kept_bytes, 0);
	munmap((char *)buf - OFF, LEN + OFF);
}

/* Each fork copies into the region the one before it left, while every
 * earlier child is alive and still maps those pages: the children keep
 * their own generation, the parent its pages. */
static void live_children_keep_their_snapshots(void **state)
{
	struct child kids[NKIDS];
	struct view v[NKIDS];
	uint64_t *buf = pinned_buffer();
	unsigned g;

	(void)state;
	for (g = 0; g < NKIDS; g++) {
		fill(buf, g + 1);
		v[g].buf = buf;
		v[g].gen = g + 1;
		child_start(&kids[g], wrong_words, &v[g]);
		assert_true(stats().staging_kept_bytes >= LEN);
	}
	fill(buf, 99);		/* the parent moves on */
	assert_int_equal(exclusive_pages(buf, LEN), LEN / PAGE);
	for (g = 0; g < NKIDS; g++)
		assert_int_equal(child_finish(&kids[g]), 0);
	release(buf);
}

/* Children that exit before the next fork: the kept pages are the
 * parent's alone again and are reused as they are. A fork that skipped
 * the copy into them would hand the child the previous generation. */
static void next_fork_gets_new_data(void **state)
{
	uint64_t *buf = pinned_buffer();
	struct pinguard_stats before;
	struct child c;
	struct view v = { buf, 0 };

	(void)state;
	for (v.gen = 1; v.gen <= 6; v.gen++) {
		fill(buf, v.gen);
		before = stats();
		child_start(&c, wrong_words, &v);
		fill(buf, 1000 + v.gen);
		assert_int_equal(child_finish(&c), 0);
		assert_int_equal(stats().bytes_copied - before.bytes_copied,
				 LEN);
	}
	release(buf);
}

/* The kept region is resident memory: it shows in the stats, RSS and
 * the maps, and the last unpin unmaps it. */
static void last_unpin_gives_memory_back(void **state)
{
	uint64_t *buf = pinned_buffer();
	long rss_kept;
	int big_before;
	struct child c;
	struct view v = { buf, 7 };

	(void)state;
	fill(buf, 7);
	child_start(&c, wrong_words, &v);	/* starts the copy helper */
	assert_int_equal(child_finish(&c), 0);
	release(buf);

	big_before = big_anon_mappings();
	buf = pinned_buffer();
	v.buf = buf;
	fill(buf, 7);
	child_start(&c, wrong_words, &v);
	/* right after the fork: it expires a second later */
	assert_true(stats().staging_kept_bytes >= LEN);
	assert_int_equal(big_anon_mappings(), big_before + 2);
	rss_kept = rss_pages();
	assert_int_equal(child_finish(&c), 0);
	assert_int_equal(pinguard_unpin(buf, LEN), 0);
	assert_int_equal(stats().staging_kept_bytes, 0);
	assert_true(rss_kept - rss_pages() >= (long)(LEN / PAGE));
	munmap((char *)buf - OFF, LEN + OFF);
	assert_int_equal(big_anon_mappings(), big_before);
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A process that does not fork again does not keep the memory: a second
 * after the fork the helper thread unmaps it, pins unchanged. The next
 * fork maps fresh staging and still copies the data. */
static void unused_staging_expires(void **state)
{
	uint64_t *buf = pinned_buffer();
	struct child c;
	struct view v = { buf, 10 };
	int big_before;
	double t_fork;

	(void)state;
	fill(buf, 10);
	big_before = big_anon_mappings();	/* the pinned buffer */
	t_fork = now_s();
	child_start(&c, wrong_words, &v);
	assert_true(stats().staging_kept_bytes >= LEN);
	assert_int_equal(big_anon_mappings(), big_before + 1);
	assert_int_equal(child_finish(&c), 0);
	while (stats().staging_kept_bytes && now_s() - t_fork < 10)
		usleep(20000);
	printf("kept staging unmapped %.2f s after the fork\n",
	       now_s() - t_fork);
	assert_int_equal(stats().staging_kept_bytes, 0);
	assert_true(now_s() - t_fork >= 0.9);
	assert_int_equal(big_anon_mappings(), big_before);
	assert_int_equal(stats().pinned_bytes, LEN);
	fill(buf, 12);
	v.gen = 12;
	child_start(&c, wrong_words, &v);
	assert_int_equal(child_finish(&c), 0);
	release(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		PG_TEST(live_children_keep_their_snapshots),
		PG_TEST(next_fork_gets_new_data),
		PG_TEST(last_unpin_gives_memory_back),
		PG_TEST(unused_staging_expires),
	};

	return PG_RUN_GROUP(tests, NULL, NULL);
}
