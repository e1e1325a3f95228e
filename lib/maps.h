/* SPDX-License-Identifier: MIT */
/* /proc/self/maps and smaps readers: no malloc, no stdio, so they can run
 * inside fork handlers. */
#ifndef PG_MAPS_H
#define PG_MAPS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define PG_VMA_SHARED   0x1	/* MAP_SHARED: never copy-on-write */
#define PG_VMA_FILE     0x2	/* backed by a file (inode != 0) */
#define PG_VMA_MAYBE_HUGE 0x4	/* pseudo-fs file: could be hugetlbfs */
#define PG_VMA_HUGETLB  0x8	/* hugetlbfs: pageshift is its page size */

struct pg_vma {
	uintptr_t start, end;
	uint32_t prot;		/* PROT_* */
	uint32_t flags;		/* PG_VMA_* */
	uint64_t inode;
	uint32_t dev;
	uint32_t pageshift;	/* 12 unless hugetlb */
};

struct pg_maps_iter {
	int fd;
	size_t len, pos;
	char path[256];		/* of the last line, for hugetlb checks */
	char buf[4096];
};

struct pg_maps_iter *pg_maps_buffer(int which);
int pg_maps_open(struct pg_maps_iter *it);
/* 1: *v filled, 0: end, < 0: -errno. */
int pg_maps_next(struct pg_maps_iter *it, struct pg_vma *v);
void pg_maps_close(struct pg_maps_iter *it);

/* Page shift of the hugetlb mapping that starts at start, from statfs of
 * its file or from smaps; 0 when it is not hugetlb. */
uint32_t pg_hugetlb_shift(uintptr_t start, const char *path);

#endif
