/* SPDX-License-Identifier: MIT */
/*
 * pinguard(1): run a program with libpinguard preloaded, tell what this
 * kernel needs, and show the state of a running guarded process.
 */
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "pinguard.h"
#include "tool.h"

const char *prog_name = "pinguard";

static const char usage_text[] =
"Usage: pinguard run [OPTIONS] [--] PROGRAM [ARGS...]\n"
"       pinguard probe [--json]\n"
"       pinguard status PID [--json]\n"
"       pinguard --help | --version\n"
"\n"
"Keep DMA-pinned memory (RDMA, io_uring, DEVX) coherent across fork().\n"
"\n"
"Commands:\n"
"  run      run PROGRAM with libpinguard preloaded (exit status passed through)\n"
"  probe    whether this kernel needs guarding, and how that was found out\n"
"  status   mode, pinned ranges, registrations and counters of process PID\n"
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
"guarded, 4 permission denied, 126/127 PROGRAM not executable/not found;\n"
"run: otherwise the status of PROGRAM. See pinguard(1) and pinguard(7).\n";

void errmsg(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'pinguard --help'.\n");
	return EX_USAGE;
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

static bool valid_choice(const char *v, const char *const *choices)
{
	for (; *choices; choices++)
		if (!strcasecmp(v, *choices))
			return true;
	return false;
}

/* "a:b c" -> "lib:a:b:c", dropping entries equal to lib. */
static char *preload_value(const char *lib, const char *old)
{
	size_t n = strlen(lib) + (old ? strlen(old) : 0) + 2;
	char *out = malloc(n), *copy, *tok, *save = NULL;

	if (!out)
		return NULL;
	strcpy(out, lib);
	if (!old)
		return out;
	copy = strdup(old);
	if (!copy) {
		free(out);
		return NULL;
	}
	for (tok = strtok_r(copy, ": \t", &save); tok;
	     tok = strtok_r(NULL, ": \t", &save)) {
		if (!strcmp(tok, lib))
			continue;
		strcat(out, ":");
		strcat(out, tok);
	}
	free(copy);
	return out;
}

int cmd_run(int argc, char **argv)
{
	static const char *const modes[] = { "auto", "copy", "dontfork", "off",
					     NULL };
	static const char *const pretouches[] = { "auto", "always", "never",
						  NULL };
	static const char *const scopes[] = { "longterm", "all", NULL };
	static const char *const kernels[] = { "patched", "unpatched", NULL };
	static const char *const fork_inits[] = { "passthrough", "takeover",
						  NULL };
	static const char *const levels[] = { "none", "error", "warn", "info",
					      "debug", NULL };
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "pretouch", required_argument, NULL, 'p' },
		{ "scope", required_argument, NULL, 's' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "fork-init", required_argument, NULL, 'F' },
		{ "log", required_argument, NULL, 'l' },
		{ "log-file", required_argument, NULL, 'f' },
		{ "stats", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *lib, *var, *const *choices;
	char *preload;
	int c, err;

	opterr = 0;
	/* '+': stop at PROGRAM, its own options are not ours */
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': var = "PINGUARD_MODE"; choices = modes; break;
		case 'p': var = "PINGUARD_PRETOUCH"; choices = pretouches; break;
		case 's': var = "PINGUARD_SCOPE"; choices = scopes; break;
		case 'k': var = "PINGUARD_KERNEL"; choices = kernels; break;
		case 'F': var = "PINGUARD_FORK_INIT"; choices = fork_inits; break;
		case 'l': var = "PINGUARD_LOG"; choices = levels; break;
		case 'f':
			if (!*optarg)
				return usage_error("--log-file: empty file name");
			setenv("PINGUARD_LOG_FILE", optarg, 1);
			continue;
		case 'S':
			setenv("PINGUARD_STATS", "1", 1);
			continue;
		case 'h':
			fputs(usage_text, stdout);
			return EX_OK;
		case ':':
			return usage_error("%s: missing value",
					   argv[optind - 1]);
		default:
			return usage_error("run: unknown option '%s'",
					   argv[optind - 1]);
		}
		if (!valid_choice(optarg, choices)) {
			char list[80] = "";

			for (; *choices; choices++) {
				strcat(list, list[0] ? "|" : "");
				strcat(list, *choices);
			}
			return usage_error("--%s: invalid value '%s' (expected "
					   "%s)", opts[strchr("mpskl", c) -
							"mpskl"].name,
					   optarg, list);
		}
		setenv(var, optarg, 1);
	}
	if (optind >= argc)
		return usage_error("run: missing PROGRAM (pinguard run [OPTIONS] "
				   "-- PROGRAM [ARGS...])");
	lib = self_library_path();
	if (!lib) {
		errmsg("cannot find the path of the loaded libpinguard");
		return EX_FAIL;
	}
	if (strpbrk(lib, ": \t")) {
		errmsg("%s: LD_PRELOAD cannot hold a path with ':' or spaces",
		       lib);
		return EX_FAIL;
	}
	preload = preload_value(lib, getenv("LD_PRELOAD"));
	if (!preload || setenv("LD_PRELOAD", preload, 1)) {
		errmsg("out of memory");
		return EX_FAIL;
	}
	free(preload);
	execvp(argv[optind], argv + optind);
	err = errno;
	/* Like a shell: 127 when not found, 126 when found but not runnable. */
	if (err == ENOENT || err == ENOTDIR) {
		errmsg("%s: %s", argv[optind], strchr(argv[optind], '/') ?
		       strerror(err) : "command not found");
		return EX_NOTFOUND;
	}
	errmsg("%s: cannot execute: %s", argv[optind], strerror(err));
	return EX_NOEXEC;
}

int main(int argc, char **argv)
{
	const char *cmd;

	if (argc < 2)
		return usage_error("missing command (run, probe or status)");
	cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") ||
	    !strcmp(cmd, "help")) {
		fputs(usage_text, stdout);
		return EX_OK;
	}
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
		const char *lib = self_library_path();

		printf("pinguard %s (library %s)\n", PINGUARD_VERSION_STRING,
		       pinguard_version());
		if (lib)
			printf("%s\n", lib);
		return EX_OK;
	}
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "probe"))
		return cmd_probe(argc - 1, argv + 1);
	if (!strcmp(cmd, "status"))
		return cmd_status(argc - 1, argv + 1);
	if (cmd[0] == '-')
		return usage_error("unknown option '%s'", cmd);
	return usage_error("unknown command '%s' (run, probe or status)", cmd);
}
