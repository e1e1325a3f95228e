/* SPDX-License-Identifier: MIT */
/* pglab-libs: -luring */
/* pglab-interposes: io_uring_register_buffers */
/*
 * Soak: many forks of a process holding an io_uring fixed buffer.
 *
 *   pglab-soak [--forks N (1000)] [--mem 4k|thp|hugetlb|big] [--seed S]
 *              [--dontfork] [--pinguard-api]
 *
 * Each iteration: fork; the child either exits at once (the parent reaps it
 * before going on) or stays alive (random, 1 in 2) until the checks are
 * done; the parent writes random runs of random bytes into random pages of
 * the registered buffer, then
 *   WRITE_FIXED the whole buffer to a tmpfs file and compares the file with
 *   its own view of the buffer (the device must read the parent's data), and
 *   READ_FIXED a fresh random pattern from the file into the buffer and
 *   compares its view with the pattern (the parent must see the device's
 *   write).
 * Every mismatch is a divergence; result=coherent only with zero. A live
 * child then reports what it sees: its fork-time data (forktime), no
 * mapping (nomap) or something else (other: the device wrote into it).
 * detail: forks, divergences (write_div + read_div), first_div (iteration),
 * alive, child_*, seed, ms_per_fork (whole iteration), fork_us (fork() only).
 */
#include "pglab-common.h"

#include <fcntl.h>
#include <getopt.h>
#include <liburing.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>

static uint64_t rng;

static uint64_t rnd(void) /* xorshift64* */
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ULL;
}

static uint64_t fnv(const unsigned char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	while (n--)
		h = (h ^ *p++) * 1099511628211ULL;
	return h;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void fixed_io(struct io_uring *ring, int is_read, int fd, char *buf, size_t len)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	int r;

	if (is_read)
		io_uring_prep_read_fixed(sqe, fd, buf, len, 0, 0);
	else
		io_uring_prep_write_fixed(sqe, fd, buf, len, 0, 0);
	if ((r = io_uring_submit(ring)) != 1)
		FAIL("submit=%d", r);
	if ((r = io_uring_wait_cqe(ring, &cqe)))
		FAIL("wait_cqe=%d", r);
	if (cqe->res != (int)len)
		FAIL("%s_cqe_res=%d", is_read ? "read" : "write", cqe->res);
	io_uring_cqe_seen(ring, cqe);
}

/* Child: wait for the go byte, report its view of the buffer. */
static void child_run(const char *buf, size_t len, uint64_t forkhash, int go, int rep)
{
	char v = 'N';

	if (read(go, &v, 1) != 1)
		_exit(1);
	signal(SIGSEGV, child_segv);
	signal(SIGBUS, child_segv);
	if (sigsetjmp(child_jmp, 1))
		v = 'S';
	else
		v = fnv((const unsigned char *)buf, len) == forkhash ? 'F' : 'O';
	if (write(rep, &v, 1) != 1)
		_exit(1);
	_exit(0);
}

