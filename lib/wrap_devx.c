/* SPDX-License-Identifier: MIT */
/* mlx5dv DEVX umem interposers: a umem pins its memory like an MR.
 * dma-buf umems are device memory and are passed through. */
#include "compat.h"
#include "internal.h"
#include "wrap.h"

#define MLX5 "libmlx5.so.1"

static struct mlx5dv_devx_umem *umem_done(struct mlx5dv_devx_umem *umem,
					  bool pinned, void *addr, size_t size,
					  uint32_t access)
{
	pg_wrap_registered(umem, pinned, addr, size, access, PG_SRC_DEVX);
	return umem;
}

struct mlx5dv_devx_umem *mlx5dv_devx_umem_reg(struct ibv_context *ctx,
					      void *addr, size_t size,
					      uint32_t access)
{
	static struct mlx5dv_devx_umem *(*next)(struct ibv_context *, void *,
						size_t, uint32_t);
	bool pinned;

	PG_NEXT(next, MLX5, "mlx5dv_devx_umem_reg", "MLX5_1.7");
	if (!next) {
		errno = ENOSYS;
		return NULL;
	}
	pinned = pg_wrap_pin(addr, size, pg_ibv_access_readonly(access), PG_SRC_DEVX);
	pg_wrap_depth++;
	return umem_done(next(ctx, addr, size, access), pinned, addr, size,
			 access);
}

struct mlx5dv_devx_umem *
mlx5dv_devx_umem_reg_ex(struct ibv_context *ctx,
			struct mlx5dv_devx_umem_in *in)
{
	static struct mlx5dv_devx_umem *(*next)(struct ibv_context *,
						struct mlx5dv_devx_umem_in *);
	bool pinned = false;

	PG_NEXT(next, MLX5, "mlx5dv_devx_umem_reg_ex", "MLX5_1.19");
	if (!next) {
		errno = ENOSYS;
		return NULL;
	}
	if (in && !(in->comp_mask & MLX5DV_UMEM_MASK_DMABUF))
		pinned = pg_wrap_pin(in->addr, in->size,
				     pg_ibv_access_readonly(in->access), PG_SRC_DEVX);
	pg_wrap_depth++;
	return umem_done(next(ctx, in), pinned, in ? in->addr : NULL,
			 in ? in->size : 0, in ? in->access : 0);
}

int mlx5dv_devx_umem_dereg(struct mlx5dv_devx_umem *umem)
{
	static int (*next)(struct mlx5dv_devx_umem *);
	struct pg_reg_entry e;
	int ret;

	PG_NEXT(next, MLX5, "mlx5dv_devx_umem_dereg", "MLX5_1.7");
	if (!next)
		return ENOSYS;
	pg_wrap_depth++;
	ret = next(umem);
	pg_wrap_depth--;
	if (!ret && pg_handle_get(umem, &e, true)) {
		int saved = errno;

		pg_wrap_unpin((void *)e.addr, e.len, PG_SRC_DEVX);
		errno = saved;
	}
	return ret;
}
