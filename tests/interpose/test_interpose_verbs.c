/* SPDX-License-Identifier: MIT */
/*
 * libibverbs wrappers against the stand-in libibverbs.so.1 (fake/), with
 * pinguard preloaded. The stand-in logs, at the moment the provider would
 * pin, pinguard_pin_count() of the range, and which object called it: a
 * call that did not come through pinguard's wrapper fails reached().
 */
#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include "fake_api.h"

#include "fake_verbs.h"
#include "pg_api.h"

static struct ibv_pd pd_storage;
static struct ibv_pd *const pd = &pd_storage;

/* rdma-core's verbs.h makes ibv_reg_mr() a macro calling
 * ibv_reg_mr_iova2; without that header (compat.h) it is the plain call. */
#ifdef ibv_reg_mr
#define HAVE_REG_MR_MACRO 1
#else
#define HAVE_REG_MR_MACRO 0
#endif

/* What an application compiles: the header's ibv_reg_mr() macro with
 * access flags known only at run time calls ibv_reg_mr_iova2 (constant
 * flags call ibv_reg_mr: the nesting tests). */
static struct ibv_mr *app_reg_mr(void *addr, size_t len, int access)
{
	volatile int runtime_access = access;

	return ibv_reg_mr(pd, addr, len, runtime_access);
}

#undef ibv_reg_mr
#undef ibv_reg_mr_iova

static void assert_args(const struct fake_call *c, int n, ...)
{
	va_list ap;
	int i;

	assert_int_equal(c->nargs, n);
	va_start(ap, n);
	for (i = 0; i < n; i++)
		assert_int_equal(c->arg[i], va_arg(ap, uint64_t));
	va_end(ap);
}

/* Deregister and check the pin goes only after the real call. */
static void dereg_unpins(struct ibv_mr *mr, void *buf)
{
	assert_int_equal(ibv_dereg_mr(mr), 0);
	assert_int_equal(reached("ibv_dereg_mr")->pins[0], 1);
	assert_int_equal(pins(buf), 0);
	expect_stats(0, 0);
}

static void test_symbols_resolve_to_wrappers(void **state)
{
	static const char *const syms[] = {
		"ibv_reg_mr", "ibv_reg_mr_iova", "ibv_reg_mr_iova2",
		"ibv_dereg_mr", "ibv_rereg_mr", "ibv_dontfork_range",
		"ibv_dofork_range",
	};
	void *h = dlopen("libibverbs.so.1", RTLD_LAZY | RTLD_NOLOAD);
	Dl_info info;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(syms) / sizeof(syms[0]); i++)
		if (!wrapped_by_pinguard(syms[i]))
			fail_msg("%s is not pinguard's wrapper", syms[i]);
	/* and the library behind them is the stand-in, not rdma-core */
	assert_non_null(h);
	assert_true(dladdr(dlvsym(h, "ibv_reg_mr", "IBVERBS_1.1"), &info));
	assert_non_null(strstr(info.dli_fname, "/interpose/fake/"));
	dlclose(h);
}

/* Unaligned range over 4 pages: whole pages pinned before the provider,
 * the nested ibv_dontfork_range (through the PLT, into the wrapper) does
 * not pin again. */
static void test_reg_mr_iova2_pins_before(void **state)
{
	char *buf = pages(4);
	struct ibv_mr *mr;
	const struct fake_call *c;

	(void)state;
	mr = ibv_reg_mr_iova2(pd, buf + 100, 3 * PAGE, 0x10000,
			      IBV_ACCESS_LOCAL_WRITE);
	assert_non_null(mr);
	assert_ptr_equal(mr->addr, buf + 100);
	c = reached("ibv_reg_mr_iova2");
	assert_args(c, 5, FAKE_U(pd), FAKE_U(buf + 100), 3 * PAGE, 0x10000,
		    (uint64_t)IBV_ACCESS_LOCAL_WRITE);
	assert_int_equal(c->pins[0], 1);
	expect_nested_wrapped("ibverbs:ibv_dontfork_range");
	c = reached("ibv_dontfork_range");
	assert_args(c, 2, FAKE_U(buf + 100), 3 * PAGE);
	assert_int_equal(c->pins[0], 1);
	assert_int_equal(pins(buf), 1);
	assert_int_equal(pins(buf + 3 * PAGE), 1);
	expect_stats(1, 4 * PAGE);
	dereg_unpins(mr, buf);
	/* nested ibv_dofork_range of the deregistration unpinned nothing */
	expect_nested_wrapped("ibverbs:ibv_dofork_range");
	assert_int_equal(reached("ibv_dofork_range")->pins[0], 1);
}

