/* SPDX-License-Identifier: MIT */
/* Stand-in libmlx5.so.1: DEVX umems. Like rdma-core's mlx5, a umem of
 * process memory is announced with ibv_dontfork_range (libibverbs, PLT)
 * before the kernel pins it; dma-buf umems are not. */
#include <errno.h>
#include <stdlib.h>
#include "fake_api.h"

#include "fake_log.h"
#include "fake_verbs.h"

#define PUB __attribute__((visibility("default")))
#define NOTE(fn) fake_note_binding("mlx5:" #fn, (const void *)fn)

struct fake_umem {
	struct mlx5dv_devx_umem pub;
	void *addr;
	size_t size;
	bool dmabuf;
};

static struct mlx5dv_devx_umem *umem_reg(const char *fn, void *addr,
					 size_t size, bool dmabuf)
{
	struct fake_umem *u;
	long val;
	int err;

	NOTE(ibv_dontfork_range);
	if (!dmabuf && ibv_dontfork_range(addr, size))
		return NULL;
	if (fake_take(fn, &err, &val) == 1) {
		if (!dmabuf)
			ibv_dofork_range(addr, size);
		errno = err;
		return NULL;
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->pub.umem_id = 7;
	u->addr = addr;
	u->size = size;
	u->dmabuf = dmabuf;
	return &u->pub;
}

PUB struct mlx5dv_devx_umem *mlx5dv_devx_umem_reg(struct ibv_context *ctx,
						  void *addr, size_t size,
						  uint32_t access)
{
	FAKE_RECORD("mlx5dv_devx_umem_reg",
		    FAKE_ARGS(FAKE_U(ctx), FAKE_U(addr), size, access),
		    FAKE_WATCH(addr));
	return umem_reg("mlx5dv_devx_umem_reg", addr, size, false);
}

PUB struct mlx5dv_devx_umem *
mlx5dv_devx_umem_reg_ex(struct ibv_context *ctx, struct mlx5dv_devx_umem_in *in)
{
	FAKE_RECORD("mlx5dv_devx_umem_reg_ex",
		    FAKE_ARGS(FAKE_U(ctx), FAKE_U(in), FAKE_U(in->addr),
			      in->size, in->access, in->comp_mask),
		    FAKE_WATCH(in->addr));
	return umem_reg("mlx5dv_devx_umem_reg_ex", in->addr, in->size,
			in->comp_mask & MLX5DV_UMEM_MASK_DMABUF);
}

PUB int mlx5dv_devx_umem_dereg(struct mlx5dv_devx_umem *umem)
{
	struct fake_umem *u = (struct fake_umem *)umem;
	long val;
	int err;

	FAKE_RECORD("mlx5dv_devx_umem_dereg", FAKE_ARGS(FAKE_U(umem)),
		    FAKE_WATCH(u->addr));
	if (fake_take("mlx5dv_devx_umem_dereg", &err, &val) == 1)
		return err;
	NOTE(ibv_dofork_range);
	if (!u->dmabuf)
		ibv_dofork_range(u->addr, u->size);
	free(u);
	return 0;
}
