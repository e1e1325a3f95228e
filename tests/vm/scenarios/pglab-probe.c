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
/* the pin of each kind the pinguard command's probe and audit make */
#include "pinkind.h"	/* pglab-api-srcs: ../../../tools/pinkind.c */
#endif

int main(int argc, char **argv)
{
#ifdef HAVE_PINGUARD
	struct pinguard_mode_info m;
	int k, r;

	if (argc < 2 || strcmp(argv[1], "--pinguard-api"))
		SKIP("api_only");
	for (k = 0; k < PINGUARD_MEM_KINDS; k++) {
		r = pg_pin_kind((enum pinguard_memkind)k);
		if (r)
			FAIL("pin_%s=%d",
			     pinguard_memkind_name((enum pinguard_memkind)k), r);
	}
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
