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
};

/* EX_OK, or EX_NOPROC, EX_PERM, EX_FAIL after a message; free it with
 * snapshot_free either way. */
int snapshot_take(int pid, struct snapshot *s);
void snapshot_free(struct snapshot *s);
/* A handle table entry in use (not empty, not deleted). */
bool snapshot_live_key(const void *key);

/* ---- the sub-commands: run.c, probe.c, status.c ---- */
int cmd_run(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_status(int argc, char **argv);

#endif
