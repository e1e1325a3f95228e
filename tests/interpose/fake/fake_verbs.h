/* SPDX-License-Identifier: MIT */
/* Exported by libibverbs but declared only in rdma-core's driver.h,
 * which is not installed. */
#ifndef PG_FAKE_VERBS_H
#define PG_FAKE_VERBS_H

#include <stddef.h>

int ibv_dontfork_range(void *base, size_t size);
int ibv_dofork_range(void *base, size_t size);

#endif
