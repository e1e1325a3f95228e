/* SPDX-License-Identifier: MIT */
/*
 * What pinguard needs from libibverbs, mlx5dv, liburing, the io_uring and
 * RDMA netlink uapi and a recent <sys/mman.h>, for systems whose headers
 * are old or absent (Debian 11: rdma-core 33, liburing 0.7, uapi 5.10;
 * RHEL 8: uapi 4.18; or no -dev package at all).
 *
 * The system's header is used when it exists; each name below is declared
 * only when meson found it missing (pg_config.h, PG_HAVE_*). The wrappers
 * never link these libraries (they find them with dlsym at run time), so
 * declarations are all they need, and the values are ABI: fixed by the
 * kernel or by the library's soname, never renumbered.
 *
 * Included by the wrappers, the probe (and sys.h, so every library file),
 * `pinguard probe`, the stand-in libraries of tests/interpose and the
 * tests that drive them.
 */
#ifndef PG_COMPAT_H
#define PG_COMPAT_H

#include <linux/types.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "pg_config.h"

/* --- recent <sys/mman.h> (kernel 5.14, glibc 2.35) --------------------- */
#if !PG_HAVE_MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23	/* EINVAL before 5.14: pin.c falls back */
#endif

/* --- io_uring system calls (kernel 5.1; same numbers on every
 *     architecture but alpha) ---------------------------------------------- */
#if !PG_HAVE_SYS_IO_URING_SETUP
#ifdef __alpha__
#define SYS_io_uring_setup 535
#define SYS_io_uring_register 537
#else
#define SYS_io_uring_setup 425
#define SYS_io_uring_register 427
#endif
#endif
#ifndef __NR_io_uring_register
#define __NR_io_uring_register SYS_io_uring_register
#endif

#if PG_HAVE_LINUX_IO_URING_H
#include <linux/io_uring.h>
#else
struct io_sqring_offsets {
	__u32 head, tail, ring_mask, ring_entries, flags, dropped, array;
	__u32 resv1;
	__u64 resv2;
};

struct io_cqring_offsets {
	__u32 head, tail, ring_mask, ring_entries, overflow, cqes, flags;
	__u32 resv1;
	__u64 resv2;
};

struct io_uring_params {
	__u32 sq_entries, cq_entries, flags, sq_thread_cpu, sq_thread_idle;
	__u32 features, wq_fd, resv[3];
	struct io_sqring_offsets sq_off;
	struct io_cqring_offsets cq_off;
};

#define IORING_REGISTER_BUFFERS 0
#define IORING_UNREGISTER_BUFFERS 1
#endif

/* --- RDMA netlink (kernel 4.x; the copy-on-fork attribute 5.13) -------- */
#if PG_HAVE_RDMA_NETLINK_H
#include <rdma/rdma_netlink.h>
#endif
#ifndef RDMA_NL_GET_TYPE
#define RDMA_NL_GET_TYPE(client, op) ((client << 10) + op)
#endif
#if !PG_HAVE_RDMA_NL_NLDEV
#define RDMA_NL_NLDEV 5
#endif
#if !PG_HAVE_RDMA_NLDEV_CMD_SYS_GET
#define RDMA_NLDEV_CMD_SYS_GET 6
#endif
#if !PG_HAVE_RDMA_NLDEV_SYS_ATTR_COPY_ON_FORK
#define RDMA_NLDEV_SYS_ATTR_COPY_ON_FORK 93
#endif
/* The resource dump of MRs (pinguard audit): uapi 4.17, MRN 5.0. */
#if !PG_HAVE_RDMA_NLDEV_CMD_RES_MR_GET
#define RDMA_NLDEV_CMD_GET 1
#define RDMA_NLDEV_CMD_RES_MR_GET 13
#define RDMA_NLDEV_ATTR_DEV_INDEX 1
#define RDMA_NLDEV_ATTR_DEV_NAME 2
#define RDMA_NLDEV_ATTR_RES_PID 28
#define RDMA_NLDEV_ATTR_RES_MR 40
#define RDMA_NLDEV_ATTR_RES_MR_ENTRY 41
#define RDMA_NLDEV_ATTR_RES_IOVA 44
#define RDMA_NLDEV_ATTR_RES_MRLEN 45
#endif
#if !PG_HAVE_RDMA_NLDEV_ATTR_RES_MRN
#define RDMA_NLDEV_ATTR_RES_MRN 62
#endif

/* --- libibverbs (rdma-core) -------------------------------------------- */
#if PG_HAVE_INFINIBAND_VERBS_H
#include <infiniband/verbs.h>
#else
struct ibv_context;
struct ibv_pd;

/* The head of libibverbs' MR: stable since libibverbs 1.1. */
struct ibv_mr {
	struct ibv_context *context;
	struct ibv_pd *pd;
	void *addr;
	size_t length;
	uint32_t handle;
	uint32_t lkey;
	uint32_t rkey;
};