/* rdma-core 44: ibv_reg_mr@@IBVERBS_1.1 is `jmp ibv_reg_mr_iova2@plt`
 * (likewise ibv_reg_mr_iova), so the inner call reaches pinguard's
 * ibv_reg_mr_iova2 wrapper while the outer wrapper is active. */
static void check_nested_reg(const char *outer, bool iova)
{
	char *buf = pages(2);
	struct ibv_mr *mr;
	const struct fake_call *c;

	mr = iova ? ibv_reg_mr_iova(pd, buf, 2 * PAGE, 0x2000,
				    IBV_ACCESS_LOCAL_WRITE)
		  : ibv_reg_mr(pd, buf, 2 * PAGE, IBV_ACCESS_LOCAL_WRITE);
	assert_non_null(mr);
	c = reached(outer);
	assert_int_equal(c->pins[0], 1);
	expect_nested_wrapped("ibverbs:ibv_reg_mr_iova2");
	c = reached("ibv_reg_mr_iova2");
	assert_args(c, 5, FAKE_U(pd), FAKE_U(buf), 2 * PAGE,
		    iova ? 0x2000 : FAKE_U(buf),
		    (uint64_t)IBV_ACCESS_LOCAL_WRITE);
	if (c->pins[0] != 1)
		fail_msg("%s pinned %d times for one MR (nested "
			 "ibv_reg_mr_iova2 wrapper pinned again)", outer,
			 c->pins[0]);
	assert_int_equal(pins(buf), 1);
	expect_stats(1, 2 * PAGE);
	dereg_unpins(mr, buf);
}

static void test_reg_mr_rdma_core44_nesting(void **state)
{
	(void)state;
	check_nested_reg("ibv_reg_mr", false);
}

static void test_reg_mr_iova_rdma_core44_nesting(void **state)
{
	(void)state;
	check_nested_reg("ibv_reg_mr_iova", true);
}

/* Older rdma-core layout: ibv_reg_mr registers by itself. */
static void test_reg_mr_direct(void **state)
{
	char *buf = pages(2), *b2 = pages(1);
	struct ibv_mr *mr, *mr2;
	const struct fake_call *c;

	(void)state;
	fake_set_option("reg_mr_direct", 1);
	mr = ibv_reg_mr(pd, buf, 2 * PAGE, IBV_ACCESS_REMOTE_WRITE);
	assert_non_null(mr);
	c = reached("ibv_reg_mr");
	assert_args(c, 5, FAKE_U(pd), FAKE_U(buf), 2 * PAGE, FAKE_U(buf),
		    (uint64_t)IBV_ACCESS_REMOTE_WRITE);
	assert_int_equal(c->pins[0], 1);
	assert_int_equal(reached("ibv_dontfork_range")->pins[0], 1);
	mr2 = ibv_reg_mr_iova(pd, b2, PAGE, 0x5000, IBV_ACCESS_LOCAL_WRITE);
	assert_non_null(mr2);
	c = reached("ibv_reg_mr_iova");
	assert_args(c, 5, FAKE_U(pd), FAKE_U(b2), PAGE, 0x5000,
		    (uint64_t)IBV_ACCESS_LOCAL_WRITE);
	assert_int_equal(c->pins[0], 1);
	expect_stats(2, 3 * PAGE);
	assert_int_equal(ibv_dereg_mr(mr2), 0);
	assert_int_equal(pins(b2), 0);
	dereg_unpins(mr, buf);
}

static void test_app_macro_reaches_iova2(void **state)
{
	char *buf = pages(1);
	struct ibv_mr *mr;

	(void)state;
	if (!HAVE_REG_MR_MACRO) {
		print_message("no ibv_reg_mr macro: rdma-core's verbs.h is "
			      "missing or older than 29\n");
		skip();
	}
	mr = app_reg_mr(buf, PAGE, IBV_ACCESS_LOCAL_WRITE);
	assert_non_null(mr);
	assert_int_equal(fake_count("ibv_reg_mr"), 0);
	assert_int_equal(fake_count("ibv_reg_mr_iova2"), 1);
	assert_int_equal(reached("ibv_reg_mr_iova2")->pins[0], 1);
	expect_stats(1, PAGE);
	dereg_unpins(mr, buf);
}

