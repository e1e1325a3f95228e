/* SPDX-License-Identifier: MIT */
/*
 * RDMA memory regions of every process, from the RDMA core's resource
 * tracker over netlink (what `rdma resource show mr` prints): first the
 * devices (RDMA_NLDEV_CMD_GET, dump), then each device's MRs
 * (RDMA_NLDEV_CMD_RES_MR_GET, dump, by RDMA_NLDEV_ATTR_DEV_INDEX). Each
 * MR has its length, its owner's pid (in our pid namespace; a kernel MR
 * has a name instead) and its number; the address (RDMA_NLDEV_ATTR_RES_IOVA)
 * only on 4.17-4.x kernels, and there only for CAP_NET_ADMIN.
 */
#include <errno.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "compat.h"	/* RDMA_NLDEV_*: uapi 4.17 */
#include "tool.h"

#define MAX_DEVS 64

struct dev {
	uint32_t index;
	char name[64];
};

struct dump {
	struct rdma_mr *mrs;
	size_t n;
	struct dev devs[MAX_DEVS];
	unsigned ndevs;
};

static const struct nlattr *next_attr(const struct nlattr *a)
{
	return (const struct nlattr *)((const char *)a + NLA_ALIGN(a->nla_len));
}

#define FOR_ATTRS(a, start, end)					\
	for (a = (const struct nlattr *)(start);			\
	     (const char *)a + NLA_HDRLEN <= (const char *)(end) &&	\
	     a->nla_len >= NLA_HDRLEN &&					\
	     (const char *)a + a->nla_len <= (const char *)(end);	\
	     a = next_attr(a))

static const void *payload(const struct nlattr *a)
{
	return (const char *)a + NLA_HDRLEN;
}

static uint64_t attr_u64(const struct nlattr *a)
{
	uint64_t v = 0;

	if (a->nla_len >= NLA_HDRLEN + 8)
		memcpy(&v, payload(a), 8);
	return v;
}

static uint32_t attr_u32(const struct nlattr *a)
{
	uint32_t v = 0;

	if (a->nla_len >= NLA_HDRLEN + 4)
		memcpy(&v, payload(a), 4);
	return v;
}

static void attr_str(const struct nlattr *a, char *buf, size_t len)
{
	size_t l = a->nla_len - NLA_HDRLEN;

	if (l >= len)
		l = len - 1;
	memcpy(buf, payload(a), l);
	buf[l] = 0;
}

/* One RDMA_NLDEV_ATTR_RES_MR_ENTRY. */
static int add_mr(struct dump *d, const char *dev, const struct nlattr *e)
{
	const struct nlattr *a;
	struct rdma_mr mr;

	memset(&mr, 0, sizeof(mr));
	snprintf(mr.dev, sizeof(mr.dev), "%s", dev);
	FOR_ATTRS(a, payload(e), (const char *)e + e->nla_len) {
		switch (a->nla_type & NLA_TYPE_MASK) {
		case RDMA_NLDEV_ATTR_RES_MRLEN:
			mr.len = attr_u64(a);
			break;
		case RDMA_NLDEV_ATTR_RES_IOVA:
			mr.iova = attr_u64(a);
			mr.has_iova = true;
			break;
		case RDMA_NLDEV_ATTR_RES_PID:
			mr.pid = (int)attr_u32(a);
			break;
		case RDMA_NLDEV_ATTR_RES_MRN:
			mr.mrn = attr_u32(a);
			break;
		}
	}
	if (!mr.pid)
		return 0;	/* a kernel MR: no process to fork */
	return array_append(&d->mrs, &d->n, &mr, sizeof(mr));
}

/* One message of either dump. */
static int parse(struct dump *d, const struct nlmsghdr *nh, bool devices)
{
	const char *end = (const char *)nh + nh->nlmsg_len;
	const struct nlattr *a, *m, *e;
	char name[64] = "";
	uint32_t index = 0;
	int ret;

	FOR_ATTRS(a, NLMSG_DATA(nh), end) {
		int type = a->nla_type & NLA_TYPE_MASK;

		if (type == RDMA_NLDEV_ATTR_DEV_INDEX)
			index = attr_u32(a);
		else if (type == RDMA_NLDEV_ATTR_DEV_NAME)
			attr_str(a, name, sizeof(name));
		else if (type == RDMA_NLDEV_ATTR_RES_MR && !devices)
			FOR_ATTRS(m, payload(a), (const char *)a + a->nla_len) {
				e = m;
				if ((e->nla_type & NLA_TYPE_MASK) !=
				    RDMA_NLDEV_ATTR_RES_MR_ENTRY)
					continue;
				if ((ret = add_mr(d, name, e)))
					return ret;
			}
	}
	if (devices && d->ndevs < MAX_DEVS) {
		d->devs[d->ndevs].index = index;
		snprintf(d->devs[d->ndevs].name, sizeof(d->devs[0].name), "%s",
			 name);
		d->ndevs++;
	}
	return 0;
}

/* Send one dump request (with the device index for an MR dump) and parse
 * every answer up to NLMSG_DONE. */
static int dump(int fd, struct dump *d, int cmd, const struct dev *dev)
{
	struct {
		struct nlmsghdr nh;
		struct nlattr a;
		uint32_t index;
	} req;
	static union {
		char buf[1 << 16];
		struct nlmsghdr align;
	} resp;
	struct nlmsghdr *nh;
	ssize_t n;
	int ret;

	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(dev ? sizeof(req.a) + 4 : 0);
	req.nh.nlmsg_type = RDMA_NL_GET_TYPE(RDMA_NL_NLDEV, cmd);
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nh.nlmsg_seq = (uint32_t)cmd;
	if (dev) {
		req.a.nla_type = RDMA_NLDEV_ATTR_DEV_INDEX;
		req.a.nla_len = NLA_HDRLEN + 4;
		req.index = dev->index;
	}
	if (send(fd, &req, req.nh.nlmsg_len, 0) < 0)
		return -errno;
	for (;;) {
		n = recv(fd, resp.buf, sizeof(resp.buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		for (nh = &resp.align; NLMSG_OK(nh, (size_t)n);
		     nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_type == NLMSG_DONE)
				return 0;
			if (nh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *err = NLMSG_DATA(nh);

				return err->error ? err->error : 0;
			}
			if ((ret = parse(d, nh, !dev)))
				return ret;
		}
	}
}

int rdma_mr_dump(struct rdma_mr **out, size_t *n, unsigned *ndevs)
{
	struct dump d;
	unsigned i;
	int fd, ret;

	memset(&d, 0, sizeof(d));
	*out = NULL;
	*n = 0;
	*ndevs = 0;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_RDMA);
	if (fd < 0)
		return -errno;
	ret = dump(fd, &d, RDMA_NLDEV_CMD_GET, NULL);
	for (i = 0; !ret && i < d.ndevs; i++)
		ret = dump(fd, &d, RDMA_NLDEV_CMD_RES_MR_GET, &d.devs[i]);
	close(fd);
	*ndevs = d.ndevs;
	if (ret) {
		free(d.mrs);
		return ret;
	}
	*out = d.mrs;
	*n = d.n;
	return 0;
}
