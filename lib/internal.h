/* SPDX-License-Identifier: MIT */
/* Declarations shared by the library's files, grouped by layer from the
 * bottom up (lib/README.md draws the layers): a file calls only into its
 * own layer or the ones below. Nothing here is exported. */
#ifndef PG_INTERNAL_H
#define PG_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "pinguard.h"
#include "state.h"
#include "maps.h"
#include "registry.h"

#define PG_HIDDEN __attribute__((visibility("hidden")))
#define PG_PAGE_SHIFT 12
#define PG_PAGE_SIZE (1ul << PG_PAGE_SHIFT)
#define PG_THP_SIZE (2ul << 20)	/* a transparent huge page (x86-64) */

enum pg_log_level { PG_LOG_NONE = 0, PG_LOG_ERROR, PG_LOG_WARN, PG_LOG_INFO,
		    PG_LOG_DEBUG };

/* ---- state.c: the global state and its lock ---- */
extern struct pg_global pg PG_HIDDEN;

/* Set at the first pin, like the kernel's mm->has_pinned: until then the
 * fork hook does nothing but test it. */
extern atomic_bool pg_active PG_HIDDEN;
/* Forks in flight that passed the hook while nothing was pinned; pins
 * wait for them so that no pin slips in unguarded. */
extern atomic_uint pg_unguarded_forks PG_HIDDEN;
/* Bumped around munmap/mremap/shmdt so the VMA cache knows it is stale. */
extern atomic_ulong pg_mm_gen PG_HIDDEN;
/* This thread is between an interposed fork()'s early prepare and the
 * real fork, holding the lock (fork.c sets it; pg_lock lets other
 * libraries' atfork handlers in). */
extern __thread bool pg_t_fork_early PG_HIDDEN
	__attribute__((tls_model("initial-exec")));

void pg_lock(void) PG_HIDDEN;
void pg_unlock(void) PG_HIDDEN;
/* Did this thread take the lock re-entrantly (another library's atfork
 * prepare calling in) since the last call? Resets the answer. */
bool pg_lock_nested_since_fork(void) PG_HIDDEN;

/* Are pins with these flags guarded (held DONTFORK or copied at fork)?
 * Short-term pins only with PINGUARD_SCOPE=all. */
static inline bool pg_guarded_scope(bool shortterm)
{
	return !shortterm || pg.cfg.scope == PINGUARD_SCOPE_ALL;
}

/* Is a registry segment guarded: does it hold a guarded pin? */
static inline bool pg_seg_guarded(const struct pg_seg *seg)
{
	return pg_guarded_scope(!seg->nlong);
}

/* ---- log.c: async-signal-safe, formats %s %d %u %ld %lu %lx %zu %p %% only ---- */
void pg_log(int level, const char *fmt, ...) PG_HIDDEN
	__attribute__((format(printf, 2, 3)));
void pg_warn_config(const char *fmt, ...) PG_HIDDEN
	__attribute__((format(printf, 1, 2)));
uint64_t pg_now_ns(void) PG_HIDDEN;

/* ---- config.c: PINGUARD_* into pg.cfg and friends (at load) ---- */
void pg_config_from_env(void) PG_HIDDEN;
/* A byte count variable (digits, optional K, M, G), def if unset or bad. */
size_t pg_env_size(const char *var, size_t def) PG_HIDDEN;

/* ---- probe.c: does the kernel copy pinned pages of this kind at fork? ---- */
enum pinguard_kernel pg_probe_kernel(enum pinguard_memkind kind,
				     enum pinguard_reason *why) PG_HIDDEN;
bool pg_kernel_at_least(unsigned major, unsigned minor) PG_HIDDEN;
/* 5.9-5.18: a write fault replaces a pinned page whose reference count
 * says "pinned" (write protection taken and given back breaks the pin). */
bool pg_kernel_wp_breaks_pins(void) PG_HIDDEN;

/* ---- foreign.c: MADV_DONTFORK ranges that the application set itself ---- */
void pg_foreign_mark(uintptr_t start, uintptr_t end, bool dontfork) PG_HIDDEN;
/* MADV_DOFORK [start, end) except where the application wants DONTFORK. */
int pg_dofork_except_foreign(uintptr_t start, uintptr_t end) PG_HIDDEN;
void pg_retry_dofork(void) PG_HIDDEN;
void pg_retry_reset_child(void) PG_HIDDEN;

/* ---- kinds.c: kinds of memory (bits 1 << PINGUARD_MEM_*) ---- */
#define PG_ALL_KINDS ((1u << PINGUARD_MEM_KINDS) - 1)
/* Kinds of the pages in [s, e), right after a successful
 * pg_vmacache_check() of that range (lock held). */
unsigned pg_kinds_of(uintptr_t s, uintptr_t e) PG_HIDDEN;
/* Could [s, e) of this private VMA be backed by a transparent huge page? */
bool pg_thp_possible(const struct pg_vma *v, uintptr_t s, uintptr_t e)
	PG_HIDDEN;
/* Not judged patched (yet) for this kind. */
bool pg_kind_unpatched(enum pinguard_memkind k) PG_HIDDEN;
/* Auto mode's copy: does a piece of this VMA need a snapshot? */
bool pg_kind_needs_guard(const struct pg_vma *v, uintptr_t s, uintptr_t e)
	PG_HIDDEN;

/* ---- verdict.c: auto mode, judged per kind of memory ---- */
/* Kinds of the mask not judged yet. */
unsigned pg_kinds_unjudged(unsigned kinds) PG_HIDDEN;
/* Judge those kinds (probes; lock NOT held), each once per process. */
void pg_judge_kinds(unsigned kinds) PG_HIDDEN;
/* Auto mode: the mode the judged kinds call for (lock held). */
void pg_auto_apply(unsigned kinds) PG_HIDDEN;
/* Auto mode's verdict from a configuration (pinguard_configure()). */
void pg_auto_reapply(void) PG_HIDDEN;
/* Judge every kind now and apply (fork-init takeover, at load). */
void pg_auto_judge_all(void) PG_HIDDEN;
void pg_verdict_reset_child(void) PG_HIDDEN;

/* ---- fork.c ---- */
void pg_fork_reset_child(bool held) PG_HIDDEN;
/* For the interposed fork paths: begin before the real call; -errno (the
 * fork must fail) when pinned memory cannot be protected. atfork_follows:
 * the call runs our atfork handlers (glibc's fork()), which take the
 * snapshots and finish; otherwise begin does it all. end after the call
 * runs the parent/child side unless the atfork handlers did. */
int pg_fork_begin(bool atfork_follows) PG_HIDDEN;
void pg_fork_end(pid_t pid, bool atfork_follows) PG_HIDDEN;

static inline uintptr_t pg_align_down(uintptr_t x, uintptr_t a)
{
	return x & ~(a - 1);
}

#endif
