/* SPDX-License-Identifier: MIT */
/*
 * pinguard probe: ask the library (auto mode, one pinned page) what this
 * kernel does with DMA-pinned pages at fork and how it found out, and look
 * at the pinning interfaces the machine offers, independently of it.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "compat.h"	/* io_uring_params, SYS_io_uring_setup: uapi 5.1 */
#include "pinguard.h"
#include "tool.h"

struct hugesize {
	unsigned long kb;
	long total, free;
};

struct facts {
	struct pinguard_mode_info mode;
	int pin_error;
	struct utsname uts;
	int uring_errno;		/* 0: io_uring_setup worked */
	long uring_disabled;		/* kernel.io_uring_disabled, -1 absent */
	char rdma[16][64];
	int nrdma;
	long nr_hugepages;
	struct hugesize huge[8];
	int nhuge;
	char thp[32];
};

/* First number in a file, -1 when unreadable. */
static long read_long(const char *path)
{
	FILE *f = fopen(path, "re");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* Let the library run its detection chain: auto mode, pin one page. The
 * PINGUARD_KERNEL override from the environment is kept. */
static void ask_library(struct facts *fx)
{
	struct pinguard_config cfg;
	void *page;
	long psz = sysconf(_SC_PAGESIZE);

	fx->pin_error = pinguard_get_config(&cfg, sizeof(cfg));
	if (!fx->pin_error) {
		cfg.mode = PINGUARD_MODE_AUTO;
		fx->pin_error = pinguard_configure(&cfg, sizeof(cfg));
	}
	page = mmap(NULL, (size_t)psz, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!fx->pin_error && page == MAP_FAILED)
		fx->pin_error = -errno;
	if (!fx->pin_error) {
		memset(page, 1, (size_t)psz);
		fx->pin_error = pinguard_pin(page, (size_t)psz, 0);
		if (!fx->pin_error)
			pinguard_unpin(page, (size_t)psz);
	}
	if (page != MAP_FAILED)
		munmap(page, (size_t)psz);
	pinguard_get_mode(&fx->mode, sizeof(fx->mode));
}

static void look_around(struct facts *fx)
{
	struct io_uring_params p;
	struct dirent *d;
	DIR *dir;
	long fd;

	uname(&fx->uts);
	memset(&p, 0, sizeof(p));
	fd = syscall(SYS_io_uring_setup, 1, &p);
	fx->uring_errno = fd < 0 ? errno : 0;
	if (fd >= 0)
		close((int)fd);
	fx->uring_disabled = read_long("/proc/sys/kernel/io_uring_disabled");

	dir = opendir("/sys/class/infiniband");
	while (dir && (d = readdir(dir)) && fx->nrdma < 16)
		if (d->d_name[0] != '.')
			snprintf(fx->rdma[fx->nrdma++], sizeof(fx->rdma[0]),
				 "%.63s", d->d_name);
	if (dir)
		closedir(dir);

	fx->nr_hugepages = read_long("/proc/sys/vm/nr_hugepages");
	dir = opendir("/sys/kernel/mm/hugepages");
	while (dir && (d = readdir(dir)) && fx->nhuge < 8) {
		struct hugesize *h = &fx->huge[fx->nhuge];
		char path[300];

		if (sscanf(d->d_name, "hugepages-%lukB", &h->kb) != 1)
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/%s/"
			 "nr_hugepages", d->d_name);
		h->total = read_long(path);
		snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/%s/"
			 "free_hugepages", d->d_name);
		h->free = read_long(path);
		fx->nhuge++;
	}
	if (dir)
		closedir(dir);

	/* "always [madvise] never": the bracketed word is in force */
	strcpy(fx->thp, "unavailable");
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "re");
	char line[128], *a, *b;

	if (f) {
		if (fgets(line, sizeof(line), f) && (a = strchr(line, '[')) &&
		    (b = strchr(a, ']'))) {
			*b = 0;
			snprintf(fx->thp, sizeof(fx->thp), "%s", a + 1);
		}
		fclose(f);
	}
}

static const char *how(enum pinguard_reason r)
{
	switch (r) {
	case PINGUARD_REASON_OVERRIDE:
		return "told by PINGUARD_KERNEL (no detection ran)";
	case PINGUARD_REASON_PROBE:
		return "empirical probe: pinned a page with an io_uring fixed "
		       "buffer, created a child, and read the parent's pagemap "
		       "\"exclusively mapped\" bit";
	case PINGUARD_REASON_NETLINK:
		return "the RDMA core's RDMA_NLDEV_SYS_ATTR_COPY_ON_FORK "
		       "attribute (the io_uring probe could not run)";
	case PINGUARD_REASON_VERSION:
		return "kernel version only (5.9 or later), as nothing better "
		       "could run: a distribution kernel may differ";
	default:
		return "not determined";
	}
}

