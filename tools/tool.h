/* SPDX-License-Identifier: MIT */
/* The pinguard command: what its files share, grouped by file from the
 * bottom layer up (tools/README.md draws the layers). */
#ifndef PG_TOOL_H
#define PG_TOOL_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>

#include "names.h"	/* lib/: the name tables the library uses too */
#include "state.h"	/* lib/: the state layout status reads */

/* Exit codes, documented in pinguard(1). */
enum {
	EX_OK = 0,
	EX_FAIL = 1,
	EX_USAGE = 2,
	EX_NOPROC = 3,	/* no such process, or it does not use pinguard */
	EX_PERM = 4,	/* the kernel refuses to let us read the process */
	EX_AT_RISK = 5,	/* audit: pinned memory a fork would leave stale */
	EX_NOEXEC = 126,
	EX_NOTFOUND = 127,
};

/* ---- util.c ---- */
extern const char *prog_name;
extern const char usage_text[];

/* Diagnostics on stderr, prefixed with the command name. */
void errmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "pinguard: ARG: ..." then a hint to --help; returns EX_USAGE. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Appends the size bytes at elem to the array whose pointer is at arrp
 * (a T ** passed as void *) and which holds *n elements; 0 or -ENOMEM.
 * It grows when *n is 0 or a power of two, to twice that: an array made
 * only by it (from NULL, 0) needs no capacity kept beside it. */
int array_append(void *arrp, size_t *n, const void *elem, size_t size);

/* JSON string (quoted, escaped). */
void json_str(FILE *f, const char *s);

/* Path of the libpinguard.so this program runs with (absolute), or NULL. */
const char *self_library_path(void);

/* ---- elf.c ---- */
/* Symbol value (st_value) of name in the .dynsym of the ELF file open on
 * fd, and the p_vaddr of its first PT_LOAD (page aligned): 0 or -errno
 * (-ENOENT: no such symbol, -ENOEXEC: not a 64-bit ELF of this machine). */
int elf_dynsym(int fd, const char *name, uint64_t *value,
	       uint64_t *first_load);

/* ---- procmap.c: one line of /proc/PID/maps ---- */
struct mapping {
	uint64_t start, end, off;
	unsigned long ino;
	char perms[5];
	char *path;
};

/* All mappings of pid: 0, or -errno (-ESRCH: none, the process is gone;
 * nothing to free then). */
int read_maps(int pid, struct mapping **out, size_t *n);
void free_maps(struct mapping *maps, size_t n);
/* Address of symbol of the first mapped libpinguard.so* that exports it,
 * 0 if none; *lib is its path in maps. */
uint64_t find_state(int pid, struct mapping *maps, size_t n,
		    const char *symbol, const char **lib);
/* "rw-p /path" or "rw-p anonymous" of the mapping holding a. */
const char *mapping_of(struct mapping *maps, size_t n, uintptr_t a,
		       char *buf, size_t len);

/* ---- kernel.c: this kernel's verdict per kind, by the library ---- */
struct kernel_facts {
	struct pinguard_mode_info mode;	/* kinds[k].kernel: the verdicts */
	int pin_error;			/* the library's pin: 0 or -errno */
	int kind_error[PINGUARD_MEM_KINDS];	/* mapping or pinning it */
};

/* Auto mode, one pin of each kind (PINGUARD_KERNEL* overrides kept). */
void kernel_judge(struct kernel_facts *kf);

/* ---- uringfd.c: io_uring fixed buffers, from /proc/PID/fdinfo ---- */
struct uring_buf {
	uint64_t addr, len;
	int fd;			/* the ring's descriptor in the process */
	unsigned slot;
};

struct uring_scan {
	struct uring_buf *bufs;
	size_t n;
	unsigned rings;		/* io_uring descriptors seen */
	unsigned unprinted;	/* buffers a ring counted but did not list */
	unsigned uverbs;	/* /dev/infiniband/uverbsN descriptors */
};

/* Parse one io_uring fdinfo (fd is the ring's number in the process):
 * appends its buffers to u; 0 or -ENOMEM. */
int uring_parse_fdinfo(FILE *f, int fd, struct uring_scan *u);
/* Every ring of pid: 0, -ESRCH (gone), -EACCES (not ours to read), or
 * another -errno. Free u->bufs either way. */
int uring_scan(int pid, struct uring_scan *u);

