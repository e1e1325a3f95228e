/* SPDX-License-Identifier: MIT */
/*
 * Exotic ways to create processes while memory is pinned (copy mode):
 *  - fork() from a signal handler (raise and an interval timer);
 *  - fork() while another thread is inside pinguard_pin()/unpin() in a
 *    tight loop (the child must not inherit a held registry lock);
 *  - vfork()+exec and posix_spawn(): they share memory until exec, so the
 *    fork hook must not run (forks_seen unchanged, nothing copied);
 *  - nested forks: a child pins a buffer of its own and forks again;
 *  - threads created in a child afterwards pin, unpin and fork again.
 * Children never call cmocka: they report through their exit status. A
 * deadlock is turned into a failure by alarm() (default action: killed).
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exotic.h"

extern char **environ;

static int setup(void **state)
{
	(void)state;
	set_mode(PINGUARD_MODE_COPY);
	signal(SIGALRM, SIG_DFL);
	alarm(WATCHDOG_S);
	return 0;
}

static int teardown(void **state)
{
	struct pinguard_stats s = stats();

	(void)state;
	alarm(0);
	assert_int_equal(s.active_pins, 0);
	assert_int_equal(s.pinned_bytes, 0);
	assert_int_equal(s.fork_errors, 0);
	return 0;
}

/* ---- fork() from a signal handler ---------------------------------- */

static volatile sig_atomic_t handler_pid = -2;

static void fork_in_handler(int sig)
{
	int saved = errno;

	(void)sig;
	handler_pid = fork();
	errno = saved;
}

/* In the child, right after the handler returned: wait to be released
 * (the parent writes its pages meanwhile), then check the copy. */
static void handler_child(const char *b, int go)
{
	char c;

	signal(SIGALRM, SIG_DFL);
	alarm(WATCHDOG_S);
	if (read(go, &c, 1) != 1)
		_exit(10);
	if (!all_equal(b, LEN, 'A'))
		_exit(11);
	if (pinguard_pin_count(b) != 0 || pinguard_pin_count(b + LEN - 1))
		_exit(12);
	_exit(0);
}

static void fork_from_handler(bool timer)
{
	struct pinguard_stats s0, s1;
	struct sigaction sa = { .sa_handler = fork_in_handler };
	char *b = map_anon(LEN, PROT_READ | PROT_WRITE);
	int go[2];

	fill(b, LEN, 'A');
	assert_int_equal(pinguard_pin(b, LEN, 0), 0);
	assert_int_equal(pipe(go), 0);
	alarm(0);
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGALRM, &sa, NULL), 0);
	s0 = stats();
	handler_pid = -2;
	if (!timer) {
		raise(SIGALRM);
	} else {
		struct itimerval it = { .it_value = { 0, 20000 } };

		assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
		while (handler_pid == -2)
			pause();
	}
	if (handler_pid == 0)
		handler_child(b, go[0]);
	signal(SIGALRM, SIG_DFL);
	alarm(WATCHDOG_S);
	assert_true(handler_pid > 0);
	close(go[0]);
	s1 = stats();
	assert_int_equal(s1.forks_seen - s0.forks_seen, 1);
	assert_int_equal(s1.forks_guarded - s0.forks_guarded, 1);
	assert_true(s1.bytes_copied - s0.bytes_copied >= LEN);
	/* the parent kept its pinned pages: a device writing them now
	 * writes what the parent reads, and the child keeps its copy */
	assert_int_equal(exclusive_pages(b, LEN), NPAGES);
	fill(b, LEN, 'B');
	assert_int_equal(exclusive_pages(b, LEN), NPAGES);
	assert_int_equal(write(go[1], "g", 1), 1);
	close(go[1]);
	assert_int_equal(wait_status(handler_pid), 0);
	assert_true(all_equal(b, LEN, 'B'));
	assert_int_equal(pinguard_unpin(b, LEN), 0);
	munmap(b, LEN);
}

static void fork_from_raise_handler(void **state)
{
	(void)state;
	fork_from_handler(false);
}

static void fork_from_timer_handler(void **state)
{
	(void)state;
	fork_from_handler(true);
}

