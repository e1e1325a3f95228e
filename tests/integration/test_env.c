/* SPDX-License-Identifier: MIT */
/*
 * Configuration through the environment. The library reads it once at
 * load, so each case re-executes this program (/proc/self/exe) with a
 * controlled environment and a scenario argument, and checks what the
 * child printed on stdout and what the library wrote on stderr.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "../common.h"

#define CHILD_ARG "--pg-env-child"

struct run {
	char out[16384], err[65536];
	int status;
};

/* ---- child side ---- */

static void print_state(const char *tag)
{
	struct pinguard_config c;
	struct pinguard_mode_info m;

	if (pinguard_get_config(&c, sizeof(c)) || pinguard_get_mode(&m, sizeof(m)))
		printf("%s error\n", tag);
	printf("%s cfg mode=%s pretouch=%d scope=%d kernel=%s\n", tag,
	       pinguard_mode_name(c.mode), c.pretouch, c.scope,
	       pinguard_kernel_name(c.kernel));
	printf("%s eff mode=%s reason=%s kernel=%s\n", tag,
	       pinguard_mode_name(m.effective), pinguard_reason_name(m.reason),
	       pinguard_kernel_name(m.kernel));
	fflush(stdout);
}

/* Copy mode, pin [p, p + len) filled with 1s, fork a child that checks
 * its copy and exits, wait for it. -1 (and a line naming who) if the pin
 * failed. */
static int copy_pin_fork(const char *who, char *p, size_t len)
{
	struct pinguard_config c;
	pid_t pid;
	int st;

	pinguard_get_config(&c, sizeof(c));
	c.mode = PINGUARD_MODE_COPY;
	if (p == MAP_FAILED || pinguard_configure(&c, sizeof(c)) ||
	    pinguard_pin(p, len, 0)) {
		printf("%s failed\n", who);
		return -1;
	}
	memset(p, 1, len);
	pid = fork();
	if (pid == 0)
		_exit(p[0] == 1 && p[len - 1] == 1 ? 0 : 1);
	if (waitpid(pid, &st, 0) != pid || st)
		printf("fork child failed\n");
	return 0;
}

/* Pin a page in copy mode and fork: shows PINGUARD_LOG's effect. */
static void pin_and_fork(void)
{
	char *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (copy_pin_fork("pin_and_fork", p, PAGE))
		return;
	if (pinguard_unpin(p, PAGE))
		printf("unpin failed\n");
}

static volatile sig_atomic_t sigchld_count;

static void on_sigchld(int sig)
{
	(void)sig;
	sigchld_count++;
}

/* The auto-mode probe runs at the first pin and must be invisible. */
static void probe_is_invisible(void)
{
	struct sigaction sa;
	sigset_t pending;
	char *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int r;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigchld;
	sigaction(SIGCHLD, &sa, NULL);
	print_state("before");
	r = pinguard_pin(p, PAGE, 0);
	print_state("after");
	sigpending(&pending);
	printf("pin=%d sigchld=%d pending=%d\n", r, (int)sigchld_count,
	       sigismember(&pending, SIGCHLD));
	errno = 0;
	r = waitpid(-1, NULL, WNOHANG);
	printf("waitpid=%d errno=%s\n", r, errno == ECHILD ? "ECHILD" : "other");
	pinguard_unpin(p, PAGE);
}

/* Pin 4 MiB at a 2 MiB boundary in copy mode, fork once: how much
 * staging the library keeps for the next fork, and after the unpin. */
