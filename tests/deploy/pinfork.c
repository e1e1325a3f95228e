/* SPDX-License-Identifier: MIT */
/*
 * A program that pins and forks, for the deployment tests: it registers a
 * 1 MiB io_uring fixed buffer (liburing, so a preloaded pinguard sees the
 * registration), forks a child that checks it reads the fork-time data,
 * writes new data in the parent, and reports on stdout whether pinguard is
 * loaded and what it did:
 *
 *     pinfork: rank R pid P host H pinguard loaded mode copy forks_seen 1 forks_guarded 1
 *     pinfork: rank R pid P host H pinguard absent
 *
 * R is the launcher's rank (SLURM_PROCID, OMPI_COMM_WORLD_RANK, PMI_RANK)
 * or -; H the node's host name (which node a rank ran on). It knows nothing about pinguard at build time (no link, no
 * header): it looks the library up with dlsym. --hold FILE keeps it alive
 * after the report until FILE exists, so a test can run `pinguard status`
 * on it. Exit status: 0 ok, 1 failure, 77 io_uring not available.
 *
 * Built with -DPINFORK_MPI (mpicc), it is an MPI program: MPI_Init before
 * pinning, and rank 0 prints the sum over the ranks after the reports,
 *
 *     pinfork: 2 ranks, 2 loaded, 2 forks guarded
 *
 * so the fork happens with the MPI library's own transports set up.
 */
#define _GNU_SOURCE	/* dlvsym, RTLD_DEFAULT */
#include <dlfcn.h>
#include <liburing.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef PINFORK_MPI
#include <mpi.h>
#endif

#define LEN (1u << 20)

/* The head of struct pinguard_stats (pinguard.h): get_stats copies only
 * the size asked for. */
struct stats_head {
	uint64_t pinned_ranges, pinned_bytes, active_pins, pins_total;
	uint64_t unpins_total, forks_seen, forks_guarded;
};

static const char *rank(void)
{
	static const char *const vars[] = { "SLURM_PROCID",
		"OMPI_COMM_WORLD_RANK", "PMI_RANK", NULL };
	const char *const *v;

	for (v = vars; *v; v++)
		if (getenv(*v))
			return getenv(*v);
	return "-";
}

int main(int argc, char **argv)
{
	int (*get_stats)(struct stats_head *, size_t);
	const char *(*mode_name)(int);
	const char *hold = NULL;
	unsigned long counts[2] = { 0, 0 };	/* loaded, forks guarded */
	struct io_uring ring;
	struct iovec iov;
	char host[256] = "-";
	int st;
	char *buf;
	pid_t pid;

	gethostname(host, sizeof(host) - 1);
#ifdef PINFORK_MPI
	if (MPI_Init(&argc, &argv) != MPI_SUCCESS)
		return 1;
#endif
	if (argc == 3 && !strcmp(argv[1], "--hold"))
		hold = argv[2];
	else if (argc != 1) {
		fprintf(stderr, "usage: pinfork [--hold FILE]\n");
		return 1;
	}
	if (io_uring_queue_init(4, &ring, 0)) {
		fprintf(stderr, "pinfork: io_uring not available\n");
		return 77;
	}
	buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return 1;
	memset(buf, 'o', LEN);
	iov.iov_base = buf;
	iov.iov_len = LEN;
	if (io_uring_register_buffers(&ring, &iov, 1)) {
		fprintf(stderr, "pinfork: io_uring_register_buffers failed\n");
		return 1;
	}
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0)
		_exit(buf[0] == 'o' && buf[LEN - 1] == 'o' ? 0 : 1);
	memset(buf, 'n', LEN);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "pinfork: the child did not see fork-time data\n");
		return 1;
	}

	*(void **)&get_stats = dlsym(RTLD_DEFAULT, "pinguard_get_stats");
	*(void **)&mode_name = dlsym(RTLD_DEFAULT, "pinguard_mode_name");
	if (get_stats && mode_name) {
		struct stats_head s;
		int (*get_mode)(void *, size_t);
		int info[8] = { 0 };	/* mode_info starts with requested, effective */

		*(void **)&get_mode = dlvsym(RTLD_DEFAULT, "pinguard_get_mode",
					    "PINGUARD_0.2");
		if (get_stats(&s, sizeof(s)) || !get_mode ||
		    get_mode(info, sizeof(info)))
			return 1;
		printf("pinfork: rank %s pid %d host %s pinguard loaded mode "
		       "%s forks_seen %llu forks_guarded %llu\n", rank(),
		       (int)getpid(), host, mode_name(info[1]),
		       (unsigned long long)s.forks_seen,
		       (unsigned long long)s.forks_guarded);
		counts[0] = 1;
		counts[1] = s.forks_guarded;
	} else {
		printf("pinfork: rank %s pid %d host %s pinguard absent\n",
		       rank(), (int)getpid(), host);
	}
	fflush(stdout);
	while (hold && access(hold, F_OK))
		usleep(20000);
	io_uring_unregister_buffers(&ring);
	io_uring_queue_exit(&ring);
#ifdef PINFORK_MPI
	{
		unsigned long sum[2];
		int ranks, me;

		MPI_Comm_size(MPI_COMM_WORLD, &ranks);
		MPI_Comm_rank(MPI_COMM_WORLD, &me);
		if (MPI_Reduce(counts, sum, 2, MPI_UNSIGNED_LONG, MPI_SUM, 0,
			       MPI_COMM_WORLD) != MPI_SUCCESS)
			return 1;
		if (me == 0)
			printf("pinfork: %d ranks, %lu loaded, %lu forks guarded\n",
			       ranks, sum[0], sum[1]);
		MPI_Finalize();
	}
#else
	(void)counts;
#endif
	return 0;
}