/* ---- fork while another thread is inside pinguard_pin ---------------- */
/* The child of a fork that raced with pins: registry empty and usable. */
static int child_after_race(const char *b)
{
	char *own;

	alarm(WATCHDOG_S);
	if (!all_equal(b, LEN, 'S'))
		return 1;
	if (pinguard_pin_count(b) != 0 || pinguard_pin_count(b + LEN - 1))
		return 2;
	own = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (own == MAP_FAILED)
		return 3;
	/* takes the registry lock: a lock inherited held would hang here */
	if (pinguard_pin(own, PAGE, 0) || pinguard_pin_count(own) != 1 ||
	    pinguard_pin((void *)b, PAGE, 0) || pinguard_unpin(own, PAGE) ||
	    pinguard_unpin((void *)b, PAGE) || pinguard_pin_count(b))
		return 4;
	return 0;
}

static void fork_while_pinning(void **state)
{
	struct spinner s = { .b = map_anon(LEN, PROT_READ | PROT_WRITE) };
	struct pinguard_stats s0, s1;
	pthread_t t;
	int i, bad = 0;
	pid_t pid;

	(void)state;
	fill(s.b, LEN, 'S');
	assert_int_equal(pinguard_pin(s.b, PAGE, 0), 0); /* every fork guarded */
	s0 = stats();
	assert_int_equal(pthread_create(&t, NULL, spin_pins, &s), 0);
	for (i = 0; i < 300; i++) {
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			_exit(child_after_race(s.b));
		if (wait_status(pid) != 0)
			bad++;
	}
	atomic_store(&s.stop, true);
	assert_int_equal(pthread_join(t, NULL), 0);
	s1 = stats();
	printf("300 forks, %lu pins raced with them\n", s.pins);
	assert_int_equal(bad, 0);
	assert_int_equal(s.errors, 0);
	assert_int_equal(s1.forks_seen - s0.forks_seen, 300);
	assert_int_equal(s1.pins_total - s0.pins_total, s.pins);
	assert_int_equal(s1.unpins_total - s0.unpins_total, s.pins);
	assert_int_equal(pinguard_unpin(s.b, PAGE), 0);
	assert_true(all_equal(s.b, LEN, 'S'));
	munmap(s.b, LEN);
}

/* ---- vfork + exec, posix_spawn: no guard work ------------------------ */

static void vfork_and_spawn(void **state)
{
	char *b = map_anon(LEN, PROT_READ | PROT_WRITE);
	char *argv[] = { "true", NULL };
	struct pinguard_stats s0, s1;
	posix_spawnattr_t attr;
	pid_t pid;

	(void)state;
	fill(b, LEN, 'V');
	assert_int_equal(pinguard_pin(b, LEN, 0), 0);
	s0 = stats();

	pid = vfork();
	if (pid == 0) {
		execve("/bin/true", argv, environ);
		_exit(127);
	}
	assert_true(pid > 0);
	assert_int_equal(wait_status(pid), 0);
	if (UNDER_TSAN) {	/* it was a fork(): start counting again */
		printf("ThreadSanitizer: vfork() is a fork() here\n");
		s0 = stats();
	}

	assert_int_equal(posix_spawn(&pid, "/bin/true", NULL, NULL, argv,
				     environ), 0);
	assert_int_equal(wait_status(pid), 0);
	assert_int_equal(posix_spawnp(&pid, "true", NULL, NULL, argv,
				      environ), 0);
	assert_int_equal(wait_status(pid), 0);
	/* POSIX_SPAWN_USEVFORK is a no-op hint in glibc; try it anyway */
	assert_int_equal(posix_spawnattr_init(&attr), 0);
	assert_int_equal(posix_spawnattr_setflags(&attr, POSIX_SPAWN_USEVFORK),
			 0);
	assert_int_equal(posix_spawn(&pid, "/bin/true", NULL, &attr, argv,
				     environ), 0);
	assert_int_equal(wait_status(pid), 0);
	posix_spawnattr_destroy(&attr);

	s1 = stats();
	assert_int_equal(s1.forks_seen, s0.forks_seen);
	assert_int_equal(s1.forks_guarded, s0.forks_guarded);
	assert_int_equal(s1.bytes_copied, s0.bytes_copied);
	assert_int_equal(s1.fork_errors, s0.fork_errors);
	assert_int_equal(s1.active_pins, s0.active_pins);
	assert_int_equal(exclusive_pages(b, LEN), NPAGES);
	assert_false(vma_has_flag(b, "dc"));
	assert_true(all_equal(b, LEN, 'V'));

	/* and a plain fork is still seen */
	pid = fork();
	if (pid == 0)
		_exit(all_equal(b, LEN, 'V') ? 0 : 1);
	assert_int_equal(wait_status(pid), 0);
	s1 = stats();
	assert_int_equal(s1.forks_seen - s0.forks_seen, 1);
	assert_int_equal(pinguard_unpin(b, LEN), 0);
	munmap(b, LEN);
}