int main(int argc, char **argv)
{
	const char *mem = "4k";
	long forks = 1000;
	int dontfork = 0, use_api = 0;
	static const struct option opts[] = {
		{ "forks", 1, 0, 'n' }, { "mem", 1, 0, 'm' }, { "seed", 1, 0, 's' },
		{ "dontfork", 0, 0, 'd' }, { "pinguard-api", 0, 0, 'p' }, { 0 }
	};
	int c;

	rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n': forks = atol(optarg); break;
		case 'm': mem = optarg; break;
		case 's': rng = strtoull(optarg, NULL, 0); break;
		case 'd': dontfork = 1; break;
		case 'p': use_api = 1; break;
		default: FAIL("usage");
		}
	}
	if (forks < 1)
		FAIL("bad_forks");
	if (!rng)
		rng = 1;
	uint64_t seed = rng;
	size_t len, pg = 4096;
	char *buf = alloc_mem(mem, &len);
	size_t npages = len / pg;

	memset(buf, 'A', len);
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

	char path[256];
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(path, sizeof(path), "%s/pglab-soak.%d", tmp, getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		FAIL("open=%d", errno);
	unlink(path);
	unsigned char *chk = malloc(len), *pat = malloc(len);
	if (!chk || !pat)
		FAIL("malloc");

	long wdiv = 0, rdiv = 0, first = -1, alive_n = 0, cv[4] = { 0 };
	double t0 = now(), tfork = 0;

	for (long it = 0; it < forks; it++) {
		int alive = rnd() & 1, go[2] = { -1, -1 }, rep[2] = { -1, -1 };
		uint64_t forkhash = fnv((unsigned char *)buf, len);

		if (alive && (pipe(go) || pipe(rep)))
			FAIL("pipe=%d", errno);
		fflush(stdout);
		double tf = now();
		pid_t pid = fork();
		if (pid < 0)
			FAIL("fork=%d,it=%ld", errno, it);
		if (pid == 0) {
			if (alive)
				child_run(buf, len, forkhash, go[0], rep[1]);
			_exit(0);
		}
		tfork += now() - tf;
		if (!alive && waitpid(pid, NULL, 0) != pid)
			FAIL("waitpid=%d", errno);

		/* The parent's random post-fork writes. */
		for (long k = 1 + rnd() % (npages < 4 ? npages : 4); k > 0; k--) {
			size_t p = rnd() % npages, off = rnd() % pg;
			size_t n = 64 + rnd() % (pg - 64 + 1);

			if (off + n > pg)
				off = pg - n;
			for (size_t i = 0; i < n; i++)
				buf[p * pg + off + i] = (char)rnd();
		}

		/* The device reads the buffer: must be the parent's data. */
		fixed_io(&ring, 0, fd, buf, len);
		if (pread(fd, chk, len, 0) != (ssize_t)len)
			FAIL("readback=%d", errno);
		int bad = memcmp(chk, buf, len) != 0;
		wdiv += bad;

		/* The device writes the buffer: the parent must see it. */
		for (size_t i = 0; i < len; i += 8) {
			uint64_t x = rnd();
			memcpy(pat + i, &x, 8);
		}
		if (pwrite(fd, pat, len, 0) != (ssize_t)len)
			FAIL("prefill=%d", errno);
		fixed_io(&ring, 1, fd, buf, len);
		int rbad = memcmp(pat, buf, len) != 0;
		rdiv += rbad;
		if ((bad || rbad) && first < 0)
			first = it;

		if (alive) {
			char v = 'N';

			alive_n++;
			if (write(go[1], "x", 1) != 1 || read(rep[0], &v, 1) != 1)
				FAIL("child_pipe=%d,it=%ld", errno, it);
			cv[v == 'F' ? 0 : v == 'S' ? 1 : v == 'O' ? 2 : 3]++;
			if (waitpid(pid, NULL, 0) != pid)
				FAIL("waitpid=%d", errno);
			close(go[0]), close(go[1]), close(rep[0]), close(rep[1]);
		}
	}
	double el = now() - t0;

	detail("forks=%ld,divergences=%ld,write_div=%ld,read_div=%ld,first_div=%ld",
	       forks, wdiv + rdiv, wdiv, rdiv, first);
	detail("alive=%ld,child_forktime=%ld,child_nomap=%ld,child_other=%ld",
	       alive_n, cv[0], cv[1], cv[2] + cv[3]);
	detail("seed=%#llx,ms_per_fork=%.2f,fork_us=%.0f", (unsigned long long)seed,
	       el * 1e3 / forks, tfork * 1e6 / forks);
	if ((r = io_uring_unregister_buffers(&ring)))
		FAIL("unregister=%d", r);
	io_uring_queue_exit(&ring);
	api_unpin(use_api, buf, len);
	finish(wdiv + rdiv ? "stale" : "coherent");
}
