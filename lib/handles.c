/* SPDX-License-Identifier: MIT */
/* Registrations by handle (MR, umem, io_uring ring): handle -> range, so
 * that a deregistration unpins what its registration pinned. The table
 * lives in pg (pg.htab: `pinguard status` lists it). */
#include <stdlib.h>
#include <string.h>

#include "handles.h"
#include "internal.h"

/* Open addressing, keyed by handle pointer; grown under its own lock,
 * never in a fork handler. */
static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;
/* In a fork child: the parent's table, freed at the child's first put
 * (free() has no place in the fork child handler). */
static struct pg_reg_entry *inherited;
#define TOMBSTONE ((const void *)1)

static size_t slot_of(const void *key, size_t cap)
{
	uintptr_t k = (uintptr_t)key;

	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	return k & (cap - 1);
}

static size_t next_slot(size_t i)
{
	return (i + 1) & (pg.htab_cap - 1);
}

static bool live(const struct pg_reg_entry *e)
{
	return e->key && e->key != TOMBSTONE;
}

static int rehash(size_t ncap)
{
	struct pg_reg_entry *n = calloc(ncap, sizeof(*n));
	size_t i, j;

	if (!n)
		return -ENOMEM;
	for (i = 0; i < pg.htab_cap; i++) {
		if (!live(&pg.htab[i]))
			continue;
		for (j = slot_of(pg.htab[i].key, ncap); n[j].key;
		     j = (j + 1) & (ncap - 1))
			;
		n[j] = pg.htab[i];
	}
	free(pg.htab);
	pg.htab = n;
	pg.htab_cap = ncap;
	return 0;
}

static struct pg_reg_entry *find(const void *key)
{
	size_t i;

	if (!pg.htab_cap)
		return NULL;
	for (i = slot_of(key, pg.htab_cap); pg.htab[i].key; i = next_slot(i))
		if (pg.htab[i].key == key)
			return &pg.htab[i];
	return NULL;
}

int pg_handle_put(const struct pg_reg_entry *e)
{
	struct pg_reg_entry *slot;
	size_t i;
	int ret = 0;

	pthread_mutex_lock(&handles_lock);
	free(inherited);
	inherited = NULL;
	slot = find(e->key);
	if (slot) {
		*slot = *e;
		goto out;
	}
	if ((pg.htab_used + 1) * 2 > pg.htab_cap) {
		size_t n = 0, cap = pg.htab_cap;

		for (i = 0; i < cap; i++)
			n += live(&pg.htab[i]);
		/* mostly tombstones: rehash in place, else double */
		ret = rehash(cap && n * 4 < cap ? cap : cap ? cap * 2 : 64);
		if (ret)
			goto out;
		pg.htab_used = n;
	}
	for (i = slot_of(e->key, pg.htab_cap); live(&pg.htab[i]);
	     i = next_slot(i))
		;
	if (!pg.htab[i].key)
		pg.htab_used++;
	pg.htab[i] = *e;
out:
	pthread_mutex_unlock(&handles_lock);
	return ret;
}

bool pg_handle_get(const void *key, struct pg_reg_entry *out, bool take)
{
	struct pg_reg_entry *slot;

	pthread_mutex_lock(&handles_lock);
	slot = find(key);
	if (slot) {
		*out = *slot;
		if (take)
			slot->key = TOMBSTONE;
	}
	pthread_mutex_unlock(&handles_lock);
	return slot != NULL;
}

/* The child owns no registrations: forget them, keeping the table to
 * free later (a child that exits first still holds it, not leaks it). */
void pg_handles_reset_child(void)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

	memcpy(&handles_lock, &fresh, sizeof(fresh));
	if (pg.htab)
		inherited = pg.htab;
	pg.htab = NULL;
	pg.htab_cap = pg.htab_used = 0;
}
