/* SPDX-License-Identifier: MIT */
/* Registrations by handle (handles.c); struct pg_reg_entry is in state.h. */
#ifndef PG_HANDLES_H
#define PG_HANDLES_H

#include <stdbool.h>

#include "state.h"

/* Add or replace the entry of e->key: 0 or -ENOMEM. */
int pg_handle_put(const struct pg_reg_entry *e);
/* Copy out (and with take, remove) the entry of key; false if unknown. */
bool pg_handle_get(const void *key, struct pg_reg_entry *out, bool take);
/* In a fork child: the registrations are the parent's. */
void pg_handles_reset_child(void);

#endif