static void keep_staging(void)
{
	size_t len = 4ul << 20, huge = 2ul << 20;
	struct pinguard_stats s;
	char *m = mmap(NULL, len + huge, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *p = m == MAP_FAILED ? m :
		  (char *)(((uintptr_t)m + huge - 1) & ~(huge - 1));

	if (copy_pin_fork("keep_staging: pin", p, len))
		return;
	pinguard_get_stats(&s, sizeof(s));
	printf("kept=%lu\n", (unsigned long)s.staging_kept_bytes);
	pinguard_unpin(p, len);
	pinguard_get_stats(&s, sizeof(s));
	printf("after unpin=%lu\n", (unsigned long)s.staging_kept_bytes);
}

static int child_main(const char *what)
{
	if (!strcmp(what, "config")) {
		print_state("start");
		pin_and_fork();
	} else if (!strcmp(what, "firstpin")) {
		char *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		print_state("before");
		printf("pin=%d\n", pinguard_pin(p, PAGE, 0));
		print_state("after");
		pinguard_unpin(p, PAGE);
	} else if (!strcmp(what, "staging")) {
		keep_staging();
	} else if (!strcmp(what, "probe")) {
		probe_is_invisible();
	} else {
		return 99;
	}
	fflush(stdout);
	return 0;	/* exit() runs atexit handlers (PINGUARD_STATS) */
}

/* ---- parent side ---- */

static void drain(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t r;

	while ((r = read(fd, buf + n, cap - 1 - n)) > 0 ||
	       (r < 0 && errno == EINTR))
		if (r > 0)
			n += (size_t)r;
	buf[n] = 0;
	close(fd);
}

/* Run a scenario with exactly the given environment (NULL-terminated
 * "NAME=value" strings). stderr is small, so reading stdout first and
 * then stderr cannot fill a pipe and block the child. */
static void spawn(struct run *r, const char *scenario, char *const env[])
{
	int out[2], err[2];
	char *argv[] = { "test_env", CHILD_ARG, (char *)scenario, NULL };
	pid_t pid;

	assert_int_equal(pipe(out), 0);
	assert_int_equal(pipe(err), 0);
	fflush(stdout);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		execve("/proc/self/exe", argv, env);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	drain(out[0], r->out, sizeof(r->out));
	drain(err[0], r->err, sizeof(r->err));
	assert_int_equal(waitpid(pid, &r->status, 0), pid);
	if (!WIFEXITED(r->status) || WEXITSTATUS(r->status)) {
		printf("child %s failed (status %#x)\nstdout:\n%s\nstderr:\n%s\n",
		       scenario, r->status, r->out, r->err);
		fail();
	}
}

static void spawn1(struct run *r, const char *scenario, const char *var)
{
	char *env[] = { (char *)var, NULL };

	spawn(r, scenario, var ? env : env + 1);
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void expect_in(const char *hay, const char *needle)
{
	if (!strstr(hay, needle)) {
		printf("expected \"%s\" in:\n%s\n", needle, hay);
		fail();
	}
}

static void expect_not_in(const char *hay, const char *needle)
{
	if (strstr(hay, needle)) {
		printf("did not expect \"%s\" in:\n%s\n", needle, hay);
		fail();
	}
}

/* The defaults as the child prints them, and no "fork guarded" or
 * "stats:" line (PINGUARD_LOG and PINGUARD_STATS default to off). */
static void expect_defaults(const struct run *r)
{
	expect_in(r->out, "start cfg mode=auto pretouch=0 scope=0 "
		  "kernel=unknown\n");
	expect_in(r->out, "start eff mode=auto reason=pending kernel=unknown\n");
	expect_not_in(r->out, "failed");
	expect_not_in(r->err, "fork guarded");
	expect_not_in(r->err, "stats:");
}

static const char *const vars[] = {
	"PINGUARD_MODE", "PINGUARD_PRETOUCH", "PINGUARD_SCOPE",
	"PINGUARD_KERNEL", "PINGUARD_LOG", "PINGUARD_STATS",
};

static void bad_value(const char *value)
{
	static char assignment[5200];
	struct run *r = calloc(1, sizeof(*r));
	size_t i;

	assert_non_null(r);
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		snprintf(assignment, sizeof(assignment), "%s=%s", vars[i], value);
		spawn1(r, "config", assignment);
		if (count_lines(r->err) != 1 || !strstr(r->err, vars[i]) ||
		    !strstr(r->err, "warning")) {
			printf("%s=<%zu chars>: want one warning line naming "
			       "it, got:\n%s\n", vars[i], strlen(value), r->err);
			fail();
		}
		expect_defaults(r);
	}
	free(r);
}

static void garbage_values_warn_once(void **state)
{
	(void)state;
	bad_value("b@gus value");
}

static void empty_values_warn_once(void **state)
{
	(void)state;
	bad_value("");
}

static void overlong_values_warn_once(void **state)
{
	static char big[5001];

	(void)state;
	memset(big, 'x', 5000);
	bad_value(big);
}

/* The warning tells the user every value that would have been accepted. */
static void warning_lists_all_choices(void **state)
{
	static const struct {
		const char *var;
		const char *choices[9];
	} cases[] = {
		{ "PINGUARD_MODE=x", { "auto", "copy", "dontfork", "off" } },
		{ "PINGUARD_PRETOUCH=x", { "auto", "always", "never" } },
		{ "PINGUARD_SCOPE=x", { "longterm", "all" } },
		{ "PINGUARD_KERNEL=x", { "patched", "unpatched" } },
		{ "PINGUARD_LOG=x", { "none", "error", "warn", "info", "debug" } },
		{ "PINGUARD_STATS=x", { "no", "yes", "false", "true" } },
	};
	struct run *r = calloc(1, sizeof(*r));
	size_t i, j;

	(void)state;
	assert_non_null(r);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		spawn1(r, "config", cases[i].var);
		for (j = 0; cases[i].choices[j]; j++)
			expect_in(r->err, cases[i].choices[j]);
	}
	free(r);
}

