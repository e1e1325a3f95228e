/* SPDX-License-Identifier: MIT */
/* What the interposers (wrap_*.c) share: wrap.c's helpers, and the flags
 * one interposer leaves for another. */
#ifndef PG_WRAP_H
#define PG_WRAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handles.h"
#include "next.h"
#include "state.h"	/* enum pg_source */

/* A wrapper's pin: never fails the caller's registration (the real call
 * decides); returns whether the range is now in the registry. */
bool pg_wrap_pin(const void *addr, size_t len, bool readonly,
		 enum pg_source src);
void pg_wrap_unpin(const void *addr, size_t len, enum pg_source src);
/* After the real registration call (which ran with pg_wrap_depth raised):
 * keep the pin with its handle, or roll it back when the call failed
 * (handle NULL). errno is preserved. */
void pg_wrap_registered(const void *handle, bool pinned, const void *addr,
			size_t len, uint32_t flags, enum pg_source src);
/* IBV_ACCESS_* flags without any write access: a read-only pin. */
bool pg_ibv_access_readonly(unsigned int access);

/* Depth of wrapper calls on this thread: a real registration call may
 * itself call a wrapped function (libibverbs' ibv_reg_mr calls
 * ibv_dontfork_range), which must not pin a second time. */
extern __thread int pg_wrap_depth __attribute__((tls_model("initial-exec")));

/* wrap_mm.c: libibverbs' ibv_dontfork_range is running on this thread /
 * it was seen making MADV_DONTFORK (rdma-core's fork tracking is on). */
extern __thread bool pg_t_in_rdma_dontfork;
extern atomic_bool pg_rdma_tracking_seen;

/* wrap_fork_init.c: fork-init takeover in force */
bool pg_fork_init_taken(void);

#endif
