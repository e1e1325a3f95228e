/* SPDX-License-Identifier: MIT */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "next.h"

__thread int pg_wrap_depth __attribute__((tls_model("initial-exec")));

void *pg_next(const char *soname, const char *name, const char *version)
{
	void *sym = NULL, *h;

	if (version)
		sym = dlvsym(RTLD_NEXT, name, version);
	if (!sym)
		sym = dlsym(RTLD_NEXT, name);
	if (sym)
		return sym;
	h = dlopen(soname, RTLD_LAZY | RTLD_NOLOAD);
	if (!h)
		return NULL;
	if (version)
		sym = dlvsym(h, name, version);
	if (!sym)
		sym = dlsym(h, name);
	dlclose(h);	/* NOLOAD handle: only drops the reference it took */
	return sym;
}

bool pg_wrap_pin(const void *addr, size_t len, bool readonly,
		 enum pg_source src)
{
	int ret;

	if (!addr || !len)
		return false;
	ret = pinguard_pin((void *)addr, len,
			   readonly ? PINGUARD_PIN_READONLY : 0);
	if (ret)
		pg_log(ret == -EFAULT ? PG_LOG_DEBUG : PG_LOG_WARN,
		       "%s registration of %p+%zu left unguarded (error %d)",
		       src == PG_SRC_VERBS ? "verbs" : src == PG_SRC_DEVX ?
		       "devx" : src == PG_SRC_IO_URING ? "io_uring" :
		       "provider", addr, len, ret);
	return ret == 0;
}

void pg_wrap_registered(const void *handle, bool pinned, const void *addr,
			size_t len, uint32_t flags, enum pg_source src)
{
	int saved = errno;
	struct pg_reg_entry e = {
		.key = handle, .addr = (uintptr_t)addr, .len = len,
		.flags = flags, .src = (uint8_t)src,
	};

	pg_wrap_depth--;
	if (pinned && (!handle || pg_handle_put(&e)))
		pg_wrap_unpin(addr, len, src);
	errno = saved;
}

void pg_wrap_unpin(const void *addr, size_t len, enum pg_source src)
{
	int ret = pinguard_unpin((void *)addr, len);

	(void)src;
	if (ret)
		pg_log(PG_LOG_DEBUG, "unpin %p+%zu: error %d", addr, len, ret);
}

/* Open addressing, keyed by handle pointer; grown under its own lock,
 * never in a fork handler. */
static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;
/* pg.htab, pg.htab_cap, pg.htab_used (used counts tombstones too) */
#define tab pg.htab
#define tab_cap pg.htab_cap
#define tab_used pg.htab_used
#define TOMBSTONE ((const void *)1)

static size_t slot_of(const void *key, size_t cap)
{
	uintptr_t k = (uintptr_t)key;

	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	return k & (cap - 1);
}

static int rehash(size_t ncap)
{
	struct pg_reg_entry *n = calloc(ncap, sizeof(*n));
	size_t i, j;

	if (!n)
		return -ENOMEM;
	for (i = 0; i < tab_cap; i++) {
		if (!tab[i].key || tab[i].key == TOMBSTONE)
			continue;
		for (j = slot_of(tab[i].key, ncap); n[j].key;
		     j = (j + 1) & (ncap - 1))
			;
		n[j] = tab[i];
	}
	free(tab);
	tab = n;
	tab_cap = ncap;
	return 0;
}

static struct pg_reg_entry *find(const void *key)
{
	size_t i;

	if (!tab_cap)
		return NULL;
	for (i = slot_of(key, tab_cap); tab[i].key; i = (i + 1) & (tab_cap - 1))
		if (tab[i].key == key)
			return &tab[i];
	return NULL;
}

int pg_handle_put(const struct pg_reg_entry *e)
{
	struct pg_reg_entry *slot;
	size_t i;
	int ret = 0;

	pthread_mutex_lock(&handles_lock);
	slot = find(e->key);
	if (slot) {
		*slot = *e;
		goto out;
	}
	if ((tab_used + 1) * 2 > tab_cap) {
		size_t live = 0;

		for (i = 0; i < tab_cap; i++)
			live += tab[i].key && tab[i].key != TOMBSTONE;
		ret = rehash(tab_cap && live * 4 < tab_cap ? tab_cap :
			     tab_cap ? tab_cap * 2 : 64);
		if (ret)
			goto out;
		tab_used = live;
	}
	for (i = slot_of(e->key, tab_cap);
	     tab[i].key && tab[i].key != TOMBSTONE; i = (i + 1) & (tab_cap - 1))
		;
	if (!tab[i].key)
		tab_used++;
	tab[i] = *e;
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

/* The child owns no registrations; forget them without freeing. */
void pg_handles_reset_child(void)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

	memcpy(&handles_lock, &fresh, sizeof(fresh));
	tab = NULL;
	tab_cap = tab_used = 0;
}
