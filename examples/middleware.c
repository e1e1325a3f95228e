/* SPDX-License-Identifier: MIT */
/*
 * Middleware linking pinguard: a tiny "transport" that registers its
 * buffers with io_uring and tells pinguard about them itself, so it is
 * guarded even where no wrapper can see the registration (static liburing,
 * raw io_uring_register system calls). Build it like any client:
 *
 *     cc middleware.c $(pkg-config --cflags --libs pinguard liburing)
 *
 * Order matters: declare the pin before the kernel takes it, release it
 * after the kernel let go.
 */
#include <liburing.h>
#include <pinguard.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>	/* liburing 2 includes it, 0.x does not */
#include <sys/wait.h>
#include <unistd.h>

struct transport {
	struct io_uring ring;
	struct iovec bufs[2];
};

static int transport_open(struct transport *t, size_t len)
{
	struct pinguard_config cfg;
	int i, ret;

	/* Middleware may choose the policy itself; it wins over the
	 * environment. Here: guard by copying whatever the kernel does. */
	pinguard_get_config(&cfg, sizeof(cfg));
	cfg.mode = PINGUARD_MODE_COPY;
	ret = pinguard_configure(&cfg, sizeof(cfg));
	if (ret)
		return ret;
	ret = io_uring_queue_init(4, &t->ring, 0);
	if (ret)
		return ret;
	for (i = 0; i < 2; i++) {
		t->bufs[i].iov_base = mmap(NULL, len, PROT_READ | PROT_WRITE,
					   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		t->bufs[i].iov_len = len;
		ret = pinguard_pin(t->bufs[i].iov_base, len, 0);
		if (ret)
			return ret;
	}
	/* raw system call: no wrapper sees it, the pins above cover it */
	ret = (int)syscall(__NR_io_uring_register, t->ring.ring_fd,
			   IORING_REGISTER_BUFFERS, t->bufs, 2);
	if (ret) {
		for (i = 0; i < 2; i++)
			pinguard_unpin(t->bufs[i].iov_base, len);
		return -1;
	}
	return 0;
}

static void transport_close(struct transport *t)
{
	int i;

	if (syscall(__NR_io_uring_register, t->ring.ring_fd,
		    IORING_UNREGISTER_BUFFERS, NULL, 0) == 0)
		for (i = 0; i < 2; i++)
			pinguard_unpin(t->bufs[i].iov_base, t->bufs[i].iov_len);
	io_uring_queue_exit(&t->ring);
}

int main(void)
{
	struct pinguard_stats st;
	struct transport t;
	pid_t pid;
	int ret;

	ret = transport_open(&t, 1u << 20);
	if (ret) {
		fprintf(stderr, "middleware: cannot open transport (%d)\n", ret);
		return 77;
	}
	memset(t.bufs[0].iov_base, 'x', t.bufs[0].iov_len);
	pid = fork();			/* the application forks a helper */
	if (pid == 0)
		_exit(((char *)t.bufs[0].iov_base)[0] == 'x' ? 0 : 1);
	waitpid(pid, &ret, 0);
	pinguard_get_stats(&st, sizeof(st));
	printf("middleware: %lu bytes pinned in %lu ranges, %lu fork guarded, "
	       "%lu bytes copied for the child\n",
	       (unsigned long)st.pinned_bytes, (unsigned long)st.pinned_ranges,
	       (unsigned long)st.forks_guarded, (unsigned long)st.bytes_copied);
	transport_close(&t);
	return WIFEXITED(ret) && !WEXITSTATUS(ret) ? 0 : 1;
}
