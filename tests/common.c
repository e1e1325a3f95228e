/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "registry.h"	/* the registry, read to unpin leftovers */

/* libpinguard exports it for `pinguard status` (state.h) */
extern const struct pg_global *const pinguard_state_v1;

uint64_t pagemap(const void *addr)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t e = 0;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &e, sizeof(e),
			       (off_t)((uintptr_t)addr / PAGE * sizeof(e))),
			 sizeof(e));
	close(fd);
	return e;
}

size_t exclusive_pages(const void *addr, size_t len)
{
	size_t n = 0, i, pages = (len + PAGE - 1) / PAGE;
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t *e = calloc(pages, sizeof(*e));

	assert_true(fd >= 0 && e);
	assert_int_equal(pread(fd, e, pages * sizeof(*e),
			       (off_t)((uintptr_t)addr / PAGE * sizeof(*e))),
			 (ssize_t)(pages * sizeof(*e)));
	for (i = 0; i < pages; i++)
		n += (e[i] & PM_PRESENT) && (e[i] & PM_EXCLUSIVE);
	close(fd);
	free(e);
	return n;
}

static bool smaps_entry(const void *addr, char *vmflags, size_t cap, int *prot)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in = false, found = false;
	unsigned long s, e;
	char perms[8];

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx %7s", &s, &e, perms) == 3 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = (uintptr_t)addr >= s && (uintptr_t)addr < e;
			if (in) {
				found = true;
				*prot = (perms[0] == 'r' ? PROT_READ : 0) |
					(perms[1] == 'w' ? PROT_WRITE : 0) |
					(perms[2] == 'x' ? PROT_EXEC : 0);
			}
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8)) {
			size_t n = strlen(line + 8);

			n = n < cap ? n : cap - 1;
			memcpy(vmflags, line + 8, n);
			vmflags[n] = 0;
			break;
		}
	}
	fclose(f);
	return found;
}

bool vma_has_flag(const void *addr, const char *flag)
{
	char fl[256] = "", pat[8];
	int prot;

	if (!smaps_entry(addr, fl, sizeof(fl), &prot))
		return false;
	snprintf(pat, sizeof(pat), " %s", flag);
	return strstr(fl, pat) != NULL;
}

int vma_prot(const void *addr)
{
	char fl[256];
	int prot = -1;

	if (!smaps_entry(addr, fl, sizeof(fl), &prot))
		return -1;
	return prot;
}

bool is_mapped(const void *addr)
{
	unsigned char v;

	return mincore((void *)((uintptr_t)addr & ~(PAGE - 1)), PAGE, &v) == 0 ||
	       errno != ENOMEM;
}

