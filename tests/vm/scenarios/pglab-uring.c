/* SPDX-License-Identifier: MIT */
/* pglab-libs: -luring */
/* pglab-interposes: io_uring_register_buffers */
/*
 * io_uring fixed buffer across fork(): does the device (io_uring) still see
 * the parent's pages after the parent writes post-fork?
 *
 *   pglab-uring --op write|read --mem 4k|thp|hugetlb --child alive|exited
 *               [--dontfork] [--wrprotect first|all] [--pinguard-api]
 *
 * write: parent writes 'B' after fork, WRITE_FIXED to a file, reads the file:
 *        'B' = coherent, 'A' (fork-time data) = stale.
 * read:  parent writes 'B' after fork, READ_FIXED of a 'C' file into the
 *        buffer: parent sees 'C' = coherent, 'B' = stale.
 * --wrprotect: no fork; instead the parent takes write permission from the
 *        buffer (all) or its first page (first: 4 KiB, which maps a THP
 *        by 4 KiB entries) and gives it back (mprotect PROT_READ, then
 *        read/write) before its write. On 5.9-5.18 that write replaces a
 *        pinned page mapped by 4 KiB entries (no fork policy helps);
 *        pinguard counts it (detail wrprotects=N, from pinguard_get_stats
 *        when loaded).
 */
#include "pglab-common.h"

#include <fcntl.h>
#include <getopt.h>
#include <liburing.h>
#include <sys/wait.h>

int main(int argc, char **argv)
{
	const char *op = "write", *mem = "4k", *child = "alive";
	int dontfork = 0, use_api = 0;
	const char *wrprotect = NULL;
	static const struct option opts[] = {
		{ "op", 1, 0, 'o' }, { "mem", 1, 0, 'm' }, { "child", 1, 0, 'c' },
		{ "dontfork", 0, 0, 'd' }, { "pinguard-api", 0, 0, 'p' },
		{ "wrprotect", 1, 0, 'w' }, { 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'o': op = optarg; break;
		case 'm': mem = optarg; break;
		case 'c': child = optarg; break;
		case 'd': dontfork = 1; break;
		case 'p': use_api = 1; break;
		case 'w': wrprotect = optarg; break;
		default: FAIL("usage");
		}
	}
	int is_read = !strcmp(op, "read");
	int alive = !wrprotect && !strcmp(child, "alive");
	size_t len;
	char *buf = alloc_mem(mem, &len);

	memset(buf, 'A', len);
	if (!strcmp(mem, "thp"))
		detail("thp_kb=%ld", thp_kb(buf));
	api_pin(use_api, buf, len);
	if (dontfork && madvise(buf, len, MADV_DONTFORK))
		FAIL("madv_dontfork=%d", errno);

	struct io_uring ring;
	struct iovec iov = { buf, len };
	int r = io_uring_queue_init(4, &ring, 0);

	if (r == -ENOSYS || r == -EPERM)
		SKIP("io_uring=%d", r);
	if (r)
		FAIL("queue_init=%d", r);
	r = io_uring_register_buffers(&ring, &iov, 1);
	if (r)
		FAIL("register_buffers=%d", r);
	note_mode(); /* after the first pin: api_pin() or the preloaded wrapper */

	/* The file lives on the guest's tmpfs: no O_DIRECT needed, the copy
	 * to/from the page cache goes through the registered (pinned) pages. */
	char path[256];
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(path, sizeof(path), "%s/pglab-uring.%d", tmp, getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		FAIL("open=%d", errno);
	unlink(path);
	char *chk = malloc(len);
	if (!chk)
		FAIL("malloc");
	if (is_read) {
		memset(chk, 'C', len);
		if (pwrite(fd, chk, len, 0) != (ssize_t)len)
			FAIL("prefill=%d", errno);
	}

	int go[2], rep[2];
	if (pipe(go) || pipe(rep))
		FAIL("pipe=%d", errno);
	fflush(stdout);
	pid_t pid = wrprotect ? 1 : fork();
	if (pid < 0)
		FAIL("fork=%d", errno);
	if (wrprotect) {
		size_t wp_len = strcmp(wrprotect, "first") ? len :
				!strcmp(mem, "hugetlb") ? (2ul << 20) : 4096;

		if (mprotect(buf, wp_len, PROT_READ) ||
		    mprotect(buf, wp_len, PROT_READ | PROT_WRITE))
			FAIL("mprotect=%d", errno);
		long n = pglab_wrprotects();
		if (n >= 0)
			detail("wrprotects=%ld", n);
	} else if (pid == 0) {
		char v = 'N';

		if (alive) {
			if (read(go[0], &v, 1) != 1)
				_exit(1);
			v = child_view(buf, len, 'A');
			if (write(rep[1], &v, 1) != 1)
				_exit(1);
		}
		_exit(0);
	}
	if (!alive && !wrprotect && waitpid(pid, NULL, 0) != pid)
		FAIL("waitpid=%d", errno);

	memset(buf, 'B', len); /* the parent's post-fork write */

	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	struct io_uring_cqe *cqe;
	if (is_read)
		io_uring_prep_read_fixed(sqe, fd, buf, len, 0, 0);
	else
		io_uring_prep_write_fixed(sqe, fd, buf, len, 0, 0);
	if ((r = io_uring_submit(&ring)) != 1)
		FAIL("submit=%d", r);
	if ((r = io_uring_wait_cqe(&ring, &cqe)))
		FAIL("wait_cqe=%d", r);
	if (cqe->res != (int)len)
		FAIL("cqe_res=%d", cqe->res);
	io_uring_cqe_seen(&ring, cqe);

	const char *result;
	if (is_read) {
		result = all_eq(buf, len, 'C') ? "coherent" : all_eq(buf, len, 'B') ? "stale" : "mixed";
	} else {
		if (pread(fd, chk, len, 0) != (ssize_t)len)
			FAIL("readback=%d", errno);
		result = all_eq(chk, len, 'B') ? "coherent" : all_eq(chk, len, 'A') ? "stale" : "mixed";
	}
	if (!strcmp(result, "mixed")) {
		detail("mixed");
		result = "stale";
	}

	char v = 'N';
	if (alive) {
		if (write(go[1], "x", 1) != 1 || read(rep[0], &v, 1) != 1)
			FAIL("child_pipe=%d", errno);
		waitpid(pid, NULL, 0);
	}
	if (!wrprotect)
		detail("child=%s", child_word(v));
	if ((r = io_uring_unregister_buffers(&ring)))
		FAIL("unregister=%d", r);
	io_uring_queue_exit(&ring);
	api_unpin(use_api, buf, len);
	finish(result);
}
