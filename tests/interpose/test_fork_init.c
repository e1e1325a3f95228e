/* SPDX-License-Identifier: MIT */
/*
 * Fork-init takeover against the stand-in libibverbs, pinguard preloaded.
 * One variant per process, named by argv[1] (the environment is set by
 * meson): takeover, passthrough, fallback-mode (takeover without copy
 * mode), fallback-already (rdma-core's fork support on before pinguard).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <infiniband/verbs.h>

#include "fake_log.h"
#include "pinguard.h"

static int failures;

#define CHECK(cond, ...) do { if (!(cond)) { failures++; \
	fprintf(stderr, "FAIL line %d: ", __LINE__); \
	fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

static enum pinguard_fork_init fork_init_in_force(void)
{
	int (*get_mode)(struct pinguard_mode_info *) =
		(int (*)(struct pinguard_mode_info *))
		dlsym(RTLD_DEFAULT, "pinguard_get_mode");
	struct pinguard_mode_info mi;

	if (!get_mode || get_mode(&mi)) {
		CHECK(0, "pinguard is not preloaded");
		return PINGUARD_FORK_INIT_PASSTHROUGH;
	}
	return mi.fork_init;
}

static void takeover(void)
{
	CHECK(!getenv("RDMAV_FORK_SAFE"), "RDMAV_FORK_SAFE still visible");
	CHECK(!getenv("IBV_FORK_SAFE"), "IBV_FORK_SAFE still visible");
	CHECK(ibv_is_fork_initialized() == IBV_FORK_ENABLED,
	      "fork protection not reported as enabled");
	CHECK(ibv_fork_init() == 0, "ibv_fork_init failed");
	CHECK(fake_count("ibv_fork_init") == 0,
	      "rdma-core's ibv_fork_init was reached");
	CHECK(fork_init_in_force() == PINGUARD_FORK_INIT_TAKEOVER,
	      "mode info does not say takeover");
}

static void passthrough(const char *why)
{
	CHECK(ibv_fork_init() == 0, "ibv_fork_init failed");
	CHECK(fake_count("ibv_fork_init") >= 1,
	      "rdma-core's ibv_fork_init not reached (%s)", why);
	CHECK(ibv_is_fork_initialized() == IBV_FORK_ENABLED,
	      "rdma-core's answer not passed through (%s)", why);
	CHECK(fork_init_in_force() == PINGUARD_FORK_INIT_PASSTHROUGH,
	      "mode info says takeover (%s)", why);
}

int main(int argc, char **argv)
{
	const char *v = argc > 1 ? argv[1] : "";

	fake_reset();
	if (!strcmp(v, "takeover")) {
		takeover();
	} else if (!strcmp(v, "passthrough")) {
		CHECK(ibv_is_fork_initialized() == IBV_FORK_DISABLED,
		      "fork protection reported before ibv_fork_init");
		CHECK(getenv("RDMAV_FORK_SAFE") != NULL,
		      "RDMAV_FORK_SAFE hidden without takeover");
		passthrough("default");
	} else if (!strcmp(v, "fallback-mode")) {
		CHECK(getenv("RDMAV_FORK_SAFE") != NULL,
		      "RDMAV_FORK_SAFE hidden although takeover cannot apply");
		passthrough("takeover without copy mode");
	} else if (!strcmp(v, "fallback-already")) {
		/* rdma-core initialised its fork support first (as through
		 * RDMAV_FORK_SAFE read before pinguard was loaded): call the
		 * stand-in's own function, past pinguard's wrapper */
		void *h = dlopen("libibverbs.so.1", RTLD_LAZY | RTLD_NOLOAD);
		int (*real_init)(void) = h ? (int (*)(void))dlsym(h,
					      "ibv_fork_init") : NULL;

		CHECK(real_init && real_init() == 0, "stand-in not reachable");
		passthrough("rdma-core already initialised");
	} else {
		fprintf(stderr, "usage: test_fork_init VARIANT\n");
		return 2;
	}
	printf("%s: %s\n", v, failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}
