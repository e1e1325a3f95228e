/* SPDX-License-Identifier: MIT */
/*
 * What the stand-in libraries and the tests that drive them declare: the
 * calls pinguard interposes, from the system's rdma-core and liburing
 * headers or, where those are missing, from pinguard's own compat.h. So
 * the interposers are tested on machines without libibverbs-dev or
 * liburing-dev too.
 *
 * compat.h leaves the handle types incomplete (pinguard never looks inside
 * them). The tests allocate handles, so without the real headers they are
 * completed here; the stand-ins never read them either.
 */
#ifndef PG_FAKE_API_H
#define PG_FAKE_API_H

#include "compat.h"

#if !PG_HAVE_INFINIBAND_VERBS_H
struct ibv_context {
	void *device;
};

struct ibv_pd {
	struct ibv_context *context;
	uint32_t handle;
};
#endif

#if !PG_HAVE_LIBURING_H
struct io_uring {
	unsigned char opaque[216];	/* liburing 2.x's size on x86_64 */
};
#endif

#endif
