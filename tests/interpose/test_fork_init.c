/* SPDX-License-Identifier: MIT */
/*
 * Fork-init takeover against the stand-in libibverbs, pinguard preloaded.
 * One variant per process, named by argv[1] (the environment is set by
 * meson): takeover, takeover-auto (auto deciding copy), passthrough,
 * fallback-mode (takeover without copy mode), fallback-auto (auto deciding
 * off), fallback-already (rdma-core's fork support on before pinguard),
 * fallback-unneeded (the same, while rdma-core answers UNNEEDED as
 * rdma-core 44 does on kernels claiming copy-on-fork).
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "fake_api.h"

#include "fake_log.h"
#include "pinguard.h"

static int failures;

#define CHECK(cond, ...) do { if (!(cond)) { failures++; \
	fprintf(stderr, "FAIL line %d: ", __LINE__); \
	fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

static enum pinguard_fork_init fork_init_in_force(void)
{
	int (*get_mode)(struct pinguard_mode_info *, size_t) =
		(int (*)(struct pinguard_mode_info *, size_t))
		dlsym(RTLD_DEFAULT, "pinguard_get_mode");
	struct pinguard_mode_info mi;

	if (!get_mode || get_mode(&mi, sizeof(mi))) {
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

/* rdma-core's own ibv_fork_init, past pinguard's wrapper (as when it ran
 * through RDMAV_FORK_SAFE before pinguard was loaded). */
static void real_fork_init(void)
{
	void *h = dlopen("libibverbs.so.1", RTLD_LAZY | RTLD_NOLOAD);
	int (*real_init)(void) = h ? (int (*)(void))dlsym(h, "ibv_fork_init")
				   : NULL;

	CHECK(real_init && real_init() == 0, "stand-in not reachable");
}

/* Takeover claimed, then rdma-core's tracking shows itself: its
 * MADV_DONTFORK of a registered MR. pinguard must stop claiming. */
static void fallback_unneeded(void)
{
	static struct ibv_pd pd;
	char *buf = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct ibv_mr *mr;

	CHECK(buf != MAP_FAILED, "mmap");
	fake_set_option("cof_unneeded", 1);
	real_fork_init();
	CHECK(fork_init_in_force() == PINGUARD_FORK_INIT_TAKEOVER,
	      "takeover not claimed while rdma-core answers UNNEEDED");
	mr = ibv_reg_mr(&pd, buf, 2 * 4096, IBV_ACCESS_LOCAL_WRITE);
	CHECK(mr != NULL, "ibv_reg_mr failed");
	CHECK(fork_init_in_force() == PINGUARD_FORK_INIT_PASSTHROUGH,
	      "takeover still claimed after rdma-core's MADV_DONTFORK");
	CHECK(ibv_is_fork_initialized() == IBV_FORK_UNNEEDED,
	      "rdma-core's answer not passed through after the fallback");
	if (mr)
		CHECK(ibv_dereg_mr(mr) == 0, "ibv_dereg_mr failed");
}

int main(int argc, char **argv)
{
	const char *v = argc > 1 ? argv[1] : "";

	fake_reset();
	if (!strcmp(v, "takeover") || !strcmp(v, "takeover-auto")) {
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
	} else if (!strcmp(v, "fallback-auto")) {
		CHECK(getenv("RDMAV_FORK_SAFE") != NULL,
		      "RDMAV_FORK_SAFE hidden although auto decided off");
		passthrough("takeover with auto deciding off");
	} else if (!strcmp(v, "fallback-unneeded")) {
		fallback_unneeded();
	} else if (!strcmp(v, "fallback-already")) {
		/* rdma-core initialised its fork support first */
		real_fork_init();
		passthrough("rdma-core already initialised");
	} else {
		fprintf(stderr, "usage: test_fork_init VARIANT\n");
		return 2;
	}
	printf("%s: %s\n", v, failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}
