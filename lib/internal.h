/* SPDX-License-Identifier: MIT */
/* State shared by the library's files. Nothing here is exported. */
#ifndef PG_INTERNAL_H
#define PG_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "pinguard.h"
#include "next.h"
#include "maps.h"
#include "registry.h"

#define PG_HIDDEN __attribute__((visibility("hidden")))
#define PG_PAGE_SHIFT 12
#define PG_PAGE_SIZE (1ul << PG_PAGE_SHIFT)
#define PG_THP_SIZE (2ul << 20)	/* a transparent huge page (x86-64) */

enum pg_log_level { PG_LOG_NONE = 0, PG_LOG_ERROR, PG_LOG_WARN, PG_LOG_INFO,
		    PG_LOG_DEBUG };

struct pg_counters {
	uint64_t active_pins, pins_total, unpins_total;
	uint64_t forks_seen, forks_guarded, bytes_copied, fork_errors, fork_ns;
	uint64_t pretouched_bytes;
	uint64_t staging_kept;	/* copy mode: staging kept for the next fork */
	uint64_t wrprotects;	/* write taken from pinned pages (5.9-5.18) */
};

#define PG_STATE_MAGIC 0x70696e6775617264ull	/* "pinguard" */
#define PG_STATE_VERSION 5	/* 5: per-kind verdicts, counters.wrprotects */

/* Read by `pinguard status PID` through /proc/PID/mem: keep magic and
 * version first, and bump the version when the layout changes. */
struct pg_global {
	uint64_t magic;
	uint32_t version, size;
	pthread_mutex_t lock;		/* registry, foreign set, counters */
	struct pinguard_config cfg;	/* in force (env, then API) */
	bool cfg_from_api;
	enum pinguard_mode effective;	/* AUTO until resolved */
	enum pinguard_reason reason;
	enum pinguard_kernel kernel;	/* unpatched if any kind judged is */
	enum pinguard_reason kernel_reason; /* how kernel was found */
	/* auto: the verdict per kind of memory, made at its first pin */
	struct pinguard_kind_info kinds[PINGUARD_MEM_KINDS];
	/* PINGUARD_KERNEL_4K/_THP/_HUGETLB; UNKNOWN: not set */
	enum pinguard_kernel kind_override[PINGUARD_MEM_KINDS];
	struct pg_registry reg;		/* pinned pages */
	struct pg_registry foreign;	/* MADV_DONTFORK set by others */
	struct pg_counters cnt;
	struct pg_reg_entry *htab;	/* registrations by handle (next.c) */
	size_t htab_cap, htab_used;
	int log_level;
	int log_fd;
	bool stats_at_exit;
};

extern struct pg_global pg PG_HIDDEN;

/* Set at the first pin, like the kernel's mm->has_pinned: until then the
 * fork hook does nothing but test it. */
extern atomic_bool pg_active PG_HIDDEN;
/* Forks in flight that passed the hook while nothing was pinned; pins
 * wait for them so that no pin slips in unguarded. */
extern atomic_uint pg_unguarded_forks PG_HIDDEN;
/* Bumped around munmap/mremap/shmdt so the VMA cache knows it is stale. */
extern atomic_ulong pg_mm_gen PG_HIDDEN;

void pg_lock(void) PG_HIDDEN;
void pg_unlock(void) PG_HIDDEN;
/* Did this thread take the lock re-entrantly (another library's atfork
 * prepare calling in) since the last call? Resets the answer. */
bool pg_lock_nested_since_fork(void) PG_HIDDEN;

/* config.c */
void pg_config_from_env(void) PG_HIDDEN;
bool pg_guarded_scope(bool shortterm) PG_HIDDEN;

/* verdict.c: auto mode, judged per kind of memory (bits 1 << PINGUARD_MEM_*) */
#define PG_ALL_KINDS ((1u << PINGUARD_MEM_KINDS) - 1)
/* Kinds of the pages in [s, e), right after a successful
 * pg_vmacache_check() of that range (lock held). */
