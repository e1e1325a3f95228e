/* SPDX-License-Identifier: MIT */
/*
 * Fork-init takeover (PINGUARD_FORK_INIT=takeover, copy mode only).
 * rdma-core's ibv_fork_init() / RDMAV_FORK_SAFE mark every MR
 * MADV_DONTFORK, so children forked later (data-loader workers) crash on
 * the holes. In copy mode pinguard already keeps the parent coherent and
 * gives the child a copy, so it answers ibv_fork_init() itself, hides
 * RDMAV_FORK_SAFE/IBV_FORK_SAFE from libibverbs, and reports fork
 * protection as enabled, which is true. Where rdma-core turned its fork
 * support on before pinguard could see it, pinguard says so once and
 * passes through. rdma-core 44 answers ibv_is_fork_initialized() with
 * UNNEEDED on kernels that claim copy-on-fork even when its tracking is
 * on, so a MADV_DONTFORK made inside its ibv_dontfork_range (wrap_mm.c)
 * is taken as proof too.
 */
#include <stdlib.h>

#include "compat.h"
#include "internal.h"
#include "wrap.h"

#define IBVERBS "libibverbs.so.1"

static const char *const fork_safe_vars[] = { "RDMAV_FORK_SAFE",
					      "IBV_FORK_SAFE" };
static bool fell_back;

static enum ibv_fork_status real_status(void)
{
	static enum ibv_fork_status (*next)(void);

	PG_NEXT(next, IBVERBS, "ibv_is_fork_initialized", "IBVERBS_1.13");
	return next ? next() : IBV_FORK_DISABLED;
}

static void fall_back(const char *why)
{
	if (fell_back)
		return;
	fell_back = true;
	pg_warn_config("PINGUARD_FORK_INIT=takeover not possible: %s; "
		       "rdma-core's own fork protection stays in charge", why);
}

/* Takeover in force right now? Checks once that rdma-core has not
 * already switched its DONTFORK tracking on. */
static bool takeover(void)
{
	static bool checked;

	if (pg.cfg.fork_init != PINGUARD_FORK_INIT_TAKEOVER || fell_back)
		return false;
	if (pg.effective != PINGUARD_MODE_COPY) {
		fall_back(pg.cfg.mode == PINGUARD_MODE_AUTO ?
			  "PINGUARD_MODE=auto did not decide copy" :
			  "it needs PINGUARD_MODE=copy");
		return false;
	}
	if (!checked) {
		checked = true;
		if (real_status() == IBV_FORK_ENABLED) {
			fall_back("rdma-core's fork support was already on");
			return false;
		}
	}
	if (atomic_load(&pg_rdma_tracking_seen)) {
		fall_back("rdma-core's fork support is on (it marked "
			  "memory MADV_DONTFORK)");
		return false;
	}
	return true;
}

bool pg_fork_init_taken(void)
{
	return takeover();
}

int ibv_fork_init(void)
{
	static int (*next)(void);

	PG_NEXT(next, IBVERBS, "ibv_fork_init", "IBVERBS_1.1");
	if (takeover()) {
		pg_log(PG_LOG_INFO, "ibv_fork_init() answered by pinguard: "
		       "copy mode guards every MR and provider queue");
		return 0;
	}
	return next ? next() : ENOSYS;
}

enum ibv_fork_status ibv_is_fork_initialized(void)
{
	return takeover() ? IBV_FORK_ENABLED : real_status();
}

/* After pg_init (101) read the environment, before libibverbs reads its
 * own (at the first ibv_get_device_list()). */
__attribute__((constructor(102))) static void hide_fork_safe_env(void)
{
	size_t i;

	if (pg.cfg.fork_init != PINGUARD_FORK_INIT_TAKEOVER)
		return;
	/* auto: decide now, for every kind of memory (an MR may be of
	 * any), as libibverbs may read the variables before the first pin
	 * would decide. Not copy: leave them
	 * be; takeover() warns if the program ever asks verbs about fork. */
	if (pg.cfg.mode == PINGUARD_MODE_AUTO)
		pg_auto_judge_all();
	if (pg.effective != PINGUARD_MODE_COPY)
		return;
	for (i = 0; i < sizeof(fork_safe_vars) / sizeof(fork_safe_vars[0]); i++)
		if (getenv(fork_safe_vars[i])) {
			unsetenv(fork_safe_vars[i]);
			pg_log(PG_LOG_INFO, "fork-init takeover: %s hidden from "
			       "libibverbs", fork_safe_vars[i]);
		}
}
