/* SPDX-License-Identifier: MIT */
/* The library's state as `pinguard status` reads it from another process
 * through /proc/PID/mem (tools/status_read.c): struct pg_global (the
 * exported pinguard_state_v1 points to it) and everything reachable from
 * it: the registry's nodes and segments, the registration handles, the
 * io_uring slot arrays. Nothing outside this file is read remotely; any
 * change to a structure here bumps PG_STATE_VERSION. */
#ifndef PG_STATE_H
#define PG_STATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pinguard.h"

#define PG_STATE_MAGIC 0x70696e6775617264ull	/* "pinguard" */
#define PG_STATE_VERSION 5	/* 5: per-kind verdicts, counters.wrprotects */

/* The registry (registry.c, regbtree.c): disjoint segments of pinned
 * pages in a B+tree of index-addressed nodes. */
#define PG_NIL 0u

struct pg_seg {
	uintptr_t start, end;
	uint32_t nlong, nshort;	/* long-term / short-term pins on each page */
	uint8_t flags;		/* PG_SEG_* */
};

#define PG_SEG_DONTFORK 0x1	/* pinguard holds MADV_DONTFORK here */

/* 512-byte nodes: 16-byte header + 15 x 32 (leaf) or 40 x (8 + 4)
 * (inner), + 16 spare. Leaves this size keep the inner levels small
 * enough to stay cached (~16 bytes of inner node per leaf). */
#define PG_LEAF_SEGS 15
#define PG_INNER_KIDS 40

struct pg_node {
	uint16_t n;		/* segments (leaf) or children (inner) */
	uint8_t leaf;
	uint8_t pad_;
	uint32_t prev, next;	/* leaves in address order; next: free list */
	uint32_t pad2_;
	union {
		struct pg_seg seg[PG_LEAF_SEGS];	/* sorted by start */
		struct {
			/* key[i] <= every start under child[i] < key[i + 1];
			 * key[0] is unused */
			uintptr_t key[PG_INNER_KIDS];
			uint32_t child[PG_INNER_KIDS];
		};
	};
	uint64_t spare_[2];	/* to 8 whole cache lines */
};

struct pg_registry {
	struct pg_node *pool;	/* pool[0] is unused: index 0 is nil */
	uint32_t cap, used, free_head, nfree, root;
	uint32_t height;	/* levels: 0 empty, 1 a single leaf */
	uint64_t nsegs;		/* segments in the tree */
	uint64_t extents;	/* maximal contiguous pinned extents */
	uint64_t bytes;		/* bytes with at least one pin */
	/* Inserts and deletes so far; the leaf slot of the last disjoint pin
	 * stays right until the next one: its unpin needs no seek. */
	uint64_t mods, hint_mods;
	uint32_t hint_leaf, hint_pos;
};

/* Where a registration came from (for statistics and status). */
enum pg_source {
	PG_SRC_API = 0, PG_SRC_VERBS, PG_SRC_PROVIDER, PG_SRC_DEVX,
	PG_SRC_IO_URING, PG_SRC_COUNT
};

/* Registrations by handle (MR, umem, ring): handle -> range (handles.c). */
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

struct pg_counters {
	uint64_t active_pins, pins_total, unpins_total;
	uint64_t forks_seen, forks_guarded, bytes_copied, fork_errors, fork_ns;
	uint64_t pretouched_bytes;
	uint64_t staging_kept;	/* copy mode: staging kept for the next fork */
	uint64_t wrprotects;	/* write taken from pinned pages (5.9-5.18) */
};

/* Keep magic, version and size first: a reader checks them before the
 * rest. */
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
	struct pg_reg_entry *htab;	/* registrations by handle (handles.c) */
	size_t htab_cap, htab_used;
	int log_level;
	int log_fd;
	bool stats_at_exit;
};

#endif
