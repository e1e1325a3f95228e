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
#include <stdint.h>
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

/* mem: 4k | thp | hugetlb | big (6 MiB + 12 KiB of 4 KiB pages from an
 * unaligned page: copy mode copies it on two threads into staging it keeps
 * for the next fork). Returns a private anonymous buffer of *len. */
static inline char *alloc_mem(const char *mem, size_t *len)
{
	char *p;

	if (!strcmp(mem, "4k")) {
		*len = 16 * 4096;
		p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	} else if (!strcmp(mem, "big")) {
		*len = (6UL << 20) + 3 * 4096;
		p = mmap(NULL, *len + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED)
			p += 4096;
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

	if (pinguard_get_mode(&mi, sizeof(mi)) == 0)
		snprintf(pglab_mode, sizeof(pglab_mode), " mode=%s reason=%s kernel=%s",
			 pinguard_mode_name(mi.effective), pinguard_reason_name(mi.reason),
			 pinguard_kernel_name(mi.kernel));
#else
	/* Same layout as struct pinguard_mode_info (seven enums). */
	struct { int configured, effective, reason, kernel, pretouch, scope,
		 fork_init; } mi;
	int (*get)(void *, size_t) =
		(int (*)(void *, size_t))dlsym(RTLD_DEFAULT, "pinguard_get_mode");
	const char *(*mname)(int) = (const char *(*)(int))dlsym(RTLD_DEFAULT, "pinguard_mode_name");
	const char *(*rname)(int) = (const char *(*)(int))dlsym(RTLD_DEFAULT, "pinguard_reason_name");
	const char *(*kname)(int) = (const char *(*)(int))dlsym(RTLD_DEFAULT, "pinguard_kernel_name");

	if (get && mname && rname && kname && get(&mi, sizeof(mi)) == 0)
		snprintf(pglab_mode, sizeof(pglab_mode), " mode=%s reason=%s kernel=%s",
			 mname(mi.effective), rname(mi.reason), kname(mi.kernel));
#endif
}

/* --pinguard-api: declare the range pinned before the real registration. */
/* pinguard_pin() flags for api_pin(), e.g. PINGUARD_PIN_READONLY. */
static unsigned int pglab_pin_flags __attribute__((unused));

static inline void api_pin(int use, void *buf, size_t len)
{
	if (!use)
		return;
#ifdef HAVE_PINGUARD
	int r = pinguard_pin(buf, len, pglab_pin_flags);

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

/* Verbs helpers (rxe loopback: two RC QPs of one process on one CQ). Opt in
 * with #define PGLAB_VERBS before including this header. */
#ifdef PGLAB_VERBS
#include <infiniband/verbs.h>
#include <time.h>

static inline void pglab_poll_one(struct ibv_cq *cq, const char *what)
{
	struct ibv_wc wc;
	struct timespec t0, t;
	int n;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		n = ibv_poll_cq(cq, 1, &wc);
		if (n < 0)
			FAIL("%s_poll=%d", what, n);
		if (n == 1)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 10)
			FAIL("%s_cq_timeout", what);
	}
	if (wc.status != IBV_WC_SUCCESS)
		FAIL("%s_wc=%s", what, ibv_wc_status_str(wc.status));
}

static inline void pglab_connect_qp(struct ibv_qp *qp, uint32_t dqpn,
				    union ibv_gid *gid, int gidx)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT, .port_num = 1, .pkey_index = 0,
		.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
				   IBV_ACCESS_REMOTE_WRITE,
	};
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
			  IBV_QP_ACCESS_FLAGS))
		FAIL("qp_init=%d", errno);
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = dqpn;
	a.max_dest_rd_atomic = 1;
	a.min_rnr_timer = 12;
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.dgid = *gid;
	a.ah_attr.grh.sgid_index = gidx;
	a.ah_attr.grh.hop_limit = 1;
	a.ah_attr.port_num = 1;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
			  IBV_QP_MIN_RNR_TIMER))
		FAIL("qp_rtr=%d", errno);
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = 14;
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.max_rd_atomic = 1;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
			  IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC))
		FAIL("qp_rts=%d", errno);
}

/* A GID usable for loopback: prefer the IPv4-mapped one (RoCE v2). */
static inline int pglab_pick_gid(struct ibv_context *ctx, union ibv_gid *gid)
{
	static const uint8_t v4[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	union ibv_gid g;
	int any = -1;

	for (int i = 0; i < 16; i++) {
		if (ibv_query_gid(ctx, 1, i, &g))
			break;
		if (!memcmp(g.raw, v4, 12)) {
			*gid = g;
			return i;
		}
		if (any < 0 && (g.global.subnet_prefix || g.global.interface_id)) {
			any = i;
			*gid = g;
		}
	}
	return any;
}

static inline struct ibv_qp *pglab_make_qp(struct ibv_pd *pd, struct ibv_cq *cq)
{
	struct ibv_qp_init_attr ia = {
		.send_cq = cq, .recv_cq = cq, .qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 4, .max_recv_wr = 4, .max_send_sge = 1, .max_recv_sge = 1 },
	};
	struct ibv_qp *qp = ibv_create_qp(pd, &ia);

	if (!qp)
		FAIL("create_qp=%d", errno);
	return qp;
}

/* Open devname (SKIP when absent or without a GID) with a PD and a CQ. */
static inline struct ibv_context *pglab_open(const char *devname, struct ibv_pd **pd,
					     struct ibv_cq **cq, union ibv_gid *gid,
					     int *gidx)
{
	struct ibv_device **list = ibv_get_device_list(NULL), *dev = NULL;
	struct ibv_context *ctx;

	for (int i = 0; list && list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), devname))
			dev = list[i];
	if (!dev)
		SKIP("no_device_%s", devname);
	ctx = ibv_open_device(dev);
	if (!ctx)
		FAIL("open_device=%d", errno);
	*gidx = pglab_pick_gid(ctx, gid);
	if (*gidx < 0)
		SKIP("no_gid");
	*pd = ibv_alloc_pd(ctx);
	*cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	if (!*pd || !*cq)
		FAIL("pd_cq=%d", errno);
	return ctx;
}
#endif /* PGLAB_VERBS */

/* pinguard_get_stats()'s pinned_wrprotects (the 14th counter, pinguard
 * 0.4), looked up at run time: -1 when libpinguard is not loaded or too
 * old to count it. */
static inline long pglab_wrprotects(void)
{
	uint64_t st[14];
	int (*get)(void *, size_t) =
		(int (*)(void *, size_t))dlsym(RTLD_DEFAULT, "pinguard_get_stats");

	st[13] = UINT64_MAX;
	if (!get || get(st, sizeof(st)) || st[13] == UINT64_MAX)
		return -1;
	return (long)st[13];
}

#endif