static void test_reg_failure_rolls_back(void **state)
{
	char *buf = pages(2);
	const struct fake_call *c;

	(void)state;
	fake_fail_next("ibv_reg_mr_iova2", EMSGSIZE);
	errno = 0;
	assert_null(ibv_reg_mr_iova2(pd, buf, 2 * PAGE, 0,
				     IBV_ACCESS_LOCAL_WRITE));
	assert_int_equal(errno, EMSGSIZE);
	c = reached("ibv_reg_mr_iova2");
	assert_int_equal(c->pins[0], 1);
	/* rdma-core's own undo (nested dofork) is not where we unpin */
	expect_nested_wrapped("ibverbs:ibv_dofork_range");
	assert_int_equal(reached("ibv_dofork_range")->pins[0], 1);
	assert_int_equal(pins(buf), 0);
	expect_stats(0, 0);

	/* failure inside the nested ibv_dontfork_range */
	fake_fail_next("ibv_dontfork_range", ENOMEM);
	errno = 0;
	assert_null(ibv_reg_mr_iova2(pd, buf, PAGE, 0, 0));
	assert_int_equal(errno, ENOMEM);
	assert_int_equal(pins(buf), 0);
	expect_stats(0, 0);
}

static void test_dereg_failure_keeps_pin(void **state)
{
	char *buf = pages(2);
	struct ibv_mr *mr;

	(void)state;
	mr = ibv_reg_mr_iova2(pd, buf, 2 * PAGE, 0, IBV_ACCESS_LOCAL_WRITE);
	assert_non_null(mr);
	fake_fail_next("ibv_dereg_mr", EBUSY);
	assert_int_equal(ibv_dereg_mr(mr), EBUSY);
	assert_int_equal(reached("ibv_dereg_mr")->arg[0], FAKE_U(mr));
	assert_int_equal(pins(buf), 1);
	expect_stats(1, 2 * PAGE);
	dereg_unpins(mr, buf);
}

/* ODP pins nothing; its deregistration must not drop another MR's pin. */
static void test_odp_not_pinned(void **state)
{
	char *buf = pages(2);
	struct ibv_mr *odp, *mr;

	(void)state;
	odp = ibv_reg_mr_iova2(pd, buf, 2 * PAGE, 0, IBV_ACCESS_ON_DEMAND |
			       IBV_ACCESS_LOCAL_WRITE);
	assert_non_null(odp);
	assert_int_equal(reached("ibv_reg_mr_iova2")->pins[0], 0);
	assert_int_equal(pins(buf), 0);
	expect_stats(0, 0);
	mr = ibv_reg_mr_iova2(pd, buf, 2 * PAGE, 0, IBV_ACCESS_LOCAL_WRITE);
	assert_non_null(mr);
	assert_int_equal(ibv_dereg_mr(odp), 0);
	assert_int_equal(pins(buf), 1);
	expect_stats(1, 2 * PAGE);
	dereg_unpins(mr, buf);
}

static void test_readonly_still_pins(void **state)
{
	char *a = pages(1), *b = pages(1);
	struct ibv_mr *ma, *mb;

	(void)state;
	ma = ibv_reg_mr_iova2(pd, a, PAGE, 0, 0);
	mb = ibv_reg_mr_iova2(pd, b, PAGE, 0, IBV_ACCESS_REMOTE_READ);
	assert_non_null(ma);
	assert_non_null(mb);
	assert_int_equal(pins(a), 1);
	assert_int_equal(pins(b), 1);
	expect_stats(2, 2 * PAGE);
	assert_int_equal(ibv_dereg_mr(ma), 0);
	dereg_unpins(mb, b);
	assert_int_equal(pins(a), 0);
}

/* The new range is guarded before the kernel moves the pin; the old one
 * is released only after success. */
static void test_rereg_translation_moves_pin(void **state)
{
	char *a = pages(2), *b = pages(3);
	struct ibv_mr *mr;
	const struct fake_call *c;

	(void)state;
	mr = ibv_reg_mr_iova2(pd, a, 2 * PAGE, 0, IBV_ACCESS_LOCAL_WRITE);
	assert_non_null(mr);
	assert_int_equal(ibv_rereg_mr(mr, IBV_REREG_MR_CHANGE_TRANSLATION, NULL,
				      b, 3 * PAGE, IBV_ACCESS_LOCAL_WRITE), 0);
	c = reached("ibv_rereg_mr");
	assert_args(c, 6, FAKE_U(mr), (uint64_t)IBV_REREG_MR_CHANGE_TRANSLATION,
		    0, FAKE_U(b), 3 * PAGE, (uint64_t)IBV_ACCESS_LOCAL_WRITE);
	assert_int_equal(c->pins[0], 1);	/* old: still pinned */
	assert_int_equal(c->pins[1], 1);	/* new: already pinned */
	assert_int_equal(pins(a), 0);
	assert_int_equal(pins(b), 1);
	expect_stats(1, 3 * PAGE);
	dereg_unpins(mr, b);
	assert_int_equal(pins(a), 0);
}

