/* SPDX-License-Identifier: MIT */
/*
 * pinguard status PID [--json]: a running process's mode, verdicts,
 * pinned ranges, registrations and counters (snapshot.c reads them).
 * Text and JSON show the same fields, each named once below.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

/* The configuration and verdict fields, as both outputs name them. */
struct view {
	const char *mode, *configured_mode, *reason, *kernel, *kernel_reason;
	const char *pretouch, *scope, *log;
	const char *kind_kernel[PINGUARD_MEM_KINDS];
	const char *kind_reason[PINGUARD_MEM_KINDS];
};

static void describe(const struct pg_global *g, struct view *v)
{
	int k;

	v->mode = pg_name_of(pg_mode_names, g->effective);
	v->configured_mode = pg_name_of(pg_mode_names, g->cfg.mode);
	v->reason = pg_name_of(pg_reason_names, g->reason);
	v->kernel = pg_name_of(pg_kernel_names, g->kernel);
	v->kernel_reason = g->kernel == PINGUARD_KERNEL_UNKNOWN ? "none" :
			   pg_name_of(pg_reason_names, g->kernel_reason);
	v->pretouch = pg_name_of(pg_pretouch_names, g->cfg.pretouch);
	v->scope = pg_name_of(pg_scope_names, g->cfg.scope);
	v->log = pg_name_of(pg_level_names, g->log_level);
	for (k = 0; k < PINGUARD_MEM_KINDS; k++) {
		v->kind_kernel[k] = pg_name_of(pg_kernel_names,
					       g->kinds[k].kernel);
		v->kind_reason[k] =
			g->kinds[k].kernel == PINGUARD_KERNEL_UNKNOWN ? "none" :
			pg_name_of(pg_reason_names, g->kinds[k].reason);
	}
}

/* The counters: JSON key, and in text the line they share and the word
 * after (or, without a word, the value alone after the line's label). */
static const struct counter {
	const char *key, *line, *word;
	size_t off;		/* in struct pg_global */
	uint64_t text_div;	/* text shows value / text_div */
} counters[] = {
#define C(key, line, word, field, div) \
	{ key, line, word, offsetof(struct pg_global, field), div }
	C("active_pins", "pins", "active", cnt.active_pins, 1),
	C("pins_total", "pins", "total", cnt.pins_total, 1),
	C("unpins_total", "pins", "unpinned", cnt.unpins_total, 1),
	C("forks_seen", "forks", "seen", cnt.forks_seen, 1),
	C("forks_guarded", "forks", "guarded", cnt.forks_guarded, 1),
	C("fork_errors", "forks", "errors", cnt.fork_errors, 1),
	C("fork_ns", "forks", "us", cnt.fork_ns, 1000),
	C("bytes_copied", "bytes", "copied for children", cnt.bytes_copied, 1),
	C("pretouched_bytes", "bytes", "pretouched", cnt.pretouched_bytes, 1),
	C("staging_kept_bytes", "bytes", "staging kept for the next fork",
	  cnt.staging_kept, 1),
	C("app_dontfork_ranges", "application MADV_DONTFORK", "ranges",
	  foreign.extents, 1),
	C("app_dontfork_bytes", "application MADV_DONTFORK", "bytes",
	  foreign.bytes, 1),
	C("pinned_wrprotects", "write permission taken from pinned pages",
	  NULL, cnt.wrprotects, 1),
#undef C
};
#define NCOUNTERS (sizeof(counters) / sizeof(counters[0]))

static uint64_t counter_value(const struct pg_global *g, size_t i)
{
	uint64_t v;

	memcpy(&v, (const char *)g + counters[i].off, sizeof(v));
	return v;
}

/* Registrations: one line (or JSON object) per MR/umem, per ring slot. */
static void each_registration(const struct snapshot *s, FILE *f, bool json)
{
	const char *sep = "";
	size_t i, j;

	for (i = 0; i < s->g.htab_cap && s->htab; i++) {
		const struct pg_reg_entry *e = &s->htab[i];
		size_t n = e->src == PG_SRC_IO_URING ? e->len : 1;

		if (!snapshot_live_key(e->key))
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
					"\"flags\": %u}", sep, pg_name_of(pg_source_names, e->src),
					e->key, slot, a, len, e->flags);
			else if (slot >= 0)
				fprintf(f, "  %-9s %-16p %5ld  0x%-14" PRIxPTR
					" %12zu  -\n", pg_name_of(pg_source_names, e->src),
					e->key, slot, a, len);
			else
				fprintf(f, "  %-9s %-16p %5s  0x%-14" PRIxPTR
					" %12zu  0x%x\n", pg_name_of(pg_source_names, e->src),
					e->key, "-", a, len, e->flags);
			sep = ", ";
		}
	}
}

