/* SPDX-License-Identifier: MIT */
/*
 * Fault injection in the pin, fork and unpin paths.
 *
 *   test_faults MODE KIND [--phase=pin] [ERRNO...]
 *
 * (ERRNO default: ENOMEM EAGAIN EINVAL; --phase=pin checks only the runs
 * where the fault hit a pin, and ignores the others.)
 *
 * For each errno and each nth from 1 to N, the driver re-executes this
 * program as a fresh process with PINGUARD_TEST_FAULT=KIND:nth:ERRNO and
 * PINGUARD_MODE=MODE. N is measured first by a run that injects nothing
 * (nth 0) and counts the calls of KIND the scenario makes (parent and
 * fork child), plus one: every call of that kind fails once.
 *
 * The scenario pins five ranges (overlapping, disjoint, read-only and
 * PROT_NONE memory), forks with the child alive, then unpins, and checks:
 *  - a pin that fails returns -errno and changes nothing (stats, counts,
 *    no VmFlags "dc" on pages it did not hold); in dontfork mode a failed
 *    MADV_DONTFORK comes back as exactly the injected errno; a retry works;
 *  - while the child is alive, every pinned page of the parent is present
 *    and exclusively mapped (pagemap bit 56), or fork failed with ENOMEM or
 *    EAGAIN and left no MADV_DONTFORK behind (copy mode);
 *  - a failure injected in the parent's fork path is counted in
 *    stats.fork_errors;
 *  - the child sees, on every page, either the fork-time data with the
 *    original protection, or no mapping; never other data;
 *  - the registry is exact after the fork (pinned_bytes, active_pins),
 *    unpin works, no page keeps "dc" after the last unpin, a new pin works.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pinguard.h"

/* Exported by the fault-injection build only (lib/inject.c). */
unsigned long pinguard_test_fault_calls(int kind);
unsigned long pinguard_test_fault_fired(void);

#define PAGE 4096ul
#define PM_EXCLUSIVE (1ull << 56)
#define PM_PRESENT (1ull << 63)
#define MAX_NTH 64

static const char *const kinds[] = {
	"madvise", "mmap", "mremap", "munmap", "mprotect", "proc",
};
#define NKINDS 6

static int failures;

#define CHECK(cond, ...) do { if (!(cond)) { failures++; \
	printf("  FAIL line %d: ", __LINE__); printf(__VA_ARGS__); \
	printf("\n"); } } while (0)

/* ---------------------------------------------------------------- */
/* What the scenario maps and pins. */

enum { A_PAGES = 64, B_PAGES = 8, C_PAGES = 4 };
static char *A, *B, *C;

struct pin {
	char **base;
	size_t first, pages;
};
static const struct pin pins[] = {
	{ &A, 0, 16 },		/* overlapping pair */
	{ &A, 8, 16 },
	{ &A, 40, 8 },		/* disjoint, same VMA */
	{ &B, 0, B_PAGES },	/* read-only mapping */
	{ &C, 0, C_PAGES },	/* PROT_NONE mapping */
};
#define NPINS (sizeof(pins) / sizeof(pins[0]))
#define PINNED_PAGES (24 + 8 + B_PAGES + C_PAGES)

static void *pin_addr(size_t i)
{
	return *pins[i].base + pins[i].first * PAGE;
}

static size_t pin_len(size_t i)
{
	return pins[i].pages * PAGE;
}

static uint64_t pattern(const void *p)
{
	return (uintptr_t)p * 0x9e3779b97f4a7c15ull ^ 0x5a5a;
}

static void fill(char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i += 8)
		*(uint64_t *)(p + i) = pattern(p + i);
}

static char *map(size_t pages)
{
	char *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	fill(p, pages * PAGE);
	return p;
}

static bool page_pinned(const char *p)
{
	size_t i;

	for (i = 0; i < NPINS; i++)
		if (p >= (char *)pin_addr(i) &&
		    p < (char *)pin_addr(i) + pin_len(i))
			return true;
	return false;
}

