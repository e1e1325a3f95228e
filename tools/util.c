/* SPDX-License-Identifier: MIT */
/* What the sub-commands share: diagnostics, growing arrays, JSON strings,
 * and the path of the libpinguard this command runs with. */
#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "pinguard.h"
#include "tool.h"

const char *prog_name = "pinguard";

/* --help of the command and of each sub-command */
const char usage_text[] =
"Usage: pinguard run [OPTIONS] [--] PROGRAM [ARGS...]\n"
"       pinguard probe [--json]\n"
"       pinguard status PID [--json]\n"
"       pinguard audit [--all] [--json | --prometheus] [PID...]\n"
"       pinguard --help | --version\n"
"\n"
"Keep DMA-pinned memory (RDMA, io_uring, DEVX) coherent across fork().\n"
"\n"
"Commands:\n"
"  run      run PROGRAM with libpinguard preloaded (exit status passed through)\n"
"  probe    whether this kernel needs guarding, and how that was found out\n"
"  status   mode, pinned ranges, registrations and counters of process PID\n"
"  audit    the processes (all, or each PID) whose pinned memory the next\n"
"           fork would leave out of step with the device\n"
"\n"
"Options of run (each sets the PINGUARD_* variable of the same name):\n"
"  --mode auto|copy|dontfork|off     policy at fork (default auto)\n"
"  --pretouch auto|always|never      make pages private before pinning\n"
"  --scope longterm|all              guard short-term pins too with 'all'\n"
"  --fork-init passthrough|takeover  with copy mode, answer ibv_fork_init()\n"
"  --kernel patched|unpatched        skip kernel detection in auto mode\n"
"  --log none|error|warn|info|debug  log to stderr (or --log-file FILE)\n"
"  --log-file FILE                   log to FILE instead of stderr\n"
"  --stats                           print a summary when the program exits\n"
"\n"
"Exit status: 0 ok, 1 failure, 2 usage error, 3 no such process or not\n"
"guarded, 4 permission denied, 5 audit: pinned memory at risk,\n"
"126/127 PROGRAM not executable/not found;\n"
"run: otherwise the status of PROGRAM. See pinguard(1) and pinguard(7).\n";

/* "pinguard: MESSAGE" and the end of the line. */
static void vmsg(const char *fmt, va_list ap, const char *end)
{
	fprintf(stderr, "%s: ", prog_name);
	vfprintf(stderr, fmt, ap);
	fputs(end, stderr);
}

void errmsg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap, "\n");
	va_end(ap);
}

int usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap, "\nTry 'pinguard --help'.\n");
	va_end(ap);
	return EX_USAGE;
}

int array_append(void *arrp, size_t *n, const void *elem, size_t size)
{
	char *a;

	memcpy(&a, arrp, sizeof(a));	/* any T *, without aliasing it */
	if (!(*n & (*n - 1))) {		/* full: 0, 1, 2, 4, 8... */
		a = realloc(a, (*n ? 2 * *n : 1) * size);
		if (!a)
			return -ENOMEM;
		memcpy(arrp, &a, sizeof(a));
	}
	memcpy(a + *n * size, elem, size);
	(*n)++;
	return 0;
}

void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* The library we are linked with: pinguard_version() returns a string
 * that lives in it, so dladdr() names its file whether the tool runs
 * installed (install rpath) or from the build tree (build rpath). */
const char *self_library_path(void)
{
	static char path[PATH_MAX];
	char dir[PATH_MAX], base[PATH_MAX], real[PATH_MAX];
	Dl_info info;

	if (!dladdr(pinguard_version(), &info) || !info.dli_fname ||
	    !strstr(info.dli_fname, "libpinguard"))
		if (!dladdr((void *)pinguard_pin, &info) || !info.dli_fname)
			return NULL;
	if (strlen(info.dli_fname) >= sizeof(dir))
		return NULL;
	/* Absolute and without "..", but keep the soname link itself. */
	strcpy(dir, info.dli_fname);
	strcpy(base, info.dli_fname);
	if (!realpath(dirname(dir), real))
		return NULL;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", real,
			     basename(base)) >= sizeof(path))
		return NULL;
	return path;
}
