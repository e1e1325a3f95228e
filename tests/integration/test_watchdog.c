/* SPDX-License-Identifier: MIT */
/*
 * The deadlock detector of the race tests (tests/watchdog.c) must fire:
 * a program that waits for a child which never exits ends with status 2
 * after the stall, names that child, and kills it; a program that keeps
 * reporting progress for longer than the stall is not stopped.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../watchdog.h"

#define STALL 2

static int fails;

#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);	\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		fails++;						\
	}								\
} while (0)

/* The program under test: forks a child that hangs, waits for it. */
static void hung_child_program(int log_fd)
{
	pid_t c;
	int st;

	dup2(log_fd, 2);
	pg_watchdog_start("hung", STALL);
	c = fork();
	if (c == 0) {
		for (;;)
			pause();
	}
	pg_watchdog_child(c);
	waitpid(c, &st, 0);	/* returns once the watchdog killed it */
	for (;;)
		pause();	/* until the watchdog's _exit(2) */
}

/* Progress every half second for twice the stall: never stopped. */
static void busy_program(void)
{
	int i;

	pg_watchdog_start("busy", STALL);
	for (i = 0; i < 4 * STALL; i++) {
		usleep(500 * 1000);
		pg_watchdog_progress();
	}
	pg_watchdog_stop();
	_exit(pg_watchdog_count() == 4 * STALL ? 0 : 1);
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(void)
{
	char log[] = "/tmp/pg-watchdog-XXXXXX", text[4096] = "";
	int fd = mkstemp(log), st = 0, hung = 0;
	const char *at;
	pid_t prog;
	double t0;
	ssize_t n;

	CHECK(fd >= 0, "mkstemp: %s", strerror(errno));
	unlink(log);
	/* the hung grandchild is re-parented to us, so we see how it ends */
	CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0, "subreaper");
	alarm(60);	/* a watchdog that never fires fails here */
	fflush(stdout);

	t0 = now();
	prog = fork();
	if (prog == 0)
		hung_child_program(fd);
	CHECK(waitpid(prog, &st, 0) == prog, "waitpid");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2,
	      "hung program: status %#x, want exit 2", st);
	CHECK(now() - t0 >= STALL, "stopped before the stall: %.1f s",
	      now() - t0);
	n = pread(fd, text, sizeof(text) - 1, 0);
	text[n > 0 ? n : 0] = 0;
	/* its parent reaped it, or we did once it was re-parented to us */
	while (waitpid(-1, &st, 0) > 0)
		;
	at = strstr(text, "waiting for child ");
	if (at)
		hung = atoi(at + strlen("waiting for child "));
	CHECK(hung > 0 && kill(hung, 0) == -1 && errno == ESRCH,
	      "the hung child %d is still there", hung);
	CHECK(strstr(text, "watchdog: hung: no progress for 2 s") != NULL &&
	      strstr(text, "waiting for child") != NULL &&
	      strstr(text, "wchan") != NULL,
	      "message: \"%s\"", text);
	fputs(text, stdout);
	fflush(stdout);

	prog = fork();
	if (prog == 0)
		busy_program();
	CHECK(waitpid(prog, &st, 0) == prog, "waitpid");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "busy program: status %#x, want exit 0", st);
	printf("%s\n", fails ? "FAILED" : "OK");
	return fails ? 1 : 0;
}
