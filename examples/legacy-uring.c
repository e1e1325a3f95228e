/* SPDX-License-Identifier: MIT */
/*
 * A "legacy" program: it knows nothing about pinguard. It registers an
 * io_uring fixed buffer, forks a worker, and keeps writing the buffer to a
 * file with WRITE_FIXED. Run it under pinguard without changing it:
 *
 *     LD_PRELOAD=libpinguard.so PINGUARD_MODE=copy PINGUARD_LOG=info ./legacy-uring
 *
 * On a kernel without early COW, without pinguard the file gets the
 * fork-time data instead of the parent's new data.
 */
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define LEN (4u << 20)

int main(void)
{
	char path[] = "/tmp/legacy-uring-XXXXXX", first = 0;
	int fd = mkstemp(path), st;
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	struct iovec iov;
	char *buf;
	pid_t pid;

	if (fd < 0 || io_uring_queue_init(4, &ring, 0)) {
		fprintf(stderr, "legacy-uring: io_uring unavailable\n");
		return 77;
	}
	unlink(path);
	buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(buf, 'o', LEN);			/* old data */
	iov.iov_base = buf;
	iov.iov_len = LEN;
	if (io_uring_register_buffers(&ring, &iov, 1))
		return 1;
	pid = fork();				/* a worker process */
	if (pid == 0) {
		sleep(1);
		_exit(buf[0] == 'o' ? 0 : 1);	/* it sees fork-time data */
	}
	memset(buf, 'n', LEN);			/* new data, after fork */
	io_uring_prep_write_fixed(io_uring_get_sqe(&ring), fd, buf, LEN, 0, 0);
	io_uring_submit(&ring);
	io_uring_wait_cqe(&ring, &cqe);
	io_uring_cqe_seen(&ring, cqe);
	if (pread(fd, &first, 1, 0) != 1)
		return 1;
	waitpid(pid, &st, 0);
	printf("legacy-uring: the file got %s data; the worker %s\n",
	       first == 'n' ? "the parent's new" : "STALE fork-time",
	       WIFEXITED(st) && !WEXITSTATUS(st) ? "saw its fork-time copy" :
						   "failed");
	io_uring_queue_exit(&ring);
	return first == 'n' && WIFEXITED(st) && !WEXITSTATUS(st) ? 0 : 1;
}
