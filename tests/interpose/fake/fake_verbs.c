/* SPDX-License-Identifier: MIT */
/*
 * Stand-in libibverbs.so.1. Mirrors the call structure of rdma-core 44
 * (the installed one): ibv_reg_mr and ibv_reg_mr_iova jump to
 * ibv_reg_mr_iova2 through the PLT, which calls ibv_dontfork_range (PLT)
 * before the provider and ibv_dofork_range when it fails; deregistration
 * calls ibv_dofork_range. Option "reg_mr_direct" makes ibv_reg_mr and
 * ibv_reg_mr_iova register by themselves (older rdma-core). No -Bsymbolic:
 * every nested call below can be interposed.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include "fake_api.h"

#include "fake_log.h"
#include "fake_verbs.h"

#undef ibv_reg_mr
#undef ibv_reg_mr_iova

#define PUB __attribute__((visibility("default")))
/* Where this library's nested call of fn is bound (see fake_log.h). */
#define NOTE(fn) fake_note_binding("ibverbs:" #fn, (const void *)fn)

static int fork_enabled;

struct fake_mr {
	struct ibv_mr mr;	/* first: handed out as struct ibv_mr * */
	unsigned int access;
};

/* The provider's part: the moment the kernel pins the pages. */
static struct ibv_mr *provider_reg(const char *fn, struct ibv_pd *pd,
				   void *addr, size_t len, uint64_t iova,
				   unsigned int access)
{
	bool odp = access & IBV_ACCESS_ON_DEMAND;
	struct fake_mr *m;
	long val;
	int err;

	fake_record(fn, FAKE_ARGS(FAKE_U(pd), FAKE_U(addr), len, iova, access),
		    FAKE_WATCH(addr));
	NOTE(ibv_dontfork_range);
	if (!odp && ibv_dontfork_range(addr, len))
		return NULL;
	if (fake_take(fn, &err, &val) == 1) {
		NOTE(ibv_dofork_range);
		if (!odp)
			ibv_dofork_range(addr, len);
		errno = err;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->mr.pd = pd;
	m->mr.addr = addr;
	m->mr.length = len;
	m->mr.lkey = m->mr.rkey = 0x1234;
	m->access = access;
	return &m->mr;
}

PUB struct ibv_mr *ibv_reg_mr_iova2(struct ibv_pd *pd, void *addr,
				    size_t length, uint64_t iova,
				    unsigned int access)
{
	return provider_reg("ibv_reg_mr_iova2", pd, addr, length, iova, access);
}

PUB struct ibv_mr *ibv_reg_mr(struct ibv_pd *pd, void *addr, size_t length,
			      int access)
{
	if (fake_option("reg_mr_direct"))
		return provider_reg("ibv_reg_mr", pd, addr, length,
				    (uintptr_t)addr, access);
	FAKE_RECORD("ibv_reg_mr", FAKE_ARGS(FAKE_U(pd), FAKE_U(addr), length,
					    (uint64_t)access),
		    FAKE_WATCH(addr));
	NOTE(ibv_reg_mr_iova2);
	return ibv_reg_mr_iova2(pd, addr, length, (uintptr_t)addr, access);
}

PUB struct ibv_mr *ibv_reg_mr_iova(struct ibv_pd *pd, void *addr,
				   size_t length, uint64_t iova, int access)
{
	if (fake_option("reg_mr_direct"))
		return provider_reg("ibv_reg_mr_iova", pd, addr, length, iova,
				    access);
	FAKE_RECORD("ibv_reg_mr_iova", FAKE_ARGS(FAKE_U(pd), FAKE_U(addr),
						 length, iova, (uint64_t)access),
		    FAKE_WATCH(addr));
	NOTE(ibv_reg_mr_iova2);
	return ibv_reg_mr_iova2(pd, addr, length, iova, access);
}

PUB int ibv_dereg_mr(struct ibv_mr *mr)
{
	long val;
	int err;

	FAKE_RECORD("ibv_dereg_mr", FAKE_ARGS(FAKE_U(mr)),
		    FAKE_WATCH(mr ? mr->addr : NULL));
	if (fake_take("ibv_dereg_mr", &err, &val) == 1)
		return err;	/* verbs return the errno value */
	NOTE(ibv_dofork_range);
	if (!(((struct fake_mr *)mr)->access & IBV_ACCESS_ON_DEMAND))
		ibv_dofork_range(mr->addr, mr->length);
	free(mr);
	return 0;
}

PUB int ibv_rereg_mr(struct ibv_mr *mr, int flags, struct ibv_pd *pd,
		     void *addr, size_t length, int access)
{
	bool move = flags & IBV_REREG_MR_CHANGE_TRANSLATION;
	long val;
	int err;

	FAKE_RECORD("ibv_rereg_mr",
		    FAKE_ARGS(FAKE_U(mr), (uint64_t)flags, FAKE_U(pd),
			      FAKE_U(addr), length, (uint64_t)access),
		    FAKE_WATCH(mr->addr, addr));
	if (move && ibv_dontfork_range(addr, length))
		return IBV_REREG_MR_ERR_DONT_FORK_NEW;
	if (fake_take("ibv_rereg_mr", &err, &val) == 1) {
		if (move)
			ibv_dofork_range(addr, length);
		errno = err;
		return IBV_REREG_MR_ERR_CMD;
	}
	if (flags & IBV_REREG_MR_CHANGE_PD)
		mr->pd = pd;
	if (flags & IBV_REREG_MR_CHANGE_ACCESS)
		((struct fake_mr *)mr)->access = access;
	if (move) {
		ibv_dofork_range(mr->addr, mr->length);
		mr->addr = addr;
		mr->length = length;
	}
	return 0;
}

/* Provider queue memory and the MR path both come through here. */
PUB int ibv_dontfork_range(void *base, size_t size)
{
	long val;
	int err;

	FAKE_RECORD("ibv_dontfork_range", FAKE_ARGS(FAKE_U(base), size),
		    FAKE_WATCH(base));
	if (fake_take("ibv_dontfork_range", &err, &val) == 1) {
		errno = err;
		return err;
	}
	/* rdma-core's tracking, once ibv_fork_init() ran: libc's madvise */
	if (fork_enabled && madvise((void *)((uintptr_t)base & ~4095ul),
				    size + ((uintptr_t)base & 4095),
				    MADV_DONTFORK))
		return errno;
	return 0;
}

PUB int ibv_dofork_range(void *base, size_t size)
{
	long val;
	int err;

	FAKE_RECORD("ibv_dofork_range", FAKE_ARGS(FAKE_U(base), size),
		    FAKE_WATCH(base));
	if (fake_take("ibv_dofork_range", &err, &val) == 1) {
		errno = err;
		return err;
	}
	if (fork_enabled && madvise((void *)((uintptr_t)base & ~4095ul),
				    size + ((uintptr_t)base & 4095),
				    MADV_DOFORK))
		return errno;
	return 0;
}

PUB int ibv_fork_init(void)
{
	FAKE_RECORD("ibv_fork_init", FAKE_ARGS(0), FAKE_NOWATCH);
	fork_enabled = 1;
	return 0;
}

PUB enum ibv_fork_status ibv_is_fork_initialized(void)
{
	FAKE_RECORD("ibv_is_fork_initialized", FAKE_ARGS(0), FAKE_NOWATCH);
	/* Option "cof_unneeded": rdma-core 44 on a kernel that claims
	 * copy-on-fork answers UNNEEDED even with its tracking on. */
	if (fake_option("cof_unneeded"))
		return IBV_FORK_UNNEEDED;
	return fork_enabled ? IBV_FORK_ENABLED : IBV_FORK_DISABLED;
}
