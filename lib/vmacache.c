/* SPDX-License-Identifier: MIT */
#include <string.h>
#include <sys/mman.h>

#include "internal.h"
#include "sys.h"
#include "vmacache.h"

struct table {
	struct pg_vma *v;
	size_t n, cap;		/* cap in entries; storage is mmap'ed */
};

/* Two tables: the new one is filled while the old one still answers the
 * hugetlb page size of mappings seen before (smaps is costly). */
static struct table tabs[2];
static int cur;
static bool valid;
static unsigned long gen_seen;
/* The entry the last lookup found: pins come in runs within one mapping,
 * and a hit saves two binary searches per pin + unpin. Any entry holding
 * the address is the one lower_bound() would find (entries are disjoint),
 * so a stale hint costs a miss, never a wrong answer. */
static size_t hint;

static int table_grow(struct table *t)
{
	size_t ncap = t->cap ? t->cap * 2 : 256;
	void *p;

	if (t->v)
		p = pg_sys_mremap(t->v, t->cap * sizeof(*t->v),
				  ncap * sizeof(*t->v), MREMAP_MAYMOVE, NULL);
	else
		p = pg_sys_alloc(ncap * sizeof(*t->v));
	if (p == MAP_FAILED)
		return -ENOMEM;
	t->v = p;
	t->cap = ncap;
	return 0;
}

static size_t lower_bound(const struct table *t, uintptr_t addr)
{
	size_t lo = 0, hi = t->n;

	/* first entry with end > addr */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->v[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* lower_bound(t, addr), trying the hint first */
static size_t find(const struct table *t, uintptr_t addr)
{
	size_t h = hint;

	if (h < t->n && t->v[h].start <= addr && addr < t->v[h].end)
		return h;
	h = lower_bound(t, addr);
	hint = h;
	return h;
}

static uint32_t known_shift(const struct table *old, const struct pg_vma *v,
			    bool *found)
{
	size_t i = lower_bound(old, v->start);

	*found = i < old->n && old->v[i].start == v->start &&
		 old->v[i].end == v->end && old->v[i].inode == v->inode &&
		 old->v[i].dev == v->dev;
	return *found ? old->v[i].pageshift : 12;
}

int pg_vmacache_refresh(void)
{
	struct pg_maps_iter *it = pg_maps_buffer(0);
	struct table *t = &tabs[cur ^ 1];
	const struct table *old = &tabs[cur];
	struct pg_vma v;
	uint32_t shift;
	bool found;
	int ret;

	if (!it)
		return -ENOMEM;
	gen_seen = atomic_load(&pg_mm_gen);
	ret = pg_maps_open(it);
	t->n = 0;
	while (!ret && (ret = pg_maps_next(it, &v)) == 1) {
		ret = 0;
		if (v.flags & PG_VMA_MAYBE_HUGE) {
			shift = known_shift(valid ? old : t, &v, &found);
			if (!found)
				shift = pg_hugetlb_shift(v.start, it->path);
			if (shift > 12) {
				v.flags |= PG_VMA_HUGETLB;
				v.pageshift = shift;
			}
		}
		if (t->n == t->cap && (ret = table_grow(t)))
			break;
		t->v[t->n++] = v;
	}
	pg_maps_close(it);
	if (ret < 0) {
		valid = false;
		return ret;
	}
	cur ^= 1;
	valid = true;
	return 0;
}

void pg_vmacache_invalidate(void)
{
	valid = false;
}

static bool fresh(void)
{
	return valid && gen_seen == atomic_load(&pg_mm_gen);
}

/* The VMAs the last successful lookup covered: the pin path asks what
 * kinds of memory they are without a second search. */
static const struct pg_vma *last_v;
static size_t last_n;

const struct pg_vma *pg_vmacache_last(size_t *n)
{
	*n = last_n;
	return last_v;
}

/* 1: all of [s, e) mapped; 0: a hole. Widens at the ends. */
static int lookup(uintptr_t *s, uintptr_t *e)
{
	const struct table *t = &tabs[cur];
	size_t i = find(t, *s);
	uintptr_t pos = *s;
	size_t first = i;

	for (; i < t->n && pos < *e; i++) {
		if (t->v[i].start > pos)
			return 0;
		pos = t->v[i].end;
	}
	if (pos < *e)
		return 0;
	/* hugetlb mappings are pinned, copied and remapped in whole pages */
	*s = pg_align_down(*s, 1ul << t->v[first].pageshift);
	i--;
	last_v = t->v + first;
	last_n = i - first + 1;
	*e = pg_align_down(*e + (1ul << t->v[i].pageshift) - 1,
			   1ul << t->v[i].pageshift);
	return 1;
}

int pg_vmacache_check(uintptr_t *start, uintptr_t *end)
{
	int ret;

	if (fresh() && lookup(start, end))
		return 0;
	ret = pg_vmacache_refresh();
	if (ret)
		return ret;
	return lookup(start, end) ? 0 : -EFAULT;
}

const struct pg_vma *pg_vmacache_range(uintptr_t start, uintptr_t end,
				       size_t *n)
{
	const struct table *t = &tabs[cur];
	size_t i = lower_bound(t, start), j = i;

	while (j < t->n && t->v[j].start < end)
		j++;
	*n = j - i;
	return t->v + i;
}

size_t pg_vmacache_count(void)
{
	return valid ? tabs[cur].n : 0;
}

/* Page size only: a mapping's page size does not change while it stays
 * mapped, so the cache answers even when stale; a miss refreshes it. */
void pg_vmacache_widen(uintptr_t *start, uintptr_t *end)
{
	const struct table *t = &tabs[cur];
	size_t i = valid ? find(t, *start) : t->n;

	if (i >= t->n || t->v[i].start > *start) {
		if (pg_vmacache_refresh())
			return;
		t = &tabs[cur];
		i = lower_bound(t, *start);
		if (i >= t->n || t->v[i].start > *start)
			return;
	}
	if (t->v[i].pageshift == PG_PAGE_SHIFT && t->v[i].end >= *end)
		return;
	lookup(start, end);
}
