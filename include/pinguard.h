/* SPDX-License-Identifier: MIT */
/*
 * pinguard: keep DMA-pinned memory coherent across fork().
 *
 * Every function returns 0 (or a documented non-negative value) on success
 * and a negative errno value on failure; errno itself is left untouched.
 * See pinguard(7) for the policies and environment variables.
 */
#ifndef PINGUARD_H
#define PINGUARD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PINGUARD_VERSION_MAJOR 0
#define PINGUARD_VERSION_MINOR 1
#define PINGUARD_VERSION_PATCH 0

/* Flags for pinguard_pin(). Default: long-term, device may write. */
#define PINGUARD_PIN_SHORTTERM (1u << 0) /* released soon (O_DIRECT-like) */
#define PINGUARD_PIN_READONLY  (1u << 1) /* the device only reads the pages */

enum pinguard_mode {
	PINGUARD_MODE_AUTO = 0,	/* probe the kernel at the first pin */
	PINGUARD_MODE_COPY,	/* parent keeps its pages, child gets a copy */
	PINGUARD_MODE_DONTFORK,	/* MADV_DONTFORK while pinned */
	PINGUARD_MODE_OFF,	/* bookkeeping and statistics only */
};

enum pinguard_pretouch {
	PINGUARD_PRETOUCH_AUTO = 0, /* read-only pins on kernels that need it */
	PINGUARD_PRETOUCH_ALWAYS,
	PINGUARD_PRETOUCH_NEVER,
};

enum pinguard_scope {
	PINGUARD_SCOPE_LONGTERM = 0, /* short-term pins are not guarded */
	PINGUARD_SCOPE_ALL,
};

enum pinguard_kernel {
	PINGUARD_KERNEL_UNKNOWN = 0,	/* not probed yet */
	PINGUARD_KERNEL_PATCHED,	/* copies DMA-pinned pages at fork */
	PINGUARD_KERNEL_UNPATCHED,	/* shares them copy-on-write: needs us */
};

/* What ibv_fork_init() does (PINGUARD_FORK_INIT). */
enum pinguard_fork_init {
	PINGUARD_FORK_INIT_PASSTHROUGH = 0, /* rdma-core's own, as usual */
	PINGUARD_FORK_INIT_TAKEOVER,	/* copy mode answers it instead */
};

/* Kinds of memory the kernel's early COW reached in different releases:
 * 4 KiB anonymous pages and THP in 5.9, hugetlb pages in 5.12. Auto mode
 * judges the kernel per kind, at the first pin of each. */
enum pinguard_memkind {
	PINGUARD_MEM_4K = 0,	/* base pages of private mappings */
	PINGUARD_MEM_THP,	/* transparent huge pages */
	PINGUARD_MEM_HUGETLB,	/* hugetlbfs / MAP_HUGETLB pages */
	PINGUARD_MEM_KINDS
};

/* Why the mode in force is what it is. */
enum pinguard_reason {
	PINGUARD_REASON_CONFIGURED = 0,	/* PINGUARD_MODE or pinguard_configure() */
	PINGUARD_REASON_PENDING,	/* auto, nothing pinned yet: not probed */
	PINGUARD_REASON_OVERRIDE,	/* auto, PINGUARD_KERNEL said so */
	PINGUARD_REASON_PROBE,		/* auto, empirical io_uring/pagemap probe */
	PINGUARD_REASON_NETLINK,	/* auto, RDMA_NLDEV_SYS_ATTR_COPY_ON_FORK */
	PINGUARD_REASON_VERSION,	/* auto, kernel version (last resort) */
};

struct pinguard_mode_info {
	enum pinguard_mode configured;	/* what was asked for */
	enum pinguard_mode effective;	/* in force; AUTO while pending */
	enum pinguard_reason reason;
	enum pinguard_kernel kernel;	/* what detection found: unpatched if
					 * any kind pinned so far is */
	enum pinguard_pretouch pretouch;
	enum pinguard_scope scope;
	enum pinguard_fork_init fork_init; /* in force (after fallbacks) */
	/* Auto mode's verdict per kind of memory (PINGUARD_MEM_*): kernel
	 * UNKNOWN and reason PENDING until the first pin of that kind;
	 * probe_ns: what finding out cost (0 for an override). */
	struct pinguard_kind_info {
		enum pinguard_kernel kernel;
		enum pinguard_reason reason;
		uint64_t probe_ns;
	} kinds[PINGUARD_MEM_KINDS];
};

