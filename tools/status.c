/* SPDX-License-Identifier: MIT */
/*
 * pinguard status PID: read the library's state out of a running process
 * without stopping it. The library exports pinguard_state_v1, a pointer to
 * its struct pg_global; we find the symbol in the library file the process
 * mapped, add the load address, and read everything through
 * /proc/PID/mem. The process keeps running, so a read can be torn: we
 * re-read until two snapshots of the header agree.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "tool.h"

#define STATE_SYMBOL "pinguard_state_v1"
#define MAX_NODES (1u << 22)	/* sanity bound on what we copy out: 2 GiB */
#define MAX_HTAB (1u << 24)
#define MAX_URING_SLOTS 65536

/* A PG_SRC_IO_URING handle entry points to its ring's slot array
 * (addr = array, len = slots): struct pg_uring_slot from next.h. */
#define uring_slot pg_uring_slot

struct range {
	uintptr_t start, end;
	uint32_t nlong, nshort;
	uint8_t flags;
};

struct snapshot {
	struct pg_global g;
	struct pg_node *pool;
	struct pg_reg_entry *htab;
	struct range *ranges;
	size_t nranges;
	struct uring_slot **slots;	/* per htab entry, io_uring only */
};

static int pid;
static int memfd = -1;

static int read_mem(uint64_t addr, void *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pread(memfd, (char *)buf + done, len - done,
			  (off_t)(addr + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

static int perm_denied(void)
{
	errmsg("cannot read process %d: permission denied (only the same "
	       "user, or root, can inspect it)", pid);
	return EX_PERM;
}

static int add_range(struct snapshot *s, const struct pg_seg *seg)
{
	struct range *r = s->nranges ? &s->ranges[s->nranges - 1] : NULL;

	/* neighbours with the same counts read as one range */
	if (r && r->end == seg->start && r->nlong == seg->nlong &&
	    r->nshort == seg->nshort && r->flags == seg->flags) {
		r->end = seg->end;
		return 0;
	}
	r = realloc(s->ranges, (s->nranges + 1) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	s->ranges = r;
	s->ranges[s->nranges++] = (struct range){ seg->start, seg->end,
		seg->nlong, seg->nshort, seg->flags };
	return 0;
}

/* Walk of the copied pool: down the leftmost path, then along the leaf
 * links; -EAGAIN when it does not look like one consistent B+tree (a torn
 * read). */
static int walk(struct snapshot *s)
{
	const struct pg_registry *r = &s->g.reg;
	uint32_t i = r->root, depth, j;
	uint64_t visited = 0, leaves = 0;
	uintptr_t prev = 0;
	const struct pg_node *nd;

	if (!r->nsegs)
		return r->root == PG_NIL ? 0 : -EAGAIN;
	for (depth = 1; ; depth++) {
		if (i == PG_NIL || i >= r->used || depth > r->height)
			return -EAGAIN;
		nd = &s->pool[i];
		if (nd->leaf)
			break;
		if (!nd->n || nd->n > PG_INNER_KIDS)
			return -EAGAIN;
		i = nd->child[0];
	}
	if (depth != r->height)
		return -EAGAIN;
	while (i != PG_NIL) {
		if (i >= r->used || ++leaves > r->used)
			return -EAGAIN;
		nd = &s->pool[i];
		if (!nd->leaf || !nd->n || nd->n > PG_LEAF_SEGS)
			return -EAGAIN;
		for (j = 0; j < nd->n; j++) {
			const struct pg_seg *g = &nd->seg[j];

			if (++visited > r->nsegs || g->start >= g->end ||
			    g->start < prev)
				return -EAGAIN;
			prev = g->end;
			if (add_range(s, g))
				return -ENOMEM;
		}
		i = nd->next;
	}
	return visited == r->nsegs ? 0 : -EAGAIN;
}

static void free_snapshot(struct snapshot *s)
{
	size_t i;

	if (s->slots)
		for (i = 0; i < s->g.htab_cap; i++)
			free(s->slots[i]);
	free(s->slots);
	free(s->pool);
	free(s->htab);
	free(s->ranges);
	memset(s, 0, sizeof(*s));
}

static bool live_key(const void *key)
{
	return key && key != (const void *)1;
}

/* One attempt: 0, -EAGAIN (torn), or another -errno. */
static int read_once(uint64_t state, struct snapshot *s)
{
	struct pg_global again;
	size_t i;
	int ret;

	if ((ret = read_mem(state, &s->g, sizeof(s->g))))
		return ret;
	if (s->g.reg.used > MAX_NODES || s->g.reg.used > s->g.reg.cap ||
	    s->g.htab_cap > MAX_HTAB)
		return -EAGAIN;
	if (s->g.reg.pool && s->g.reg.used) {
		s->pool = malloc((size_t)s->g.reg.used * sizeof(*s->pool));
		if (!s->pool)
			return -ENOMEM;
		/* one read for the whole used part of the pool */
		if ((ret = read_mem((uintptr_t)s->g.reg.pool, s->pool,
				    (size_t)s->g.reg.used * sizeof(*s->pool))))
			return ret == -EIO ? -EAGAIN : ret;
	} else if (s->g.reg.nsegs) {
		return -EAGAIN;
	}
	if (s->g.htab && s->g.htab_cap) {
		s->htab = calloc(s->g.htab_cap, sizeof(*s->htab));
		s->slots = calloc(s->g.htab_cap, sizeof(*s->slots));
		if (!s->htab || !s->slots)
			return -ENOMEM;
		if ((ret = read_mem((uintptr_t)s->g.htab, s->htab,
				    s->g.htab_cap * sizeof(*s->htab))))
			return ret == -EIO ? -EAGAIN : ret;
		for (i = 0; i < s->g.htab_cap; i++) {
			struct pg_reg_entry *e = &s->htab[i];

			if (!live_key(e->key) || e->src != PG_SRC_IO_URING ||
			    !e->len || e->len > MAX_URING_SLOTS)
				continue;
			s->slots[i] = calloc(e->len, sizeof(struct uring_slot));
			if (!s->slots[i] ||
			    read_mem(e->addr, s->slots[i],
				     e->len * sizeof(struct uring_slot))) {
				free(s->slots[i]);
				s->slots[i] = NULL;	/* shown without slots */
			}
		}
	}
	if ((ret = read_mem(state, &again, sizeof(again))))
		return ret;
	if (again.reg.pool != s->g.reg.pool || again.reg.used != s->g.reg.used ||
	    again.reg.root != s->g.reg.root ||
	    again.reg.height != s->g.reg.height ||
	    again.reg.nsegs != s->g.reg.nsegs || again.htab != s->g.htab ||
	    again.htab_cap != s->g.htab_cap ||
	    again.cnt.pins_total != s->g.cnt.pins_total ||
	    again.cnt.unpins_total != s->g.cnt.unpins_total)
		return -EAGAIN;
	return walk(s);
}

static const char *src_name(unsigned src)
{
	static const char *const n[] = { "api", "verbs", "provider", "devx",
					  "io_uring" };

	return src < PG_SRC_COUNT ? n[src] : "unknown";
}

static const char *level_name(int l)
{
	static const char *const n[] = { "none", "error", "warn", "info",
					 "debug" };

	return l >= 0 && l <= PG_LOG_DEBUG ? n[l] : "invalid";
}

/* Registrations: one line (or JSON object) per MR/umem, per ring slot. */
static void each_registration(const struct snapshot *s, FILE *f, bool json)
{
	const char *sep = "";
	size_t i, j;

	for (i = 0; i < s->g.htab_cap && s->htab; i++) {
		const struct pg_reg_entry *e = &s->htab[i];
		size_t n = e->src == PG_SRC_IO_URING ? e->len : 1;

		if (!live_key(e->key))
			continue;
		for (j = 0; j < n; j++) {
			uintptr_t a = e->addr;
			size_t len = e->len;

			if (e->src == PG_SRC_IO_URING) {
				if (!s->slots[i] || !s->slots[i][j].pinned)
					continue;
				a = (uintptr_t)s->slots[i][j].addr;
				len = s->slots[i][j].len;
			}
			/* slot: index of an io_uring fixed buffer, else -1 */
			long slot = e->src == PG_SRC_IO_URING ? (long)j : -1;

			if (json)
				fprintf(f, "%s{\"source\": \"%s\", \"handle\": "
					"\"%p\", \"slot\": %ld, \"address\": "
					"\"0x%" PRIxPTR "\", \"length\": %zu, "
					"\"flags\": %u}", sep, src_name(e->src),
					e->key, slot, a, len, e->flags);
			else if (slot >= 0)
				fprintf(f, "  %-9s %-16p %5ld  0x%-14" PRIxPTR
					" %12zu  -\n", src_name(e->src),
					e->key, slot, a, len);
			else
				fprintf(f, "  %-9s %-16p %5s  0x%-14" PRIxPTR
					" %12zu  0x%x\n", src_name(e->src),
					e->key, "-", a, len, e->flags);
			sep = ", ";
		}
	}
}

static void print_text(const struct snapshot *s, const char *lib,
		       struct mapping *maps, size_t nmaps, bool torn)
{
	const struct pg_global *g = &s->g;
	const struct pg_counters *c = &g->cnt;
	char buf[PATH_MAX + 8];
	size_t i;

	printf("process %d: pinguard state v%u (%s)\n", pid, g->version, lib);
	printf("mode: %s (configured %s, reason: %s)\n",
	       pinguard_mode_name(g->effective), pinguard_mode_name(g->cfg.mode),
	       pinguard_reason_name(g->reason));
	if (g->kernel == PINGUARD_KERNEL_UNKNOWN)
		printf("kernel: not probed yet\n");
	else
		printf("kernel: %s (by %s)\n", pinguard_kernel_name(g->kernel),
		       pinguard_reason_name(g->kernel_reason));
	for (i = 0; i < PINGUARD_MEM_KINDS; i++)
		if (g->kinds[i].kernel == PINGUARD_KERNEL_UNKNOWN)
			printf("  %-8s not judged yet\n",
			       pinguard_memkind_name(i));
		else
			printf("  %-8s %s (by %s, %" PRIu64 " us)\n",
			       pinguard_memkind_name(i),
			       pinguard_kernel_name(g->kinds[i].kernel),
			       pinguard_reason_name(g->kinds[i].reason),
			       g->kinds[i].probe_ns / 1000);
	printf("pretouch: %s, scope: %s, log: %s, stats at exit: %s%s\n",
	       g->cfg.pretouch == PINGUARD_PRETOUCH_AUTO ? "auto" :
	       g->cfg.pretouch == PINGUARD_PRETOUCH_ALWAYS ? "always" : "never",
	       g->cfg.scope == PINGUARD_SCOPE_ALL ? "all" : "longterm",
	       level_name(g->log_level), g->stats_at_exit ? "yes" : "no",
	       g->cfg_from_api ? " (set by pinguard_configure)" : "");
	printf("pinned: %" PRIu64 " ranges, %" PRIu64 " bytes\n",
	       g->reg.extents, g->reg.bytes);
	if (s->nranges)
		printf("  %-18s %-18s %12s %5s %5s  %-8s %s\n", "START", "END",
		       "LENGTH", "LONG", "SHORT", "FLAGS", "MAPPING");
	for (i = 0; i < s->nranges; i++) {
		const struct range *r = &s->ranges[i];

		printf("  0x%-16" PRIxPTR " 0x%-16" PRIxPTR " %12" PRIuPTR
		       " %5u %5u  %-8s %s\n", r->start, r->end,
		       r->end - r->start, r->nlong, r->nshort,
		       r->flags & PG_SEG_DONTFORK ? "dontfork" : "-",
		       mapping_of(maps, nmaps, r->start, buf, sizeof(buf)));
	}
	printf("registrations by handle:%s\n", s->htab ? "" : " none");
	if (s->htab) {
		printf("  %-9s %-16s %5s  %-16s %12s  %s\n", "SOURCE", "HANDLE",
		       "SLOT", "ADDRESS", "LENGTH", "FLAGS");
		each_registration(s, stdout, false);
	}
	printf("counters:\n"
	       "  pins: %" PRIu64 " active, %" PRIu64 " total, %" PRIu64
	       " unpinned\n"
	       "  forks: %" PRIu64 " seen, %" PRIu64 " guarded, %" PRIu64
	       " errors, %" PRIu64 " us\n"
	       "  bytes copied for children: %" PRIu64 ", pretouched: %" PRIu64
	       ", staging kept for the next fork: %" PRIu64
	       "\n  application MADV_DONTFORK: %" PRIu64 " ranges, %" PRIu64
	       " bytes\n  write permission taken from pinned pages: %" PRIu64
	       "\n", c->active_pins, c->pins_total, c->unpins_total,
	       c->forks_seen, c->forks_guarded, c->fork_errors,
	       c->fork_ns / 1000, c->bytes_copied, c->pretouched_bytes,
	       c->staging_kept, g->foreign.extents, g->foreign.bytes,
	       c->wrprotects);
	if (torn)
		printf("warning: the process changed its pins while being "
		       "read; this view may be inconsistent\n");
}

static void print_json(const struct snapshot *s, const char *lib,
		       struct mapping *maps, size_t nmaps, bool torn)
{
	const struct pg_global *g = &s->g;
	const struct pg_counters *c = &g->cnt;
	char buf[PATH_MAX + 8];
	size_t i;

	printf("{\"pid\": %d, \"library\": ", pid);
	json_str(stdout, lib);
	printf(", \"state_version\": %u, \"consistent\": %s, "
	       "\"mode\": \"%s\", \"configured_mode\": \"%s\", "
	       "\"reason\": \"%s\", \"kernel\": \"%s\", \"kernel_reason\": "
	       "\"%s\", \"pretouch\": \"%s\", \"scope\": \"%s\", \"log\": "
	       "\"%s\", \"configured_by_api\": %s, ", g->version,
	       torn ? "false" : "true", pinguard_mode_name(g->effective),
	       pinguard_mode_name(g->cfg.mode), pinguard_reason_name(g->reason),
	       pinguard_kernel_name(g->kernel),
	       g->kernel == PINGUARD_KERNEL_UNKNOWN ? "none" :
	       pinguard_reason_name(g->kernel_reason),
	       g->cfg.pretouch == PINGUARD_PRETOUCH_AUTO ? "auto" :
	       g->cfg.pretouch == PINGUARD_PRETOUCH_ALWAYS ? "always" : "never",
	       g->cfg.scope == PINGUARD_SCOPE_ALL ? "all" : "longterm",
	       level_name(g->log_level), g->cfg_from_api ? "true" : "false");
	printf("\"kinds\": {");
	for (i = 0; i < PINGUARD_MEM_KINDS; i++)
		printf("%s\"%s\": {\"kernel\": \"%s\", \"reason\": \"%s\", "
		       "\"probe_ns\": %" PRIu64 "}", i ? ", " : "",
		       pinguard_memkind_name(i),
		       pinguard_kernel_name(g->kinds[i].kernel),
		       g->kinds[i].kernel == PINGUARD_KERNEL_UNKNOWN ? "none" :
		       pinguard_reason_name(g->kinds[i].reason),
		       g->kinds[i].probe_ns);
	printf("}, \"pinned_ranges\": %" PRIu64 ", \"pinned_bytes\": %" PRIu64
	       ", \"ranges\": [", g->reg.extents, g->reg.bytes);
	for (i = 0; i < s->nranges; i++) {
		const struct range *r = &s->ranges[i];

		printf("%s{\"start\": \"0x%" PRIxPTR "\", \"end\": \"0x%" PRIxPTR
		       "\", \"length\": %" PRIuPTR ", \"long\": %u, \"short\": "
		       "%u, \"dontfork\": %s, \"mapping\": ", i ? ", " : "",
		       r->start, r->end, r->end - r->start, r->nlong, r->nshort,
		       r->flags & PG_SEG_DONTFORK ? "true" : "false");
		json_str(stdout, mapping_of(maps, nmaps, r->start, buf,
					    sizeof(buf)));
		printf("}");
	}
	printf("], \"registrations\": [");
	each_registration(s, stdout, true);
	printf("], \"counters\": {\"active_pins\": %" PRIu64 ", \"pins_total\": "
	       "%" PRIu64 ", \"unpins_total\": %" PRIu64 ", \"forks_seen\": %"
	       PRIu64 ", \"forks_guarded\": %" PRIu64 ", \"fork_errors\": %"
	       PRIu64 ", \"fork_ns\": %" PRIu64 ", \"bytes_copied\": %" PRIu64
	       ", \"pretouched_bytes\": %" PRIu64 ", \"staging_kept_bytes\": %"
	       PRIu64 ", \"app_dontfork_ranges\": %"
	       PRIu64 ", \"app_dontfork_bytes\": %" PRIu64
	       ", \"pinned_wrprotects\": %" PRIu64 "}}\n",
	       c->active_pins, c->pins_total, c->unpins_total, c->forks_seen,
	       c->forks_guarded, c->fork_errors, c->fork_ns, c->bytes_copied,
	       c->pretouched_bytes, c->staging_kept, g->foreign.extents,
	       g->foreign.bytes, c->wrprotects);
}

int cmd_status(int argc, char **argv)
{
	struct mapping *maps = NULL;
	struct snapshot s;
	const char *lib = NULL, *arg = NULL;
	bool json = false, torn = false;
	uint64_t state, ptr;
	size_t nmaps = 0, i;
	char path[64], *end;
	long v;
	int ret, try;

	for (i = 1; i < (size_t)argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("Usage: pinguard status PID [--json]\n");
			return EX_OK;
		} else if (argv[i][0] == '-' && argv[i][1])
			return usage_error("status: unknown option '%s'",
					   argv[i]);
		else if (arg)
			return usage_error("status: unexpected argument '%s'",
					   argv[i]);
		else
			arg = argv[i];
	}
	if (!arg)
		return usage_error("status: missing PID");
	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v <= 0 || v > INT_MAX)
		return usage_error("status: PID '%s' is not a process id", arg);
	pid = (int)v;

	ret = read_maps(pid, &maps, &nmaps);
	if (ret == -ENOENT || ret == -ESRCH) {
		errmsg("no process with PID %d", pid);
		return EX_NOPROC;
	}
	if (ret == -EACCES || ret == -EPERM)
		return perm_denied();
	if (ret) {
		errmsg("cannot read /proc/%d/maps: %s", pid, strerror(-ret));
		return EX_FAIL;
	}
	state = find_state(pid, maps, nmaps, STATE_SYMBOL, &lib);
	if (!state) {
		errmsg("process %d does not use pinguard", pid);
		return EX_NOPROC;
	}
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	memfd = open(path, O_RDONLY | O_CLOEXEC);
	if (memfd < 0 && (errno == EACCES || errno == EPERM))
		return perm_denied();
	if (memfd < 0) {
		errmsg("process %d: %s", pid, strerror(errno));
		return errno == ENOENT || errno == ESRCH ? EX_NOPROC : EX_FAIL;
	}
	ret = read_mem(state, &ptr, sizeof(ptr));
	if (ret == -EACCES || ret == -EPERM)
		return perm_denied();
	if (ret) {
		/* an exited process reads as empty */
		errmsg("cannot read process %d: %s", pid, strerror(-ret));
		return kill(pid, 0) ? EX_NOPROC : EX_FAIL;
	}
	memset(&s, 0, sizeof(s));
	if (read_mem(ptr, &s.g, sizeof(uint64_t) + 2 * sizeof(uint32_t)) ||
	    s.g.magic != PG_STATE_MAGIC) {
		errmsg("process %d: %s has no recognisable pinguard state",
		       pid, lib);
		return EX_FAIL;
	}
	if (s.g.version != PG_STATE_VERSION || s.g.size != sizeof(s.g)) {
		errmsg("process %d: pinguard state version %u (%u bytes); this "
		       "tool reads version %u (%zu bytes): use the pinguard "
		       "command of the same release as %s", pid, s.g.version,
		       s.g.size, PG_STATE_VERSION, sizeof(s.g), lib);
		return EX_FAIL;
	}
	for (try = 0; try < 3; try++) {
		free_snapshot(&s);
		ret = read_once(ptr, &s);
		if (ret != -EAGAIN)
			break;
	}
	torn = ret == -EAGAIN;
	if (ret && !torn) {
		errmsg("cannot read process %d: %s", pid, strerror(-ret));
		return ret == -ESRCH || ret == -ENOENT ? EX_NOPROC : EX_FAIL;
	}
	if (json)
		print_json(&s, lib, maps, nmaps, torn);
	else
		print_text(&s, lib, maps, nmaps, torn);
	free_snapshot(&s);
	for (i = 0; i < nmaps; i++)
		free(maps[i].path);
	free(maps);
	close(memfd);
	return EX_OK;
}