/* ---------------------------------------------------------------- */
/* Observations from outside the library. */

static uint64_t pagemap(const void *addr)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t e = 0;

	if (fd < 0 || pread(fd, &e, sizeof(e),
			    (off_t)((uintptr_t)addr / PAGE * sizeof(e))) !=
		      sizeof(e))
		e = 0;
	if (fd >= 0)
		close(fd);
	return e;
}

/* VMAs overlapping [addr, addr+len) with VmFlags flag; -1 on error. */
static int vmas_with_flag(const void *addr, size_t len, const char *flag)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512], pat[8];
	unsigned long s, e;
	bool in = false;
	int n = 0;

	if (!f)
		return -1;
	snprintf(pat, sizeof(pat), " %s", flag);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = s < (uintptr_t)addr + len && e > (uintptr_t)addr;
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8) && strstr(line + 8, pat))
			n++;
	}
	fclose(f);
	return n;
}

static bool page_has_dc(const void *p)
{
	return vmas_with_flag(p, 1, "dc") > 0;
}

static bool mapped(const void *p)
{
	unsigned char v;

	return mincore((void *)((uintptr_t)p & ~(PAGE - 1)), PAGE, &v) == 0 ||
	       errno != ENOMEM;
}

/* Protection of the VMA at p from /proc/self/maps, -1 if unmapped. */
static int prot_at(const void *p)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512], perms[8];
	unsigned long s, e;
	int prot = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx %7s", &s, &e, perms) == 3 &&
		    (uintptr_t)p >= s && (uintptr_t)p < e) {
			prot = (perms[0] == 'r' ? PROT_READ : 0) |
			       (perms[1] == 'w' ? PROT_WRITE : 0) |
			       (perms[2] == 'x' ? PROT_EXEC : 0);
			break;
		}
	fclose(f);
	return prot;
}

/* Page contents through /proc/self/mem (ignores PROT_NONE). */
static bool page_data_ok(const char *p)
{
	uint64_t buf[PAGE / 8];
	size_t i;
	int fd = open("/proc/self/mem", O_RDONLY);
	bool ok;

	if (fd < 0)
		return false;
	ok = pread(fd, buf, PAGE, (off_t)(uintptr_t)p) == (ssize_t)PAGE;
	close(fd);
	for (i = 0; ok && i < PAGE / 8; i++)
		ok = buf[i] == pattern(p + i * 8);
	return ok;
}

static struct pinguard_stats stats(void)
{
	struct pinguard_stats s;

	memset(&s, 0, sizeof(s));
	if (pinguard_get_stats(&s, sizeof(s)))
		CHECK(0, "pinguard_get_stats failed");
	return s;
}

/* ---------------------------------------------------------------- */
/* The child of the guarded fork. */

struct child_report {
	int bad, unmapped;
	unsigned long calls, fired;
	char msg[256];
};

static void child_check_region(char *base, size_t pages, int prot,
			       struct child_report *r)
{
	size_t i;
	char *p;
	int got;

	for (i = 0; i < pages; i++) {
		p = base + i * PAGE;
		if (!mapped(p)) {
			r->unmapped++;
			continue;
		}
		got = prot_at(p);
		if (got != prot && !r->bad)
			snprintf(r->msg, sizeof(r->msg), "page %p%s: prot %d, "
				 "expected %d", (void *)p,
				 page_pinned(p) ? " (pinned)" : "", got, prot);
		if (got != prot)
			r->bad++;
		if (!page_data_ok(p)) {
			if (!r->bad)
				snprintf(r->msg, sizeof(r->msg), "page %p%s: "
					 "wrong data", (void *)p,
					 page_pinned(p) ? " (pinned)" : "");
			r->bad++;
		}
	}
}