struct pinguard_stats {
	uint64_t pinned_ranges;	/* maximal contiguous pinned extents */
	uint64_t pinned_bytes;	/* bytes with at least one pin */
	uint64_t active_pins;	/* pinguard_pin() calls not yet unpinned */
	uint64_t pins_total;	/* successful pin calls since start */
	uint64_t unpins_total;	/* successful unpin calls since start */
	uint64_t forks_seen;	/* forks the hook ran for, pins present */
	uint64_t forks_guarded;	/* forks where a policy acted */
	uint64_t bytes_copied;	/* copy mode: bytes snapshotted for children */
	uint64_t ranges_dontfork; /* extents pinguard holds MADV_DONTFORK on */
	uint64_t fork_errors;	/* failures inside the fork path */
	uint64_t fork_ns;	/* total time spent guarding forks */
	uint64_t pretouched_bytes; /* bytes made present+writable before pins */
	uint64_t staging_kept_bytes; /* copy mode: staging kept resident for
				      * a next fork within a second
				      * (PINGUARD_KEEP_STAGING) */
	uint64_t pinned_wrprotects; /* mprotect() calls that took write
				     * permission from pinned private pages
				     * on a kernel where that breaks the pin
				     * (5.9-5.18) */
};

/* Programmatic configuration; wins over the environment. */
struct pinguard_config {
	enum pinguard_mode mode;
	enum pinguard_pretouch pretouch;
	enum pinguard_scope scope;
	enum pinguard_kernel kernel;	/* UNKNOWN: detect (auto mode) */
	enum pinguard_fork_init fork_init;
};

/* Declare [addr, addr+len) pinned. The range is widened to whole pages of
 * the mapping. -EINVAL: bad flags, NULL, zero length or overflow;
 * -EFAULT: part of the range is not mapped; -ENOMEM: no memory for
 * bookkeeping; in dontfork mode, madvise()'s error. */
int pinguard_pin(void *addr, size_t len, unsigned int flags);

/* Release one earlier pin of those pages. -ENOENT if a page in the range
 * is not pinned (nothing changes). */
int pinguard_unpin(void *addr, size_t len);

/* Number of pins currently held on the page containing addr (>= 0). */
int pinguard_pin_count(const void *addr);

/* size: sizeof(struct pinguard_mode_info) as the caller knows it; a
 * smaller (older) structure gets the fields it has. Programs built
 * against pinguard 0.1, whose call had no size, bind to the PINGUARD_0.1
 * version, which fills the six fields the structure had then. */
int pinguard_get_mode(struct pinguard_mode_info *info, size_t size);

/* size: sizeof(struct pinguard_stats) as the caller knows it. */
int pinguard_get_stats(struct pinguard_stats *stats, size_t size);

/* Fill cfg with the configuration in force (environment applied). */
int pinguard_get_config(struct pinguard_config *cfg, size_t size);

/* Replace the configuration. -EBUSY if pages are pinned and the mode would
 * change; -EINVAL for out-of-range values. */
int pinguard_configure(const struct pinguard_config *cfg, size_t size);

/* Fork hooks, for callers that create processes in ways no wrapper sees
 * (raw clone syscalls): call prepare before, then parent or child after,
 * exactly as pthread_atfork() handlers. */
void pinguard_fork_prepare(void);
void pinguard_fork_parent(void);
void pinguard_fork_child(void);

const char *pinguard_mode_name(enum pinguard_mode mode);
const char *pinguard_reason_name(enum pinguard_reason reason);
const char *pinguard_kernel_name(enum pinguard_kernel kernel);
/* "4k", "thp", "hugetlb" */
const char *pinguard_memkind_name(enum pinguard_memkind kind);

/* "MAJOR.MINOR.PATCH" of the library actually loaded. */
const char *pinguard_version(void);

#ifdef __cplusplus
}
#endif
#endif /* PINGUARD_H */
