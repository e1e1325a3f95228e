/* SPDX-License-Identifier: MIT */
/* Test helper for `pinguard status`: pins two ranges through the API (the
 * second twice), writes "START LENGTH" of each to the file in argv[1],
 * then waits to be killed (at most 60 s). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pinguard.h"

int main(int argc, char **argv)
{
	size_t len1 = 2 * 4096, len2 = 3 * 4096;
	char *a, *b, tmp[4096];
	FILE *f;

	if (argc != 2)
		return 2;
	/* one mapping, a hole between the ranges so they stay two */
	a = mmap(NULL, 16 * 4096, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED)
		return 1;
	b = a + 8 * 4096;
	memset(a, 1, 16 * 4096);
	if (pinguard_pin(a, len1, 0) || pinguard_pin(b, len2, 0) ||
	    pinguard_pin(b, len2, PINGUARD_PIN_SHORTTERM)) {
		fprintf(stderr, "pinwait: pin failed\n");
		return 1;
	}
	/* written whole then renamed: the test never reads half a file */
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
	f = fopen(tmp, "w");
	if (!f)
		return 1;
	fprintf(f, "%p %zu\n%p %zu\n", (void *)a, len1, (void *)b, len2);
	if (fclose(f) || rename(tmp, argv[1]))
		return 1;
	alarm(60);
	for (;;)
		pause();
}