/* ---- nested forks ---------------------------------------------------- */

/* Grandchild: sees the child's buffer as it was at the second fork and
 * the parent's as it was at the first; owns no pins; can pin. */
static int grandchild(const char *a, const char *c, int go)
{
	char x;

	alarm(WATCHDOG_S);
	if (read(go, &x, 1) != 1)
		return 20;
	if (!all_equal(c, LEN, 'C') || !all_equal(a, LEN, 'P'))
		return 21;
	if (pinguard_pin_count(c) || pinguard_pin_count(a))
		return 22;
	if (pinguard_pin((void *)c, LEN, 0) || pinguard_pin_count(c) != 1 ||
	    pinguard_unpin((void *)c, LEN))
		return 23;
	return 0;
}

static int nested_child(void *arg)
{
	const char *a = arg;
	struct pinguard_stats s;
	char *c;
	int go[2], st;
	pid_t pid;

	if (!all_equal(a, LEN, 'P'))
		return 1;
	if (pinguard_pin_count(a) || pinguard_get_stats(&s, sizeof(s)) ||
	    s.active_pins || s.pins_total || s.forks_seen)
		return 2;	/* the registry starts empty */
	c = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c == MAP_FAILED || pipe(go))
		return 3;
	fill(c, LEN, 'C');
	if (pinguard_pin(c, LEN, 0) || pinguard_pin_count(c) != 1)
		return 4;
	pid = fork();
	if (pid < 0)
		return 5;
	if (pid == 0)
		_exit(grandchild(a, c, go[0]));
	close(go[0]);
	/* the child keeps its pinned pages exclusively, as a parent would */
	if (excl_pages_raw(c, LEN) != NPAGES)
		return 6;
	fill(c, LEN, 'D');
	if (write(go[1], "g", 1) != 1)
		return 7;
	if (waitpid(pid, &st, 0) != pid)
		return 8;
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return WIFEXITED(st) ? WEXITSTATUS(st) : 9;
	if (pinguard_get_stats(&s, sizeof(s)) || s.forks_seen != 1 ||
	    s.forks_guarded != 1 || s.fork_errors || s.bytes_copied < LEN)
		return 10;
	if (pinguard_unpin(c, LEN) || pinguard_get_stats(&s, sizeof(s)) ||
	    s.active_pins || s.pinned_bytes)
		return 11;
	return 0;
}

static void nested_forks(void **state)
{
	char *a = map_anon(LEN, PROT_READ | PROT_WRITE);
	struct child ch;

	(void)state;
	fill(a, LEN, 'P');
	assert_int_equal(pinguard_pin(a, LEN, 0), 0);
	child_start(&ch, nested_child, a);
	assert_int_equal(exclusive_pages(a, LEN), NPAGES);
	fill(a, LEN, 'Q');	/* after the fork: the child keeps 'P' */
	assert_int_equal(child_finish(&ch), 0);
	assert_true(all_equal(a, LEN, 'Q'));
	assert_int_equal(pinguard_unpin(a, LEN), 0);
	munmap(a, LEN);
}

/* ---- threads created in the child ------------------------------------ */

#define CHILD_THREADS 4
#define CHILD_ITERS 2000
#define CHILD_FORKS 20

struct cworker {
	char *b;
	unsigned seed;
	unsigned long pins, errors;
};

static void *child_pinner(void *arg)
{
	struct cworker *w = arg;
	int i;

	for (i = 0; i < CHILD_ITERS; i++) {
		size_t first = (size_t)rand_r(&w->seed) % NPAGES;
		size_t n = 1 + (size_t)rand_r(&w->seed) % (NPAGES - first);

		if (pinguard_pin(w->b + first * PAGE, n * PAGE,
				 (unsigned)i % 4)) {
			w->errors++;
			continue;
		}
		w->pins++;
		if (pinguard_unpin(w->b + first * PAGE, n * PAGE))
			w->errors++;
	}
	return NULL;
}

