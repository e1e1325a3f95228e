/* SPDX-License-Identifier: MIT */
/*
 * pinguard audit's three outputs from one report (audit.c): text, one
 * JSON document, and the node-exporter textfile format. Every value name
 * comes from lib/names.c; pinguard(1) documents the fields.
 */
#include <inttypes.h>
#include <string.h>
#include <sys/utsname.h>

#include "tool.h"

static const char *verdict_name(int v)
{
	return pg_name_of(pg_audit_verdict_names, v);
}

static const char *reason_name(int r)
{
	return pg_name_of(pg_audit_reason_names, r);
}

/* "4k+thp", "shared" or "?" into buf. */
static const char *kinds_text(const struct audit_range *r, char *buf,
			      size_t len)
{
	int k;

	buf[0] = 0;
	for (k = 0; k < PINGUARD_MEM_KINDS; k++)
		if (r->kinds & (1u << k))
			snprintf(buf + strlen(buf), len - strlen(buf), "%s%s",
				 buf[0] ? "+" : "",
				 pg_name_of(pg_memkind_names, k));
	if (r->shared)
		snprintf(buf, len, "shared");
	else if (!buf[0])
		snprintf(buf, len, "?");
	return buf;
}

struct totals {
	unsigned n[3];		/* processes per verdict */
	uint64_t pinned, at_risk;
};

static void sum(const struct audit_report *a, struct totals *t)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < a->nprocs; i++) {
		const struct audit_proc *p = &a->procs[i];

		if (p->verdict >= 0 && p->verdict < 3 &&
		    (p->nr || p->verdict != PG_AUDIT_SAFE))
			t->n[p->verdict]++;
		t->pinned += p->pinned;
		t->at_risk += p->at_risk;
	}
}

static void verdict_text(int verdict, int reason, char *buf, size_t len)
{
	if (verdict == PG_AUDIT_UNKNOWN || reason != PG_WHY_NONE)
		snprintf(buf, len, "%s (%s)", verdict_name(verdict),
			 reason_name(reason));
	else
		snprintf(buf, len, "%s", verdict_name(verdict));
}

void audit_print_text(const struct audit_report *a)
{
	const struct pinguard_mode_info *m = &a->kernel.mode;
	char kinds[32], v[64], addr[24];
	struct utsname u;
	struct totals t;
	size_t i, j;
	int k;

	uname(&u);
	printf("kernel %s, early COW:", u.release);
	for (k = 0; k < PINGUARD_MEM_KINDS; k++)
		printf("%s %s %s (%s)", k ? "," : "",
		       pg_name_of(pg_memkind_names, k),
		       m->kinds[k].kernel == PINGUARD_KERNEL_UNKNOWN ?
		       "unknown" : m->kinds[k].kernel ==
		       PINGUARD_KERNEL_PATCHED ? "yes" : "no",
		       pg_name_of(pg_reason_names, m->kinds[k].reason));
	printf("\n");
	if (a->rdma_error)
		printf("RDMA MRs: not readable (%s)\n",
		       strerror(-a->rdma_error));
	for (i = 0; i < a->nprocs; i++) {
		const struct audit_proc *p = &a->procs[i];

		verdict_text(p->verdict, p->reason, v, sizeof(v));
		printf("\nPID %d (%s): %s", p->pid, p->comm, v);
		if (p->nr)
			printf(", %" PRIu64 " bytes pinned, %" PRIu64
			       " at risk", p->pinned, p->at_risk);
		if (p->pinguard)
			printf("; pinguard %s", p->mode ? p->mode :
			       "loaded (state unreadable)");
		printf("\n");
		if (!p->nr) {
			if (p->reason == PG_WHY_NONE)
				printf("  no pinned memory (%u io_uring "
				       "ring%s, no registered buffers)\n",
				       p->rings, p->rings == 1 ? "" : "s");
			continue;
		}
		printf("  %-8s %-14s %10s %-7s %-17s %-18s %s\n", "SOURCE",
		       "ADDRESS", "LENGTH", "KIND", "PROTECTED BY", "WHERE",
		       "VERDICT");
		for (j = 0; j < p->nr; j++) {
			const struct audit_range *r = &p->r[j];

			if (r->addr_known)
				snprintf(addr, sizeof(addr), "0x%" PRIx64,
					 r->addr);
			else
				snprintf(addr, sizeof(addr), "-");
			verdict_text(r->verdict, r->reason, v, sizeof(v));
			printf("  %-8s %-14s %10" PRIu64 " %-7s %-17s %-18s "
			       "%s\n", pg_name_of(pg_audit_source_names,
						  r->source), addr, r->len,
			       kinds_text(r, kinds, sizeof(kinds)),
			       pg_name_of(pg_audit_guard_names, r->guard),
			       r->where, v);
		}
	}
	sum(a, &t);
	printf("\n%u process%s at risk (%" PRIu64 " bytes), %u unknown, %u "
	       "safe with pinned memory; %u scanned in %.3f s",
	       t.n[PG_AUDIT_AT_RISK], t.n[PG_AUDIT_AT_RISK] == 1 ? "" : "es",
	       t.at_risk, t.n[PG_AUDIT_UNKNOWN], t.n[PG_AUDIT_SAFE],
	       a->scanned, a->seconds);
	if (a->denied)
		printf(", %u not inspected (permission%s)", a->denied,
		       a->all ? "" : "; --all lists them");
	if (a->exited)
		printf(", %u exited meanwhile", a->exited);
	printf("\n");
}

