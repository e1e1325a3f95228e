/* SPDX-License-Identifier: MIT */
/* Which kinds of memory back a range (4 KiB pages, transparent huge
 * pages, hugetlb), and whether auto mode's copy guards a piece of a VMA:
 * only pieces of a kind the kernel does not copy at fork (the verdicts
 * are verdict.c's, in pg.kinds). */
#include <fcntl.h>
#include <string.h>

#include "internal.h"
#include "sys.h"
#include "vmacache.h"

enum { THP_UNREAD = 0, THP_NEVER, THP_MAYBE };
static int thp_state;

/* /sys/kernel/mm/transparent_hugepage/enabled: "[never]" means no THP
 * can back new faults. Unreadable (no THP support): never. */
static int thp_enabled(void)
{
	char buf[64];
	ssize_t n;
	int fd;

	if (thp_state != THP_UNREAD)
		return thp_state;
	fd = pg_sys_open("/sys/kernel/mm/transparent_hugepage/enabled",
			 O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : pg_sys_read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		pg_sys_close(fd);
	if (n <= 0) {
		thp_state = THP_NEVER;
	} else {
		buf[n] = 0;
		thp_state = strstr(buf, "[never]") ? THP_NEVER : THP_MAYBE;
	}
	return thp_state;
}

/* A THP needs a whole aligned 2 MiB block inside a private anonymous VMA;
 * the pin may cover part of it (a pinned 4 KiB page of a THP pins the
 * THP). Whether the VMA has MADV_HUGEPAGE is not in /proc/self/maps:
 * "possible" errs on the side of judging (and guarding) THP too. */
bool pg_thp_possible(const struct pg_vma *v, uintptr_t s, uintptr_t e)
{
	uintptr_t lo, hi;

	if (v->flags & (PG_VMA_SHARED | PG_VMA_FILE | PG_VMA_HUGETLB))
		return false;
	if (thp_state == THP_NEVER)
		return false;
	lo = pg_align_down(v->start + PG_THP_SIZE - 1, PG_THP_SIZE);
	hi = pg_align_down(v->end, PG_THP_SIZE);
	if (s < lo)
		s = lo;
	if (e > hi)
		e = hi;
	return s < e;
}

unsigned pg_kinds_of(uintptr_t s, uintptr_t e)
{
	const struct pg_vma *v;
	unsigned kinds = 0;
	size_t i, n;

	thp_enabled();
	v = pg_vmacache_last(&n);
	for (i = 0; i < n; i++) {
		if (v[i].flags & PG_VMA_SHARED)
			continue;	/* never copy-on-write */
		if (v[i].flags & PG_VMA_HUGETLB) {
			kinds |= 1u << PINGUARD_MEM_HUGETLB;
			continue;
		}
		kinds |= 1u << PINGUARD_MEM_4K;
		if (pg_thp_possible(&v[i], s, e))
			kinds |= 1u << PINGUARD_MEM_THP;
	}
	/* Only shared memory: nothing to judge, but the first pin decides
	 * auto mode as it always did, by the base pages. */
	return kinds ? kinds : 1u << PINGUARD_MEM_4K;
}

bool pg_kind_unpatched(enum pinguard_memkind k)
{
	return pg.kinds[k].kernel != PINGUARD_KERNEL_PATCHED;
}

bool pg_kind_needs_guard(const struct pg_vma *v, uintptr_t s, uintptr_t e)
{
	if (pg.cfg.mode != PINGUARD_MODE_AUTO || !v)
		return true;	/* a configured copy mode copies everything */
	if (v->flags & PG_VMA_HUGETLB)
		return pg_kind_unpatched(PINGUARD_MEM_HUGETLB);
	/* a kind not judged yet (the VMA grew since the pin) is guarded */
	return pg_kind_unpatched(PINGUARD_MEM_4K) ||
	       (pg_thp_possible(v, s, e) &&
		pg_kind_unpatched(PINGUARD_MEM_THP));
}
