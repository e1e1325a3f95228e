/* SPDX-License-Identifier: MIT */
/* A middleware transport module (think UCX's uct_ib): linked against
 * libibverbs, loaded with dlopen(RTLD_LOCAL), so libibverbs ends up in a
 * local scope only. It calls verbs the ordinary way, through its PLT. */
#include "fake_api.h"

#undef ibv_reg_mr

__attribute__((visibility("default")))
struct ibv_mr *plugin_reg(struct ibv_pd *pd, void *addr, size_t len,
			  int access)
{
	return ibv_reg_mr(pd, addr, len, access);
}

__attribute__((visibility("default")))
int plugin_dereg(struct ibv_mr *mr)
{
	return ibv_dereg_mr(mr);
}