static void json_range(const struct audit_range *r)
{
	int k;
	bool first = true;

	printf("{\"source\": \"%s\", \"address\": ",
	       pg_name_of(pg_audit_source_names, r->source));
	if (r->addr_known)
		printf("\"0x%" PRIx64 "\"", r->addr);
	else
		printf("null");
	printf(", \"length\": %" PRIu64 ", \"kinds\": [", r->len);
	for (k = 0; k < PINGUARD_MEM_KINDS; k++)
		if (r->kinds & (1u << k)) {
			printf("%s\"%s\"", first ? "" : ", ",
			       pg_name_of(pg_memkind_names, k));
			first = false;
		}
	printf("], \"shared\": %s, \"dontfork\": %s, \"protected_by\": "
	       "\"%s\", \"verdict\": \"%s\", \"reason\": ",
	       r->shared ? "true" : "false", r->dontfork ? "true" : "false",
	       pg_name_of(pg_audit_guard_names, r->guard),
	       verdict_name(r->verdict));
	if (r->reason == PG_WHY_NONE)
		printf("null");
	else
		json_str(stdout, reason_name(r->reason));
	printf(", \"where\": ");
	json_str(stdout, r->where);
	printf("}");
}

void audit_print_json(const struct audit_report *a)
{
	const struct pinguard_mode_info *m = &a->kernel.mode;
	struct utsname u;
	struct totals t;
	size_t i, j;
	int k;

	uname(&u);
	printf("{\"kernel\": {\"release\": ");
	json_str(stdout, u.release);
	printf(", \"kinds\": {");
	for (k = 0; k < PINGUARD_MEM_KINDS; k++)
		printf("%s\"%s\": {\"kernel\": \"%s\", \"detected_by\": "
		       "\"%s\"}", k ? ", " : "",
		       pg_name_of(pg_memkind_names, k),
		       pg_name_of(pg_kernel_names, m->kinds[k].kernel),
		       pg_name_of(pg_reason_names, m->kinds[k].reason));
	printf("}}, \"rdma\": {\"devices\": %u, \"errno\": %d}, "
	       "\"processes\": [", a->rdma_devs, -a->rdma_error);
	for (i = 0; i < a->nprocs; i++) {
		const struct audit_proc *p = &a->procs[i];

		printf("%s\n{\"pid\": %d, \"command\": ", i ? "," : "",
		       p->pid);
		json_str(stdout, p->comm);
		printf(", \"pinguard\": %s, \"mode\": ",
		       p->pinguard ? "true" : "false");
		if (p->mode)
			json_str(stdout, p->mode);
		else
			printf("null");
		printf(", \"verdict\": \"%s\", \"reason\": ",
		       verdict_name(p->verdict));
		if (p->reason == PG_WHY_NONE)
			printf("null");
		else
			json_str(stdout, reason_name(p->reason));
		printf(", \"io_uring_rings\": %u, \"pinned_bytes\": %" PRIu64
		       ", \"at_risk_bytes\": %" PRIu64 ", \"ranges\": [",
		       p->rings, p->pinned, p->at_risk);
		for (j = 0; j < p->nr; j++) {
			printf(j ? ", " : "");
			json_range(&p->r[j]);
		}
		printf("]}");
	}
	sum(a, &t);
	printf("],\n\"summary\": {\"processes_at_risk\": %u, "
	       "\"processes_unknown\": %u, \"processes_safe\": %u, "
	       "\"pinned_bytes\": %" PRIu64 ", \"at_risk_bytes\": %" PRIu64
	       ", \"scanned\": %u, \"not_inspected\": %u, \"exited\": %u, "
	       "\"seconds\": %.6f}}\n", t.n[PG_AUDIT_AT_RISK],
	       t.n[PG_AUDIT_UNKNOWN], t.n[PG_AUDIT_SAFE], t.pinned, t.at_risk,
	       a->scanned, a->denied, a->exited, a->seconds);
}