void *map_anon(size_t len, int prot)
{
	void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

void *map_thp(size_t len)
{
	size_t huge = 2ul << 20;
	char *p = map_anon(len + huge, PROT_READ | PROT_WRITE);
	char *a = (char *)(((uintptr_t)p + huge - 1) & ~(huge - 1));

	if (a > p)
		munmap(p, (size_t)(a - p));
	munmap(a + len, (size_t)(p + huge - a));
	madvise(a, len, MADV_HUGEPAGE);
	return a;
}

void *map_hugetlb(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	FILE *f;
	long have = 0;

	if (p != MAP_FAILED)
		return p;
	/* Reserve pages for ourselves when we may (root). */
	f = fopen("/proc/sys/vm/nr_hugepages", "r");
	if (f) {
		if (fscanf(f, "%ld", &have) != 1)
			have = 0;
		fclose(f);
	}
	f = fopen("/proc/sys/vm/nr_hugepages", "w");
	if (f) {
		fprintf(f, "%ld\n", have + (long)(2 * len / (2ul << 20)) + 2);
		fclose(f);
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (p == MAP_FAILED) {
		printf("hugetlb: cannot map %zu bytes of 2 MiB pages (%s); "
		       "not root or no free huge pages\n", len, strerror(errno));
		return NULL;
	}
	return p;
}

void set_mode(enum pinguard_mode mode)
{
	struct pinguard_config c;

	assert_int_equal(pinguard_get_config(&c, sizeof(c)), 0);
	c.mode = mode;
	assert_int_equal(pinguard_configure(&c, sizeof(c)), 0);
}

struct pinguard_stats stats(void)
{
	struct pinguard_stats s;

	assert_int_equal(pinguard_get_stats(&s, sizeof(s)), 0);
	return s;
}

void child_start(struct child *c, int (*fn)(void *), void *arg)
{
	char b;
	int r;

	assert_int_equal(pipe(c->go), 0);
	assert_int_equal(pipe(c->res), 0);
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (c->pid == 0) {
		/* never outlive a test that failed before releasing us */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		alarm(120);
		if (read(c->go[0], &b, 1) != 1)
			_exit(100);
		r = fn(arg);
		if (write(c->res[1], &r, sizeof(r)) != sizeof(r))
			_exit(101);
		_exit(0);
	}
	close(c->go[0]);
	close(c->res[1]);
}

int child_finish(struct child *c)
{
	int r = -1000, st;

	assert_int_equal(write(c->go[1], "g", 1), 1);
	close(c->go[1]);
	if (read(c->res[0], &r, sizeof(r)) != sizeof(r))
		r = -1000;
	close(c->res[0]);
	assert_int_equal(waitpid(c->pid, &st, 0), c->pid);
	if (WIFSIGNALED(st))
		return -WTERMSIG(st);
	return r;
}

/* The configuration every case starts with, recorded at the first
 * case's setup (after the group's own setup chose a mode). */
static struct pinguard_config initial_cfg;
static bool have_initial_cfg;

int pg_test_setup(void **state)
{
	(void)state;
	if (!have_initial_cfg) {
		if (pinguard_get_config(&initial_cfg, sizeof(initial_cfg)))
			return -1;
		have_initial_cfg = true;
	}
	if (stats().pinned_ranges) {
		print_error("setup: %lu ranges still pinned by an earlier "
			    "case\n", (unsigned long)stats().pinned_ranges);
		return -1;
	}
	return 0;
}

/* Segments of the library's registry, in address order: the leftmost
 * leaf, then the leaf chain (pinguard_state_v1 and state.h are what
 * `pinguard status` reads too). Single-threaded here: no lock needed. */
static size_t registry_segments(struct pg_seg *out, size_t cap)
{
	const struct pg_registry *r = &pinguard_state_v1->reg;
	uint32_t node = r->root, h;
	size_t n = 0;

	if (!r->height)
		return 0;
	for (h = 1; h < r->height; h++)
		node = r->pool[node].child[0];
	for (; node != PG_NIL; node = r->pool[node].next)
		for (uint16_t i = 0; i < r->pool[node].n && n < cap; i++)
			out[n++] = r->pool[node].seg[i];
	return n;
}

/* Unpin every maximal run of pinned pages once, until nothing is pinned
 * (the registry knows pages, not the pin calls that made them). */
static int unpin_all(unsigned *calls)
{
	static struct pg_seg seg[4096];
	size_t i, j, n;
	int ret;

	while ((n = registry_segments(seg, 4096))) {
		for (i = 0; i < n; i = j) {
			for (j = i + 1; j < n && seg[j].start == seg[j - 1].end;
			     j++)
				;
			ret = pinguard_unpin((void *)seg[i].start,
					     seg[j - 1].end - seg[i].start);
			if (ret) {
				print_error("teardown: unpin %#lx+%lu: %d\n",
					    (unsigned long)seg[i].start,
					    (unsigned long)(seg[j - 1].end -
							    seg[i].start), ret);
				return -1;
			}
			++*calls;
		}
	}
	return 0;
}

int pg_test_teardown(void **state)
{
	unsigned calls = 0;
	int ret;

	(void)state;
	if (unpin_all(&calls))
		return -1;
	if (calls)
		print_message("teardown: %u unpin calls for pins the case "
			      "left\n", calls);
	if (have_initial_cfg &&
	    (ret = pinguard_configure(&initial_cfg, sizeof(initial_cfg)))) {
		print_error("teardown: restoring the configuration: %d\n", ret);
		return -1;
	}
	return 0;
}

int pg_run_group(const char *name, const struct CMUnitTest *tests, size_t n,
		 CMFixtureFunction setup, CMFixtureFunction teardown)
{
	const char *order = getenv("PG_TEST_ORDER");
	struct CMUnitTest *t = calloc(n, sizeof(*t));
	unsigned seed;
	size_t i;
	int ret;

	if (!t)
		return 1;
	memcpy(t, tests, n * sizeof(*t));
	if (order && !strcmp(order, "reverse")) {
		for (i = 0; i < n; i++)
			t[i] = tests[n - 1 - i];
	} else if (order && sscanf(order, "shuffle:%u", &seed) == 1) {
		srand(seed);
		for (i = n; i > 1; i--) {
			size_t j = (size_t)rand() % i;
			struct CMUnitTest x = t[i - 1];

			t[i - 1] = t[j];
			t[j] = x;
		}
	} else if (order && strcmp(order, "given")) {
		fprintf(stderr, "PG_TEST_ORDER=%s: expected given, reverse "
			"or shuffle:SEED\n", order);
		free(t);
		return 1;
	}
	ret = _cmocka_run_group_tests(name, t, n, setup, teardown);
	free(t);
	return ret;
}
