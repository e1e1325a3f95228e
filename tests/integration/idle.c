/* SPDX-License-Identifier: MIT */
/* A program that pins nothing but does what ordinary programs do: maps,
 * advises and unmaps memory, forks and waits, posix_spawns. test_idle.sh
 * counts its system calls with and without libpinguard preloaded. */
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(void)
{
	char *argv[] = { "true", NULL };
	size_t len = 1 << 20;
	char *p, *q;
	pid_t pid;
	int st;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 1;
	p[0] = 1;
	madvise(p, len, MADV_DONTNEED);
	q = mremap(p, len, 2 * len, MREMAP_MAYMOVE);
	if (q == MAP_FAILED)
		return 2;
	munmap(q, 2 * len);
	pid = fork();
	if (pid == 0)
		_exit(0);
	if (pid < 0 || waitpid(pid, &st, 0) != pid || st)
		return 3;
	if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) ||
	    waitpid(pid, &st, 0) != pid || st)
		return 4;
	return 0;
}
