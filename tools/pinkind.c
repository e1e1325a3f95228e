/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>

#include "pinkind.h"

/* Pin without touching: the library's own probes map and fault in what
 * they need, and an untouched MAP_NORESERVE huge page costs no free huge
 * page (the hugetlb probe needs one). */
int pg_pin_kind(enum pinguard_memkind kind)
{
	size_t huge = 2ul << 20, len = kind == PINGUARD_MEM_4K ? 3 * 4096 :
				       2 * huge;
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	char *p, *at;
	int ret;

	if (kind == PINGUARD_MEM_HUGETLB) {
		flags |= MAP_HUGETLB;
		len = huge;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	at = p;
	if (kind == PINGUARD_MEM_4K) {
		/* a VMA of its own, too small for a THP */
		mprotect(p, 4096, PROT_NONE);
		mprotect(p + 2 * 4096, 4096, PROT_NONE);
		at = p + 4096;
	} else if (kind == PINGUARD_MEM_THP) {
		at = (char *)(((uintptr_t)p + huge - 1) & ~(huge - 1));
	}
	ret = pinguard_pin(at, 4096, 0);
	if (!ret)
		pinguard_unpin(at, 4096);
	munmap(p, len);
	return ret;
}
