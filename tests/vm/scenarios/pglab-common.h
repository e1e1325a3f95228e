/* SPDX-License-Identifier: MIT */
/* Shared helpers for the pinguard VM-lab scenarios. Each scenario prints
 * exactly one line "result=<coherent|stale|skip|error> detail=<k=v,...>"
 * and exits 0 (observation made), 77 (skip) or 1 (error). */
#ifndef PGLAB_COMMON_H
#define PGLAB_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef HAVE_PINGUARD
#include <pinguard.h>
#endif

#define HPAGE (2UL << 20)

static char pglab_detail[512];
static char pglab_mode[160]; /* " mode=.. reason=.. kernel=..", see note_mode() */

static inline void detail(const char *fmt, ...)
{
	size_t n = strlen(pglab_detail);
	va_list ap;

	if (n && n < sizeof(pglab_detail) - 1)
		pglab_detail[n++] = ',';
	va_start(ap, fmt);
	vsnprintf(pglab_detail + n, sizeof(pglab_detail) - n, fmt, ap);
	va_end(ap);
}

static inline void finish(const char *result)
{
	printf("result=%s detail=%s%s\n", result, pglab_detail[0] ? pglab_detail : "-",
	       pglab_mode);
	fflush(stdout);
	exit(!strcmp(result, "skip") ? 77 : !strcmp(result, "error") ? 1 : 0);
}

#define FAIL(...) do { detail(__VA_ARGS__); finish("error"); } while (0)
#define SKIP(...) do { detail(__VA_ARGS__); finish("skip"); } while (0)

/* AnonHugePages of the VMA holding addr, in kB (-1: not found). */
static inline long thp_kb(void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	unsigned long lo, hi, a = (unsigned long)addr;
	char line[256];
	int in = 0;
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = a >= lo && a < hi;
		else if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

/* mem: 4k | thp | hugetlb. Returns a private anonymous buffer of *len. */
static inline char *alloc_mem(const char *mem, size_t *len)
{
	char *p;

	if (!strcmp(mem, "4k")) {
		*len = 16 * 4096;
		p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	} else if (!strcmp(mem, "thp")) {
		*len = HPAGE;
		p = mmap(NULL, 2 * HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED) {
			char *a = (char *)(((unsigned long)p + HPAGE - 1) & ~(HPAGE - 1));

			if (a > p)
				munmap(p, a - p);
			munmap(a + HPAGE, p + 2 * HPAGE - (a + HPAGE));
			p = a;
			if (madvise(p, HPAGE, MADV_HUGEPAGE))
				SKIP("madv_hugepage=%d", errno);
		}
	} else if (!strcmp(mem, "hugetlb")) {
		*len = HPAGE;
		p = mmap(NULL, *len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
		if (p == MAP_FAILED)
			SKIP("map_hugetlb=%d", errno);
	} else {
		FAIL("bad_mem=%s", mem);
	}
	if (p == MAP_FAILED)
		FAIL("mmap=%d", errno);
	return p;
}

/* 1 if all of buf[0..len) equals c. */
static inline int all_eq(const char *buf, size_t len, char c)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != c)
			return 0;
	return 1;
}

/* The child's view of the buffer after the parent's write:
 * 'F' fork-time data, 'S' no mapping (SIGSEGV), 'O' anything else. */
static sigjmp_buf child_jmp;
static inline void child_segv(int sig) { (void)sig; siglongjmp(child_jmp, 1); }

static inline char child_view(const char *buf, size_t len, char forktime)
{
	signal(SIGSEGV, child_segv);
	signal(SIGBUS, child_segv);
	if (sigsetjmp(child_jmp, 1))
		return 'S';
	return all_eq(buf, len, forktime) ? 'F' : 'O';
}

static inline const char *child_word(char c)
{
	return c == 'F' ? "forktime" : c == 'S' ? "nomap" : c == 'O' ? "other" : "none";
}

/* pinguard's mode decision, for the result line: " mode=<effective>
 * reason=<why> kernel=<detected>". Call it after the first pin (api_pin()
 * does; call it again after the registration, which is where a preloaded
 * libpinguard pins). -api builds call the API; plain builds look it up with
 * dlsym(RTLD_DEFAULT) so they find it only when libpinguard is preloaded
 * (no pinguard: no fields). */
static inline void note_mode(void)
{
#ifdef HAVE_PINGUARD
	struct pinguard_mode_info mi;

	if (pinguard_get_mode(&mi) == 0)
		snprintf(pglab_mode, sizeof(pglab_mode), " mode=%s reason=%s kernel=%s",
			 pinguard_mode_name(mi.effective), pinguard_reason_name(mi.reason),
			 pinguard_kernel_name(mi.kernel));
#else
	/* Same layout as struct pinguard_mode_info (six enums). */
	struct { int configured, effective, reason, kernel, pretouch, scope; } mi;
	int (*get)(void *) = (int (*)(void *))dlsym(RTLD_DEFAULT, "pinguard_get_mode");
	const char *(*mname)(int) = (const char *(*)(int))dlsym(RTLD_DEFAULT, "pinguard_mode_name");
	const char *(*rname)(int) = (const char *(*)(int))dlsym(RTLD_DEFAULT, "pinguard_reason_name");
	const char *(*kname)(int) = (const char *(*)(int))dlsym(RTLD_DEFAULT, "pinguard_kernel_name");

	if (get && mname && rname && kname && get(&mi) == 0)
		snprintf(pglab_mode, sizeof(pglab_mode), " mode=%s reason=%s kernel=%s",
			 mname(mi.effective), rname(mi.reason), kname(mi.kernel));
#endif
}

/* --pinguard-api: declare the range pinned before the real registration. */
static inline void api_pin(int use, void *buf, size_t len)
{
	if (!use)
		return;
#ifdef HAVE_PINGUARD
	int r = pinguard_pin(buf, len, 0);

	if (r)
		FAIL("pinguard_pin=%d", r);
	detail("api=%s", getenv("PINGUARD_MODE") ? getenv("PINGUARD_MODE") : "default");
	note_mode();
#else
	(void)buf, (void)len;
	SKIP("built_without_pinguard");
#endif
}

static inline void api_unpin(int use, void *buf, size_t len)
{
#ifdef HAVE_PINGUARD
	if (use) {
		int r = pinguard_unpin(buf, len);

		if (r)
			FAIL("pinguard_unpin=%d", r);
	}
#else
	(void)use, (void)buf, (void)len;
#endif
}

#endif
