/* SPDX-License-Identifier: MIT */
/*
 * Fuzzing lib/registry.c against a reference model: one counter pair and
 * one flag byte per page of a small window, compared after every step
 * (pin counts and flags of every page, bytes, extents, number of
 * segments, equal neighbours merged, walks and gap walks in order and
 * clipped, pg_reg_covered).
 *
 * Input: a window selector byte, then 3 bytes per operation
 *   op  (low 3 bits): 0,1 add long-term, 2 add short-term, 3,4 remove,
 *       5 set/clear PG_SEG_DONTFORK (bit 3 chooses), 6 covered + walk
 *       check of a sub-range, 7 reset (what a fork child does)
 *   first page, page count - 1 (both modulo the window).
 *
 * Built two ways:
 *  - with clang -fsanitize=fuzzer (FUZZ_LIBFUZZER defined by fuzz/run.sh):
 *    LLVMFuzzerTestOneInput;
 *  - standalone (meson, tests/hardening): `fuzz_registry FILE|DIR...`
 *    replays corpus files, `fuzz_registry --random N SEED` runs N deterministic
 *    random operations.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

#define PAGE 4096ul
#ifndef PAGES	/* -DPAGES=256: deeper trees (inner splits and merges) */
#define PAGES 64
#endif

struct model {
	uint32_t nlong[PAGES], nshort[PAGES];
	uint8_t flags[PAGES];
};

static struct pg_registry reg;
static struct model m;
static uintptr_t base;
static unsigned long steps;

static uintptr_t A(unsigned page)
{
	return base + (uintptr_t)page * PAGE;
}

#define DIE(...) do { fprintf(stderr, "fuzz_registry: step %lu: ", steps); \
	fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); abort(); } while (0)

static bool pinned(unsigned i)
{
	return m.nlong[i] + m.nshort[i] > 0;
}

struct walk_state {
	uintptr_t lo, hi, cur;
	bool gaps;
	unsigned calls;
};

static int walk_cb(uintptr_t s, uintptr_t e, const struct pg_seg *seg,
		   void *arg)
{
	struct walk_state *w = arg;
	uintptr_t a;

	w->calls++;
	if (s >= e || s < w->lo || e > w->hi || s < w->cur)
		DIE("walk piece %#lx-%#lx outside [%#lx, %#lx) or out of order",
		    (unsigned long)s, (unsigned long)e, (unsigned long)w->lo,
		    (unsigned long)w->hi);
	if (w->gaps && w->calls > 1 && s == w->cur)
		DIE("gap walk pieces not separated by pinned pages");
	w->cur = e;
	for (a = s; a < e; a += PAGE) {
		unsigned i = (unsigned)((a - base) / PAGE);

		if (w->gaps) {
			if (seg || pinned(i))
				DIE("gap walk covers pinned page %u", i);
			continue;
		}
		if (!seg || seg->nlong != m.nlong[i] ||
		    seg->nshort != m.nshort[i] || seg->flags != m.flags[i])
			DIE("walk: page %u has %u/%u/%u, model %u/%u/%u", i,
			    seg ? seg->nlong : 0, seg ? seg->nshort : 0,
			    seg ? seg->flags : 0, m.nlong[i], m.nshort[i],
			    m.flags[i]);
	}
	return 0;
}

static void check_walks(unsigned a, unsigned b)
{
	struct walk_state w = { A(a), A(b), A(a), false, 0 };
	unsigned i, want = 0, holes = 0;
	bool covered = true;

	for (i = a; i < b; i++) {
		covered &= pinned(i);
		want += pinned(i);
		holes += !pinned(i) && (i == a || pinned(i - 1));
	}
	if (pg_reg_covered(&reg, A(a), A(b)) != covered)
		DIE("covered(%u, %u) != model", a, b);
	pg_reg_walk(&reg, A(a), A(b), walk_cb, &w);
	if (!want && w.calls)
		DIE("walk of unpinned [%u, %u) visited %u pieces", a, b, w.calls);
	w = (struct walk_state){ A(a), A(b), A(a), true, 0 };
	pg_reg_walk_gaps(&reg, A(a), A(b), walk_cb, &w);
	if (w.calls != holes)
		DIE("gap walk of [%u, %u): %u pieces, model %u holes", a, b,
		    w.calls, holes);
}

static void check(void)
{
	uint64_t bytes = 0, extents = 0, segs = 0;
	const struct pg_seg *s, *prev = NULL;
	unsigned i;

	for (i = 0; i < PAGES; i++) {
		s = pg_reg_find(&reg, A(i) + 123);
		if (!pinned(i)) {
			if (s)
				DIE("page %u: segment, model unpinned", i);
			prev = NULL;
			continue;
		}
		if (!s || s->nlong != m.nlong[i] || s->nshort != m.nshort[i] ||
		    s->flags != m.flags[i])
			DIE("page %u: %u/%u/%u, model %u/%u/%u", i,
			    s ? s->nlong : 0, s ? s->nshort : 0,
			    s ? s->flags : 0, m.nlong[i], m.nshort[i],
			    m.flags[i]);
		if (s->start > A(i) || s->end < A(i) + PAGE ||
		    s->start < base || s->end > A(PAGES))
			DIE("page %u: segment %#lx-%#lx", i,
			    (unsigned long)s->start, (unsigned long)s->end);
		bytes += PAGE;
		extents += i == 0 || !pinned(i - 1);
		if (s != prev) {
			segs++;
			if (prev && prev->end == s->start &&
			    prev->nlong == s->nlong &&
			    prev->nshort == s->nshort &&
			    prev->flags == s->flags)
				DIE("equal neighbours not merged at page %u", i);
		}
		prev = s;
	}
	if (reg.bytes != bytes || reg.extents != extents || reg.nsegs != segs)
		DIE("bytes %lu/%lu extents %lu/%lu segments %lu/%lu "
		    "(registry/model)", (unsigned long)reg.bytes,
		    (unsigned long)bytes, (unsigned long)reg.extents,
		    (unsigned long)extents, (unsigned long)reg.nsegs,
		    (unsigned long)segs);
	/* nothing outside the window */
	if (pg_reg_find(&reg, base - 1) || pg_reg_find(&reg, A(PAGES)))
		DIE("segment outside the window");
}