static void print_text(const struct facts *fx)
{
	const struct pinguard_mode_info *m = &fx->mode;
	int i;

	printf("kernel %s: ", fx->uts.release);
	if (m->kernel == PINGUARD_KERNEL_PATCHED)
		printf("patched: it copies DMA-pinned pages at fork (early "
		       "COW), so\n  fork() keeps pinned memory coherent without "
		       "help; pinguard is not needed.\n");
	else if (m->kernel == PINGUARD_KERNEL_UNPATCHED)
		printf("unpatched: it shares DMA-pinned pages copy-on-write "
		       "at fork,\n  so the parent can lose its pinned pages to "
		       "the child; guarding is needed.\n");
	else
		printf("unknown (the library could not pin a page: %s)\n",
		       strerror(-fx->pin_error));
	printf("  found by: %s\n", how(m->reason));
	printf("  auto mode would choose: %s\n",
	       m->effective == PINGUARD_MODE_AUTO ? "(undecided)" :
	       pinguard_mode_name(m->effective));
	if (fx->uring_errno == 0)
		printf("io_uring: allowed");
	else
		printf("io_uring: not available (io_uring_setup: %s)",
		       strerror(fx->uring_errno));
	if (fx->uring_disabled >= 0)
		printf(", kernel.io_uring_disabled = %ld", fx->uring_disabled);
	printf("\nRDMA devices: ");
	for (i = 0; i < fx->nrdma; i++)
		printf("%s%s", i ? " " : "", fx->rdma[i]);
	printf("%s\n", fx->nrdma ? "" : "none");
	printf("hugepages: vm.nr_hugepages = %ld", fx->nr_hugepages);
	for (i = 0; i < fx->nhuge; i++)
		printf("; %lu kB: %ld (%ld free)", fx->huge[i].kb,
		       fx->huge[i].total, fx->huge[i].free);
	printf("\ntransparent hugepages: %s\n", fx->thp);
}

static void print_json(const struct facts *fx)
{
	const struct pinguard_mode_info *m = &fx->mode;
	int i;

	printf("{\"version\": ");
	json_str(stdout, pinguard_version());
	printf(", \"kernel_release\": ");
	json_str(stdout, fx->uts.release);
	printf(", \"kernel\": \"%s\", \"needs_guarding\": %s, "
	       "\"detected_by\": \"%s\", \"auto_mode\": \"%s\", "
	       "\"error\": %d, \"io_uring\": {\"allowed\": %s, \"errno\": %d, "
	       "\"io_uring_disabled\": %ld}, \"rdma_devices\": [",
	       pinguard_kernel_name(m->kernel),
	       m->kernel == PINGUARD_KERNEL_PATCHED ? "false" :
	       m->kernel == PINGUARD_KERNEL_UNPATCHED ? "true" : "null",
	       pinguard_reason_name(m->reason), pinguard_mode_name(m->effective),
	       fx->pin_error, fx->uring_errno ? "false" : "true",
	       fx->uring_errno, fx->uring_disabled);
	for (i = 0; i < fx->nrdma; i++) {
		printf(i ? ", " : "");
		json_str(stdout, fx->rdma[i]);
	}
	printf("], \"hugepages\": {\"nr_hugepages\": %ld, \"sizes\": [",
	       fx->nr_hugepages);
	for (i = 0; i < fx->nhuge; i++)
		printf("%s{\"size_kb\": %lu, \"total\": %ld, \"free\": %ld}",
		       i ? ", " : "", fx->huge[i].kb, fx->huge[i].total,
		       fx->huge[i].free);
	printf("], \"thp\": ");
	json_str(stdout, fx->thp);
	printf("}}\n");
}

int cmd_probe(int argc, char **argv)
{
	struct facts fx;
	bool json = false;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("Usage: pinguard probe [--json]\n");
			return EX_OK;
		} else
			return usage_error("probe: unknown argument '%s'",
					   argv[i]);
	}
	memset(&fx, 0, sizeof(fx));
	ask_library(&fx);
	look_around(&fx);
	if (json)
		print_json(&fx);
	else
		print_text(&fx);
	return fx.mode.kernel == PINGUARD_KERNEL_UNKNOWN ? EX_FAIL : EX_OK;
}