/* ---- smaps.c: the memory behind an address ---- */
struct vma {
	uint64_t start, end;
	uint64_t anon_huge;	/* AnonHugePages, bytes */
	unsigned long page_kb;	/* KernelPageSize */
	bool shared, hugetlb, dontfork, io, writable;
	char *path;
};

/* 0, -ESRCH (gone), -EACCES, or -errno; free with free_smaps. */
int read_smaps(int pid, struct vma **out, size_t *n);
void free_smaps(struct vma *v, size_t n);

/* ---- rdmamr.c: RDMA memory regions, from the RDMA netlink ---- */
struct rdma_mr {
	char dev[64];
	int pid;		/* 0: a kernel MR */
	uint32_t mrn;
	uint64_t len, iova;
	bool has_iova;		/* kernels 4.17-4.x only */
};

/* Every MR of every RDMA device: 0, -EPROTONOSUPPORT (no RDMA netlink:
 * no RDMA core in this kernel), or another -errno. Free *out. */
int rdma_mr_dump(struct rdma_mr **out, size_t *n, unsigned *ndevs);

/* ---- snapshot.c: a process's pinguard state, read from outside ---- */
struct range {			/* neighbouring segments of equal counts */
	uintptr_t start, end;
	uint32_t nlong, nshort;
	uint8_t flags;
};

struct snapshot {
	int pid;
	const char *lib;	/* the libpinguard it maps (a maps path) */
	struct mapping *maps;
	size_t nmaps;
	struct pg_global g;
	struct pg_node *pool;
	struct pg_reg_entry *htab;
	struct range *ranges;
	size_t nranges;
	struct pg_uring_slot **slots;	/* per htab entry, io_uring only */
	bool torn;		/* changed during every read: may not agree */
	bool quiet;		/* keep messages in error[], not stderr */
	char error[256];	/* the last message */
};

/* EX_OK, or EX_NOPROC, EX_PERM, EX_FAIL after a message; free it with
 * snapshot_free either way. */
int snapshot_take(int pid, struct snapshot *s);
/* The same without the message on stderr (it is in s->error). */
int snapshot_take_quiet(int pid, struct snapshot *s);
void snapshot_free(struct snapshot *s);
/* A handle table entry in use (not empty, not deleted). */
bool snapshot_live_key(const void *key);

/* ---- audit.c (what is at risk), audit_judge.c (one range), audit_out.c
 * (how it is shown) ---- */
struct audit_range {
	int source;		/* enum pg_audit_source */
	uint64_t addr, len;
	bool addr_known;
	unsigned kinds;		/* bit per enum pinguard_memkind */
	bool shared, dontfork;	/* VmFlags sh / dc over the whole range */
	int guard;		/* enum pg_audit_guard: what protects it */
	int verdict;		/* enum pg_audit_verdict */
	int reason;		/* enum pg_audit_reason, when unknown */
	char where[80];		/* "ring fd 5 slot 0", "rxe0 mrn 3" */
};

struct audit_proc {
	int pid;
	char comm[64];
	bool pinguard;		/* libpinguard mapped */
	const char *mode;	/* its mode in force, if read */
	int verdict, reason;
	unsigned rings;
	struct audit_range *r;
	size_t nr;
	uint64_t pinned, at_risk;
};

struct audit_report {
	struct kernel_facts kernel;
	struct audit_proc *procs;
	size_t nprocs;
	unsigned scanned, exited, denied, failed;
	int rdma_error;		/* MR dump: 0 or -errno */
	unsigned rdma_devs;
	double seconds;
	bool all;		/* --all: processes without pinned memory too */
};

/* What one process's ranges are judged against (audit_judge.c). */
struct proc_facts {
	const struct kernel_facts *kf;
	struct vma *vmas;
	size_t nvmas;
	bool pg_loaded;
	int pg_ret;		/* snapshot: EX_OK or why not */
	struct snapshot snap;
	bool *mr_used;		/* pinguard registrations matched to MRs */
};

/* r->addr, r->len known: kinds, flags, guard, verdict. */
void judge_known(const struct proc_facts *f, struct audit_range *r);
/* r->len only: judged by every place it could be; why is the reason. */
void judge_unknown(const struct proc_facts *f, struct audit_range *r,
		   int why);

void audit_print_text(const struct audit_report *a);
void audit_print_json(const struct audit_report *a);
void audit_print_prometheus(const struct audit_report *a);

/* ---- the sub-commands: run.c, probe.c, status.c, audit.c ---- */
int cmd_run(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_audit(int argc, char **argv);

#endif
