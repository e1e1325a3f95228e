/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exotic.h"

void fill(char *b, size_t len, unsigned char v)
{
	memset(b, v, len);
}

bool all_equal(const char *b, size_t len, unsigned char v)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)b[i] != v)
			return false;
	return true;
}

size_t excl_pages_raw(const void *addr, size_t len)
{
	uint64_t e[NPAGES * 4];
	size_t i, n = 0, pages = len / PAGE;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0 || pages > sizeof(e) / sizeof(e[0]))
		return 0;
	if (pread(fd, e, pages * 8, (off_t)((uintptr_t)addr / PAGE * 8)) !=
	    (ssize_t)(pages * 8))
		pages = 0;
	close(fd);
	for (i = 0; i < pages; i++)
		n += (e[i] & PM_PRESENT) && (e[i] & PM_EXCLUSIVE);
	return n;
}

int wait_status(pid_t pid)
{
	int st;

	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFSIGNALED(st))
		return -WTERMSIG(st);
	return WEXITSTATUS(st);
}

void *spin_pins(void *arg)
{
	struct spinner *s = arg;
	unsigned seed = 12345;

	while (!atomic_load(&s->stop)) {
		size_t first = (size_t)rand_r(&seed) % NPAGES;
		size_t n = 1 + (size_t)rand_r(&seed) % (NPAGES - first);
		unsigned fl = (unsigned)rand_r(&seed) % 4;

		if (pinguard_pin(s->b + first * PAGE, n * PAGE, fl)) {
			s->errors++;
			continue;
		}
		s->pins++;
		if (pinguard_unpin(s->b + first * PAGE, n * PAGE))
			s->errors++;
	}
	return NULL;
}

int run_filtered(int argc, char **argv, const struct CMUnitTest *tests,
		 size_t count)
{
	struct CMUnitTest run[count];
	size_t i, n = 0;
	int a;

	for (i = 0; i < count; i++) {
		bool keep = true;

		for (a = 1; a + 1 < argc; a += 2) {
			bool match = !strcmp(argv[a + 1], tests[i].name);

			if (!strcmp(argv[a], "--only") && !match)
				keep = false;
			else if (!strcmp(argv[a], "--skip") && match)
				keep = false;
		}
		if (keep)
			run[n++] = tests[i];
	}
	for (a = 1; a < argc; a += 2)
		if (strcmp(argv[a], "--only") && strcmp(argv[a], "--skip"))
			n = 0;
	if (!n || argc % 2 == 0) {
		fprintf(stderr, "usage: %s [--only NAME | --skip NAME]...\n",
			argv[0]);
		return 2;
	}
	return _cmocka_run_group_tests(argv[0], run, n, NULL, NULL);
}

