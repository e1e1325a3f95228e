/* SPDX-License-Identifier: MIT */
/*
 * spank_pinguard.so: a Slurm SPANK plug-in adding
 *
 *     srun --pinguard=auto|copy|dontfork|off|none [--pinguard-fork-init=MODE]
 *
 * (sbatch and salloc take them too) which preloads libpinguard into the
 * tasks of the job step and sets PINGUARD_MODE (and PINGUARD_FORK_INIT).
 * Given to sbatch, they reach the batch script and, through the job's
 * environment, the steps it starts; given to salloc, the steps started
 * in the allocation. plugstack.conf arguments:
 *
 *     required spank_pinguard.so [default=MODE|none] [library=PATH]
 *
 * default= applies to steps that do not give --pinguard (none when not
 * set: tasks untouched); a PINGUARD_MODE the user exported wins over the
 * site default, never over the option. The plug-in links nothing but libc:
 * the spank_* functions come from srun/slurmstepd that load it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <slurm/spank.h>

SPANK_PLUGIN(pinguard, 1);

#ifndef PINGUARD_LIBRARY
#error "PINGUARD_LIBRARY (the installed libpinguard.so.0) must be defined"
#endif

#define PRELOAD_MAX 8192

static const char *const modes[] = { "auto", "copy", "dontfork", "off",
				     "none", NULL };
static const char *const fork_inits[] = { "passthrough", "takeover", NULL };

/* Filled by the option callbacks (srun, then slurmstepd) and by the
 * plugstack.conf arguments; "" = not given. */
static char opt_mode[16];
static char opt_fork_init[16];
static char site_default[16] = "none";
static char library[1024] = PINGUARD_LIBRARY;

/* The canonical (lower case) spelling of v if it is one of choices. */
static const char *choice(const char *v, const char *const *choices)
{
	for (; v && *choices; choices++)
		if (!strcasecmp(v, *choices))
			return *choices;
	return NULL;
}

static int set_choice(char *dst, size_t n, const char *what, const char *v,
		      const char *const *choices)
{
	const char *c = choice(v, choices);

	if (!c) {
		slurm_error("pinguard: %s: invalid value '%s'", what,
			    v ? v : "");
		return -1;
	}
	snprintf(dst, n, "%s", c);
	return 0;
}

static int cb_mode(int val, const char *optarg, int remote)
{
	(void)val;
	(void)remote;
	return set_choice(opt_mode, sizeof(opt_mode), "--pinguard", optarg,
			  modes);
}

static int cb_fork_init(int val, const char *optarg, int remote)
{
	(void)val;
	(void)remote;
	return set_choice(opt_fork_init, sizeof(opt_fork_init),
			  "--pinguard-fork-init", optarg, fork_inits);
}

/* Registered from slurm_spank_init with spank_option_register, not as a
 * spank_options table: Slurm reads the table in srun and slurmstepd only,
 * so sbatch and salloc would refuse --pinguard (spank(7)). */
static struct spank_option options[] = {
	{ "pinguard", "MODE",
	  "Preload pinguard into the tasks with policy MODE: auto, copy, "
	  "dontfork, off, or none (not preloaded)", 1, 0, cb_mode },
	{ "pinguard-fork-init", "MODE",
	  "With --pinguard=copy: passthrough or takeover (pinguard answers "
	  "ibv_fork_init())", 1, 0, cb_fork_init },
	SPANK_OPTIONS_TABLE_END
};

/* The options where a user gives them (srun; sbatch and salloc) and where
 * they act (slurmstepd); slurmd and the job script contexts take none. */
static int register_options(spank_t sp)
{
	spank_context_t ctx = spank_context();
	struct spank_option *o;

	if (ctx != S_CTX_LOCAL && ctx != S_CTX_REMOTE &&
	    ctx != S_CTX_ALLOCATOR)
		return 0;
	for (o = options; o->name; o++)
		if (spank_option_register(sp, o) != ESPANK_SUCCESS) {
			slurm_error("pinguard: cannot register --%s", o->name);
			return -1;
		}
	return 0;
}

/* plugstack.conf arguments, in every context: a typo there fails srun and
 * the step, instead of silently leaving tasks unguarded. */
int slurm_spank_init(spank_t sp, int ac, char **av)
{
	int i;

	if (register_options(sp))
		return -1;
	for (i = 0; i < ac; i++) {
		if (!strncmp(av[i], "default=", 8)) {
			if (set_choice(site_default, sizeof(site_default),
				       "default=", av[i] + 8, modes))
				return -1;
		} else if (!strncmp(av[i], "library=", 8) && av[i][8] == '/' &&
			   strlen(av[i] + 8) < sizeof(library)) {
			strcpy(library, av[i] + 8);
		} else {
			slurm_error("pinguard: unknown plugstack.conf argument '%s'",
				    av[i]);
			return -1;
		}
	}
	return 0;
}

/* True if lib is one of the entries of an LD_PRELOAD value (separated by
 * colons or blanks, as ld.so reads it). */
static int preload_has(const char *value, const char *lib)
{
	size_t n = strlen(lib);
	const char *p = value;

	while ((p = strstr(p, lib))) {
		int start = p == value || strchr(": \t", p[-1]);
		int end = !p[n] || strchr(": \t", p[n]);

		if (start && end)
			return 1;
		p += n;
	}
	return 0;
}

/* In each task, after fork and before exec, as the job's user. */
int slurm_spank_task_init(spank_t sp, int ac, char **av)
{
	char old[PRELOAD_MAX], preload[PRELOAD_MAX];
	const char *mode = opt_mode[0] ? opt_mode : site_default;
	spank_err_t err;

	(void)ac;
	(void)av;
	if (!strcmp(mode, "none"))
		return 0;
	if (access(library, R_OK)) {
		slurm_error("pinguard: %s: %s (is libpinguard0 installed on this node?)",
			    library, strerror(errno));
		return -1;
	}
	/* The library first, as `pinguard run` does; whatever the job
	 * preloads already stays after it. */
	err = spank_getenv(sp, "LD_PRELOAD", old, sizeof(old));
	if (err == ESPANK_SUCCESS && old[0]) {
		if (preload_has(old, library))
			snprintf(preload, sizeof(preload), "%s", old);
		else if ((size_t)snprintf(preload, sizeof(preload), "%s:%s",
					  library, old) >= sizeof(preload)) {
			slurm_error("pinguard: LD_PRELOAD too long");
			return -1;
		}
	} else if (err == ESPANK_SUCCESS || err == ESPANK_ENV_NOEXIST) {
		snprintf(preload, sizeof(preload), "%s", library);
	} else {
		slurm_error("pinguard: cannot read LD_PRELOAD: %s",
			    spank_strerror(err));
		return -1;
	}
	/* The option overrides the user's environment; the site default
	 * does not (ESPANK_ENV_EXISTS: the user's PINGUARD_MODE stays). */
	err = spank_setenv(sp, "PINGUARD_MODE", mode, opt_mode[0] != 0);
	if (err == ESPANK_ENV_EXISTS && !opt_mode[0])
		err = ESPANK_SUCCESS;
	if (err == ESPANK_SUCCESS && opt_fork_init[0])
		err = spank_setenv(sp, "PINGUARD_FORK_INIT", opt_fork_init, 1);
	if (err == ESPANK_SUCCESS)
		err = spank_setenv(sp, "LD_PRELOAD", preload, 1);
	if (err != ESPANK_SUCCESS) {
		slurm_error("pinguard: cannot set the task's environment: %s",
			    spank_strerror(err));
		return -1;
	}
	return 0;
}
