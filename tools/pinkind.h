/* SPDX-License-Identifier: MIT */
/* One pin of a kind of memory, so that auto mode detects what this
 * kernel does with that kind at fork. Needs only the public header: the
 * VM lab's probe scenario (tests/vm/scenarios/pglab-probe.c) builds it
 * into a guest program too. */
#ifndef PG_TOOL_PINKIND_H
#define PG_TOOL_PINKIND_H

#include "pinguard.h"

/* Maps a piece of memory of that kind, pins one page of it and releases
 * everything: 0, or -errno of the mapping or of pinguard_pin(). */
int pg_pin_kind(enum pinguard_memkind kind);

#endif
