/* SPDX-License-Identifier: MIT */
/* Test helper for `pinguard audit`: an unmodified liburing program that
 * registers two fixed buffers (one 4 KiB page, then two pages) on a real
 * ring, writes "START LENGTH" of each to argv[1], and waits to be killed
 * (at most 60 s). --dontfork: MADV_DONTFORK on the buffers first (the
 * application's own protection); --no-buffers: a ring with no buffers;
 * --exit: exit right after writing the file. */
#include <liburing.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	bool dontfork = false, none = false, quit = false;
	struct io_uring ring;
	struct iovec iov[2];
	char *m, tmp[4096];
	FILE *f;
	int i;

	if (argc < 2)
		return 2;
	for (i = 2; i < argc; i++) {
		dontfork |= !strcmp(argv[i], "--dontfork");
		none |= !strcmp(argv[i], "--no-buffers");
		quit |= !strcmp(argv[i], "--exit");
	}
	m = mmap(NULL, 16 * 4096, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED || io_uring_queue_init(4, &ring, 0))
		return 1;
	memset(m, 1, 16 * 4096);
	/* a hole between the buffers: two ranges, two VMAs with dontfork */
	iov[0] = (struct iovec){ m + 4096, 4096 };
	iov[1] = (struct iovec){ m + 8 * 4096, 2 * 4096 };
	if (dontfork && (madvise(iov[0].iov_base, iov[0].iov_len,
				 MADV_DONTFORK) ||
			 madvise(iov[1].iov_base, iov[1].iov_len,
				 MADV_DONTFORK)))
		return 1;
	if (!none && io_uring_register_buffers(&ring, iov, 2)) {
		fprintf(stderr, "ringwait: registration failed\n");
		return 1;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
	f = fopen(tmp, "w");
	if (!f)
		return 1;
	if (!none)
		fprintf(f, "%p %zu\n%p %zu\n", iov[0].iov_base, iov[0].iov_len,
			iov[1].iov_base, iov[1].iov_len);
	if (fclose(f) || rename(tmp, argv[1]))
		return 1;
	if (quit)
		return 0;
	alarm(60);
	for (;;)
		pause();
}
