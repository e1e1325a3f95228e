/* SPDX-License-Identifier: MIT */
/*
 * Auto mode's verdict per kind of memory on this kernel, and what each
 * probe cost at the first pin of that kind: one pin of a 4 KiB page, of a
 * THP-capable 2 MiB block and of a huge page (untouched, MAP_NORESERVE:
 * the library's probes map and fault in what they need).
 *
 *   pglab-probe --pinguard-api     (api-auto only; other variants skip)
 *
 * detail: 4k=, thp=, hugetlb= the verdict (patched|unpatched|unknown),
 * by_<kind>= how it was reached, us_<kind>= the probe's cost in µs.
 */
#include "pglab-common.h"

#ifdef HAVE_PINGUARD
static void pin_kind(enum pinguard_memkind kind)
{
	size_t huge = 2ul << 20, len = kind == PINGUARD_MEM_4K ? 3 * 4096 :
				       2 * huge;
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, r;
	char *p, *at;

	if (kind == PINGUARD_MEM_HUGETLB) {
		flags |= MAP_HUGETLB;
		len = huge;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (p == MAP_FAILED)
		FAIL("mmap_%s=%d", pinguard_memkind_name(kind), errno);
	at = p;
	if (kind == PINGUARD_MEM_4K) {
		/* a VMA of its own, too small for a THP */
		mprotect(p, 4096, PROT_NONE);
		mprotect(p + 2 * 4096, 4096, PROT_NONE);
		at = p + 4096;
	} else if (kind == PINGUARD_MEM_THP) {
		at = (char *)(((uintptr_t)p + huge - 1) & ~(huge - 1));
	}
	r = pinguard_pin(at, 4096, 0);
	if (r)
		FAIL("pin_%s=%d", pinguard_memkind_name(kind), r);
	pinguard_unpin(at, 4096);
	munmap(p, len);
}
#endif

int main(int argc, char **argv)
{
#ifdef HAVE_PINGUARD
	struct pinguard_mode_info m;
	int k;

	if (argc < 2 || strcmp(argv[1], "--pinguard-api"))
		SKIP("api_only");
	for (k = 0; k < PINGUARD_MEM_KINDS; k++)
		pin_kind((enum pinguard_memkind)k);
	if (pinguard_get_mode(&m, sizeof(m)))
		FAIL("get_mode");
	for (k = 0; k < PINGUARD_MEM_KINDS; k++) {
		const char *n = pinguard_memkind_name((enum pinguard_memkind)k);

		detail("%s=%s", n, pinguard_kernel_name(m.kinds[k].kernel));
		detail("by_%s=%s", n, pinguard_reason_name(m.kinds[k].reason));
		detail("us_%s=%llu", n,
		       (unsigned long long)m.kinds[k].probe_ns / 1000);
	}
	note_mode();
	finish("coherent");
#else
	(void)argc, (void)argv;
	SKIP("api_only");
#endif
}
