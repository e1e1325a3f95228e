/* SPDX-License-Identifier: MIT */
/*
 * A process that pins nothing: fork and posix_spawn latency. Run with and
 * without LD_PRELOAD=libpinguard.so by bench/run-bench, alternating.
 * Prints per-call medians over batches. Usage: idle <batches>
 */
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

extern char **environ;

int main(int argc, char **argv)
{
	int batches = argc > 1 ? atoi(argv[1]) : 7, b, i, st;
	char *args[] = { "/bin/true", NULL };
	double f[64], s[64];
	size_t len = 64ul << 20;
	char *mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pid_t pid;

	memset(mem, 1, len);	/* a realistic amount of memory to fork */
	if (batches > 64)
		batches = 64;
	for (b = 0; b <= batches; b++) {
		double t = now_ns();

		for (i = 0; i < 200; i++) {
			pid = fork();
			if (pid == 0)
				_exit(0);
			waitpid(pid, &st, 0);
		}
		f[b ? b - 1 : 0] = (now_ns() - t) / 200;
		t = now_ns();
		for (i = 0; i < 100; i++) {
			posix_spawn(&pid, "/bin/true", NULL, NULL, args, environ);
			waitpid(pid, &st, 0);
		}
		s[b ? b - 1 : 0] = (now_ns() - t) / 100;
	}
	printf("%.1f %.1f\n", median(f, batches) / 1e3, median(s, batches) / 1e3);
	return 0;
}