/* Several bad variables: one warning for each, defaults for all. */
static void all_bad_at_once(void **state)
{
	char *env[] = { "PINGUARD_MODE=x", "PINGUARD_PRETOUCH=x",
			"PINGUARD_SCOPE=x", "PINGUARD_KERNEL=x", "PINGUARD_LOG=x",
			"PINGUARD_STATS=x", NULL };
	struct run *r = calloc(1, sizeof(*r));
	size_t i;

	(void)state;
	assert_non_null(r);
	spawn(r, "config", env);
	assert_int_equal(count_lines(r->err), 6);
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		char name[64];

		snprintf(name, sizeof(name), "%s:", vars[i]);
		expect_in(r->err, name);
	}
	expect_defaults(r);
	free(r);
}

static void clean_environment_is_silent(void **state)
{
	struct run *r = calloc(1, sizeof(*r));

	(void)state;
	assert_non_null(r);
	spawn1(r, "config", NULL);
	assert_string_equal(r->err, "");
	expect_defaults(r);
	free(r);
}

static void mixed_case_values_accepted(void **state)
{
	static const struct {
		const char *var, *want_out, *want_err;
	} cases[] = {
		{ "PINGUARD_MODE=CoPy", "start cfg mode=copy ", NULL },
		{ "PINGUARD_MODE=DontFork", "start eff mode=dontfork "
		  "reason=configured", NULL },
		{ "PINGUARD_PRETOUCH=AlWaYs", "pretouch=1 ", NULL },
		{ "PINGUARD_PRETOUCH=NEVER", "pretouch=2 ", NULL },
		{ "PINGUARD_SCOPE=All", "scope=1 ", NULL },
		{ "PINGUARD_KERNEL=UnPatched", "kernel=unpatched\n", NULL },
		{ "PINGUARD_LOG=InFo", NULL, "fork guarded" },
		{ "PINGUARD_STATS=1", NULL, "stats:" },
		{ "PINGUARD_STATS=YES", NULL, "stats:" },
	};
	struct run *r = calloc(1, sizeof(*r));
	size_t i;

	(void)state;
	assert_non_null(r);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		spawn1(r, "config", cases[i].var);
		expect_not_in(r->err, "warning");
		expect_not_in(r->out, "failed");
		if (cases[i].want_out)
			expect_in(r->out, cases[i].want_out);
		if (cases[i].want_err)
			expect_in(r->err, cases[i].want_err);
		else
			assert_string_equal(r->err, "");
	}
	free(r);
}

static void stats_summary_at_exit(void **state)
{
	struct run *r = calloc(1, sizeof(*r));

	(void)state;
	assert_non_null(r);
	spawn1(r, "config", "PINGUARD_STATS=1");
	assert_int_equal(count_lines(r->err), 1);
	expect_in(r->err, "stats:");
	/* the summary reports this process's pin and guarded fork */
	expect_in(r->err, "pins 1 ");
	expect_in(r->err, "guarded 1");
	free(r);
}

static void log_info_reports_guarded_fork(void **state)
{
	char *env[] = { "PINGUARD_LOG=info", "PINGUARD_MODE=copy", NULL };
	struct run *r = calloc(1, sizeof(*r));

	(void)state;
	assert_non_null(r);
	spawn(r, "config", env);
	expect_in(r->err, "fork guarded");
	expect_not_in(r->err, "warning");
	free(r);
}

/* The log file goes where PINGUARD_LOG_FILE says, created readable and
 * writable by the user only. */
static void log_file_is_private(void **state)
{
	char path[] = "/tmp/pinguard-log-XXXXXX", envf[64], buf[4096];
	char *env[] = { "PINGUARD_LOG=info", "PINGUARD_MODE=copy", envf, NULL };
	struct run *r = calloc(1, sizeof(*r));
	struct stat st;
	ssize_t n;
	int fd;

	(void)state;
	assert_non_null(r);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	unlink(path);
	snprintf(envf, sizeof(envf), "PINGUARD_LOG_FILE=%s", path);
	spawn(r, "config", env);
	expect_not_in(r->err, "fork guarded");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = 0;
	expect_in(buf, "fork guarded");
	close(fd);
	unlink(path);
	free(r);
}

static void kernel_override_unpatched(void **state)
{
	struct run *r = calloc(1, sizeof(*r));

	(void)state;
	assert_non_null(r);
	spawn1(r, "firstpin", "PINGUARD_KERNEL=unpatched");
	assert_string_equal(r->err, "");
	expect_in(r->out, "before eff mode=auto reason=pending kernel=unknown\n");
	expect_in(r->out, "pin=0\n");
	expect_in(r->out, "after eff mode=copy reason=override "
		  "kernel=unpatched\n");
	free(r);
}

