/* SPDX-License-Identifier: MIT */
/* Configuration from PINGUARD_* (read with secure_getenv, so setuid
 * programs ignore it) and from pinguard_configure(). Parsing makes no
 * system call unless a value is bad (one warning) or a log file is named. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "staging.h"
#include "sys.h"

struct choice {
	const char *name;
	int value;
};

static const struct choice modes[] = {
	{ "auto", PINGUARD_MODE_AUTO }, { "copy", PINGUARD_MODE_COPY },
	{ "dontfork", PINGUARD_MODE_DONTFORK }, { "off", PINGUARD_MODE_OFF },
	{ NULL, 0 }
};
static const struct choice pretouches[] = {
	{ "auto", PINGUARD_PRETOUCH_AUTO }, { "always", PINGUARD_PRETOUCH_ALWAYS },
	{ "never", PINGUARD_PRETOUCH_NEVER }, { NULL, 0 }
};
static const struct choice scopes[] = {
	{ "longterm", PINGUARD_SCOPE_LONGTERM }, { "all", PINGUARD_SCOPE_ALL },
	{ NULL, 0 }
};
static const struct choice kernels[] = {
	{ "patched", PINGUARD_KERNEL_PATCHED },
	{ "unpatched", PINGUARD_KERNEL_UNPATCHED }, { NULL, 0 }
};
static const struct choice levels[] = {
	{ "none", PG_LOG_NONE }, { "error", PG_LOG_ERROR },
	{ "warn", PG_LOG_WARN }, { "info", PG_LOG_INFO },
	{ "debug", PG_LOG_DEBUG }, { NULL, 0 }
};
static const struct choice fork_inits[] = {
	{ "passthrough", PINGUARD_FORK_INIT_PASSTHROUGH },
	{ "takeover", PINGUARD_FORK_INIT_TAKEOVER }, { NULL, 0 }
};
static const struct choice booleans[] = {
	{ "0", 0 }, { "no", 0 }, { "false", 0 }, { "off", 0 },
	{ "1", 1 }, { "yes", 1 }, { "true", 1 }, { "on", 1 }, { NULL, 0 }
};

/* Value of the variable, or def with one warning when it is not one of
 * the choices. Unset keeps def silently. */
static int env_choice(const char *var, const struct choice *c, int def)
{
	const char *v = secure_getenv(var);
	int i;

	if (!v)
		return def;
	for (i = 0; c[i].name; i++)
		if (!strcasecmp(v, c[i].name))
			return c[i].value;
	char list[96];
	size_t n = 0, l;

	for (i = 0; c[i].name; i++) {
		l = strlen(c[i].name);
		if (n + l + 2 > sizeof(list))
			break;
		if (i)
			list[n++] = '|';
		memcpy(list + n, c[i].name, l);
		n += l;
	}
	list[n] = 0;
	pg_warn_config("%s: invalid value (expected one of %s); using %s", var,
		       list, c == kernels ? "detection" :
		       c == levels ? "none" : c == booleans ? "0" : c[0].name);
	return def;
}

/* A byte count: digits with an optional K, M or G (binary). Unset keeps
 * def silently; anything else warns once and keeps def. */
static size_t env_size(const char *var, size_t def)
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
	pg.log_level = env_choice("PINGUARD_LOG", levels, PG_LOG_NONE);
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
	pg.cfg.mode = env_choice("PINGUARD_MODE", modes, PINGUARD_MODE_AUTO);
	pg.cfg.pretouch = env_choice("PINGUARD_PRETOUCH", pretouches,
				     PINGUARD_PRETOUCH_AUTO);
	pg.cfg.scope = env_choice("PINGUARD_SCOPE", scopes,
				  PINGUARD_SCOPE_LONGTERM);
	pg.cfg.kernel = env_choice("PINGUARD_KERNEL", kernels,
				   PINGUARD_KERNEL_UNKNOWN);
	pg.kind_override[PINGUARD_MEM_4K] = env_choice("PINGUARD_KERNEL_4K",
		kernels, PINGUARD_KERNEL_UNKNOWN);
	pg.kind_override[PINGUARD_MEM_THP] = env_choice("PINGUARD_KERNEL_THP",
		kernels, PINGUARD_KERNEL_UNKNOWN);
	pg.kind_override[PINGUARD_MEM_HUGETLB] = env_choice(
		"PINGUARD_KERNEL_HUGETLB", kernels, PINGUARD_KERNEL_UNKNOWN);
	pg.stats_at_exit = env_choice("PINGUARD_STATS", booleans, 0);
	pg.cfg.fork_init = env_choice("PINGUARD_FORK_INIT", fork_inits,
				      PINGUARD_FORK_INIT_PASSTHROUGH);
	pg_staging_set_keep_max(env_size("PINGUARD_KEEP_STAGING",
					 PG_STAGING_KEEP_DEFAULT));
	pg.effective = pg.cfg.mode;
	pg.reason = pg.cfg.mode == PINGUARD_MODE_AUTO ?
		    PINGUARD_REASON_PENDING : PINGUARD_REASON_CONFIGURED;
}

bool pg_guarded_scope(bool shortterm)
{
	return !shortterm || pg.cfg.scope == PINGUARD_SCOPE_ALL;
}

static bool valid_config(const struct pinguard_config *c)
{
	return (unsigned)c->mode <= PINGUARD_MODE_OFF &&
	       (unsigned)c->pretouch <= PINGUARD_PRETOUCH_NEVER &&
	       (unsigned)c->scope <= PINGUARD_SCOPE_ALL &&
	       (unsigned)c->kernel <= PINGUARD_KERNEL_UNPATCHED &&
	       (unsigned)c->fork_init <= PINGUARD_FORK_INIT_TAKEOVER;
}

int pinguard_get_config(struct pinguard_config *cfg, size_t size)
{
	if (!cfg || size < sizeof(*cfg))
		return -EINVAL;
	pg_lock();
	*cfg = pg.cfg;
	pg_unlock();
	return 0;
}

int pinguard_configure(const struct pinguard_config *cfg, size_t size)
{
	struct pinguard_config c;
	int ret = 0;

	if (!cfg || size < sizeof(c))
		return -EINVAL;
	c = *cfg;
	if (!valid_config(&c))
		return -EINVAL;
	pg_lock();
	if (pg.reg.nsegs && (c.mode != pg.cfg.mode || c.scope != pg.cfg.scope)) {
		ret = -EBUSY;	/* pinned pages were guarded the old way */
		goto out;
	}
	if (c.kernel != pg.cfg.kernel && pg.kernel != PINGUARD_KERNEL_UNKNOWN &&
	    c.mode == PINGUARD_MODE_AUTO) {
		ret = -EBUSY;	/* auto already resolved with the old answer */
		goto out;
	}
	pg.cfg = c;
	pg.cfg_from_api = true;
	if (c.mode != PINGUARD_MODE_AUTO) {
		pg.effective = c.mode;
		pg.reason = PINGUARD_REASON_CONFIGURED;
	} else {
		pg_auto_reapply();	/* the verdicts made so far, if any */
	}
out:
	pg_unlock();
	return ret;
}