enum ibv_access_flags {
	IBV_ACCESS_LOCAL_WRITE = 1,
	IBV_ACCESS_REMOTE_WRITE = 1 << 1,
	IBV_ACCESS_REMOTE_READ = 1 << 2,
	IBV_ACCESS_REMOTE_ATOMIC = 1 << 3,
	IBV_ACCESS_ON_DEMAND = 1 << 6,
};

enum ibv_rereg_mr_flags {
	IBV_REREG_MR_CHANGE_TRANSLATION = 1 << 0,
	IBV_REREG_MR_CHANGE_PD = 1 << 1,
	IBV_REREG_MR_CHANGE_ACCESS = 1 << 2,
};

enum ibv_rereg_mr_err_code {
	IBV_REREG_MR_ERR_INPUT = -1,
	IBV_REREG_MR_ERR_DONT_FORK_NEW = -2,
	IBV_REREG_MR_ERR_DO_FORK_OLD = -3,
	IBV_REREG_MR_ERR_CMD = -4,
	IBV_REREG_MR_ERR_CMD_AND_DO_FORK_NEW = -5,
};

struct ibv_mr *ibv_reg_mr(struct ibv_pd *pd, void *addr, size_t length,
			  int access);
int ibv_dereg_mr(struct ibv_mr *mr);
int ibv_rereg_mr(struct ibv_mr *mr, int flags, struct ibv_pd *pd, void *addr,
		 size_t length, int access);
int ibv_fork_init(void);
#endif
#if !PG_HAVE_IBV_REG_MR_IOVA	/* rdma-core 24 */
struct ibv_mr *ibv_reg_mr_iova(struct ibv_pd *pd, void *addr, size_t length,
			       uint64_t iova, int access);
#endif
#if !PG_HAVE_IBV_REG_MR_IOVA2	/* rdma-core 29 */
struct ibv_mr *ibv_reg_mr_iova2(struct ibv_pd *pd, void *addr, size_t length,
				uint64_t iova, unsigned int access);
#endif
#if !PG_HAVE_IBV_IS_FORK_INITIALIZED	/* rdma-core 35 */
enum ibv_fork_status {
	IBV_FORK_DISABLED,
	IBV_FORK_ENABLED,
	IBV_FORK_UNNEEDED,
};

enum ibv_fork_status ibv_is_fork_initialized(void);
#endif
/* Exported by libibverbs for its providers; no installed header has
 * them. */
int ibv_dontfork_range(void *base, size_t size);
int ibv_dofork_range(void *base, size_t size);

/* --- mlx5dv DEVX umems (rdma-core's libmlx5) --------------------------- */
#if PG_HAVE_INFINIBAND_MLX5DV_H
#include <infiniband/mlx5dv.h>
#else
struct mlx5dv_devx_umem {
	uint32_t umem_id;
};

struct mlx5dv_devx_umem *mlx5dv_devx_umem_reg(struct ibv_context *ctx,
					      void *addr, size_t size,
					      uint32_t access);
int mlx5dv_devx_umem_dereg(struct mlx5dv_devx_umem *umem);
#endif
#if !PG_HAVE_MLX5DV_DEVX_UMEM_REG_EX	/* rdma-core 35 */
struct mlx5dv_devx_umem_in {
	void *addr;
	size_t size;
	uint32_t access;
	uint64_t pgsz_bitmap;
	uint64_t comp_mask;
	int dmabuf_fd;
};

struct mlx5dv_devx_umem *
mlx5dv_devx_umem_reg_ex(struct ibv_context *ctx,
			struct mlx5dv_devx_umem_in *umem_in);
#endif
#if !PG_HAVE_MLX5DV_UMEM_MASK_DMABUF	/* rdma-core 37 */
#define MLX5DV_UMEM_MASK_DMABUF (1 << 0)
#endif

/* --- liburing ---------------------------------------------------------- */
#if PG_HAVE_LIBURING_H
#include <liburing.h>
#else
struct io_uring;

int io_uring_register_buffers(struct io_uring *ring, const struct iovec *iovecs,
			      unsigned nr_iovecs);
int io_uring_unregister_buffers(struct io_uring *ring);
void io_uring_queue_exit(struct io_uring *ring);
#endif
#if !PG_HAVE_IO_URING_REGISTER_BUFFERS_TAGS	/* liburing 2.1 */
int io_uring_register_buffers_tags(struct io_uring *ring,
				   const struct iovec *iovecs,
				   const __u64 *tags, unsigned nr);
int io_uring_register_buffers_update_tag(struct io_uring *ring, unsigned off,
					 const struct iovec *iovecs,
					 const __u64 *tags, unsigned nr);
#endif
#if !PG_HAVE_IO_URING_REGISTER_BUFFERS_SPARSE	/* liburing 2.2 */
int io_uring_register_buffers_sparse(struct io_uring *ring, unsigned nr);
#endif

#endif
