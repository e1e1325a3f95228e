/* SPDX-License-Identifier: MIT */
/*
 * What this kernel does with DMA-pinned pages of each kind at fork, by the
 * library's own detection run in this process (probe and audit): auto
 * mode, one pin of each kind of memory. The PINGUARD_KERNEL* overrides
 * from the environment are kept, so a verdict can be forced.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "pinguard.h"
#include "tool.h"

/* Pin without touching: the library's own probes map and fault in what
 * they need, and an untouched MAP_NORESERVE huge page costs no free huge
 * page (the hugetlb probe needs one). */
static int pin_kind(enum pinguard_memkind kind)
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

void kernel_judge(struct kernel_facts *kf)
{
	struct pinguard_config cfg;
	int k;

	memset(kf, 0, sizeof(*kf));
	kf->pin_error = pinguard_get_config(&cfg, sizeof(cfg));
	if (!kf->pin_error) {
		cfg.mode = PINGUARD_MODE_AUTO;
		kf->pin_error = pinguard_configure(&cfg, sizeof(cfg));
	}
	for (k = 0; !kf->pin_error && k < PINGUARD_MEM_KINDS; k++) {
		kf->kind_error[k] = pin_kind((enum pinguard_memkind)k);
		if (k == PINGUARD_MEM_4K)
			kf->pin_error = kf->kind_error[k];
	}
	pinguard_get_mode(&kf->mode, sizeof(kf->mode));
}
