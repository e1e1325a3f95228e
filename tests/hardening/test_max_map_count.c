/* SPDX-License-Identifier: MIT */
/*
 * A process close to vm.max_map_count: filled with VMAs of its own up to
 * the limit less a margin (mprotect of every other page of a PROT_NONE
 * reservation), or, where the limit is too high to fill (above 300,000
 * VMAs of room), with the limit lowered (root only).
 *
 *   test_max_map_count copy       pin 200 disjoint pages of one mapping,
 *                                 lower the limit to VMAs + 16, fork with
 *                                 the child alive: a copy-mode fork that
 *                                 split every piece would need 400 more.
 *   test_max_map_count copy-cold  the same without a first guarded fork at
 *                                 the normal limit (pinguard reads the
 *                                 limit at its first fork).
 *   test_max_map_count dontfork   lower the limit, then pin the 200 pages:
 *                                 each MADV_DONTFORK splits the mapping, so
 *                                 pins start failing with -ENOMEM.
 *
 * Checks: the parent's pinned pages stay exclusive (pagemap bit 56) while
 * the child lives, or fork fails with errno; the child sees fork-time data
 * or no mapping; a failed pin changes nothing; the registry is exact; no
 * "dc" is left after unpin; the VMA count after fork and after unpin is not
 * above the count before. Filling touches nothing outside this process,
 * so other programs running meanwhile are unaffected. The sysctl is
 * global: when it must be lowered, only for the few milliseconds of the
 * fork, restored on every path (atexit, and a signal handler that writes
 * the saved value with write(2); only SIGKILL can leave it lowered: then
 * write the value printed at start back).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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

#define PAGE 4096ul
#define PM_EXCLUSIVE (1ull << 56)
#define PM_PRESENT (1ull << 63)
#define SYSCTL "/proc/sys/vm/max_map_count"
#define RANGES 200
#define STRIDE 20		/* pages: wider than the plan's 64 KiB merge */
#define MARGIN 16
#define FILL_MAX 300000		/* VMAs of room we fill rather than lower */

static char saved[32];
static size_t saved_len;
static volatile sig_atomic_t lowered;
static int failures;

#define CHECK(cond, ...) do { if (!(cond)) { failures++; \
	printf("FAIL line %d: ", __LINE__); printf(__VA_ARGS__); \
	printf("\n"); } } while (0)

/* async-signal-safe */
static void restore(void)
{
	int fd;

	if (!lowered)
		return;
	fd = open(SYSCTL, O_WRONLY);
	if (fd >= 0) {
		if (write(fd, saved, saved_len) == (ssize_t)saved_len)
			lowered = 0;
		close(fd);
	}
}

static void on_signal(int sig)
{
	restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

static bool set_limit(long v)
{
	char b[32];
	int fd = open(SYSCTL, O_WRONLY), n;
	bool ok;

	if (fd < 0)
		return false;
	n = snprintf(b, sizeof(b), "%ld\n", v);
	lowered = 1;
	ok = write(fd, b, (size_t)n) == n;
	close(fd);
	return ok;
}

static int vma_count(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0, c;

	if (!f)
		return -1;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* Add VMAs of our own until the process has about target: every other
 * page of a PROT_NONE reservation made readable splits it twice. */
static bool fill_to(long target)
{
	long now = vma_count(), n, i;
	char *res;

	if (now < 0 || target <= now + 1)
		return now >= 0;
	n = (target - now) / 2;
	res = mmap(NULL, (size_t)(2 * n + 1) * PAGE, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return false;
	for (i = 0; i < n; i++)
		if (mprotect(res + (2 * i + 1) * PAGE, PAGE, PROT_READ))
			return false;
	return true;
}

static int dc_vmas(const void *addr, size_t len)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	unsigned long s, e;
	bool in = false;
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = s < (uintptr_t)addr + len && e > (uintptr_t)addr;
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8) && strstr(line, " dc"))
			n++;
	}
	fclose(f);
	return n;
}

static uint64_t pagemap(const void *addr)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t e = 0;

	if (fd < 0 || pread(fd, &e, 8, (off_t)((uintptr_t)addr / PAGE * 8)) != 8)
		e = 0;
	if (fd >= 0)
		close(fd);
	return e;
}

static uint64_t pattern(const void *p)
{
	return (uintptr_t)p * 0x9e3779b97f4a7c15ull ^ 0xa5;
}

static bool mapped(const void *p)
{
	unsigned char v;

	return mincore((void *)p, PAGE, &v) == 0 || errno != ENOMEM;
}

static struct pinguard_stats stats(void)
{
	struct pinguard_stats s;

	memset(&s, 0, sizeof(s));
	pinguard_get_stats(&s, sizeof(s));
	return s;
}

static char *buf;
static bool pinned[RANGES];

