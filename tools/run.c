/* SPDX-License-Identifier: MIT */
/* pinguard run: check the options, put libpinguard first in LD_PRELOAD,
 * set the PINGUARD_* variables and exec the program. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

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

#if defined(__SANITIZE_ADDRESS__)
#define PG_TOOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PG_TOOL_ASAN 1
#endif
#endif

#ifdef PG_TOOL_ASAN
/* An ASan build (-Dsanitize_address=true) preloads its instrumented
 * library into programs that are not: their ASan runtime then cannot come
 * first, and ASan would refuse to start them. The caller's own
 * ASAN_OPTIONS come after ours, so they still win. */
static int asan_allow_preload(void)
{
	const char *old = getenv("ASAN_OPTIONS");
	char *v;
	int ret;

	if (asprintf(&v, "verify_asan_link_order=0%s%s", old && *old ? ":" : "",
		     old ? old : "") < 0)
		return -1;
	ret = setenv("ASAN_OPTIONS", v, 1);
	free(v);
	return ret;
}
#endif

int cmd_run(int argc, char **argv)
{
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
	const struct pg_name *choices;
	const char *lib, *var;
	char *preload;
	int c, err, value;

	opterr = 0;
	/* '+': stop at PROGRAM, its own options are not ours */
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': var = "PINGUARD_MODE"; choices = pg_mode_names; break;
		case 'p': var = "PINGUARD_PRETOUCH"; choices = pg_pretouch_names; break;
		case 's': var = "PINGUARD_SCOPE"; choices = pg_scope_names; break;
		case 'k': var = "PINGUARD_KERNEL"; choices = pg_kernel_names; break;
		case 'F': var = "PINGUARD_FORK_INIT"; choices = pg_fork_init_names; break;
		case 'l': var = "PINGUARD_LOG"; choices = pg_level_names; break;
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
		if (!pg_value_of(choices, optarg, &value)) {
			char list[80];

			pg_names_list(choices, '|', list, sizeof(list));
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
#ifdef PG_TOOL_ASAN
	if (asan_allow_preload()) {
		errmsg("out of memory");
		return EX_FAIL;
	}
#endif
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
