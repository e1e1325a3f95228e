/* SPDX-License-Identifier: MIT */
/* The name tables (names.h). Data and string compares only: linked into
 * the library and into the pinguard command. */
#include <string.h>
#include <strings.h>

#include "names.h"
#include "state.h"	/* pinguard.h, enum pg_source */

/* hidden in the library; the command links its own copy */
#define PG_NAMES_API __attribute__((visibility("hidden")))

PG_NAMES_API const struct pg_name pg_mode_names[] = {
	{ "auto", PINGUARD_MODE_AUTO, false },
	{ "copy", PINGUARD_MODE_COPY, false },
	{ "dontfork", PINGUARD_MODE_DONTFORK, false },
	{ "off", PINGUARD_MODE_OFF, false },
	{ NULL, 0, false }
};
PG_NAMES_API const struct pg_name pg_pretouch_names[] = {
	{ "auto", PINGUARD_PRETOUCH_AUTO, false },
	{ "always", PINGUARD_PRETOUCH_ALWAYS, false },
	{ "never", PINGUARD_PRETOUCH_NEVER, false },
	{ NULL, 0, false }
};
PG_NAMES_API const struct pg_name pg_scope_names[] = {
	{ "longterm", PINGUARD_SCOPE_LONGTERM, false },
	{ "all", PINGUARD_SCOPE_ALL, false },
	{ NULL, 0, false }
};
/* PINGUARD_KERNEL* take patched or unpatched; unknown: detect. */
PG_NAMES_API const struct pg_name pg_kernel_names[] = {
	{ "unknown", PINGUARD_KERNEL_UNKNOWN, true },
	{ "patched", PINGUARD_KERNEL_PATCHED, false },
	{ "unpatched", PINGUARD_KERNEL_UNPATCHED, false },
	{ NULL, 0, false }
};
PG_NAMES_API const struct pg_name pg_reason_names[] = {
	{ "configured", PINGUARD_REASON_CONFIGURED, true },
	{ "pending", PINGUARD_REASON_PENDING, true },
	{ "override", PINGUARD_REASON_OVERRIDE, true },
	{ "probe", PINGUARD_REASON_PROBE, true },
	{ "netlink", PINGUARD_REASON_NETLINK, true },
	{ "version", PINGUARD_REASON_VERSION, true },
	{ NULL, 0, false }
};
PG_NAMES_API const struct pg_name pg_memkind_names[] = {
	{ "4k", PINGUARD_MEM_4K, true },
	{ "thp", PINGUARD_MEM_THP, true },
	{ "hugetlb", PINGUARD_MEM_HUGETLB, true },
	{ NULL, 0, false }
};
PG_NAMES_API const struct pg_name pg_fork_init_names[] = {
	{ "passthrough", PINGUARD_FORK_INIT_PASSTHROUGH, false },
	{ "takeover", PINGUARD_FORK_INIT_TAKEOVER, false },
	{ NULL, 0, false }
};
/* PINGUARD_LOG; the values are enum pg_log_level (internal.h). */
PG_NAMES_API const struct pg_name pg_level_names[] = {
	{ "none", 0, false }, { "error", 1, false }, { "warn", 2, false },
	{ "info", 3, false }, { "debug", 4, false },
	{ NULL, 0, false }
};
PG_NAMES_API const struct pg_name pg_bool_names[] = {
	{ "0", 0, false }, { "no", 0, false }, { "false", 0, false },
	{ "off", 0, false }, { "1", 1, false }, { "yes", 1, false },
	{ "true", 1, false }, { "on", 1, false },
	{ NULL, 0, false }
};
/* Where a registration came from (pinguard status). */
PG_NAMES_API const struct pg_name pg_source_names[] = {
	{ "api", PG_SRC_API, true }, { "verbs", PG_SRC_VERBS, true },
	{ "provider", PG_SRC_PROVIDER, true }, { "devx", PG_SRC_DEVX, true },
	{ "io_uring", PG_SRC_IO_URING, true },
	{ NULL, 0, false }
};

/* pinguard audit: printed as they are in text, JSON and metrics labels. */
PG_NAMES_API const struct pg_name pg_audit_source_names[] = {
	{ "io_uring", PG_AUDIT_IO_URING, true },
	{ "rdma_mr", PG_AUDIT_RDMA_MR, true },
	{ NULL, 0, false }
};
PG_NAMES_API const struct pg_name pg_audit_guard_names[] = {
	{ "none", PG_GUARD_NONE, true },
	{ "kernel", PG_GUARD_KERNEL, true },	/* its early COW for the kind */
	{ "dontfork", PG_GUARD_DONTFORK, true },	/* VmFlags dc */
	{ "shared", PG_GUARD_SHARED, true },	/* never copy-on-write */
	{ "pinguard copy", PG_GUARD_PG_COPY, true },
	{ "pinguard dontfork", PG_GUARD_PG_DONTFORK, true },
	{ "unknown", PG_GUARD_UNKNOWN, true },
	/* pinned, no longer mapped: a fork cannot separate what is gone */
	{ "not mapped", PG_GUARD_UNMAPPED, true },
	{ NULL, 0, false }
};
PG_NAMES_API const struct pg_name pg_audit_verdict_names[] = {
	{ "safe", PG_AUDIT_SAFE, true },
	{ "at risk", PG_AUDIT_AT_RISK, true },
	{ "unknown", PG_AUDIT_UNKNOWN, true },
	{ NULL, 0, false }
};
PG_NAMES_API const struct pg_name pg_audit_reason_names[] = {
	{ "none", PG_WHY_NONE, true },
	{ "permission", PG_WHY_PERMISSION, true },
	{ "no netlink", PG_WHY_NO_NETLINK, true },
	{ "address not reported", PG_WHY_NO_ADDRESS, true },
	{ "exited", PG_WHY_EXITED, true },
	{ "ring busy", PG_WHY_RING_BUSY, true },
	{ "pinguard state unreadable", PG_WHY_STATE, true },
	{ "kernel verdict unknown", PG_WHY_KERNEL, true },
	{ NULL, 0, false }
};

PG_NAMES_API const char *pg_name_of(const struct pg_name *t, int value)
{
	for (; t->name; t++)
		if (t->value == value)
			return t->name;
	return "invalid";
}

PG_NAMES_API bool pg_value_of(const struct pg_name *t, const char *name,
			      int *value)
{
	for (; t->name; t++)
		if (!t->output_only && !strcasecmp(t->name, name)) {
			*value = t->value;
			return true;
		}
	return false;
}

PG_NAMES_API char *pg_names_list(const struct pg_name *t, char sep,
				 char *buf, size_t len)
{
	size_t n = 0, l;

	if (!len)
		return buf;
	for (; t->name; t++) {
		if (t->output_only)
			continue;
		l = strlen(t->name);
		if (n + l + 2 > len)
			break;
		if (n)
			buf[n++] = sep;
		memcpy(buf + n, t->name, l);
		n += l;
	}
	buf[n] = 0;
	return buf;
}
