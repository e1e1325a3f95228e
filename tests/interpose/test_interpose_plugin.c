/* SPDX-License-Identifier: MIT */
/*
 * Not linked to libibverbs, liburing or libmlx5; pinguard preloaded.
 * First the wrappers are inert: reached through dlsym they find no next
 * definition, fail with ENOSYS, pin nothing and load nothing. Then a
 * plug-in linked to the stand-in libibverbs is dlopen()ed RTLD_LOCAL: its
 * ibv_reg_mr still reaches pinguard, which must find the stand-in's
 * definition although it is not in the global scope.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include "fake_api.h"

#include "pg_api.h"

static bool loaded(const char *soname)
{
	void *h = dlopen(soname, RTLD_LAZY | RTLD_NOLOAD);

	if (h)
		dlclose(h);
	return h != NULL;
}

static void test_inert_without_libraries(void **state)
{
	struct ibv_mr *(*reg)(struct ibv_pd *, void *, size_t, int);
	struct mlx5dv_devx_umem *(*umem)(struct ibv_context *, void *, size_t,
					 uint32_t);
	int (*bufs)(struct io_uring *, const struct iovec *, unsigned);
	struct pinguard_stats s = pg_stats();
	char *buf = pages(1);
	struct iovec iov = { buf, PAGE };
	struct io_uring ring;

	(void)state;
	assert_false(loaded("libibverbs.so.1"));
	assert_false(loaded("liburing.so.2"));
	assert_false(loaded("libmlx5.so.1"));
	/* loading pinguard pinned nothing */
	assert_int_equal(s.pins_total, 0);
	assert_int_equal(s.active_pins, 0);

	reg = (struct ibv_mr *(*)(struct ibv_pd *, void *, size_t, int))
		dlsym(RTLD_DEFAULT, "ibv_reg_mr");
	umem = (struct mlx5dv_devx_umem *(*)(struct ibv_context *, void *,
					     size_t, uint32_t))
		dlsym(RTLD_DEFAULT, "mlx5dv_devx_umem_reg");
	bufs = (int (*)(struct io_uring *, const struct iovec *, unsigned))
		dlsym(RTLD_DEFAULT, "io_uring_register_buffers");
	assert_true(wrapped_by_pinguard("ibv_reg_mr"));
	assert_true(wrapped_by_pinguard("mlx5dv_devx_umem_reg"));
	assert_true(wrapped_by_pinguard("io_uring_register_buffers"));
	errno = 0;
	assert_null(reg(NULL, buf, PAGE, IBV_ACCESS_LOCAL_WRITE));
	assert_int_equal(errno, ENOSYS);
	errno = 0;
	assert_null(umem(NULL, buf, PAGE, 0));
	assert_int_equal(errno, ENOSYS);
	assert_int_equal(bufs(&ring, &iov, 1), -ENOSYS);
	assert_int_equal(pins(buf), 0);
	expect_stats(0, 0);
	assert_int_equal(pg_stats().pins_total, 0);
	assert_false(loaded("libibverbs.so.1"));
	assert_false(loaded("liburing.so.2"));
	assert_false(loaded("libmlx5.so.1"));
}

static void test_local_scope_plugin(void **state)
{
	static struct ibv_pd pd;
	const char *path = getenv("PG_PLUGIN");
	struct ibv_mr *(*reg)(struct ibv_pd *, void *, size_t, int);
	int (*dereg)(struct ibv_mr *);
	const struct fake_call *c;
	char *buf = pages(2);
	struct ibv_mr *mr;
	void *h;

	(void)state;
	assert_non_null(path);
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		fail_msg("dlopen %s: %s", path, dlerror());
	reg = (struct ibv_mr *(*)(struct ibv_pd *, void *, size_t, int))
		dlsym(h, "plugin_reg");
	dereg = (int (*)(struct ibv_mr *))dlsym(h, "plugin_dereg");
	assert_non_null(reg);
	assert_non_null(dereg);
	assert_true(loaded("libibverbs.so.1"));
	/* libibverbs is in the plug-in's scope only */
	assert_true(wrapped_by_pinguard("ibv_reg_mr"));

	/* the ibv_reg_mr -> ibv_reg_mr_iova2 nesting of rdma-core 44 has
	 * its own test (test_interpose_verbs); keep this one about scope */
	fake_set_option("reg_mr_direct", 1);
	mr = reg(&pd, buf, 2 * PAGE, IBV_ACCESS_LOCAL_WRITE);
	if (!mr)
		fail_msg("plug-in ibv_reg_mr failed: errno %d (pinguard did "
			 "not find the RTLD_LOCAL libibverbs)", errno);
	c = reached("ibv_reg_mr");
	assert_int_equal(c->arg[0], FAKE_U(&pd));
	assert_int_equal(c->arg[1], FAKE_U(buf));
	assert_int_equal(c->arg[2], 2 * PAGE);
	assert_int_equal(c->pins[0], 1);
	expect_nested_wrapped("ibverbs:ibv_dontfork_range");
	assert_int_equal(reached("ibv_dontfork_range")->pins[0], 1);
	expect_stats(1, 2 * PAGE);
	assert_int_equal(dereg(mr), 0);
	assert_int_equal(reached("ibv_dereg_mr")->pins[0], 1);
	assert_int_equal(pins(buf), 0);
	expect_stats(0, 0);
	dlclose(h);
}

#define T(f) cmocka_unit_test_setup(f, pg_test_setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_inert_without_libraries),
		T(test_local_scope_plugin),
	};

	return cmocka_run_group_tests(tests, pg_api_setup, NULL);
}
