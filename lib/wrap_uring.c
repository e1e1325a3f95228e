/* SPDX-License-Identifier: MIT */
/*
 * liburing interposers. A ring's fixed buffers are pinned per slot and per
 * ring: two rings registering the same memory are two pins. The slots are
 * remembered by ring so that unregistering, updating a slot or
 * io_uring_queue_exit() releases exactly what that ring pinned.
 */
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "internal.h"
#include "wrap.h"

/* liburing 2.x; 0.x (Debian 11, Ubuntu 20.04) is liburing.so.1, whose
 * symbols are versioned LIBURING_0.x: found by name alone, and by the
 * older soname where a plug-in loaded it with RTLD_LOCAL. */
#define URING_NEXT(var, name, version) do {				\
	PG_NEXT(var, "liburing.so.2", name, version);			\
	if (!var)							\
		PG_NEXT(var, "liburing.so.1", name, NULL);		\
} while (0)

#define slot pg_uring_slot

static void unpin_slots(struct slot *s, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (s[i].pinned)
			pg_wrap_unpin(s[i].addr, s[i].len, PG_SRC_IO_URING);
}

/* Pin what the kernel is about to pin; NULL only when out of memory. */
static struct slot *pin_slots(const struct iovec *iov, unsigned n)
{
	struct slot *s = calloc(n ? n : 1, sizeof(*s));
	unsigned i;

	for (i = 0; s && iov && i < n; i++) {
		s[i].addr = iov[i].iov_base;
		s[i].len = iov[i].iov_len;
		/* the kernel pins fixed buffers for writing */
		s[i].pinned = pg_wrap_pin(s[i].addr, s[i].len, false,
					  PG_SRC_IO_URING);
	}
	return s;
}

static void ring_release(struct io_uring *ring)
{
	struct pg_reg_entry e;

	if (!pg_handle_get(ring, &e, true))
		return;
	unpin_slots((struct slot *)e.addr, (unsigned)e.len);
	free((void *)e.addr);
}

/* After the real registration returned ret (0 or -errno). */
static int ring_registered(struct io_uring *ring, struct slot *s, unsigned n,
			   int ret)
{
	int saved = errno;
	struct pg_reg_entry e = {
		.key = ring, .addr = (uintptr_t)s, .len = n,
		.src = PG_SRC_IO_URING,
	};

	if (ret < 0 || !s || pg_handle_put(&e)) {
		if (s)
			unpin_slots(s, n);
		free(s);
	}
	errno = saved;
	return ret;
}

int io_uring_register_buffers(struct io_uring *ring, const struct iovec *iovecs,
			      unsigned nr_iovecs)
{
	static int (*next)(struct io_uring *, const struct iovec *, unsigned);
	struct slot *s;

	URING_NEXT(next, "io_uring_register_buffers", "LIBURING_2.0");
	if (!next)
		return -ENOSYS;
	s = pin_slots(iovecs, nr_iovecs);
	return ring_registered(ring, s, nr_iovecs,
			       next(ring, iovecs, nr_iovecs));
}

int io_uring_register_buffers_tags(struct io_uring *ring,
				   const struct iovec *iovecs,
				   const __u64 *tags, unsigned nr)
{
	static int (*next)(struct io_uring *, const struct iovec *,
			   const __u64 *, unsigned);
	struct slot *s;

	URING_NEXT(next, "io_uring_register_buffers_tags", "LIBURING_2.1");
	if (!next)
		return -ENOSYS;
	s = pin_slots(iovecs, nr);
	return ring_registered(ring, s, nr, next(ring, iovecs, tags, nr));
}

int io_uring_register_buffers_sparse(struct io_uring *ring, unsigned nr)
{
	static int (*next)(struct io_uring *, unsigned);

	URING_NEXT(next, "io_uring_register_buffers_sparse", "LIBURING_2.2");
	if (!next)
		return -ENOSYS;
	return ring_registered(ring, pin_slots(NULL, nr), nr, next(ring, nr));
}

int io_uring_register_buffers_update_tag(struct io_uring *ring, unsigned off,
					 const struct iovec *iovecs,
					 const __u64 *tags, unsigned nr)
{
	static int (*next)(struct io_uring *, unsigned, const struct iovec *,
			   const __u64 *, unsigned);
	struct pg_reg_entry e;
	struct slot *fresh, *slots;
	bool known;
	int ret, saved;
	unsigned i;

	URING_NEXT(next, "io_uring_register_buffers_update_tag",
		"LIBURING_2.1");
	if (!next)
		return -ENOSYS;
	known = pg_handle_get(ring, &e, false);
	fresh = pin_slots(iovecs, nr);
	ret = next(ring, off, iovecs, tags, nr);
	saved = errno;
	slots = (struct slot *)e.addr;
	/* ret is how many slots changed; roll back the rest */
	for (i = 0; fresh && i < nr; i++) {
		bool done = ret > 0 && i < (unsigned)ret;

		if (!done || !known || off + i >= e.len) {
			if (fresh[i].pinned)
				pg_wrap_unpin(fresh[i].addr, fresh[i].len,
					      PG_SRC_IO_URING);
			continue;
		}
		unpin_slots(&slots[off + i], 1);
		slots[off + i] = fresh[i];
	}
	free(fresh);
	errno = saved;
	return ret;
}

int io_uring_unregister_buffers(struct io_uring *ring)
{
	static int (*next)(struct io_uring *);
	int ret, saved;

	URING_NEXT(next, "io_uring_unregister_buffers", "LIBURING_2.0");
	if (!next)
		return -ENOSYS;
	ret = next(ring);
	saved = errno;
	if (ret == 0)
		ring_release(ring);
	errno = saved;
	return ret;
}

void io_uring_queue_exit(struct io_uring *ring)
{
	static void (*next)(struct io_uring *);
	int saved;

	URING_NEXT(next, "io_uring_queue_exit", "LIBURING_2.0");
	if (next)
		next(ring);
	saved = errno;
	ring_release(ring);	/* closing the ring released its buffers */
	errno = saved;
}