/* A label value: backslash, double quote and newline escaped. */
static void label(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			printf("\\%c", *s);
		else if (*s == '\n')
			printf("\\n");
		else
			putchar(*s);
	}
	putchar('"');
}

static void metric_head(const char *name, const char *help)
{
	printf("# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

/* A label value PromQL users can write without quoting a space:
 * "at_risk" where the text and JSON say "at risk". */
static const char *verdict_label(int v)
{
	return v == PG_AUDIT_AT_RISK ? "at_risk" : verdict_name(v);
}

static void per_process(const struct audit_report *a, const char *name,
			const char *help, bool at_risk)
{
	size_t i;

	metric_head(name, help);
	for (i = 0; i < a->nprocs; i++) {
		const struct audit_proc *p = &a->procs[i];

		if (!p->nr)
			continue;
		printf("%s{pid=\"%d\",command=", name, p->pid);
		label(p->comm);
		printf(",verdict=\"%s\"} %" PRIu64 "\n",
		       verdict_label(p->verdict), at_risk ? p->at_risk :
		       p->pinned);
	}
}

void audit_print_prometheus(const struct audit_report *a)
{
	const struct pinguard_mode_info *m = &a->kernel.mode;
	struct totals t;
	int k;

	sum(a, &t);
	per_process(a, "pinguard_audit_process_pinned_bytes",
		    "Bytes pinned for DMA (io_uring fixed buffers, RDMA MRs) "
		    "by the process.", false);
	per_process(a, "pinguard_audit_process_at_risk_bytes",
		    "Pinned bytes the next fork of the process would leave "
		    "out of step with the device.", true);
	metric_head("pinguard_audit_pinned_bytes",
		    "Bytes pinned for DMA on the node.");
	printf("pinguard_audit_pinned_bytes %" PRIu64 "\n", t.pinned);
	metric_head("pinguard_audit_at_risk_bytes",
		    "Pinned bytes at risk at the next fork, on the node.");
	printf("pinguard_audit_at_risk_bytes %" PRIu64 "\n", t.at_risk);
	metric_head("pinguard_audit_processes",
		    "Processes with pinned memory, by verdict.");
	for (k = 0; k < 3; k++)
		printf("pinguard_audit_processes{verdict=\"%s\"} %u\n",
		       verdict_label(k), t.n[k]);
	metric_head("pinguard_audit_not_inspected_processes",
		    "Processes the audit was not allowed to read.");
	printf("pinguard_audit_not_inspected_processes{reason=\"permission\"}"
	       " %u\n", a->denied);
	metric_head("pinguard_audit_kernel_early_cow",
		    "1 if the kernel copies pinned pages of the kind at fork, "
		    "0 if not (absent: unknown).");
	for (k = 0; k < PINGUARD_MEM_KINDS; k++)
		if (m->kinds[k].kernel != PINGUARD_KERNEL_UNKNOWN)
			printf("pinguard_audit_kernel_early_cow{kind=\"%s\"} "
			       "%d\n", pg_name_of(pg_memkind_names, k),
			       m->kinds[k].kernel == PINGUARD_KERNEL_PATCHED);
	metric_head("pinguard_audit_scan_seconds",
		    "Time the scan took.");
	printf("pinguard_audit_scan_seconds %.6f\n", a->seconds);
}