static int threaded_child(void *arg)
{
	const char *a = arg;
	struct cworker w[CHILD_THREADS];
	pthread_t t[CHILD_THREADS];
	struct pinguard_stats s;
	unsigned long pins = 0;
	char *c;
	int i, st, ret = 0;
	pid_t pid;

	if (pinguard_pin_count(a) || pinguard_get_stats(&s, sizeof(s)) ||
	    s.active_pins || s.pinned_bytes || s.pins_total)
		return 1;
	c = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c == MAP_FAILED)
		return 2;
	fill(c, LEN, 'T');
	if (pinguard_pin(c, PAGE, 0))	/* held: every fork below guarded */
		return 3;
	for (i = 0; i < CHILD_THREADS; i++) {
		w[i] = (struct cworker){ .b = i % 2 ? c : (char *)a,
					 .seed = 77u + (unsigned)i };
		if (pthread_create(&t[i], NULL, child_pinner, &w[i]))
			return 4;
	}
	for (i = 0; i < CHILD_FORKS; i++) {
		pid = fork();
		if (pid < 0) {
			ret = 5;
			break;
		}
		if (pid == 0)
			_exit(all_equal(c, LEN, 'T') && all_equal(a, LEN, 'P') &&
			      !pinguard_pin_count(c) && !pinguard_pin_count(a) ?
			      0 : 1);
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
		    WEXITSTATUS(st))
			ret = 6;
	}
	for (i = 0; i < CHILD_THREADS; i++) {
		pthread_join(t[i], NULL);
		if (w[i].errors)
			ret = 7;
		pins += w[i].pins;
	}
	if (ret)
		return ret;
	if (pinguard_unpin(c, PAGE) || pinguard_get_stats(&s, sizeof(s)))
		return 8;
	if (s.active_pins || s.pinned_bytes || s.fork_errors ||
	    s.pins_total != pins + 1 || s.unpins_total != pins + 1 ||
	    s.forks_seen != CHILD_FORKS || s.forks_guarded != CHILD_FORKS)
		return 9;
	return 0;
}

static void threads_in_child(void **state)
{
	struct spinner s = { .b = map_anon(LEN, PROT_READ | PROT_WRITE) };
	char *a = map_anon(LEN, PROT_READ | PROT_WRITE);
	struct child ch;
	pthread_t t;

	(void)state;
	fill(a, LEN, 'P');
	fill(s.b, LEN, 'S');
	assert_int_equal(pinguard_pin(a, LEN, 0), 0);
	/* the parent is multi-threaded and pinning while it forks */
	assert_int_equal(pthread_create(&t, NULL, spin_pins, &s), 0);
	if (UNDER_TSAN) {	/* see UNDER_TSAN: fork after the join */
		printf("ThreadSanitizer: parent thread joined before fork\n");
		atomic_store(&s.stop, true);
		assert_int_equal(pthread_join(t, NULL), 0);
	}
	child_start(&ch, threaded_child, a);
	if (!UNDER_TSAN) {
		atomic_store(&s.stop, true);
		assert_int_equal(pthread_join(t, NULL), 0);
	}
	assert_int_equal(s.errors, 0);
	fill(a, LEN, 'Q');
	assert_int_equal(child_finish(&ch), 0);
	assert_int_equal(pinguard_unpin(a, LEN), 0);
	munmap(a, LEN);
	munmap(s.b, LEN);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(fork_from_raise_handler, setup,
						teardown),
		cmocka_unit_test_setup_teardown(fork_from_timer_handler, setup,
						teardown),
		cmocka_unit_test_setup_teardown(fork_while_pinning, setup,
						teardown),
		cmocka_unit_test_setup_teardown(vfork_and_spawn, setup,
						teardown),
		cmocka_unit_test_setup_teardown(nested_forks, setup, teardown),
		cmocka_unit_test_setup_teardown(threads_in_child, setup,
						teardown),
	};

	return run_filtered(argc, argv, tests,
			    sizeof(tests) / sizeof(tests[0]));
}
