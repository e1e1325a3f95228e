/* SPDX-License-Identifier: MIT */
#include <dlfcn.h>
#include <stddef.h>
#include <string.h>

#include "fake_log.h"

#define MAX_CALLS 512
#define MAX_ARMED 16
#define MAX_OPTS 8

static struct fake_call calls[MAX_CALLS];
static int ncalls;

static struct armed {
	char fn[48];
	int err;
	long val;
	int kind;	/* 0 free, 1 fail, 2 return */
} armed[MAX_ARMED];

static struct note {
	char site[48];
	char obj[64];
} notes[MAX_OPTS];

static struct opt {
	char name[32];
	int val;
} opts[MAX_OPTS];

void fake_reset(void)
{
	ncalls = 0;
	memset(armed, 0, sizeof(armed));
	memset(opts, 0, sizeof(opts));
	memset(notes, 0, sizeof(notes));
}

/* Looked up at run time: the fakes must not depend on pinguard. */
int fake_pins_now(const void *addr)
{
	static int (*count)(const void *);

	if (!count)
		count = (int (*)(const void *))dlsym(RTLD_DEFAULT,
						     "pinguard_pin_count");
	return count ? count(addr) : -1;
}

static void obj_of(const void *addr, char *out, size_t size)
{
	Dl_info info;
	const char *b;

	out[0] = 0;
	if (!dladdr(addr, &info) || !info.dli_fname)
		return;
	b = strrchr(info.dli_fname, '/');
	strncpy(out, b ? b + 1 : info.dli_fname, size - 1);
}

void fake_record(const char *fn, const uint64_t *args, int nargs,
		 const void *const *watch, int nwatch)
{
	struct fake_call *c;
	int i;

	if (ncalls == MAX_CALLS)
		return;
	c = &calls[ncalls++];
	memset(c, 0, sizeof(*c));
	strncpy(c->fn, fn, sizeof(c->fn) - 1);
	c->nargs = nargs < FAKE_MAX_ARGS ? nargs : FAKE_MAX_ARGS;
	memcpy(c->arg, args, c->nargs * sizeof(*args));
	c->nwatch = nwatch < FAKE_MAX_WATCH ? nwatch : FAKE_MAX_WATCH;
	for (i = 0; i < c->nwatch; i++)
		c->pins[i] = fake_pins_now(watch[i]);
}

void fake_note_binding(const char *site, const void *fnaddr)
{
	int i;

	for (i = 0; i < MAX_OPTS; i++)
		if (!notes[i].site[0] || !strcmp(notes[i].site, site)) {
			strncpy(notes[i].site, site, sizeof(notes[i].site) - 1);
			obj_of(fnaddr, notes[i].obj, sizeof(notes[i].obj));
			return;
		}
}

const char *fake_binding(const char *site)
{
	int i;

	for (i = 0; i < MAX_OPTS; i++)
		if (!strcmp(notes[i].site, site))
			return notes[i].obj;
	return "";
}

int fake_ncalls(void)
{
	return ncalls;
}

const struct fake_call *fake_nth(int i)
{
	return i >= 0 && i < ncalls ? &calls[i] : NULL;
}

int fake_count(const char *fn)
{
	int i, n = 0;

	for (i = 0; i < ncalls; i++)
		n += !strcmp(calls[i].fn, fn);
	return n;
}

const struct fake_call *fake_last(const char *fn)
{
	int i;

	for (i = ncalls - 1; i >= 0; i--)
		if (!strcmp(calls[i].fn, fn))
			return &calls[i];
	return NULL;
}

static void arm(const char *fn, int kind, int err, long val)
{
	int i;

	for (i = 0; i < MAX_ARMED; i++)
		if (!armed[i].kind) {
			strncpy(armed[i].fn, fn, sizeof(armed[i].fn) - 1);
			armed[i].kind = kind;
			armed[i].err = err;
			armed[i].val = val;
			return;
		}
}

void fake_fail_next(const char *fn, int err)
{
	arm(fn, 1, err, 0);
}

void fake_return_next(const char *fn, long val)
{
	arm(fn, 2, 0, val);
}

int fake_take(const char *fn, int *err, long *val)
{
	int i, kind;

	for (i = 0; i < MAX_ARMED; i++)
		if (armed[i].kind && !strcmp(armed[i].fn, fn)) {
			kind = armed[i].kind;
			*err = armed[i].err;
			*val = armed[i].val;
			memset(&armed[i], 0, sizeof(armed[i]));
			return kind;
		}
	return 0;
}

void fake_set_option(const char *name, int val)
{
	int i;

	for (i = 0; i < MAX_OPTS; i++)
		if (!opts[i].name[0] || !strcmp(opts[i].name, name)) {
			strncpy(opts[i].name, name, sizeof(opts[i].name) - 1);
			opts[i].val = val;
			return;
		}
}

int fake_option(const char *name)
{
	int i;

	for (i = 0; i < MAX_OPTS; i++)
		if (!strcmp(opts[i].name, name))
			return opts[i].val;
	return 0;
}