unsigned pg_kinds_of(uintptr_t s, uintptr_t e) PG_HIDDEN;
/* Kinds of the mask not judged yet. */
unsigned pg_kinds_unjudged(unsigned kinds) PG_HIDDEN;
/* Judge those kinds (probes; lock NOT held), each once per process. */
void pg_judge_kinds(unsigned kinds) PG_HIDDEN;
/* Auto mode: the mode the judged kinds call for (lock held). */
void pg_auto_apply(unsigned kinds) PG_HIDDEN;
/* Auto mode's copy: does a piece of this VMA need a snapshot? */
bool pg_kind_needs_guard(const struct pg_vma *v, uintptr_t s, uintptr_t e)
	PG_HIDDEN;
/* Could [s, e) of this private VMA be backed by a transparent huge page? */
bool pg_thp_possible(const struct pg_vma *v, uintptr_t s, uintptr_t e)
	PG_HIDDEN;
/* Auto mode's verdict from a configuration (pinguard_configure()). */
void pg_auto_reapply(void) PG_HIDDEN;
/* Judge every kind now and apply (fork-init takeover, at load). */
void pg_auto_judge_all(void) PG_HIDDEN;
void pg_verdict_reset_child(void) PG_HIDDEN;

/* probe.c: does the kernel copy pinned pages of this kind at fork? */
enum pinguard_kernel pg_probe_kernel(enum pinguard_memkind kind,
				     enum pinguard_reason *why) PG_HIDDEN;
bool pg_kernel_at_least(unsigned major, unsigned minor) PG_HIDDEN;
/* 5.9-5.18: a write fault replaces a pinned page whose reference count
 * says "pinned" (write protection taken and given back breaks the pin). */
bool pg_kernel_wp_breaks_pins(void) PG_HIDDEN;

/* log.c: async-signal-safe, formats %s %d %u %ld %lu %lx %zu %p %% only */
void pg_log(int level, const char *fmt, ...) PG_HIDDEN
	__attribute__((format(printf, 2, 3)));
void pg_warn_config(const char *fmt, ...) PG_HIDDEN
	__attribute__((format(printf, 1, 2)));
uint64_t pg_now_ns(void) PG_HIDDEN;

/* foreign.c: MADV_DONTFORK ranges that the application set itself */
void pg_foreign_mark(uintptr_t start, uintptr_t end, bool dontfork) PG_HIDDEN;
/* MADV_DOFORK [start, end) except where the application wants DONTFORK. */
int pg_dofork_except_foreign(uintptr_t start, uintptr_t end) PG_HIDDEN;
void pg_retry_dofork(void) PG_HIDDEN;
void pg_retry_reset_child(void) PG_HIDDEN;

/* wrap_mm.c: libibverbs' ibv_dontfork_range is running on this thread /
 * it was seen making MADV_DONTFORK (rdma-core's fork tracking is on). */
extern __thread bool pg_t_in_rdma_dontfork PG_HIDDEN;
extern atomic_bool pg_rdma_tracking_seen PG_HIDDEN;

/* wrap_fork_init.c: fork-init takeover in force */
bool pg_fork_init_taken(void) PG_HIDDEN;

/* fork.c */
void pg_fork_reset_child(bool held) PG_HIDDEN;
/* For the interposed fork paths: begin before the real call; -errno (the
 * fork must fail) when pinned memory cannot be protected. atfork_follows:
 * the call runs our atfork handlers (glibc's fork()), which take the
 * snapshots and finish; otherwise begin does it all. end after the call
 * runs the parent/child side unless the atfork handlers did. */
int pg_fork_begin(bool atfork_follows) PG_HIDDEN;
void pg_fork_end(pid_t pid, bool atfork_follows) PG_HIDDEN;
extern __thread bool pg_t_fork_early PG_HIDDEN
	__attribute__((tls_model("initial-exec")));

static inline uintptr_t pg_align_down(uintptr_t x, uintptr_t a)
{
	return x & ~(a - 1);
}

#endif
