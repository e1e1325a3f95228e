/* SPDX-License-Identifier: MIT */
/*
 * An unmodified io_uring program: linked only against liburing, it knows
 * nothing of pinguard. It registers a fixed buffer, forks a child that
 * stays alive, keeps using WRITE_FIXED/READ_FIXED in the parent, and
 * checks what the parent, the file and the child see. Run under
 * LD_PRELOAD=libpinguard.so; when pinguard is there, it also reads
 * pinguard's counters (found with dlsym, no link dependency).
 * Exit 0 ok, 1 failure, 77 io_uring unavailable.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define LEN (1u << 20)
#define FAIL(...) do { fprintf(stderr, "uring_legacy: " __VA_ARGS__); \
	fputc('\n', stderr); exit(1); } while (0)

struct pg_stats {	/* prefix of struct pinguard_stats */
	uint64_t pinned_ranges, pinned_bytes, active_pins, pins_total,
		 unpins_total, forks_seen, forks_guarded, bytes_copied;
};

static size_t exclusive_pages(const char *p, size_t len)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	size_t n = 0, i;
	uint64_t e;

	for (i = 0; i < len; i += 4096)
		if (pread(fd, &e, 8, (off_t)((uintptr_t)(p + i) / 4096 * 8)) == 8 &&
		    (e >> 56 & 1) && (e >> 63 & 1))
			n++;
	close(fd);
	return n;
}

static void fixed_io(struct io_uring *ring, int fd, char *buf, bool write)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;

	if (write)
		io_uring_prep_write_fixed(sqe, fd, buf, LEN, 0, 0);
	else
		io_uring_prep_read_fixed(sqe, fd, buf, LEN, 0, 0);
	if (io_uring_submit(ring) != 1 || io_uring_wait_cqe(ring, &cqe))
		FAIL("submit");
	if (cqe->res != (int)LEN)
		FAIL("%s_fixed: %d", write ? "write" : "read", cqe->res);
	io_uring_cqe_seen(ring, cqe);
}

static struct pg_stats pinguard_stats(void)
{
	int (*get)(void *, size_t) = (int (*)(void *, size_t))
		dlsym(RTLD_DEFAULT, "pinguard_get_stats");
	struct pg_stats s;

	memset(&s, 0, sizeof(s));
	if (get)
		get(&s, sizeof(s));
	return s;
}

int main(void)
{
	char path[] = "/tmp/uring-legacy-XXXXXX", *buf, check[64];
	int fd = mkstemp(path), go[2], res[2], st;
	bool preloaded = dlsym(RTLD_DEFAULT, "pinguard_pin") != NULL;
	struct io_uring ring;
	struct iovec iov;
	struct pg_stats s;
	char ok = 0, b;
	pid_t pid;

	if (fd < 0)
		FAIL("mkstemp");
	unlink(path);
	if (io_uring_queue_init(8, &ring, 0)) {
		printf("uring_legacy: io_uring unavailable, skipped\n");
		return 77;
	}
	buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(buf, 'F', LEN);
	iov.iov_base = buf;
	iov.iov_len = LEN;
	if (io_uring_register_buffers(&ring, &iov, 1))
		FAIL("register_buffers");
	s = pinguard_stats();
	if (preloaded && (s.pinned_bytes != LEN || s.active_pins != 1))
		FAIL("registry: %lu bytes, %lu pins", (unsigned long)s.pinned_bytes,
		     (unsigned long)s.active_pins);
	if (pipe(go) || pipe(res))
		FAIL("pipe");
	pid = fork();
	if (pid == 0) {
		close(go[1]);
		alarm(60);
		if (read(go[0], &b, 1) != 1)
			_exit(2);
		ok = buf[0] == 'F' && buf[LEN - 1] == 'F';	/* fork-time */
		buf[0] = 'c';					/* writable */
		_exit(write(res[1], &ok, 1) == 1 ? 0 : 3);
	}
	if (exclusive_pages(buf, LEN) != LEN / 4096)
		FAIL("parent's registered pages are shared with the child");
	/* the parent keeps working through the fixed buffer */
	memset(buf, 'P', LEN);
	fixed_io(&ring, fd, buf, true);
	if (pread(fd, check, sizeof(check), LEN - sizeof(check)) !=
	    (ssize_t)sizeof(check) || memchr(check, 'F', sizeof(check)))
		FAIL("WRITE_FIXED after fork wrote stale data");
	if (pwrite(fd, "R", 1, 0) != 1)
		FAIL("pwrite");
	fixed_io(&ring, fd, buf, false);
	if (buf[0] != 'R')
		FAIL("READ_FIXED after fork did not reach the parent");
	if (write(go[1], "g", 1) != 1 || read(res[0], &ok, 1) != 1 || !ok)
		FAIL("child did not see its fork-time data");
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		FAIL("child ended with status %#x", st);
	s = pinguard_stats();
	if (preloaded && (s.forks_guarded != 1 || s.bytes_copied != LEN))
		FAIL("fork not guarded: %lu guarded, %lu bytes copied",
		     (unsigned long)s.forks_guarded, (unsigned long)s.bytes_copied);
	io_uring_queue_exit(&ring);
	s = pinguard_stats();
	if (preloaded && (s.pinned_bytes || s.active_pins))
		FAIL("queue_exit left %lu bytes pinned", (unsigned long)s.pinned_bytes);
	printf("uring_legacy: ok (%s)\n", preloaded ? "pinguard preloaded" :
	       "no pinguard");
	return 0;
}
