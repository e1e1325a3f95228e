/* SPDX-License-Identifier: MIT */
/*
 * libibverbs interposers. Each memory region is in the registry before
 * the kernel pins it and leaves it only after a successful deregistration.
 * On-demand-paging MRs pin nothing and are passed through; so is
 * ibv_reg_dmabuf_mr (device memory, nothing to copy). Providers announce
 * queue memory the kernel pins (QP/CQ/SRQ rings, doorbells) through
 * ibv_dontfork_range/ibv_dofork_range, which they call through the PLT,
 * so those are guarded too. rdma-core's own MADV_DONTFORK (ibv_fork_init,
 * RDMAV_FORK_SAFE) reaches the madvise() interposer and is respected.
 */
#include "compat.h"
#include "internal.h"
#include "wrap.h"

#define IBVERBS "libibverbs.so.1"

/* verbs.h turns these into inline dispatchers; we define the symbols. */
#undef ibv_reg_mr
#undef ibv_reg_mr_iova

static bool access_pins(unsigned int access)
{
	return !(access & IBV_ACCESS_ON_DEMAND);
}

/* Before the real registration: true if pinned. */
static bool mr_pin(void *addr, size_t len, unsigned int access)
{
	pg_wrap_depth++;
	return access_pins(access) &&
	       pg_wrap_pin(addr, len, pg_ibv_access_readonly(access), PG_SRC_VERBS);
}

/* After it: keep the pin with the MR, or roll it back. */
static struct ibv_mr *mr_done(struct ibv_mr *mr, bool pinned, void *addr,
			      size_t len, unsigned int access)
{
	pg_wrap_registered(mr, pinned, addr, len, access, PG_SRC_VERBS);
	return mr;
}

/* The body of each ibv_reg_mr* wrapper: find the real call (fn, at
 * version), pin around it, keep the pin with the MR or roll it back.
 * Nested (rdma-core 44's ibv_reg_mr jumps to ibv_reg_mr_iova2 through the
 * PLT), only pass through. The variadic arguments are the real call's. */
#define REG_MR_BODY(fn, version, addr, length, access, ...) do {	\
	static __typeof__(fn) *next;					\
	bool pinned;							\
									\
	PG_NEXT(next, IBVERBS, #fn, version);				\
	if (!next) {							\
		errno = ENOSYS;						\
		return NULL;						\
	}								\
	if (pg_wrap_depth)						\
		return next(__VA_ARGS__);				\
	pinned = mr_pin(addr, length, (unsigned int)(access));		\
	return mr_done(next(__VA_ARGS__), pinned, addr, length,	\
		       (unsigned int)(access));				\
} while (0)

struct ibv_mr *ibv_reg_mr(struct ibv_pd *pd, void *addr, size_t length,
			  int access)
{
	REG_MR_BODY(ibv_reg_mr, "IBVERBS_1.1", addr, length, access,
		    pd, addr, length, access);
}

struct ibv_mr *ibv_reg_mr_iova(struct ibv_pd *pd, void *addr, size_t length,
			       uint64_t iova, int access)
{
	REG_MR_BODY(ibv_reg_mr_iova, "IBVERBS_1.7", addr, length, access,
		    pd, addr, length, iova, access);
}

struct ibv_mr *ibv_reg_mr_iova2(struct ibv_pd *pd, void *addr, size_t length,
				uint64_t iova, unsigned int access)
{
	REG_MR_BODY(ibv_reg_mr_iova2, "IBVERBS_1.8", addr, length, access,
		    pd, addr, length, iova, access);
}

int ibv_dereg_mr(struct ibv_mr *mr)
{
	static int (*next)(struct ibv_mr *);
	struct pg_reg_entry e;
	bool known;
	int ret;

	PG_NEXT(next, IBVERBS, "ibv_dereg_mr", "IBVERBS_1.1");
	if (!next)
		return ENOSYS;
	known = pg_handle_get(mr, &e, false);
	pg_wrap_depth++;
	ret = next(mr);
	pg_wrap_depth--;
	/* a failed deregistration leaves the memory pinned: keep the pin */
	if (!ret && known && pg_handle_get(mr, &e, true)) {
		int saved = errno;

		pg_wrap_unpin((void *)e.addr, e.len, PG_SRC_VERBS);
		errno = saved;
	}
	return ret;
}

int ibv_rereg_mr(struct ibv_mr *mr, int flags, struct ibv_pd *pd, void *addr,
		 size_t length, int access)
{
	static int (*next)(struct ibv_mr *, int, struct ibv_pd *, void *,
			   size_t, int);
	struct pg_reg_entry old, e;
	bool known, moves, pinned = false;
	unsigned int new_access;
	int ret, saved;

	PG_NEXT(next, IBVERBS, "ibv_rereg_mr", "IBVERBS_1.1");
	if (!next)
		return ENOSYS;
	known = pg_handle_get(mr, &old, false);
	moves = flags & (IBV_REREG_MR_CHANGE_TRANSLATION |
			 IBV_REREG_MR_CHANGE_ACCESS);
	e.key = mr;
	e.src = PG_SRC_VERBS;
	e.addr = flags & IBV_REREG_MR_CHANGE_TRANSLATION ? (uintptr_t)addr :
		 known ? old.addr : (uintptr_t)mr->addr;
	e.len = flags & IBV_REREG_MR_CHANGE_TRANSLATION ? length :
		known ? old.len : mr->length;
	new_access = flags & IBV_REREG_MR_CHANGE_ACCESS ? (unsigned int)access :
		     known ? old.flags : 0;
	e.flags = new_access;
	/* the new pages are guarded before the kernel moves the pin */
	if (moves)
		pinned = mr_pin((void *)e.addr, e.len, new_access);
	else
		pg_wrap_depth++;
	ret = next(mr, flags, pd, addr, length, access);
	pg_wrap_depth--;
	saved = errno;
	if (moves && !ret) {
		if (known)
			pg_wrap_unpin((void *)old.addr, old.len, PG_SRC_VERBS);
		if (pinned)
			pg_handle_put(&e);
		else if (known)
			pg_handle_get(mr, &old, true);
	} else if (pinned) {
		pg_wrap_unpin((void *)e.addr, e.len, PG_SRC_VERBS);
	}
	errno = saved;
	return ret;
}

/* Provider queue memory. Not when called from inside one of our own
 * wrappers (the MR itself is already pinned). */
int ibv_dontfork_range(void *base, size_t size)
{
	static int (*next)(void *, size_t);
	bool pinned = false;
	int ret;

	PG_NEXT(next, IBVERBS, "ibv_dontfork_range", "IBVERBS_1.1");
	if (!next)
		return ENOSYS;
	if (!pg_wrap_depth)
		pinned = pg_wrap_pin(base, size, false, PG_SRC_PROVIDER);
	pg_t_in_rdma_dontfork = true;
	ret = next(base, size);
	pg_t_in_rdma_dontfork = false;
	if (ret && pinned) {
		int saved = errno;

		pg_wrap_unpin(base, size, PG_SRC_PROVIDER);
		errno = saved;
	}
	return ret;
}

int ibv_dofork_range(void *base, size_t size)
{
	static int (*next)(void *, size_t);
	int ret, saved;

	PG_NEXT(next, IBVERBS, "ibv_dofork_range", "IBVERBS_1.1");
	if (!next)
		return ENOSYS;
	ret = next(base, size);
	saved = errno;
	if (!pg_wrap_depth)
		pg_wrap_unpin(base, size, PG_SRC_PROVIDER);
	errno = saved;
	return ret;
}