static void reset_all(uint8_t sel)
{
	static const uintptr_t bases[4] = {
		0x100000ul, 0, 0x7ffff0000000ul,
		(UINTPTR_MAX & ~(PAGE - 1)) - (PAGES + 1) * PAGE,
	};

	base = bases[sel & 3];
	if (reg.pool)
		pg_reg_reset(&reg);
	memset(&m, 0, sizeof(m));
}

static void step(uint8_t op, uint8_t x, uint8_t y)
{
	unsigned a = x % PAGES, b = a + 1 + y % PAGES, i;
	bool covered = true;

	if (b > PAGES)
		b = PAGES;
	steps++;
	switch (op & 7) {
	case 0: case 1: case 2:
		if (pg_reg_reserve_for(&reg, A(a), A(b)))
			DIE("reserve failed");
		pg_reg_add(&reg, A(a), A(b), (op & 7) == 2);
		for (i = a; i < b; i++) {
			if ((op & 7) == 2)
				m.nshort[i]++;
			else
				m.nlong[i]++;
			if (m.nlong[i] + m.nshort[i] == 1)
				m.flags[i] = 0;
		}
		break;
	case 3: case 4:
		for (i = a; i < b; i++)
			covered &= pinned(i);
		if (pg_reg_reserve_for(&reg, A(a), A(b)))
			DIE("reserve failed");
		if (pg_reg_remove(&reg, A(a), A(b)) != covered)
			DIE("remove(%u, %u) returned %d, model %d", a, b,
			    !covered, covered);
		if (covered)
			for (i = a; i < b; i++) {
				if (m.nshort[i])
					m.nshort[i]--;
				else
					m.nlong[i]--;
				if (!pinned(i))
					m.flags[i] = 0;
			}
		break;
	case 5:
		if (pg_reg_reserve_for(&reg, A(a), A(b)))
			DIE("reserve failed");
		if (op & 8)
			pg_reg_set_flags(&reg, A(a), A(b), PG_SEG_DONTFORK, 0);
		else
			pg_reg_set_flags(&reg, A(a), A(b), 0, PG_SEG_DONTFORK);
		for (i = a; i < b; i++)
			if (pinned(i))
				m.flags[i] = op & 8 ? PG_SEG_DONTFORK : 0;
		break;
	case 6:
		check_walks(a, b);
		break;
	case 7:
		if ((op & 0xf8) == 0xf8)	/* rare: like a fork child */
			reset_all(y);
		break;
	}
	check();
}

static void run(const uint8_t *d, size_t n)
{
	size_t i;

	reset_all(n ? d[0] : 0);
	for (i = 1; i + 3 <= n; i += 3)
		step(d[i], d[i + 1], d[i + 2]);
	check_walks(0, PAGES);
}

#ifdef FUZZ_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run(data, size);
	return 0;
}
#else
#include <dirent.h>

static uint64_t rng;

static uint32_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static int replay(const char *path)
{
	static uint8_t buf[1 << 20];
	FILE *f;
	DIR *d = opendir(path);
	struct dirent *de;
	char sub[4096];
	size_t n;
	int ret = 0;

	if (d) {	/* a corpus directory: every regular file in it */
		while ((de = readdir(d)))
			if (de->d_name[0] != '.') {
				snprintf(sub, sizeof(sub), "%s/%s", path,
					 de->d_name);
				ret |= replay(sub);
			}
		closedir(d);
		return ret;
	}
	f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return 1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	run(buf, n);
	printf("%s: %zu bytes, ok\n", path, n);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long n, i, seed;
	uint32_t r;
	int ret = 0;

	if (argc >= 3 && !strcmp(argv[1], "--random")) {
		n = strtoul(argv[2], NULL, 0);
		seed = argc > 3 ? strtoul(argv[3], NULL, 0) : 1;
		rng = seed * 0x9e3779b97f4a7c15ull + 1;
		for (i = 0; i < n; i++) {
			/* a fresh window now and then, so counts stay low
			 * and every base gets its turn */
			if (i % 100000 == 0)
				reset_all((uint8_t)(i / 100000));
			r = next();
			step((uint8_t)(r % 7 == 6 ? 6 : r & 0x0f),
			     (uint8_t)(r >> 8), (uint8_t)((r >> 16) %
							   (r & 0x100 ? 4 : 24)));
		}
		check_walks(0, PAGES);
		printf("%lu random operations (seed %lu), no mismatch\n", n,
		       seed);
		return 0;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE... | --random N [SEED]\n",
			argv[0]);
		return 2;
	}
	for (i = 1; i < (unsigned long)argc; i++)
		ret |= replay(argv[i]);
	return ret;
}
#endif
