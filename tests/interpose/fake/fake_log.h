/* SPDX-License-Identifier: MIT */
/* Shared call log of the stand-in libraries (libpgfake.so). Each fake
 * records its calls here, with pinguard's pin count of the watched
 * addresses at the moment the "kernel" would take the pin, and where its
 * nested calls into other wrapped functions are bound. */
#ifndef PG_FAKE_LOG_H
#define PG_FAKE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FAKE_MAX_ARGS 6
#define FAKE_MAX_WATCH 4

struct fake_call {
	char fn[48];
	uint64_t arg[FAKE_MAX_ARGS];
	int nargs;
	int pins[FAKE_MAX_WATCH];	/* pinguard_pin_count(), -1: no pinguard */
	int nwatch;
};

void fake_reset(void);		/* forget calls, armed results, options */
void fake_record(const char *fn, const uint64_t *args, int nargs,
		 const void *const *watch, int nwatch);
int fake_ncalls(void);
const struct fake_call *fake_nth(int i);
int fake_count(const char *fn);
const struct fake_call *fake_last(const char *fn);	/* NULL: never called */
int fake_pins_now(const void *addr);

/* The next call of fn fails with err (errno or -err, as that function
 * reports errors), or returns val instead of its normal result. */
void fake_fail_next(const char *fn, int err);
void fake_return_next(const char *fn, long val);
/* For the fakes: consume what was armed for fn (0: nothing). */
int fake_take(const char *fn, int *err, long *val);

/* A nested call site of a fake notes where its reference to fnaddr's
 * symbol is bound (GOT, same lookup as its PLT): the basename of the
 * defining object, "" if never noted. */
void fake_note_binding(const char *site, const void *fnaddr);
const char *fake_binding(const char *site);

/* Behaviour switches, 0 by default. */
void fake_set_option(const char *name, int val);
int fake_option(const char *name);

#define FAKE_U(x) ((uint64_t)(uintptr_t)(x))
#define FAKE_ARGS(...) (const uint64_t[]){ __VA_ARGS__ }, \
	(int)(sizeof((const uint64_t[]){ __VA_ARGS__ }) / sizeof(uint64_t))
#define FAKE_WATCH(...) (const void *const[]){ __VA_ARGS__ }, \
	(int)(sizeof((const void *const[]){ __VA_ARGS__ }) / sizeof(void *))
#define FAKE_NOWATCH NULL, 0
#define FAKE_RECORD(fn, args, watch) fake_record(fn, args, watch)

#endif