static void print_text(const struct snapshot *s, const struct view *v)
{
	const struct pg_global *g = &s->g;
	char buf[PATH_MAX + 8];
	size_t i;

	printf("process %d: pinguard state v%u (%s)\n", s->pid, g->version,
	       s->lib);
	printf("mode: %s (configured %s, reason: %s)\n", v->mode,
	       v->configured_mode, v->reason);
	if (g->kernel == PINGUARD_KERNEL_UNKNOWN)
		printf("kernel: not probed yet\n");
	else
		printf("kernel: %s (by %s)\n", v->kernel, v->kernel_reason);
	for (i = 0; i < PINGUARD_MEM_KINDS; i++)
		if (g->kinds[i].kernel == PINGUARD_KERNEL_UNKNOWN)
			printf("  %-8s not judged yet\n",
			       pg_name_of(pg_memkind_names, (int)i));
		else
			printf("  %-8s %s (by %s, %" PRIu64 " us)\n",
			       pg_name_of(pg_memkind_names, (int)i),
			       v->kind_kernel[i], v->kind_reason[i],
			       g->kinds[i].probe_ns / 1000);
	printf("pretouch: %s, scope: %s, log: %s, stats at exit: %s%s\n",
	       v->pretouch, v->scope, v->log, g->stats_at_exit ? "yes" : "no",
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
		       mapping_of(s->maps, s->nmaps, r->start, buf,
				  sizeof(buf)));
	}
	printf("registrations by handle:%s\n", s->htab ? "" : " none");
	if (s->htab) {
		printf("  %-9s %-16s %5s  %-16s %12s  %s\n", "SOURCE", "HANDLE",
		       "SLOT", "ADDRESS", "LENGTH", "FLAGS");
		each_registration(s, stdout, false);
	}
	printf("counters:");
	for (i = 0; i < NCOUNTERS; i++) {
		const struct counter *c = &counters[i];
		uint64_t val = counter_value(g, i) / c->text_div;
		bool first = !i || strcmp(c->line, counters[i - 1].line);

		if (first)
			printf("\n  %s: ", c->line);
		else
			printf(", ");
		if (c->word)
			printf("%" PRIu64 " %s", val, c->word);
		else
			printf("%" PRIu64, val);
	}
	printf("\n");
	if (s->torn)
		printf("warning: the process changed its pins while being "
		       "read; this view may be inconsistent\n");
}

static void print_json(const struct snapshot *s, const struct view *v)
{
	const struct pg_global *g = &s->g;
	char buf[PATH_MAX + 8];
	size_t i;

	printf("{\"pid\": %d, \"library\": ", s->pid);
	json_str(stdout, s->lib);
	printf(", \"state_version\": %u, \"consistent\": %s, "
	       "\"mode\": \"%s\", \"configured_mode\": \"%s\", "
	       "\"reason\": \"%s\", \"kernel\": \"%s\", \"kernel_reason\": "
	       "\"%s\", \"pretouch\": \"%s\", \"scope\": \"%s\", \"log\": "
	       "\"%s\", \"configured_by_api\": %s, ", g->version,
	       s->torn ? "false" : "true", v->mode, v->configured_mode,
	       v->reason, v->kernel, v->kernel_reason, v->pretouch, v->scope,
	       v->log, g->cfg_from_api ? "true" : "false");
	printf("\"kinds\": {");
	for (i = 0; i < PINGUARD_MEM_KINDS; i++)
		printf("%s\"%s\": {\"kernel\": \"%s\", \"reason\": \"%s\", "
		       "\"probe_ns\": %" PRIu64 "}", i ? ", " : "",
		       pg_name_of(pg_memkind_names, (int)i), v->kind_kernel[i],
		       v->kind_reason[i], g->kinds[i].probe_ns);
	printf("}, \"pinned_ranges\": %" PRIu64 ", \"pinned_bytes\": %" PRIu64
	       ", \"ranges\": [", g->reg.extents, g->reg.bytes);
	for (i = 0; i < s->nranges; i++) {
		const struct range *r = &s->ranges[i];

		printf("%s{\"start\": \"0x%" PRIxPTR "\", \"end\": \"0x%" PRIxPTR
		       "\", \"length\": %" PRIuPTR ", \"long\": %u, \"short\": "
		       "%u, \"dontfork\": %s, \"mapping\": ", i ? ", " : "",
		       r->start, r->end, r->end - r->start, r->nlong, r->nshort,
		       r->flags & PG_SEG_DONTFORK ? "true" : "false");
		json_str(stdout, mapping_of(s->maps, s->nmaps, r->start, buf,
					    sizeof(buf)));
		printf("}");
	}
	printf("], \"registrations\": [");
	each_registration(s, stdout, true);
	printf("], \"counters\": {");
	for (i = 0; i < NCOUNTERS; i++)
		printf("%s\"%s\": %" PRIu64, i ? ", " : "", counters[i].key,
		       counter_value(g, i));
	printf("}}\n");
}

int cmd_status(int argc, char **argv)
{
	const char *arg = NULL;
	struct snapshot s;
	struct view v;
	bool json = false;
	char *end;
	long pid;
	int i, ret;

	for (i = 1; i < argc; i++) {
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
	pid = strtol(arg, &end, 10);
	if (errno || end == arg || *end || pid <= 0 || pid > INT_MAX)
		return usage_error("status: PID '%s' is not a process id", arg);
	ret = snapshot_take((int)pid, &s);
	if (ret == EX_OK) {
		describe(&s.g, &v);
		if (json)
			print_json(&s, &v);
		else
			print_text(&s, &v);
	}
	snapshot_free(&s);
	return ret;
}