static void test_rereg_failure_keeps_old(void **state)
{
	char *a = pages(2), *b = pages(3);
	struct ibv_mr *mr;

	(void)state;
	mr = ibv_reg_mr_iova2(pd, a, 2 * PAGE, 0, IBV_ACCESS_LOCAL_WRITE);
	assert_non_null(mr);
	fake_fail_next("ibv_rereg_mr", EOWNERDEAD);
	errno = 0;
	assert_int_equal(ibv_rereg_mr(mr, IBV_REREG_MR_CHANGE_TRANSLATION, NULL,
				      b, 3 * PAGE, 0), IBV_REREG_MR_ERR_CMD);
	assert_int_equal(errno, EOWNERDEAD);
	assert_int_equal(pins(a), 1);
	assert_int_equal(pins(b), 0);
	expect_stats(1, 2 * PAGE);
	dereg_unpins(mr, a);
}

/* Access changes keep one pin; a switch to ODP releases it; a PD change
 * touches nothing. */
static void test_rereg_access_and_pd(void **state)
{
	static struct ibv_pd pd2;
	char *a = pages(2);
	struct ibv_mr *mr;

	(void)state;
	mr = ibv_reg_mr_iova2(pd, a, 2 * PAGE, 0, IBV_ACCESS_LOCAL_WRITE);
	assert_non_null(mr);
	assert_int_equal(ibv_rereg_mr(mr, IBV_REREG_MR_CHANGE_PD, &pd2, NULL, 0,
				      0), 0);
	assert_int_equal(reached("ibv_rereg_mr")->pins[0], 1);
	assert_int_equal(pins(a), 1);
	assert_int_equal(ibv_rereg_mr(mr, IBV_REREG_MR_CHANGE_ACCESS, NULL,
				      NULL, 0, IBV_ACCESS_REMOTE_READ), 0);
	assert_int_equal(pins(a), 1);
	expect_stats(1, 2 * PAGE);
	assert_int_equal(ibv_rereg_mr(mr, IBV_REREG_MR_CHANGE_ACCESS, NULL,
				      NULL, 0, IBV_ACCESS_ON_DEMAND), 0);
	assert_int_equal(pins(a), 0);
	expect_stats(0, 0);
	assert_int_equal(ibv_dereg_mr(mr), 0);
	expect_stats(0, 0);
}

/* A provider announcing queue memory: pinned before the real call,
 * unpinned after ibv_dofork_range; a failure rolls back. */
static void test_provider_ranges(void **state)
{
	char *q = pages(2);
	const struct fake_call *c;

	(void)state;
	assert_int_equal(ibv_dontfork_range(q, 2 * PAGE), 0);
	c = reached("ibv_dontfork_range");
	assert_args(c, 2, FAKE_U(q), 2 * PAGE);
	assert_int_equal(c->pins[0], 1);
	expect_stats(1, 2 * PAGE);
	assert_int_equal(ibv_dofork_range(q, 2 * PAGE), 0);
	c = reached("ibv_dofork_range");
	assert_args(c, 2, FAKE_U(q), 2 * PAGE);
	assert_int_equal(c->pins[0], 1);
	assert_int_equal(pins(q), 0);
	expect_stats(0, 0);

	fake_fail_next("ibv_dontfork_range", ENOMEM);
	errno = 0;
	assert_int_equal(ibv_dontfork_range(q, PAGE), ENOMEM);
	assert_int_equal(errno, ENOMEM);
	assert_int_equal(pins(q), 0);
	expect_stats(0, 0);
}

static void test_fork_init_passes_through(void **state)
{
	(void)state;
	assert_int_equal(ibv_is_fork_initialized(), IBV_FORK_DISABLED);
	assert_int_equal(ibv_fork_init(), 0);
	assert_int_equal(fake_count("ibv_fork_init"), 1);
	assert_int_equal(ibv_is_fork_initialized(), IBV_FORK_ENABLED);
	expect_stats(0, 0);
}

#define T(f) cmocka_unit_test_setup(f, pg_test_setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_symbols_resolve_to_wrappers),
		T(test_reg_mr_iova2_pins_before),
		T(test_reg_mr_rdma_core44_nesting),
		T(test_reg_mr_iova_rdma_core44_nesting),
		T(test_reg_mr_direct),
		T(test_app_macro_reaches_iova2),
		T(test_reg_failure_rolls_back),
		T(test_dereg_failure_keeps_pin),
		T(test_odp_not_pinned),
		T(test_readonly_still_pins),
		T(test_rereg_translation_moves_pin),
		T(test_rereg_failure_keeps_old),
		T(test_rereg_access_and_pd),
		T(test_provider_ranges),
		T(test_fork_init_passes_through),
	};

	return cmocka_run_group_tests(tests, pg_api_setup, NULL);
}
