/* SPDX-License-Identifier: MIT */
/*
 * Does this kernel copy DMA-pinned pages of a kind (4 KiB, THP, hugetlb)
 * at fork (early COW: 5.9, hugetlb 5.12)? First answer wins: the empirical probe (measures the behaviour itself),
 * the RDMA netlink attribute, the kernel version. PINGUARD_KERNEL is
 * honoured by the caller before any of these run.
 */
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "compat.h"
#include "internal.h"
#include "sys.h"

#define PAGEMAP_EXCLUSIVE (1ull << 56)
#define PAGEMAP_PRESENT   (1ull << 63)

static int pagemap_entry(const void *addr, uint64_t *ent)
{
	int fd = pg_sys_open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return fd;
	n = pg_sys_pread(fd, ent, sizeof(*ent),
			 (off_t)((uintptr_t)addr / PG_PAGE_SIZE * sizeof(*ent)));
	pg_sys_close(fd);
	return n == sizeof(*ent) ? 0 : -EIO;
}

/* What one probe pins: a base page, a transparent huge page, or a huge
 * page of the default hugetlb size. */
struct probe_mem {
	void *map;		/* what to munmap */
	size_t map_len;
	char *buf;		/* the pinned buffer */
	size_t len;
};

static int probe_map(enum pinguard_memkind kind, struct probe_mem *m)
{
	uint64_t ent;
	char *p;

	memset(m, 0, sizeof(*m));
	switch (kind) {
	case PINGUARD_MEM_4K:
		m->map_len = m->len = PG_PAGE_SIZE;
		p = pg_sys_mmap(NULL, m->map_len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return -ENOMEM;
		m->map = m->buf = p;
		break;
	case PINGUARD_MEM_THP:
		m->map_len = 2 * PG_THP_SIZE;
		m->len = PG_THP_SIZE;
		p = pg_sys_mmap(NULL, m->map_len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return -ENOMEM;
		m->map = p;
		m->buf = (char *)pg_align_down((uintptr_t)p + PG_THP_SIZE - 1,
					       PG_THP_SIZE);
		pg_sys_madvise(m->buf, m->len, MADV_HUGEPAGE);
		break;
	case PINGUARD_MEM_HUGETLB:
		m->map_len = m->len = PG_THP_SIZE;	/* default size, x86-64 */
		p = pg_sys_mmap(NULL, m->map_len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
		if (p == MAP_FAILED) {
			pg_log(PG_LOG_DEBUG, "probe: no free huge page");
			return -ENOMEM;
		}
		m->map = m->buf = p;
		break;
	default:
		return -EINVAL;
	}
	m->buf[0] = 1;
	/* An anonymous fault maps one base page unless a THP backed it: the
	 * block's last page present means a THP (no privilege needed). */
	if (kind == PINGUARD_MEM_THP &&
	    (pagemap_entry(m->buf + m->len - PG_PAGE_SIZE, &ent) ||
	     !(ent & PAGEMAP_PRESENT))) {
		pg_log(PG_LOG_DEBUG, "probe: no transparent huge page");
		pg_sys_munmap(m->map, m->map_len);
		return -ENOMEM;
	}
	return 0;
}

/*
 * Pin written memory of the kind with an io_uring fixed buffer, create a
 * child that shares our memory image and waits, and look at our page's
 * "exclusively mapped" bit. The child is made by a raw clone with no exit
 * signal: the application's SIGCHLD handler never runs and waitpid(-1)
 * cannot reap it.
 */
static enum pinguard_kernel probe_io_uring(enum pinguard_memkind kind)
{
	enum pinguard_kernel k = PINGUARD_KERNEL_UNKNOWN;
	struct io_uring_params p;
	struct probe_mem m;
	struct iovec iov;
	uint64_t before = 0, after = 0;
	long pid;
	int ring, status;

	memset(&p, 0, sizeof(p));
	ring = (int)PG_SYSCALL(SYS_io_uring_setup, 1, &p);
	if (ring < 0) {
		pg_log(PG_LOG_DEBUG, "probe: io_uring unavailable (errno %d)",
		       -ring);
		return k;
	}
	if (probe_map(kind, &m))
		goto out_close;
	iov.iov_base = m.buf;
	iov.iov_len = m.len;
	if (PG_SYSCALL(SYS_io_uring_register, ring, IORING_REGISTER_BUFFERS,
		       &iov, 1) < 0) {
		pg_log(PG_LOG_DEBUG, "probe: cannot register a fixed buffer");
		goto out_unmap;
	}
	if (pagemap_entry(m.buf, &before) ||
	    !(before & PAGEMAP_PRESENT) || !(before & PAGEMAP_EXCLUSIVE))
		goto out_unreg;
	pid = PG_SYSCALL(SYS_clone, 0 /* no exit signal */, NULL, NULL, NULL,
			 NULL);
	if (pid == 0) {
		for (;;)
			syscall(SYS_pause);
	}
	if (pid < 0)
		goto out_unreg;
	if (!pagemap_entry(m.buf, &after) && (after & PAGEMAP_PRESENT))
		k = after & PAGEMAP_EXCLUSIVE ? PINGUARD_KERNEL_PATCHED :
						PINGUARD_KERNEL_UNPATCHED;
	PG_SYSCALL(SYS_kill, pid, SIGKILL);
	while (PG_SYSCALL(SYS_wait4, pid, &status, __WALL, NULL) == -EINTR)
		;
out_unreg:
	PG_SYSCALL(SYS_io_uring_register, ring, IORING_UNREGISTER_BUFFERS,
		   NULL, 0);
out_unmap:
	pg_sys_munmap(m.map, m.map_len);
out_close:
	pg_sys_close(ring);
	return k;
}

/* RDMA_NLDEV_SYS_ATTR_COPY_ON_FORK: the RDMA core's own claim. */
static enum pinguard_kernel probe_netlink(void)
{
	struct {
		struct nlmsghdr nh;
		char pad[4];
	} req;
	union {
		char buf[4096];
		struct nlmsghdr align;
	} resp;
	struct nlmsghdr *nh;
	struct nlattr *a;
	enum pinguard_kernel k = PINGUARD_KERNEL_UNKNOWN;
	ssize_t n;
	int fd;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_RDMA);
	if (fd < 0)
		return k;
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(0);
	req.nh.nlmsg_type = RDMA_NL_GET_TYPE(RDMA_NL_NLDEV,
					     RDMA_NLDEV_CMD_SYS_GET);
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.nh.nlmsg_seq = 1;
	if (send(fd, &req.nh, req.nh.nlmsg_len, 0) < 0)
		goto out;
	n = recv(fd, resp.buf, sizeof(resp.buf), 0);
	nh = &resp.align;
	if (n < (ssize_t)NLMSG_HDRLEN || !NLMSG_OK(nh, (size_t)n) ||
	    nh->nlmsg_type == NLMSG_ERROR)
		goto out;
	for (a = (struct nlattr *)NLMSG_DATA(nh);
	     (char *)a + NLA_HDRLEN <= (char *)nh + nh->nlmsg_len &&
	     a->nla_len >= NLA_HDRLEN;
	     a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len))) {
		if ((a->nla_type & NLA_TYPE_MASK) ==
		    RDMA_NLDEV_SYS_ATTR_COPY_ON_FORK) {
			k = *((uint8_t *)a + NLA_HDRLEN) ?
			    PINGUARD_KERNEL_PATCHED : PINGUARD_KERNEL_UNPATCHED;
			break;
		}
	}
out:
	close(fd);
	return k;
}

