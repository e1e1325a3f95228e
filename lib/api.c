/* SPDX-License-Identifier: MIT */
/* Read-only public calls: mode, statistics, names, version. */
#include <stddef.h>
#include <string.h>

#include "internal.h"

/* wrap_fork_init.c, when the verbs wrappers are built */
__attribute__((weak)) bool pg_fork_init_taken(void)
{
	return false;
}

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
	m.fork_init = pg_fork_init_taken() ? PINGUARD_FORK_INIT_TAKEOVER :
					     PINGUARD_FORK_INIT_PASSTHROUGH;
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

	if (!seg->nlong && pg.cfg.scope != PINGUARD_SCOPE_ALL)
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

const char *pinguard_mode_name(enum pinguard_mode mode)
{
	static const char *const n[] = { "auto", "copy", "dontfork", "off" };

	return (unsigned)mode < 4 ? n[mode] : "invalid";
}

const char *pinguard_reason_name(enum pinguard_reason reason)
{
	static const char *const n[] = {
		"configured", "pending", "override", "probe", "netlink",
		"version"
	};

	return (unsigned)reason < 6 ? n[reason] : "invalid";
}

const char *pinguard_kernel_name(enum pinguard_kernel kernel)
{
	static const char *const n[] = { "unknown", "patched", "unpatched" };

	return (unsigned)kernel < 3 ? n[kernel] : "invalid";
}

const char *pinguard_version(void)
{
	return PINGUARD_VERSION_STRING;
}
