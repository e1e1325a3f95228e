/* SPDX-License-Identifier: MIT */
/* For test programs that get pinguard by LD_PRELOAD only (not linked):
 * its API looked up with dlsym, and small assertion helpers. */
#ifndef PG_INTERPOSE_API_H
#define PG_INTERPOSE_API_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pinguard.h"
#include "fake_log.h"

#define PAGE 4096ul

/* cmocka group setup: pinguard preloaded (else fails), mode off. */
int pg_api_setup(void **state);
/* cmocka per-test setup: clear the fake log, remember the statistics. */
int pg_test_setup(void **state);

int pins(const void *addr);
struct pinguard_stats pg_stats(void);
/* Active pins and pinned bytes changed by exactly this since setup. */
void expect_stats(int64_t d_active, int64_t d_bytes);
/* True when the definition of sym that a normal lookup finds lives in
 * libpinguard (the preloaded wrapper). */
bool wrapped_by_pinguard(const char *sym);
/* Fresh page-aligned read/write anonymous memory, never unmapped. */
void *pages(size_t n);

/* The fake's last record of fn; fails if fn was never called. */
const struct fake_call *reached(const char *fn);
/* A fake's nested call (site "lib:function") is bound to pinguard. */
void expect_nested_wrapped(const char *site);

#endif
