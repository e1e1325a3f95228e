/* SPDX-License-Identifier: MIT */
/* The public calls other than pinning and the fork hook: mode,
 * statistics, configuration, names, version. */
#include <stddef.h>
#include <string.h>

#include "internal.h"
#include "names.h"
#include "pg_config.h"	/* PG_WRAPPERS */
#include "wrap.h"	/* pg_fork_init_taken */

/* pinguard_get_mode@@PINGUARD_0.2: with the caller's structure size. */
int pg_get_mode_0_2(struct pinguard_mode_info *info, size_t size);
int pg_get_mode_0_2(struct pinguard_mode_info *info, size_t size)
{
	struct pinguard_mode_info m;

	if (!info || !size)
		return -EINVAL;
	pg_lock();
	m.configured = pg.cfg.mode;
	m.effective = pg.effective;
	m.reason = pg.reason;
	m.kernel = pg.kernel;
	m.pretouch = pg.cfg.pretouch;
	m.scope = pg.cfg.scope;
	memcpy(m.kinds, pg.kinds, sizeof(m.kinds));
	for (int k = 0; k < PINGUARD_MEM_KINDS; k++)
		if (m.kinds[k].kernel == PINGUARD_KERNEL_UNKNOWN)
			m.kinds[k].reason = pg.cfg.mode == PINGUARD_MODE_AUTO ?
				PINGUARD_REASON_PENDING :
				PINGUARD_REASON_CONFIGURED;
	pg_unlock();
#if PG_WRAPPERS
	m.fork_init = pg_fork_init_taken() ? PINGUARD_FORK_INIT_TAKEOVER :
					     PINGUARD_FORK_INIT_PASSTHROUGH;
#else
	m.fork_init = PINGUARD_FORK_INIT_PASSTHROUGH;	/* no ibv_fork_init */
#endif
	/* Older callers know a prefix of the structure. */
	memcpy(info, &m, size < sizeof(m) ? size : sizeof(m));
	return 0;
}
__asm__(".symver pg_get_mode_0_2, pinguard_get_mode@@PINGUARD_0.2");

/* pinguard_get_mode@PINGUARD_0.1, for programs built against 0.1: no size
 * argument, and their structure ended before fork_init (six enums). */
int pg_get_mode_0_1(struct pinguard_mode_info *info);
int pg_get_mode_0_1(struct pinguard_mode_info *info)
{
	return pg_get_mode_0_2(info, offsetof(struct pinguard_mode_info,
					      fork_init));
}
__asm__(".symver pg_get_mode_0_1, pinguard_get_mode@PINGUARD_0.1");

struct extent_count {
	uintptr_t end;
	uint64_t n;
};

static int count_guarded(uintptr_t s, uintptr_t e, const struct pg_seg *seg,
			 void *arg)
{
	struct extent_count *c = arg;

	if (!pg_seg_guarded(seg))
		return 0;
	if (s != c->end)
		c->n++;
	c->end = e;
	return 0;
}

/* Extents that pinguard holds MADV_DONTFORK on: short-term-only pins are
 * out of scope unless PINGUARD_SCOPE=all. */
static uint64_t guarded_extents(void)
{
	struct extent_count c = { 0, 0 };

	if (pg.cfg.scope == PINGUARD_SCOPE_ALL)
		return pg.reg.extents;
	pg_reg_walk(&pg.reg, 0, UINTPTR_MAX, count_guarded, &c);
	return c.n;
}

int pinguard_get_stats(struct pinguard_stats *stats, size_t size)
{
	struct pinguard_stats s;

	if (!stats || !size)
		return -EINVAL;
	memset(&s, 0, sizeof(s));
	pg_lock();
	s.pinned_ranges = pg.reg.extents;
	s.pinned_bytes = pg.reg.bytes;
	s.active_pins = pg.cnt.active_pins;
	s.pins_total = pg.cnt.pins_total;
	s.unpins_total = pg.cnt.unpins_total;
	s.forks_seen = pg.cnt.forks_seen;
	s.forks_guarded = pg.cnt.forks_guarded;
	s.bytes_copied = pg.cnt.bytes_copied;
	s.ranges_dontfork = pg.effective == PINGUARD_MODE_DONTFORK ?
			    guarded_extents() : 0;
	s.fork_errors = pg.cnt.fork_errors;
	s.fork_ns = pg.cnt.fork_ns;
	s.pretouched_bytes = __atomic_load_n(&pg.cnt.pretouched_bytes,
					     __ATOMIC_RELAXED);
	s.staging_kept_bytes = pg.cnt.staging_kept;
	s.pinned_wrprotects = pg.cnt.wrprotects;
	pg_unlock();
	/* Older callers know a prefix of the structure. */
	memcpy(stats, &s, size < sizeof(s) ? size : sizeof(s));
	return 0;
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

const char *pinguard_mode_name(enum pinguard_mode mode)
{
	return pg_name_of(pg_mode_names, mode);
}

const char *pinguard_reason_name(enum pinguard_reason reason)
{
	return pg_name_of(pg_reason_names, reason);
}

const char *pinguard_kernel_name(enum pinguard_kernel kernel)
{
	return pg_name_of(pg_kernel_names, kernel);
}

const char *pinguard_memkind_name(enum pinguard_memkind kind)
{
	return pg_name_of(pg_memkind_names, kind);
}

const char *pinguard_version(void)
{
	return PINGUARD_VERSION_STRING;
}
