/* SPDX-License-Identifier: MIT */
/* mlx5dv DEVX umem wrappers against the stand-in libmlx5.so.1, which
 * calls ibv_dontfork_range/ibv_dofork_range of the stand-in libibverbs
 * like the real provider does. */
#include <errno.h>
#include "fake_api.h"

#include "pg_api.h"

static struct ibv_context ctx_storage;
static struct ibv_context *const ctx = &ctx_storage;

static void test_symbols_resolve_to_wrappers(void **state)
{
	(void)state;
	assert_true(wrapped_by_pinguard("mlx5dv_devx_umem_reg"));
	assert_true(wrapped_by_pinguard("mlx5dv_devx_umem_reg_ex"));
	assert_true(wrapped_by_pinguard("mlx5dv_devx_umem_dereg"));
}

static void dereg_unpins(struct mlx5dv_devx_umem *u, void *buf)
{
	const struct fake_call *c;

	assert_int_equal(mlx5dv_devx_umem_dereg(u), 0);
	c = reached("mlx5dv_devx_umem_dereg");
	assert_int_equal(c->arg[0], FAKE_U(u));
	assert_int_equal(c->pins[0], 1);
	assert_int_equal(pins(buf), 0);
	expect_stats(0, 0);
}

static void test_umem_reg(void **state)
{
	char *buf = pages(3);
	struct mlx5dv_devx_umem *u;
	const struct fake_call *c;

	(void)state;
	u = mlx5dv_devx_umem_reg(ctx, buf, 3 * PAGE, IBV_ACCESS_LOCAL_WRITE);
	assert_non_null(u);
	c = reached("mlx5dv_devx_umem_reg");
	assert_int_equal(c->nargs, 4);
	assert_int_equal(c->arg[0], FAKE_U(ctx));
	assert_int_equal(c->arg[1], FAKE_U(buf));
	assert_int_equal(c->arg[2], 3 * PAGE);
	assert_int_equal(c->arg[3], IBV_ACCESS_LOCAL_WRITE);
	assert_int_equal(c->pins[0], 1);
	/* the provider's own ibv_dontfork_range went through the wrapper
	 * and did not pin a second time */
	expect_nested_wrapped("mlx5:ibv_dontfork_range");
	assert_int_equal(reached("ibv_dontfork_range")->pins[0], 1);
	expect_stats(1, 3 * PAGE);
	dereg_unpins(u, buf);
	expect_nested_wrapped("mlx5:ibv_dofork_range");
	assert_int_equal(reached("ibv_dofork_range")->pins[0], 1);
}

static void test_umem_reg_ex(void **state)
{
	char *buf = pages(2);
	struct mlx5dv_devx_umem_in in = {
		.addr = buf, .size = 2 * PAGE, .access = 0,
		.pgsz_bitmap = PAGE,
	};
	struct mlx5dv_devx_umem *u;
	const struct fake_call *c;

	(void)state;
	u = mlx5dv_devx_umem_reg_ex(ctx, &in);	/* read-only: still pinned */
	assert_non_null(u);
	c = reached("mlx5dv_devx_umem_reg_ex");
	assert_int_equal(c->arg[0], FAKE_U(ctx));
	assert_int_equal(c->arg[1], FAKE_U(&in));
	assert_int_equal(c->arg[2], FAKE_U(buf));
	assert_int_equal(c->arg[3], 2 * PAGE);
	assert_int_equal(c->pins[0], 1);
	expect_stats(1, 2 * PAGE);
	dereg_unpins(u, buf);
}

static void test_umem_dmabuf_not_pinned(void **state)
{
	char *buf = pages(1);
	struct mlx5dv_devx_umem_in in = {
		.addr = buf, .size = PAGE, .access = IBV_ACCESS_LOCAL_WRITE,
		.comp_mask = MLX5DV_UMEM_MASK_DMABUF, .dmabuf_fd = 42,
	};
	struct mlx5dv_devx_umem *u;

	(void)state;
	u = mlx5dv_devx_umem_reg_ex(ctx, &in);
	assert_non_null(u);
	assert_int_equal(reached("mlx5dv_devx_umem_reg_ex")->pins[0], 0);
	assert_int_equal(fake_count("ibv_dontfork_range"), 0);
	expect_stats(0, 0);
	assert_int_equal(mlx5dv_devx_umem_dereg(u), 0);
	assert_int_equal(pins(buf), 0);
	expect_stats(0, 0);
}

static void test_umem_reg_failure_rolls_back(void **state)
{
	char *buf = pages(2);
	struct mlx5dv_devx_umem_in in = {
		.addr = buf, .size = 2 * PAGE, .access = IBV_ACCESS_LOCAL_WRITE,
	};

	(void)state;
	fake_fail_next("mlx5dv_devx_umem_reg", EPROTO);
	errno = 0;
	assert_null(mlx5dv_devx_umem_reg(ctx, buf, 2 * PAGE, 0));
	assert_int_equal(errno, EPROTO);
	assert_int_equal(reached("mlx5dv_devx_umem_reg")->pins[0], 1);
	assert_int_equal(pins(buf), 0);
	expect_stats(0, 0);

	fake_fail_next("mlx5dv_devx_umem_reg_ex", EREMOTEIO);
	errno = 0;
	assert_null(mlx5dv_devx_umem_reg_ex(ctx, &in));
	assert_int_equal(errno, EREMOTEIO);
	assert_int_equal(reached("mlx5dv_devx_umem_reg_ex")->pins[0], 1);
	assert_int_equal(pins(buf), 0);
	expect_stats(0, 0);
}

static void test_umem_dereg_failure_keeps_pin(void **state)
{
	char *buf = pages(2);
	struct mlx5dv_devx_umem *u;

	(void)state;
	u = mlx5dv_devx_umem_reg(ctx, buf, 2 * PAGE, IBV_ACCESS_LOCAL_WRITE);
	assert_non_null(u);
	fake_fail_next("mlx5dv_devx_umem_dereg", EBUSY);
	assert_int_equal(mlx5dv_devx_umem_dereg(u), EBUSY);
	assert_int_equal(pins(buf), 1);
	expect_stats(1, 2 * PAGE);
	dereg_unpins(u, buf);
}

#define T(f) cmocka_unit_test_setup(f, pg_test_setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_symbols_resolve_to_wrappers),
		T(test_umem_reg),
		T(test_umem_reg_ex),
		T(test_umem_dmabuf_not_pinned),
		T(test_umem_reg_failure_rolls_back),
		T(test_umem_dereg_failure_keeps_pin),
	};

	return cmocka_run_group_tests(tests, pg_api_setup, NULL);
}
