/* SPDX-License-Identifier: MIT */
/* Stand-in liburing.so.2: buffer registration without a kernel. Errors
 * are returned as -errno, as liburing does; errno is never touched. The
 * pin counts of the first iovecs are logged at the "syscall". */
#include <errno.h>
#include "fake_api.h"

#include "fake_log.h"

#define PUB __attribute__((visibility("default")))

static const void *iov_at(const struct iovec *iov, unsigned n, unsigned i)
{
	return iov && i < n ? iov[i].iov_base : NULL;
}

#define IOV_WATCH(iov, n) FAKE_WATCH(iov_at(iov, n, 0), iov_at(iov, n, 1), \
				     iov_at(iov, n, 2), iov_at(iov, n, 3))

/* Armed result of fn, else ok. */
static int result(const char *fn, int ok)
{
	long val;
	int err;

	switch (fake_take(fn, &err, &val)) {
	case 1:
		return -err;
	case 2:
		return (int)val;
	}
	return ok;
}

PUB int io_uring_register_buffers(struct io_uring *ring,
				  const struct iovec *iovecs, unsigned nr)
{
	FAKE_RECORD("io_uring_register_buffers",
		    FAKE_ARGS(FAKE_U(ring), FAKE_U(iovecs), nr),
		    IOV_WATCH(iovecs, nr));
	return result("io_uring_register_buffers", 0);
}

PUB int io_uring_register_buffers_tags(struct io_uring *ring,
				       const struct iovec *iovecs,
				       const __u64 *tags, unsigned nr)
{
	FAKE_RECORD("io_uring_register_buffers_tags",
		    FAKE_ARGS(FAKE_U(ring), FAKE_U(iovecs), FAKE_U(tags), nr),
		    IOV_WATCH(iovecs, nr));
	return result("io_uring_register_buffers_tags", 0);
}

PUB int io_uring_register_buffers_sparse(struct io_uring *ring, unsigned nr)
{
	FAKE_RECORD("io_uring_register_buffers_sparse",
		    FAKE_ARGS(FAKE_U(ring), nr), FAKE_NOWATCH);
	return result("io_uring_register_buffers_sparse", 0);
}

/* The kernel returns how many slots it updated. */
PUB int io_uring_register_buffers_update_tag(struct io_uring *ring,
					     unsigned off,
					     const struct iovec *iovecs,
					     const __u64 *tags, unsigned nr)
{
	FAKE_RECORD("io_uring_register_buffers_update_tag",
		    FAKE_ARGS(FAKE_U(ring), off, FAKE_U(iovecs), FAKE_U(tags),
			      nr),
		    IOV_WATCH(iovecs, nr));
	return result("io_uring_register_buffers_update_tag", (int)nr);
}

PUB int io_uring_unregister_buffers(struct io_uring *ring)
{
	FAKE_RECORD("io_uring_unregister_buffers", FAKE_ARGS(FAKE_U(ring)),
		    FAKE_NOWATCH);
	return result("io_uring_unregister_buffers", 0);
}

PUB void io_uring_queue_exit(struct io_uring *ring)
{
	FAKE_RECORD("io_uring_queue_exit", FAKE_ARGS(FAKE_U(ring)),
		    FAKE_NOWATCH);
}