static char *range(int i)
{
	return buf + (size_t)i * STRIDE * PAGE;
}

/* child: 0 ok, else the number of pages with wrong data */
static int child_check(void)
{
	size_t i, j, pages = (size_t)RANGES * STRIDE;
	int bad = 0, absent = 0;

	for (i = 0; i < pages; i++) {
		char *p = buf + i * PAGE;

		if (!mapped(p)) {
			absent++;
			continue;
		}
		for (j = 0; j < PAGE; j += 8)
			if (*(uint64_t *)(p + j) != pattern(p + j)) {
				bad++;
				break;
			}
	}
	if (absent)
		printf("child: %d of %zu pages without mapping\n", absent, pages);
	return bad;
}

int main(int argc, char **argv)
{
	bool dontfork = argc > 1 && !strcmp(argv[1], "dontfork");
	bool cold = argc > 1 && !strcmp(argv[1], "copy-cold");
	bool fill;
	struct pinguard_config cfg;
	struct pinguard_stats s0, s1;
	size_t i, len = (size_t)RANGES * STRIDE * PAGE;
	int v0, v1, vpre, go[2], res[2], st, r, bad = -1, excl = 0, npinned = 0;
	long limit;
	pid_t pid;
	FILE *f;

	setvbuf(stdout, NULL, _IONBF, 0);
	f = fopen(SYSCTL, "r");
	if (!f || !fgets(saved, sizeof(saved), f)) {
		printf("SKIP: cannot read " SYSCTL "\n");
		return 77;
	}
	fclose(f);
	saved_len = strlen(saved);
	fill = atol(saved) - vma_count() <= FILL_MAX;
	if (!fill && geteuid() != 0) {
		printf("SKIP: vm.max_map_count %ld is too high to fill; "
		       "lowering it needs root\n", atol(saved));
		return 77;
	}
	if (!fill && access(SYSCTL, W_OK)) {
		printf("SKIP: vm.max_map_count %ld is too high to fill, and "
		       SYSCTL " is not writable (container?)\n", atol(saved));
		return 77;
	}
	atexit(restore);
	{
		static const int sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGILL,
			SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGALRM, SIGTERM,
			SIGXCPU, SIGXFSZ, SIGUSR1, SIGUSR2 };

		for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			signal(sigs[i], on_signal);
		signal(SIGPIPE, SIG_IGN);	/* a dead child's pipe */
	}
	alarm(60);

	pinguard_get_config(&cfg, sizeof(cfg));
	cfg.mode = dontfork ? PINGUARD_MODE_DONTFORK : PINGUARD_MODE_COPY;
	if (pinguard_configure(&cfg, sizeof(cfg))) {
		printf("FAIL: pinguard_configure\n");
		return 1;
	}
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return 2;
	for (i = 0; i < len; i += 8)
		*(uint64_t *)(buf + i) = pattern(buf + i);
	/* Filling: most of it now, so that the first guarded fork below
	 * sizes pinguard's lasting arrays (the VMA cache) for this many
	 * VMAs; the rest once pinguard's own mappings are in place. */
	if (fill && !fill_to(atol(saved) - MARGIN - 64)) {
		printf("FAIL: cannot fill the process with VMAs: %s\n",
		       strerror(errno));
		return 1;
	}
	/* warm up pinguard's own allocations (registry, VMA cache) */
	r = pinguard_pin(buf, PAGE, 0);
	CHECK(r == 0 && pinguard_unpin(buf, PAGE) == 0, "warm-up pin: %d", r);

	if (!dontfork) {
		/* A first guarded fork at the normal limit allocates what
		 * pinguard keeps for later forks (plan arrays, the copier
		 * thread's stack): one-time VMAs, not counted below. */
		pid_t w;

		if (!cold) {
			r = pinguard_pin(buf, len, 0);
			CHECK(r == 0, "warm-up pin of the whole buffer: %d", r);
			w = fork();
			if (w == 0)
				_exit(0);
			waitpid(w, &st, 0);
			pinguard_unpin(buf, len);
		}
		for (i = 0; i < RANGES; i++) {
			r = pinguard_pin(range((int)i), PAGE, 0);
			CHECK(r == 0, "pin %zu: %d", i, r);
			pinned[i] = r == 0;
			npinned += r == 0;
		}
	}
	if (pipe(go) || pipe(res))
		return 2;
	if (fill) {
		limit = atol(saved);
		if (!fill_to(limit - MARGIN)) {
			printf("FAIL: cannot fill the process with VMAs: %s\n",
			       strerror(errno));
			return 1;
		}
		/* pinguard's VMA cache grows to the new count at the next
		 * pin: let that happen before counting */
		r = pinguard_pin(buf, PAGE, 0);
		CHECK(r == 0 && pinguard_unpin(buf, PAGE) == 0,
		      "warm-up pin after filling: %d", r);
		v0 = vma_count();
		printf("%s mode: filled to %d VMAs, vm.max_map_count %ld\n",
		       dontfork ? "dontfork" : "copy", v0, limit);
	} else {
		v0 = vma_count();
		limit = v0 + MARGIN;
		printf("%s mode: %d VMAs, vm.max_map_count %ld -> %ld\n",
		       dontfork ? "dontfork" : "copy", v0, atol(saved), limit);
	}
	s0 = stats();
	if (!fill && !set_limit(limit)) {
		restore();
		printf("SKIP: cannot write " SYSCTL "\n");
		return 77;
	}
	if (dontfork) {
		for (i = 0; i < RANGES; i++) {
			struct pinguard_stats b = stats();

			r = pinguard_pin(range((int)i), PAGE, 0);
			pinned[i] = r == 0;
			npinned += r == 0;
			if (r) {
				struct pinguard_stats a = stats();

				/* the kernel says EAGAIN when a split would
				 * pass the limit (ENOMEM means unmapped) */
				CHECK(r == -ENOMEM || r == -EAGAIN,
				      "pin %zu: %d", i, r);
				CHECK(a.pinned_bytes == b.pinned_bytes &&
				      a.active_pins == b.active_pins,
				      "failed pin %zu changed the registry", i);
				CHECK(pinguard_pin_count(range((int)i)) == 0,
				      "failed pin %zu left a count", i);
			}
		}
		printf("dontfork: %d of %d pins succeeded under the limit\n",
		       npinned, RANGES);
		s0 = stats();
	}
	vpre = vma_count();
	pid = fork();
	if (pid == 0) {
		char b;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		lowered = 0;	/* the parent restores */
		if (read(go[0], &b, 1) != 1)
			_exit(100);
		bad = child_check();
		_exit(write(res[1], &bad, sizeof(bad)) == sizeof(bad) ? 0 : 101);
	}
	close(go[0]);
	close(res[1]);
	if (pid < 0) {
		printf("fork failed: %s\n", strerror(errno));
		CHECK(errno != 0, "fork failed without errno");
	} else {
		for (i = 0; i < RANGES; i++) {
			uint64_t e = pagemap(range((int)i));

			if (!pinned[i])
				continue;
			if ((e & PM_PRESENT) && (e & PM_EXCLUSIVE))
				excl++;
		}
		CHECK(excl == npinned, "%d of %d pinned pages exclusive in the "
		      "parent with the child alive", excl, npinned);
		if (write(go[1], "g", 1) != 1)
			CHECK(0, "cannot release the child");
		if (read(res[0], &bad, sizeof(bad)) != sizeof(bad))
			bad = -1;
		waitpid(pid, &st, 0);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "child died: status %#x", st);
		CHECK(bad == 0, "child: %d pages with wrong data", bad);
	}
	restore();
	CHECK(!lowered, "could not restore " SYSCTL);
	s1 = stats();
	v1 = vma_count();
	printf("after fork: %d VMAs (before %d), fork_errors %lu -> %lu, "
	       "forks guarded %lu -> %lu\n", v1, vpre,
	       (unsigned long)s0.fork_errors, (unsigned long)s1.fork_errors,
	       (unsigned long)s0.forks_guarded, (unsigned long)s1.forks_guarded);
	/* cold: the first guarded fork allocates pinguard's lasting state */
	CHECK(cold || v1 <= vpre, "fork raised the VMA count: %d -> %d",
	      vpre, v1);
	CHECK(s1.pinned_bytes == (uint64_t)npinned * PAGE &&
	      s1.active_pins == (uint64_t)npinned,
	      "registry after fork: %lu bytes, %lu pins (expected %d pages)",
	      (unsigned long)s1.pinned_bytes, (unsigned long)s1.active_pins,
	      npinned);
	for (i = 0; i < RANGES; i++)
		if (pinned[i])
			CHECK(pinguard_unpin(range((int)i), PAGE) == 0,
			      "unpin %zu", i);
	s1 = stats();
	CHECK(s1.pinned_bytes == 0 && s1.active_pins == 0,
	      "registry after unpin: %lu bytes", (unsigned long)s1.pinned_bytes);
	CHECK(dc_vmas(buf, len) == 0, "MADV_DONTFORK left after unpin");
	v1 = vma_count();
	printf("after unpin: %d VMAs\n", v1);
	/* dontfork: the first pin refused at the limit may leave one split
	 * behind: the kernel split the VMA at the range's start, found no
	 * room for the second split and failed the madvise, and nothing
	 * merges the two equal halves again (an madvise or mprotect that
	 * changes nothing returns early). Only that pin can: the ones after
	 * it fail at the first split. */
	CHECK(cold || v1 <= v0 + (dontfork && npinned < RANGES),
	      "VMA count after unpin %d > %d before", v1, v0);
	printf("%s\n", failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}
