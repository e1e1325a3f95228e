/* SPDX-License-Identifier: MIT */
/* Configuration from PINGUARD_* (read with secure_getenv, so setuid
 * programs ignore it) into pg, at load (init.c); pinguard_configure() is
 * api.c's. Parsing makes no system call unless a value is bad (one
 * warning) or a log file is named. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "names.h"
#include "sys.h"

/* Value of the variable, or def with one warning when it is not one of
 * the choices. Unset keeps def silently. */
static int env_choice(const char *var, const struct pg_name *t, int def)
{
	const char *v = secure_getenv(var);
	char list[96];
	int value;

	if (!v)
		return def;
	if (pg_value_of(t, v, &value))
		return value;
	pg_warn_config("%s: invalid value (expected one of %s); using %s", var,
		       pg_names_list(t, '|', list, sizeof(list)),
		       t == pg_kernel_names ? "detection" :
		       pg_name_of(t, def));
	return def;
}

/* A byte count: digits with an optional K, M or G (binary). Unset keeps
 * def silently; anything else warns once and keeps def. */
size_t pg_env_size(const char *var, size_t def)
{
	const char *v = secure_getenv(var), *p;
	size_t n = 0, mul = 1;

	if (!v)
		return def;
	for (p = v; *p >= '0' && *p <= '9'; p++) {
		if (n > (SIZE_MAX - 9) / 10)
			goto bad;
		n = n * 10 + (size_t)(*p - '0');
	}
	if (p == v)
		goto bad;
	switch (*p) {
	case 'k': case 'K': mul = 1ul << 10; p++; break;
	case 'm': case 'M': mul = 1ul << 20; p++; break;
	case 'g': case 'G': mul = 1ul << 30; p++; break;
	}
	if (*p || (n && mul > SIZE_MAX / n))
		goto bad;
	return n * mul;
bad:
	pg_warn_config("%s: invalid size '%s' (expected bytes, with an "
		       "optional K, M or G); using %zu", var, v, def);
	return def;
}

void pg_config_from_env(void)
{
	const char *file;
	int fd;

	pg.log_fd = 2;
	pg.log_level = env_choice("PINGUARD_LOG", pg_level_names, PG_LOG_NONE);
	file = secure_getenv("PINGUARD_LOG_FILE");
	if (file && *file) {
		fd = pg_sys_open(file, O_WRONLY | O_APPEND | O_CREAT |
				 O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0)
			pg.log_fd = fd;
		else
			pg_warn_config("PINGUARD_LOG_FILE: cannot open %s "
				       "(errno %d); logging to stderr", file, -fd);
	}
	pg.cfg.mode = env_choice("PINGUARD_MODE", pg_mode_names,
				 PINGUARD_MODE_AUTO);
	pg.cfg.pretouch = env_choice("PINGUARD_PRETOUCH", pg_pretouch_names,
				     PINGUARD_PRETOUCH_AUTO);
	pg.cfg.scope = env_choice("PINGUARD_SCOPE", pg_scope_names,
				  PINGUARD_SCOPE_LONGTERM);
	pg.cfg.kernel = env_choice("PINGUARD_KERNEL", pg_kernel_names,
				   PINGUARD_KERNEL_UNKNOWN);
	{
		static const char *const var[PINGUARD_MEM_KINDS] = {
			[PINGUARD_MEM_4K] = "PINGUARD_KERNEL_4K",
			[PINGUARD_MEM_THP] = "PINGUARD_KERNEL_THP",
			[PINGUARD_MEM_HUGETLB] = "PINGUARD_KERNEL_HUGETLB",
		};

		for (int k = 0; k < PINGUARD_MEM_KINDS; k++)
			pg.kind_override[k] = env_choice(var[k],
				pg_kernel_names, PINGUARD_KERNEL_UNKNOWN);
	}
	pg.stats_at_exit = env_choice("PINGUARD_STATS", pg_bool_names, 0);
	pg.cfg.fork_init = env_choice("PINGUARD_FORK_INIT", pg_fork_init_names,
				      PINGUARD_FORK_INIT_PASSTHROUGH);
	pg.effective = pg.cfg.mode;
	pg.reason = pg.cfg.mode == PINGUARD_MODE_AUTO ?
		    PINGUARD_REASON_PENDING : PINGUARD_REASON_CONFIGURED;
}