static void child_main(int kind, int go, int res)
{
	struct child_report r;
	char b;

	memset(&r, 0, sizeof(r));
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm(30);
	if (read(go, &b, 1) != 1)
		_exit(100);
	child_check_region(A, A_PAGES, PROT_READ | PROT_WRITE, &r);
	child_check_region(B, B_PAGES, PROT_READ, &r);
	child_check_region(C, C_PAGES, PROT_NONE, &r);
	/* a copy is the child's own: writable where the original was */
	if (mapped(A) && prot_at(A) == (PROT_READ | PROT_WRITE))
		A[0] ^= 1;
	r.calls = pinguard_test_fault_calls(kind);
	r.fired = pinguard_test_fault_fired();
	if (write(res, &r, sizeof(r)) != sizeof(r))
		_exit(101);
	_exit(0);
}

/* ---------------------------------------------------------------- */
/* One scenario run, in a fresh process. */

static int run_scenario(const char *mode, int kind, int inj_errno)
{
	bool dontfork = !strcmp(mode, "dontfork");
	struct pinguard_stats s0, s1;
	struct child_report cr;
	unsigned long f0, fired_pin = 0, fired_fork = 0, fired_unpin = 0;
	int go[2], res[2], st, r, fork_errno = 0;
	size_t i, j;
	pid_t pid;

	setvbuf(stdout, NULL, _IONBF, 0);
	A = map(A_PAGES);
	B = map(B_PAGES);
	C = map(C_PAGES);
	mprotect(B, B_PAGES * PAGE, PROT_READ);
	mprotect(C, C_PAGES * PAGE, PROT_NONE);

	/* pins */
	for (i = 0; i < NPINS; i++) {
		s0 = stats();
		f0 = pinguard_test_fault_fired();
		r = pinguard_pin(pin_addr(i), pin_len(i), 0);
		fired_pin += pinguard_test_fault_fired() - f0;
		if (r == 0)
			continue;
		s1 = stats();
		printf("  pin %zu failed: %d (%s)\n", i, r, strerror(-r));
		CHECK(pinguard_test_fault_fired() > f0,
		      "pin %zu failed (%d) with no fault injected", i, r);
		CHECK(r < 0 && r > -4096, "pin returned %d", r);
		if (dontfork && kind == 0)
			CHECK(r == -inj_errno, "pin returned %d, the injected "
			      "MADV_DONTFORK failure was %d", r, -inj_errno);
		CHECK(s1.pinned_bytes == s0.pinned_bytes &&
		      s1.active_pins == s0.active_pins &&
		      s1.pinned_ranges == s0.pinned_ranges,
		      "failed pin changed the registry: bytes %lu -> %lu, "
		      "pins %lu -> %lu", (unsigned long)s0.pinned_bytes,
		      (unsigned long)s1.pinned_bytes,
		      (unsigned long)s0.active_pins,
		      (unsigned long)s1.active_pins);
		for (j = 0; j < pins[i].pages; j++) {
			char *p = (char *)pin_addr(i) + j * PAGE;
			bool earlier = false;
			size_t k;

			for (k = 0; k < i; k++)
				earlier |= p >= (char *)pin_addr(k) &&
					   p < (char *)pin_addr(k) + pin_len(k);
			if (!earlier) {
				CHECK(pinguard_pin_count(p) == 0,
				      "failed pin left a count on %p", (void *)p);
				CHECK(!page_has_dc(p), "failed pin left "
				      "MADV_DONTFORK on %p", (void *)p);
			}
		}
		r = pinguard_pin(pin_addr(i), pin_len(i), 0);
		CHECK(r == 0, "retried pin %zu: %d", i, r);
	}
	s0 = stats();
	CHECK(s0.pinned_bytes == PINNED_PAGES * PAGE && s0.active_pins == NPINS,
	      "after pins: %lu bytes (expected %lu), %lu pins",
	      (unsigned long)s0.pinned_bytes, PINNED_PAGES * PAGE,
	      (unsigned long)s0.active_pins);
	if (dontfork)
		for (i = 0; i < NPINS; i++)
			CHECK(vmas_with_flag(pin_addr(i), pin_len(i), "dc") >= 1 &&
			      page_has_dc(pin_addr(i)),
			      "dontfork: pin %zu succeeded without MADV_DONTFORK",
			      i);

	/* guarded fork with the child alive */
	if (pipe(go) || pipe(res)) {
		perror("pipe");
		return 2;
	}
	f0 = pinguard_test_fault_fired();
	pid = fork();
	if (pid == 0)
		child_main(kind, go[0], res[1]);
	if (pid < 0)
		fork_errno = errno;
	fired_fork = pinguard_test_fault_fired() - f0;
	s1 = stats();
	close(go[0]);
	close(res[1]);
	if (pid < 0) {
		printf("  fork failed: %s\n", strerror(fork_errno));
		CHECK(fork_errno != 0, "fork failed without errno");
		CHECK(fork_errno == ENOMEM || fork_errno == EAGAIN,
		      "fork failed with %s, not ENOMEM/EAGAIN",
		      strerror(fork_errno));
		/* a refused fork leaves nothing behind: copy mode holds no
		 * DONTFORK outside a fork */
		if (!dontfork)
			CHECK(vmas_with_flag(A, A_PAGES * PAGE, "dc") == 0 &&
			      vmas_with_flag(B, B_PAGES * PAGE, "dc") == 0 &&
			      vmas_with_flag(C, C_PAGES * PAGE, "dc") == 0,
			      "refused fork left MADV_DONTFORK behind");
	} else {
		size_t excl = 0, pages = 0;
		char *p;

		for (i = 0; i < NPINS; i++)
			for (j = 0; j < pins[i].pages; j++) {
				uint64_t e;

				p = (char *)pin_addr(i) + j * PAGE;
				e = pagemap(p);
				pages++;
				if ((e & PM_PRESENT) && (e & PM_EXCLUSIVE))
					excl++;
				else
					CHECK(0, "parent's pinned page %p not "
					      "exclusive with the child alive "
					      "(pagemap %#llx)", (void *)p,
					      (unsigned long long)e);
			}
		(void)excl;
		(void)pages;
		if (fired_fork)
			CHECK(s1.fork_errors > s0.fork_errors,
			      "failure injected in the fork path not counted "
			      "(fork_errors %lu -> %lu)",
			      (unsigned long)s0.fork_errors,
			      (unsigned long)s1.fork_errors);
		if (write(go[1], "g", 1) != 1)
			CHECK(0, "cannot release the child");
		memset(&cr, 0, sizeof(cr));
		if (read(res[0], &cr, sizeof(cr)) != sizeof(cr)) {
			CHECK(0, "child sent no report");
			cr.fired = 0;
		}
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
		    WEXITSTATUS(st))
			CHECK(0, "child died: status %#x", st);
		CHECK(!cr.bad, "child: %d bad pages: %s", cr.bad, cr.msg);
		if (cr.unmapped)
			printf("  child: %d pages without mapping\n",
			       cr.unmapped);
		printf("PGFAULT child_calls=%lu child_fired=%lu\n", cr.calls,
		       cr.fired);
	}
	close(go[1]);
	close(res[0]);
	s1 = stats();
	CHECK(s1.pinned_bytes == PINNED_PAGES * PAGE && s1.active_pins == NPINS,
	      "after fork: %lu bytes, %lu pins", (unsigned long)s1.pinned_bytes,
	      (unsigned long)s1.active_pins);
	/* the parent's data went nowhere */
	for (i = 0; i < A_PAGES; i++)
		if (!page_data_ok(A + i * PAGE)) {
			CHECK(0, "parent's page %p changed", (void *)(A + i * PAGE));
			break;
		}

	/* unpin */
	for (i = NPINS; i-- > 0;) {
		f0 = pinguard_test_fault_fired();
		r = pinguard_unpin(pin_addr(i), pin_len(i));
		fired_unpin += pinguard_test_fault_fired() - f0;
		if (r) {
			printf("  unpin %zu failed: %d\n", i, r);
			CHECK(pinguard_test_fault_fired() > f0,
			      "unpin %zu failed (%d) with no fault injected",
			      i, r);
			r = pinguard_unpin(pin_addr(i), pin_len(i));
			CHECK(r == 0, "retried unpin %zu: %d", i, r);
		}
	}
	s1 = stats();
	CHECK(s1.pinned_bytes == 0 && s1.active_pins == 0 &&
	      s1.pinned_ranges == 0, "after unpin: %lu bytes, %lu pins",
	      (unsigned long)s1.pinned_bytes, (unsigned long)s1.active_pins);
	CHECK(vmas_with_flag(A, A_PAGES * PAGE, "dc") == 0,
	      "MADV_DONTFORK left on A after the last unpin");
	CHECK(vmas_with_flag(B, B_PAGES * PAGE, "dc") == 0,
	      "MADV_DONTFORK left on B after the last unpin");
	CHECK(vmas_with_flag(C, C_PAGES * PAGE, "dc") == 0,
	      "MADV_DONTFORK left on C after the last unpin");

	/* still usable */
	f0 = pinguard_test_fault_fired();
	r = pinguard_pin(A, A_PAGES * PAGE, 0);
	if (r && pinguard_test_fault_fired() > f0) {
		fired_pin++;
		CHECK(stats().pinned_bytes == 0, "failed pin changed the registry");
		r = pinguard_pin(A, A_PAGES * PAGE, 0);
	}
	CHECK(r == 0 && pinguard_pin_count(A) == 1, "pin after: %d", r);
	CHECK(pinguard_unpin(A, A_PAGES * PAGE) == 0, "unpin after");
	CHECK(stats().pinned_bytes == 0, "registry not empty at the end");

	printf("PGFAULT calls=%lu fired=%lu pin=%lu fork=%lu unpin=%lu\n",
	       pinguard_test_fault_calls(kind), pinguard_test_fault_fired(),
	       fired_pin, fired_fork, fired_unpin);
	return failures ? 1 : 0;
}

