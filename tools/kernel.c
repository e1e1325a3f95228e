/* SPDX-License-Identifier: MIT */
/*
 * What this kernel does with DMA-pinned pages of each kind at fork, by the
 * library's own detection run in this process (probe and audit): auto
 * mode, one pin of each kind of memory. The PINGUARD_KERNEL* overrides
 * from the environment are kept, so a verdict can be forced.
 */
#include <string.h>

#include "pinguard.h"
#include "pinkind.h"
#include "tool.h"

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
		kf->kind_error[k] = pg_pin_kind((enum pinguard_memkind)k);
		if (k == PINGUARD_MEM_4K)
			kf->pin_error = kf->kind_error[k];
	}
	pinguard_get_mode(&kf->mode, sizeof(kf->mode));
}
