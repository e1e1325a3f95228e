/* SPDX-License-Identifier: MIT */
/* Finding the real definition behind a wrapper, and the bookkeeping that
 * the wrappers share (registrations by handle, nesting). */
#ifndef PG_NEXT_H
#define PG_NEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The next definition of name (preferring version), found after this
 * library in the global scope or, for libraries loaded with RTLD_LOCAL
 * (middleware plug-ins), in the already loaded soname. NULL if the
 * library is not loaded: the wrapper is then never reached anyway. */
void *pg_next(const char *soname, const char *name, const char *version);

#define PG_NEXT(var, soname, name, version) do {			\
	if (!__atomic_load_n(&(var), __ATOMIC_ACQUIRE))			\
		__atomic_store_n(&(var), pg_next(soname, name, version),\
				 __ATOMIC_RELEASE);			\
} while (0)

/* Where a registration came from (for statistics and status). */
enum pg_source {
	PG_SRC_API = 0, PG_SRC_VERBS, PG_SRC_PROVIDER, PG_SRC_DEVX,
	PG_SRC_IO_URING, PG_SRC_COUNT
};

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

/* Registrations by handle (MR, umem, ring): handle -> range. Read by
 * `pinguard status`: a layout change must bump PG_STATE_VERSION. */
struct pg_reg_entry {
	const void *key;
	uintptr_t addr;
	size_t len;
	uint32_t flags;		/* wrapper-specific (access flags) */
	uint8_t src;
};

/* An io_uring ring's entry: addr points to len of these, one per slot. */
struct pg_uring_slot {
	void *addr;
	size_t len;
	bool pinned;
};

int pg_handle_put(const struct pg_reg_entry *e);
/* Copy out (and with take, remove) the entry of key; false if unknown. */
bool pg_handle_get(const void *key, struct pg_reg_entry *out, bool take);
void pg_handles_reset_child(void);

/* Depth of wrapper calls on this thread: a real registration call may
 * itself call a wrapped function (libibverbs' ibv_reg_mr calls
 * ibv_dontfork_range), which must not pin a second time. */
extern __thread int pg_wrap_depth __attribute__((tls_model("initial-exec")));

#endif
