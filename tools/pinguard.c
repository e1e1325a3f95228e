/* SPDX-License-Identifier: MIT */
/*
 * pinguard(1): run a program with libpinguard preloaded, tell what this
 * kernel needs, show the state of a running guarded process, and find the
 * processes whose pinned memory a fork would leave stale. This file is the
 * top: --help, --version, and the dispatch to run.c, probe.c, status.c and
 * audit.c.
 */
#include <stdio.h>
#include <string.h>

#include "pinguard.h"
#include "tool.h"

int main(int argc, char **argv)
{
	const char *cmd;

	if (argc < 2)
		return usage_error("missing command (run, probe, status or audit)");
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
	if (!strcmp(cmd, "audit"))
		return cmd_audit(argc - 1, argv + 1);
	if (cmd[0] == '-')
		return usage_error("unknown option '%s'", cmd);
	return usage_error("unknown command '%s' (run, probe, status or audit)", cmd);
}
