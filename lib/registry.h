/* SPDX-License-Identifier: MIT */
/* Registry of pinned pages: disjoint segments [start, end) with pin counts,
 * kept in a B+tree whose 512-byte nodes live in one index-addressed pool
 * (regbtree.c): a lookup among 100k segments touches 4 nodes. */
#ifndef PG_REGISTRY_H
#define PG_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PG_NIL 0u

/* Read from other processes by `pinguard status` (tools/status.c): a
 * layout change here must bump PG_STATE_VERSION (internal.h). */
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

/* Walk callback over [start, end) pieces; return non-zero to stop. */
typedef int (*pg_walk_fn)(uintptr_t start, uintptr_t end,
			  const struct pg_seg *seg, void *arg);

void pg_reg_reset(struct pg_registry *r);
/* Make room for the mutation of [start, end): -ENOMEM when impossible. */
int pg_reg_reserve_for(struct pg_registry *r, uintptr_t start, uintptr_t end);
/* One more pin on every page of [start, end). Call reserve first. */
void pg_reg_add(struct pg_registry *r, uintptr_t start, uintptr_t end,
		bool shortterm);
/* One pin less on every page; false (nothing changed) if a page in the
 * range is not pinned. Call reserve first. */
bool pg_reg_remove(struct pg_registry *r, uintptr_t start, uintptr_t end);
/* pin/unpin with their own reservation: 0, -ENOMEM, -ENOENT (unpin). */
int pg_reg_pin(struct pg_registry *r, uintptr_t start, uintptr_t end,
	       bool shortterm);
int pg_reg_unpin(struct pg_registry *r, uintptr_t start, uintptr_t end);
bool pg_reg_covered(const struct pg_registry *r, uintptr_t start,
		    uintptr_t end);
/* Segments overlapping [start, end), clipped to it, in address order. */
int pg_reg_walk(const struct pg_registry *r, uintptr_t start, uintptr_t end,
		pg_walk_fn fn, void *arg);
/* Unpinned holes of [start, end): seg is NULL for them. */
int pg_reg_walk_gaps(const struct pg_registry *r, uintptr_t start,
		     uintptr_t end, pg_walk_fn fn, void *arg);
/* Set or clear flag bits on every segment in [start, end). */
void pg_reg_set_flags(struct pg_registry *r, uintptr_t start, uintptr_t end,
		      uint8_t set, uint8_t clear);
const struct pg_seg *pg_reg_find(const struct pg_registry *r, uintptr_t addr);

static inline uint32_t pg_seg_pins(const struct pg_seg *s)
{
	return s->nlong + s->nshort;
}

#endif
