/* SPDX-License-Identifier: MIT */
/*
 * A process's io_uring fixed buffers (and whether it has an RDMA device
 * open: /dev/infiniband/uverbsN), as the kernel lists them in
 * /proc/PID/fdinfo/FD of each ring: "UserBufs:\tN" then one line per slot,
 * "%5u: 0x%llx/%u" (5.10's fs/io_uring.c, 6.1's io_uring/fdinfo.c), or
 * "%5u: <none>" for an empty slot of a sparse table (6.13+). The slots are
 * printed only when the ring's lock could be taken without waiting; a
 * ring busy at that moment shows its count without the lines, and is read
 * again a few times.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

#define BUSY_RETRIES 5

static int add_buf(struct uring_scan *u, const struct uring_buf *b)
{
	return array_append(&u->bufs, &u->n, b, sizeof(*b));
}

int uring_parse_fdinfo(FILE *f, int fd, struct uring_scan *u)
{
	char line[256];
	unsigned count = 0, listed = 0, slot;
	bool in_bufs = false;
	struct uring_buf b;
	uint64_t addr, len;

	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "UserBufs:", 9)) {
			count = (unsigned)strtoul(line + 9, NULL, 10);
			in_bufs = true;
			continue;
		}
		if (!in_bufs)
			continue;
		if (sscanf(line, " %u: 0x%" SCNx64 "/%" SCNu64, &slot, &addr,
			   &len) == 3) {
			listed++;
			if (!len)
				continue;
			b = (struct uring_buf){ addr, len, fd, slot };
			if (add_buf(u, &b))
				return -ENOMEM;
		} else if (sscanf(line, " %u: <none>", &slot) == 1) {
			listed++;
		} else {
			in_bufs = false;	/* the next section */
		}
	}
	if (listed < count)
		u->unprinted += count - listed;
	return 0;
}

/* A ring's fdinfo, parsed; -errno when it cannot be opened. */
static int read_ring(int pid, int fd, struct uring_scan *u)
{
	size_t n0 = u->n;
	unsigned busy0 = u->unprinted;
	char path[64];
	FILE *f;
	int i, ret = 0;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	for (i = 0; i < BUSY_RETRIES; i++) {
		u->n = n0;
		u->unprinted = busy0;
		f = fopen(path, "re");
		if (!f)
			return -errno;
		ret = uring_parse_fdinfo(f, fd, u);
		fclose(f);
		if (ret || u->unprinted == busy0)
			break;
		usleep(1000);	/* the ring's lock was held: look again */
	}
	return ret;
}

int uring_scan(int pid, struct uring_scan *u)
{
	char path[64], link[64], name[64 + 256];
	struct dirent *d;
	ssize_t n;
	DIR *dir;
	int ret = 0, fd;

	memset(u, 0, sizeof(*u));
	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	dir = opendir(path);
	if (!dir)
		return errno == ENOENT ? -ESRCH : -errno;
	for (;;) {
		errno = 0;
		d = readdir(dir);
		if (!d) {
			ret = -errno;	/* 0 at the end */
			break;
		}
		if (d->d_name[0] < '0' || d->d_name[0] > '9')
			continue;
		fd = atoi(d->d_name);
		snprintf(name, sizeof(name), "%s/%s", path, d->d_name);
		n = readlink(name, link, sizeof(link) - 1);
		if (n < 0)
			continue;	/* closed meanwhile */
		link[n] = 0;
		if (!strncmp(link, "/dev/infiniband/uverbs", 22))
			u->uverbs++;
		if (strcmp(link, "anon_inode:[io_uring]"))
			continue;
		u->rings++;
		ret = read_ring(pid, fd, u);
		if (ret == -ENOENT)
			ret = 0;	/* closed meanwhile */
		if (ret)
			break;
	}
	closedir(dir);
	if (ret == -ENOENT)
		ret = -ESRCH;
	return ret;
}