/* ---------------------------------------------------------------- */
/* Driver. */

struct outcome {
	int status;
	unsigned long calls, child_calls, fired, child_fired;
	char where[64];
	char out[16384];
};

static void parse_output(struct outcome *o)
{
	const char *p;
	unsigned long pin = 0, fork = 0, unpin = 0;

	p = strstr(o->out, "PGFAULT calls=");
	if (p)
		sscanf(p, "PGFAULT calls=%lu fired=%lu pin=%lu fork=%lu "
		       "unpin=%lu", &o->calls, &o->fired, &pin, &fork, &unpin);
	p = strstr(o->out, "PGFAULT child_calls=");
	if (p)
		sscanf(p, "PGFAULT child_calls=%lu child_fired=%lu",
		       &o->child_calls, &o->child_fired);
	snprintf(o->where, sizeof(o->where), "%s",
		 pin ? "in a pin" : fork ? "in the parent's fork path" :
		 unpin ? "in an unpin" :
		 o->child_fired > o->fired ? "in the child's fork path" :
		 "nowhere");
}

static void run_one(const char *self, const char *mode, const char *spec,
		    struct outcome *o)
{
	int out[2], st;
	size_t n = 0;
	ssize_t k;
	pid_t pid;

	memset(o, 0, sizeof(*o));
	if (pipe(out)) {
		perror("pipe");
		exit(2);
	}
	pid = fork();
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(out[1], 2);
		close(out[0]);
		setenv("PINGUARD_TEST_FAULT", spec, 1);
		setenv("PINGUARD_MODE", mode, 1);
		setenv("PINGUARD_LOG", "error", 1);
		unsetenv("PINGUARD_LOG_FILE");
		unsetenv("PINGUARD_SCOPE");
		unsetenv("PINGUARD_PRETOUCH");
		alarm(60);
		execl(self, self, "--run", mode, spec, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	while ((k = read(out[0], o->out + n, sizeof(o->out) - 1 - n)) > 0)
		n += (size_t)k;
	close(out[0]);
	o->out[n] = 0;
	waitpid(pid, &st, 0);
	o->status = st;
	parse_output(o);
}

static int kind_index(const char *k)
{
	int i;

	for (i = 0; i < NKINDS; i++)
		if (!strcmp(k, kinds[i]))
			return i;
	return -1;
}

static int errno_value(const char *e)
{
	if (!strcmp(e, "ENOMEM"))
		return ENOMEM;
	if (!strcmp(e, "EAGAIN"))
		return EAGAIN;
	if (!strcmp(e, "EINVAL"))
		return EINVAL;
	return atoi(e);
}

int main(int argc, char **argv)
{
	static const char *const default_errnos[] = { "ENOMEM", "EAGAIN",
						      "EINVAL" };
	const char *const *errs = default_errnos;
	bool pin_phase_only = false;
	static struct outcome outcome;
	struct outcome *o = &outcome;
	char self[4096], spec[128];
	int nerr = 3, e, bad = 0, runs = 0, fired_runs = 0;
	unsigned long nth, N;
	ssize_t sl;

	if (argc == 4 && !strcmp(argv[1], "--run")) {
		char kind[16];
		int k;
		const char *c = strchr(argv[3], ':');

		snprintf(kind, sizeof(kind), "%.*s",
			 c ? (int)(c - argv[3]) : 0, argv[3]);
		k = kind_index(kind);
		c = c ? strchr(c + 1, ':') : NULL;
		return run_scenario(argv[2], k, c ? errno_value(c + 1) : 0);
	}
	if (argc < 3 || kind_index(argv[2]) < 0 ||
	    (strcmp(argv[1], "copy") && strcmp(argv[1], "dontfork"))) {
		fprintf(stderr, "usage: %s copy|dontfork "
			"madvise|mmap|mremap|munmap|mprotect|proc [--phase=pin] "
			"[ERRNO...]\n",
			argv[0]);
		return 2;
	}
	if (argc > 3 && !strcmp(argv[3], "--phase=pin"))
		pin_phase_only = true;
	if (argc > 3 + pin_phase_only) {
		errs = (const char *const *)argv + 3 + pin_phase_only;
		nerr = argc - 3 - pin_phase_only;
	}
	sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (sl <= 0)
		return 2;
	self[sl] = 0;
	setvbuf(stdout, NULL, _IONBF, 0);

	/* calibration: count the calls, inject nothing */
	snprintf(spec, sizeof(spec), "%s:0:ENOMEM", argv[2]);
	run_one(self, argv[1], spec, o);
	if (!WIFEXITED(o->status) || WEXITSTATUS(o->status) || !strstr(o->out, "PGFAULT calls=")) {
		printf("calibration run (%s) failed, status %#x:\n%s\n", spec,
		       o->status, o->out);
		return 1;
	}
	N = (o->calls > o->child_calls ? o->calls : o->child_calls) + 1;
	printf("%s mode, %s: %lu calls in the parent, %lu in the child: "
	       "nth 1..%lu\n", argv[1], argv[2], o->calls, o->child_calls, N);
	if (N > MAX_NTH)
		N = MAX_NTH;

	for (e = 0; e < nerr; e++)
		for (nth = 1; nth <= N; nth++) {
			snprintf(spec, sizeof(spec), "%s:%lu:%s", argv[2], nth,
				 errs[e]);
			run_one(self, argv[1], spec, o);
			runs++;
			fired_runs += o->fired || o->child_fired;
			if (pin_phase_only && strcmp(o->where, "in a pin")) {
				printf("skip %-22s fired %s (checking pins only)\n",
				       spec, o->where);
				continue;
			}
			if (WIFEXITED(o->status) && !WEXITSTATUS(o->status)) {
				printf("ok   %-22s fired %s\n", spec, o->where);
				continue;
			}
			bad++;
			printf("FAIL %-22s fired %s, status %#x:\n%s\n", spec,
			       o->where, o->status, o->out);
		}
	printf("%d runs, %d with a fault injected, %d failed\n", runs,
	       fired_runs, bad);
	return bad ? 1 : 0;
}
