/* SPDX-License-Identifier: MIT */
/*
 * Every way to create a process: fork(), _Fork() and clone() without
 * CLONE_VM are wrapped (fork() then reaches the atfork hook too), daemon()
 * reaches only the atfork hook; vfork(),
 * posix_spawn(), system() and popen() share memory until exec and must
 * cost nothing. A path that is not guarded leaves the parent's pinned
 * pages shared copy-on-write with a live child: the pagemap check fails.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common.h"

#define LEN (16 * PAGE)

extern char **environ;
static char *buf;
static int go[2], res[2];

/* The child: wait until the parent has looked and written, then report
 * whether it sees the fork-time data. */
static int child_body(void *arg)
{
	char b, ok;

	(void)arg;
	/* a failed parent must not leave us waiting forever */
	close(go[1]);
	close(res[0]);
	alarm(60);
	if (read(go[0], &b, 1) != 1)
		_exit(2);
	ok = buf[0] == 'F' && buf[LEN - 1] == 'F';
	if (write(res[1], &ok, 1) != 1)
		_exit(3);
	_exit(0);
}

static void setup_round(void)
{
	memset(buf, 'F', LEN);
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(res), 0);
	assert_int_equal(pinguard_pin(buf, LEN, 0), 0);
}

/* With the child alive: exclusivity, then the child's view. */
static void check_round(pid_t pid, bool reap)
{
	char ok = 0;
	int st;

	assert_true(pid > 0);
	assert_int_equal(exclusive_pages(buf, LEN), LEN / PAGE);
	memset(buf, 'P', LEN);
	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(read(res[0], &ok, 1), 1);
	assert_int_equal(ok, 1);
	if (reap) {
		assert_int_equal(waitpid(pid, &st, __WALL), pid);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	close(go[0]); close(go[1]); close(res[0]); close(res[1]);
	assert_int_equal(pinguard_unpin(buf, LEN), 0);
	assert_int_equal(stats().fork_errors, 0);
}

static void via_fork(void **state)
{
	pid_t pid;

	(void)state;
	setup_round();
	pid = fork();
	if (pid == 0)
		child_body(NULL);
	check_round(pid, true);
}

/* Another library's atfork prepare handler runs after the interposed
 * fork() has prepared (registry lock held) and before the real fork: it
 * may free memory (munmap, madvise) or pin. That must not deadlock, and
 * the fork stays guarded. */
static char *other;
static int other_calls;

static void other_prepare(void)
{
	if (!other)
		return;		/* registered for good; armed by its test */
	other_calls++;
	assert_int_equal(pinguard_pin(other, PAGE, 0), 0);
	assert_int_equal(pinguard_unpin(other, PAGE), 0);
	assert_int_equal(madvise(other + PAGE, PAGE, MADV_DONTFORK), 0);
	assert_int_equal(madvise(other + PAGE, PAGE, MADV_DOFORK), 0);
	assert_int_equal(munmap(other + 2 * PAGE, PAGE), 0);
}

static void via_fork_with_other_prepare_handler(void **state)
{
	static bool registered;
	pid_t pid;

	(void)state;
	other = map_anon(3 * PAGE, PROT_READ | PROT_WRITE);
	if (!registered)
		assert_int_equal(pthread_atfork(other_prepare, NULL, NULL), 0);
	registered = true;
	setup_round();
	alarm(30);	/* a deadlock fails the test instead of hanging it */
	pid = fork();
	if (pid == 0)
		child_body(NULL);
	alarm(0);
	assert_int_equal(other_calls, 1);
	check_round(pid, true);
	munmap(other, 2 * PAGE);
	other = NULL;
}

#if !__GLIBC_PREREQ(2, 34)
pid_t _Fork(void);	/* pinguard defines it; libc has it from 2.34 only */
#endif

static void via__Fork(void **state)
{
	pid_t pid;

	(void)state;
#if !__GLIBC_PREREQ(2, 34)
	/* nothing to wrap: pinguard's _Fork finds no libc one (ENOSYS) */
	print_message("_Fork is glibc 2.34, this is %d.%d\n", __GLIBC__,
		      __GLIBC_MINOR__);
	skip();
#endif
	setup_round();
	pid = _Fork();
	if (pid == 0)
		child_body(NULL);
	check_round(pid, true);
}

static void via_clone(void **state)
{
	size_t stack_len = 256 * 1024;
	char *stack = map_anon(stack_len, PROT_READ | PROT_WRITE);
	pid_t pid;

	(void)state;
	setup_round();
	pid = clone(child_body, stack + stack_len, SIGCHLD, NULL);
	check_round(pid, true);
	munmap(stack, stack_len);
}

/* daemon() forks and the original process exits: run it in a helper
 * process and let the daemon itself report. */
static void via_daemon(void **state)
{
	pid_t helper;
	char ok = 0;
	int st;

	(void)state;
	setup_round();
	helper = fork();
	if (helper == 0) {
		/* in the helper: a fresh pin of its own, then daemon() */
		if (pinguard_pin(buf, LEN, 0))
			_exit(4);
		memset(buf, 'F', LEN);
		if (daemon(1, 1))
			_exit(5);
		/* now the daemon: the helper's pin was guarded, we see 'F' */
		ok = buf[0] == 'F';
		if (write(res[1], &ok, 1) != 1)
			_exit(6);
		_exit(0);
	}
	assert_int_equal(waitpid(helper, &st, 0), helper);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(read(res[0], &ok, 1), 1);
	assert_int_equal(ok, 1);
	close(go[0]); close(go[1]); close(res[0]); close(res[1]);
	assert_int_equal(pinguard_unpin(buf, LEN), 0);
}

/* Memory-sharing paths run no fork hook at all. */
static void spawn_paths_cost_nothing(void **state)
{
	char *argv[] = { "/bin/true", NULL };
	struct pinguard_stats before;
	pid_t pid;
	FILE *f;
	int st;

	(void)state;
	assert_int_equal(pinguard_pin(buf, LEN, 0), 0);
	before = stats();
	assert_int_equal(posix_spawn(&pid, "/bin/true", NULL, NULL, argv,
				     environ), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(system("true"), 0);
	f = popen("true", "r");
	assert_non_null(f);
	assert_int_equal(pclose(f), 0);
	pid = vfork();
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(stats().forks_seen, before.forks_seen);
	assert_int_equal(stats().bytes_copied, before.bytes_copied);
	assert_int_equal(pinguard_unpin(buf, LEN), 0);
}

/* clone with CLONE_VM shares memory: passed straight through. */
static int thread_body(void *arg)
{
	*(int *)arg = 42;
	return 0;
}

static void clone_vm_passes_through(void **state)
{
	size_t stack_len = 256 * 1024;
	char *stack = map_anon(stack_len, PROT_READ | PROT_WRITE);
	struct pinguard_stats before = stats();
	volatile int value = 0;
	pid_t pid;
	int st;

	(void)state;
	/* valgrind runs clone() only as fork or as a pthread: not this */
	if (getenv("LD_PRELOAD") && strstr(getenv("LD_PRELOAD"), "vgpreload")) {
		munmap(stack, stack_len);
		skip();
	}
	pid = clone(thread_body, stack + stack_len, CLONE_VM | SIGCHLD,
		    (void *)&value);
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(value, 42);
	assert_int_equal(stats().forks_seen, before.forks_seen);
	munmap(stack, stack_len);
}

static int setup(void **state)
{
	(void)state;
	set_mode(PINGUARD_MODE_COPY);
	buf = map_anon(LEN, PROT_READ | PROT_WRITE);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		PG_TEST(via_fork),
		PG_TEST(via_fork_with_other_prepare_handler),
		PG_TEST(via__Fork),
		PG_TEST(via_clone),
		PG_TEST(via_daemon),
		PG_TEST(spawn_paths_cost_nothing),
		PG_TEST(clone_vm_passes_through),
	};

	return PG_RUN_GROUP(tests, setup, NULL);
}
