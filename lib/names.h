/* SPDX-License-Identifier: MIT */
/* Every name pinguard reads or prints for a value (modes, reasons, kernel
 * verdicts, memory kinds, pre-touch, scope, fork-init, log levels,
 * booleans): one table each, shared by the library (PINGUARD_* parsing,
 * the pinguard_*_name() calls, logs) and the pinguard command (option
 * checking, status output). */
#ifndef PG_NAMES_H
#define PG_NAMES_H

#include <stdbool.h>
#include <stddef.h>

struct pg_name {
	const char *name;
	int value;
	bool output_only;	/* printed, never accepted as input */
};

/* pinguard audit (the command only): where a pinned range was found,
 * what protects it at fork, the verdict, and why it is unknown. */
enum pg_audit_source { PG_AUDIT_IO_URING, PG_AUDIT_RDMA_MR };
enum pg_audit_guard {
	PG_GUARD_NONE, PG_GUARD_KERNEL, PG_GUARD_DONTFORK, PG_GUARD_SHARED,
	PG_GUARD_PG_COPY, PG_GUARD_PG_DONTFORK, PG_GUARD_UNKNOWN,
	PG_GUARD_UNMAPPED
};
enum pg_audit_verdict { PG_AUDIT_SAFE, PG_AUDIT_AT_RISK, PG_AUDIT_UNKNOWN };
enum pg_audit_reason {
	PG_WHY_NONE, PG_WHY_PERMISSION, PG_WHY_NO_NETLINK, PG_WHY_NO_ADDRESS,
	PG_WHY_EXITED, PG_WHY_RING_BUSY, PG_WHY_STATE, PG_WHY_KERNEL
};

/* Each table ends with a NULL name. */
extern const struct pg_name pg_mode_names[], pg_pretouch_names[],
	pg_scope_names[], pg_kernel_names[], pg_reason_names[],
	pg_memkind_names[], pg_fork_init_names[], pg_level_names[],
	pg_bool_names[], pg_source_names[], pg_audit_source_names[],
	pg_audit_guard_names[], pg_audit_verdict_names[],
	pg_audit_reason_names[];

/* The first name of value, or "invalid". */
const char *pg_name_of(const struct pg_name *t, int value);
/* Case-insensitive lookup of an input name: true and *value if found. */
bool pg_value_of(const struct pg_name *t, const char *name, int *value);
/* The input names joined by sep into buf (truncated to len); buf. */
char *pg_names_list(const struct pg_name *t, char sep, char *buf,
		    size_t len);

#endif
