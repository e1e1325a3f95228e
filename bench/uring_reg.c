/* SPDX-License-Identifier: MIT */
/* io_uring_register_buffers + unregister of 64 MiB, through liburing
 * (so pinguard's wrapper is on the path when preloaded). Prints the
 * median microseconds per register+unregister. Usage: uring_reg <reps> */
#include <liburing.h>
#include <sys/mman.h>

#include "bench.h"

int main(int argc, char **argv)
{
	int reps = argc > 1 ? atoi(argv[1]) : 7, r, i;
	size_t len = 64ul << 20;
	struct io_uring ring;
	struct iovec iov;
	double v[64];

	if (reps > 64)
		reps = 64;
	if (io_uring_queue_init(4, &ring, 0))
		BENCH_DIE("io_uring unavailable");
	iov.iov_base = mmap(NULL, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	iov.iov_len = len;
	memset(iov.iov_base, 1, len);
	for (r = 0; r <= reps; r++) {
		double t = now_ns();

		for (i = 0; i < 20; i++)
			if (io_uring_register_buffers(&ring, &iov, 1) ||
			    io_uring_unregister_buffers(&ring))
				BENCH_DIE("register");
		v[r ? r - 1 : 0] = (now_ns() - t) / 20;
	}
	printf("%.1f\n", median(v, reps) / 1e3);
	io_uring_queue_exit(&ring);
	return 0;
}