static unsigned kernel_version(void)
{
	static unsigned version;
	struct utsname u;
	unsigned major = 0, minor = 0;
	const char *p;

	if (version)
		return version;
	if (uname(&u))
		return 0;
	p = u.release;
#ifdef PG_FAULT_INJECTION
	/* test builds: behave as on another kernel release */
	if (getenv("PINGUARD_TEST_KERNEL_RELEASE"))
		p = getenv("PINGUARD_TEST_KERNEL_RELEASE");
#endif
	for (; *p >= '0' && *p <= '9'; p++)
		major = major * 10 + (unsigned)(*p - '0');
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			minor = minor * 10 + (unsigned)(*p - '0');
	version = major << 16 | minor;
	return version;
}

bool pg_kernel_at_least(unsigned major, unsigned minor)
{
	return kernel_version() >= (major << 16 | minor);
}

/* The release that brought early COW to each kind: 5.9 for base pages
 * and THP ("mm: do early cow for pinned pages during fork() for ptes",
 * "mm/thp: split huge pmds/puds if they're pinned when fork()"), 5.12
 * for hugetlb ("hugetlb: do early cow when page pinned on src mm"). */
static const unsigned early_cow_since[PINGUARD_MEM_KINDS][2] = {
	[PINGUARD_MEM_4K] = { 5, 9 },
	[PINGUARD_MEM_THP] = { 5, 9 },
	[PINGUARD_MEM_HUGETLB] = { 5, 12 },
};

bool pg_kernel_wp_breaks_pins(void)
{
	/* do_wp_page() copies a page whose count says pinned from 5.9
	 * ("mm: do_wp_page() simplification") until PG_anon_exclusive
	 * (5.19) let it reuse exclusively mapped anonymous pages. */
	return pg_kernel_at_least(5, 9) && !pg_kernel_at_least(5, 19);
}

/* The netlink attribute is the RDMA core's statement that pinned memory
 * survives fork, made when early COW reached base pages and THP. It came
 * close to hugetlb's early COW (5.12) and says nothing about it: a hugetlb
 * verdict without a probe goes by the version, which errs, if ever, on the
 * side of copying (a backport it does not know of). */
enum pinguard_kernel pg_probe_kernel(enum pinguard_memkind kind,
				     enum pinguard_reason *why)
{
	enum pinguard_kernel k;

	*why = PINGUARD_REASON_PROBE;
	k = probe_io_uring(kind);
	if (k != PINGUARD_KERNEL_UNKNOWN)
		return k;
	*why = PINGUARD_REASON_NETLINK;
	k = kind == PINGUARD_MEM_HUGETLB ? PINGUARD_KERNEL_UNKNOWN :
					   probe_netlink();
	if (k != PINGUARD_KERNEL_UNKNOWN)
		return k;
	*why = PINGUARD_REASON_VERSION;
	return pg_kernel_at_least(early_cow_since[kind][0],
				  early_cow_since[kind][1]) ?
	       PINGUARD_KERNEL_PATCHED : PINGUARD_KERNEL_UNPATCHED;
}
