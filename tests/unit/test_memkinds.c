/* SPDX-License-Identifier: MIT */
/* copy mode on every kind of memory a pin can land on: the parent keeps
 * exclusive pages, the child gets the fork-time data with the same page
 * size and protections; MAP_SHARED is left alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../common.h"

#define HUGE (2ul << 20)

struct view {
	char *buf;
	size_t len;
	char want;
};

static void fill(char *p, size_t len, char c)
{
	memset(p, c, len);
}

static int child_sees(void *arg)
{
	struct view *v = arg;
	size_t i;

	for (i = 0; i < v->len; i += 512)
		if (v->buf[i] != v->want)
			return 1;
	return 0;
}

/* Pin [buf, buf+len), fork with a child alive, write in the parent,
 * check exclusivity and what the child reads. */
static void guarded_fork(char *buf, size_t len, size_t exclusive_want)
{
	struct view v = { buf, len, 'f' };
	struct child c;

	fill(buf, len, 'f');
	assert_int_equal(pinguard_pin(buf, len, 0), 0);
	child_start(&c, child_sees, &v);
	assert_int_equal(exclusive_pages(buf, len), exclusive_want);
	fill(buf, len, 'p');
	assert_int_equal(child_finish(&c), 0);
	assert_int_equal(pinguard_unpin(buf, len), 0);
	assert_int_equal(stats().fork_errors, 0);
}

static void anon_4k(void **state)
{
	char *p = map_anon(16 * PAGE, PROT_READ | PROT_WRITE);

	(void)state;
	guarded_fork(p + 3 * PAGE, 5 * PAGE, 5);
	munmap(p, 16 * PAGE);
}

static void thp(void **state)
{
	char *p = map_thp(4 * HUGE);

	(void)state;
	/* a pin in the middle of a huge page, and one covering two */
	guarded_fork(p + HUGE / 2, PAGE * 3, 3);
	guarded_fork(p + HUGE, 2 * HUGE, 2 * HUGE / PAGE);
	munmap(p, 4 * HUGE);
}

static int child_hugetlb(void *arg)
{
	struct view *v = arg;
	char cmd[64];
	FILE *f;
	bool huge = false;
	char line[256];
	unsigned long s, e;
	bool in = false;

	if (child_sees(v))
		return 1;
	/* same page size as the parent's mapping */
	f = fopen("/proc/self/smaps", "r");
	if (!f)
		return 2;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx", &s, &e) == 2 && strchr(line, ' ') >
		    strchr(line, '-')) {
			in = (uintptr_t)v->buf >= s && (uintptr_t)v->buf < e;
			continue;
		}
		if (in && !strncmp(line, "KernelPageSize:", 15))
			huge = strtoul(line + 15, NULL, 10) == 2048;
	}
	fclose(f);
	(void)cmd;
	return huge ? 0 : 3;
}

static void hugetlb(void **state)
{
	size_t len = 2 * HUGE;
	char *p = map_hugetlb(len);
	struct view v = { p, len, 'f' };
	struct child c;

	(void)state;
	if (!p)
		skip();
	fill(p, len, 'f');
	/* one small pin guards its whole huge page */
	assert_int_equal(pinguard_pin(p + HUGE + 100, 10, 0), 0);
	assert_int_equal(pinguard_pin_count(p + HUGE), 1);
	assert_int_equal(pinguard_pin_count(p + 2 * HUGE - 1), 1);
	assert_int_equal(pinguard_pin_count(p), 0);
	assert_int_equal(stats().pinned_bytes, HUGE);
	v.buf = p + HUGE;
	v.len = HUGE;
	child_start(&c, child_hugetlb, &v);
	fill(p + HUGE, HUGE, 'p');
	assert_int_equal(child_finish(&c), 0);
	assert_int_equal(pinguard_unpin(p + HUGE + 100, 10), 0);
	assert_int_equal(stats().pinned_bytes, 0);
	assert_int_equal(stats().fork_errors, 0);
	munmap(p, len);
}

static int child_sees_parent_write(void *arg)
{
	struct view *v = arg;

	return v->buf[0] == 'p' ? 0 : 1;	/* shared: the parent's write */
}

static void map_shared(void **state)
{
	char *p = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct view v = { p, 8 * PAGE, 0 };
	uint64_t copied = stats().bytes_copied;
	struct child c;

	(void)state;
	assert_true(p != MAP_FAILED);
	fill(p, 8 * PAGE, 'f');
	assert_int_equal(pinguard_pin(p, 8 * PAGE, 0), 0);
	child_start(&c, child_sees_parent_write, &v);
	fill(p, 8 * PAGE, 'p');
	assert_int_equal(child_finish(&c), 0);
	assert_int_equal(stats().bytes_copied, copied);
	assert_int_equal(pinguard_unpin(p, 8 * PAGE), 0);
	munmap(p, 8 * PAGE);
}

static void file_private(void **state)
{
	char path[] = "/tmp/pinguard-test-XXXXXX";
	int fd = mkstemp(path);
	char *p;

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(ftruncate(fd, 8 * PAGE), 0);
	p = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	assert_true(p != MAP_FAILED);
	guarded_fork(p, 8 * PAGE, 8);
	munmap(p, 8 * PAGE);
	close(fd);
}

struct prot_view {
	char *buf;
	int prot[4];
};

static int child_same_prots(void *arg)
{
	struct prot_view *v = arg;
	int i;

	for (i = 0; i < 4; i++)
		if (vma_prot(v->buf + i * PAGE) != v->prot[i])
			return 10 + i;
	/* the PROT_NONE page kept its data too */
	if (mprotect(v->buf, 4 * PAGE, PROT_READ))
		return 20;
	for (i = 0; i < 4; i++)
		if (v->buf[i * PAGE] != 'a' + i)
			return 30 + i;
	return 0;
}

static void across_vmas_with_protections(void **state)
{
	char *p = map_anon(4 * PAGE, PROT_READ | PROT_WRITE);
	struct prot_view v = { p, { PROT_READ | PROT_WRITE, PROT_READ,
				    PROT_NONE, PROT_READ | PROT_WRITE } };
	struct child c;
	int i;

	(void)state;
	for (i = 0; i < 4; i++)
		p[i * PAGE] = (char)('a' + i);
	assert_int_equal(mprotect(p + PAGE, PAGE, PROT_READ), 0);
	assert_int_equal(mprotect(p + 2 * PAGE, PAGE, PROT_NONE), 0);
	assert_int_equal(pinguard_pin(p, 4 * PAGE, 0), 0);
	child_start(&c, child_same_prots, &v);
	assert_int_equal(exclusive_pages(p, PAGE), 1);
	assert_int_equal(exclusive_pages(p + 3 * PAGE, PAGE), 1);
	p[0] = 'X';
	assert_int_equal(child_finish(&c), 0);
	assert_int_equal(pinguard_unpin(p, 4 * PAGE), 0);
	assert_int_equal(stats().fork_errors, 0);
	munmap(p, 4 * PAGE);
}

static int setup(void **state)
{
	(void)state;
	set_mode(PINGUARD_MODE_COPY);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		PG_TEST(anon_4k),
		PG_TEST(thp),
		PG_TEST(hugetlb),
		PG_TEST(map_shared),
		PG_TEST(file_private),
		PG_TEST(across_vmas_with_protections),
	};

	return PG_RUN_GROUP(tests, setup, NULL);
}