static void kernel_override_patched(void **state)
{
	struct run *r = calloc(1, sizeof(*r));

	(void)state;
	assert_non_null(r);
	spawn1(r, "firstpin", "PINGUARD_KERNEL=patched");
	assert_string_equal(r->err, "");
	expect_in(r->out, "pin=0\n");
	expect_in(r->out, "after eff mode=off reason=override kernel=patched\n");
	free(r);
}

/* A configured mode is not overridden by the kernel answer. */
static void configured_mode_wins_over_kernel(void **state)
{
	char *env[] = { "PINGUARD_MODE=dontfork", "PINGUARD_KERNEL=patched",
			NULL };
	struct run *r = calloc(1, sizeof(*r));

	(void)state;
	assert_non_null(r);
	spawn(r, "firstpin", env);
	assert_string_equal(r->err, "");
	expect_in(r->out, "before eff mode=dontfork reason=configured ");
	expect_in(r->out, "after eff mode=dontfork reason=configured ");
	free(r);
}

static void auto_mode_probes_patched_host(void **state)
{
	struct run *r = calloc(1, sizeof(*r));

	(void)state;
	assert_non_null(r);
	spawn1(r, "firstpin", NULL);
	assert_string_equal(r->err, "");
	expect_in(r->out, "before eff mode=auto reason=pending kernel=unknown\n");
	expect_in(r->out, "pin=0\n");
	expect_in(r->out, "after cfg mode=auto ");
	expect_in(r->out, "after eff mode=off reason=probe kernel=patched\n");
	free(r);
}

static void probe_does_not_disturb_application(void **state)
{
	struct run *r = calloc(1, sizeof(*r));

	(void)state;
	assert_non_null(r);
	spawn1(r, "probe", NULL);
	assert_string_equal(r->err, "");
	expect_in(r->out, "after eff mode=off reason=probe kernel=patched\n");
	expect_in(r->out, "pin=0 sigchld=0 pending=0\n");
	expect_in(r->out, "waitpid=-1 errno=ECHILD\n");
	free(r);
}

/* PINGUARD_KEEP_STAGING: a size with an optional K/M/G, 0 for none. */
static void keep_staging_sizes(void)
{
	static const struct {
		const char *var, *want_out;
		bool warns;
	} cases[] = {
		{ NULL, "kept=4194304\n", false },	/* 64 MiB default */
		{ "PINGUARD_KEEP_STAGING=0", "kept=0\n", false },
		{ "PINGUARD_KEEP_STAGING=2M", "kept=0\n", false },
		{ "PINGUARD_KEEP_STAGING=4194304", "kept=4194304\n", false },
		{ "PINGUARD_KEEP_STAGING=8m", "kept=4194304\n", false },
		{ "PINGUARD_KEEP_STAGING=1g", "kept=4194304\n", false },
		{ "PINGUARD_KEEP_STAGING=4095k", "kept=0\n", false },
		{ "PINGUARD_KEEP_STAGING=12X", "kept=4194304\n", true },
		{ "PINGUARD_KEEP_STAGING=", "kept=4194304\n", true },
		{ "PINGUARD_KEEP_STAGING=99999999999999999999",
		  "kept=4194304\n", true },
		{ "PINGUARD_KEEP_STAGING=99999999999G", "kept=4194304\n",
		  true },
	};
	struct run *r = calloc(1, sizeof(*r));
	size_t i;

	assert_non_null(r);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		spawn1(r, "staging", cases[i].var);
		expect_in(r->out, cases[i].want_out);
		expect_in(r->out, "after unpin=0\n");
		if (cases[i].warns) {
			expect_in(r->err, "PINGUARD_KEEP_STAGING: invalid size");
			assert_int_equal(count_lines(r->err), 1);
		} else {
			assert_string_equal(r->err, "");
		}
	}
	free(r);
}

static void keep_staging_env(void **state)
{
	(void)state;
	keep_staging_sizes();
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		PG_TEST(clean_environment_is_silent),
		PG_TEST(garbage_values_warn_once),
		PG_TEST(empty_values_warn_once),
		PG_TEST(overlong_values_warn_once),
		PG_TEST(all_bad_at_once),
		PG_TEST(warning_lists_all_choices),
		PG_TEST(mixed_case_values_accepted),
		PG_TEST(stats_summary_at_exit),
		PG_TEST(log_info_reports_guarded_fork),
		PG_TEST(log_file_is_private),
		PG_TEST(kernel_override_unpatched),
		PG_TEST(kernel_override_patched),
		PG_TEST(configured_mode_wins_over_kernel),
		PG_TEST(auto_mode_probes_patched_host),
		PG_TEST(probe_does_not_disturb_application),
		PG_TEST(keep_staging_env),
	};

	if (argc == 3 && !strcmp(argv[1], CHILD_ARG))
		return child_main(argv[2]);
	return PG_RUN_GROUP(tests, NULL, NULL);
}
