/* SPDX-License-Identifier: MIT */
/* The pinguard command: shared declarations of its sub-commands. */
#ifndef PG_TOOL_H
#define PG_TOOL_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>

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

extern const char *prog_name;

int cmd_run(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_status(int argc, char **argv);

/* Diagnostics on stderr, prefixed with the command name. */
void errmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "pinguard: ARG: ..." then a hint to --help; returns EX_USAGE. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* JSON string (quoted, escaped). */
void json_str(FILE *f, const char *s);

/* Path of the libpinguard.so this program runs with (absolute), or NULL. */
const char *self_library_path(void);

/* Symbol value (st_value) of name in the .dynsym of the ELF file open on
 * fd, and the p_vaddr of its first PT_LOAD (page aligned): 0 or -errno
 * (-ENOENT: no such symbol, -ENOEXEC: not a 64-bit ELF of this machine). */
int elf_dynsym(int fd, const char *name, uint64_t *value,
	       uint64_t *first_load);

/* procmap.c: one line of /proc/PID/maps */
struct mapping {
	uint64_t start, end, off;
	unsigned long ino;
	char perms[5];
	char *path;
};

/* All mappings of pid: 0, or -errno (-ESRCH: none, the process is gone). */
int read_maps(int pid, struct mapping **out, size_t *n);
/* Address of symbol of the first mapped libpinguard.so* that exports it,
 * 0 if none; *lib is its path in maps. */
uint64_t find_state(int pid, struct mapping *maps, size_t n,
		    const char *symbol, const char **lib);
/* "rw-p /path" or "rw-p anonymous" of the mapping holding a. */
const char *mapping_of(struct mapping *maps, size_t n, uintptr_t a,
		       char *buf, size_t len);

#endif
