/* SPDX-License-Identifier: MIT */
/* Finding the real definition behind a wrapper (next.c). */
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

#endif
