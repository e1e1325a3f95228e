/* SPDX-License-Identifier: MIT */
/*
 * pinguard probe: ask the library (auto mode, one pinned page) what this
 * kernel does with DMA-pinned pages at fork and how it found out, and look
 * at the pinning interfaces the machine offers, independently of it.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
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
	struct kernel_facts k;
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
		return "told by PINGUARD_KERNEL or PINGUARD_KERNEL_<KIND> (no "
		       "detection ran)";
	case PINGUARD_REASON_PROBE:
		return "empirical probe: pinned memory of that kind with an "
		       "io_uring fixed buffer, created a child, and read the "
		       "parent's pagemap \"exclusively mapped\" bit";
	case PINGUARD_REASON_NETLINK:
		return "the RDMA core's RDMA_NLDEV_SYS_ATTR_COPY_ON_FORK "
		       "attribute (the io_uring probe could not run; not used "
		       "for hugetlb)";
	case PINGUARD_REASON_VERSION:
		return "kernel version only (5.9 or later; hugetlb 5.12), as "
		       "nothing better could run: a distribution kernel may "
		       "differ";
	default:
		return "not determined";
	}
}

static const char *const kind_label[PINGUARD_MEM_KINDS] = {
	"4 KiB pages", "transparent huge pages", "hugetlb pages"
};

/* patched, unpatched or partial (kinds judged differently). */
static const char *verdict(const struct pinguard_mode_info *m)
{
	bool patched = false, unpatched = false;
	int k;

	for (k = 0; k < PINGUARD_MEM_KINDS; k++) {
		patched |= m->kinds[k].kernel == PINGUARD_KERNEL_PATCHED;
		unpatched |= m->kinds[k].kernel == PINGUARD_KERNEL_UNPATCHED;
	}
	return patched && unpatched ? "partial" :
	       pinguard_kernel_name(m->kernel);
}

static void print_text(const struct facts *fx)
{
	const struct pinguard_mode_info *m = &fx->k.mode;
	const char *v = verdict(m);
	int i, k;

	printf("kernel %s: ", fx->uts.release);
	if (!strcmp(v, "partial"))
		printf("partial: it copies DMA-pinned pages of some kinds at "
		       "fork (early COW)\n  and shares others copy-on-write; "
		       "pinguard guards those (auto mode: copy).\n");
	else if (m->kernel == PINGUARD_KERNEL_PATCHED)
		printf("patched: it copies DMA-pinned pages at fork (early "
		       "COW), so\n  fork() keeps pinned memory coherent without "
		       "help; pinguard is not needed.\n");
	else if (m->kernel == PINGUARD_KERNEL_UNPATCHED)
		printf("unpatched: it shares DMA-pinned pages copy-on-write "
		       "at fork,\n  so the parent can lose its pinned pages to "
		       "the child; guarding is needed.\n");
	else
		printf("unknown (the library could not pin a page: %s)\n",
		       strerror(-fx->k.pin_error));
	for (k = 0; k < PINGUARD_MEM_KINDS; k++) {
		const struct pinguard_kind_info *ki = &m->kinds[k];

		printf("  %-23s ", kind_label[k]);
		if (ki->kernel == PINGUARD_KERNEL_UNKNOWN)
			printf("not judged (%s)\n", fx->k.kind_error[k] ?
			       strerror(-fx->k.kind_error[k]) : "no pin");
		else
			printf("%-9s by %s, %.0f us\n",
			       pinguard_kernel_name(ki->kernel),
			       pinguard_reason_name(ki->reason),
			       (double)ki->probe_ns / 1000);
	}
	for (k = 0; k < PINGUARD_MEM_KINDS; k++)
		if (m->kinds[k].kernel != PINGUARD_KERNEL_UNKNOWN &&
		    (k == 0 || m->kinds[k].reason != m->kinds[0].reason))
			printf("  found by: %s\n", how(m->kinds[k].reason));
	printf("  auto mode would choose: %s\n",
	       m->effective == PINGUARD_MODE_AUTO ? "(undecided)" :
	       m->effective == PINGUARD_MODE_COPY && !strcmp(v, "partial") ?
	       "copy (for the unpatched kinds only)" :
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
	const struct pinguard_mode_info *m = &fx->k.mode;
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
	       fx->k.pin_error, fx->uring_errno ? "false" : "true",
	       fx->uring_errno, fx->uring_disabled);
	for (i = 0; i < fx->nrdma; i++) {
		printf(i ? ", " : "");
		json_str(stdout, fx->rdma[i]);
	}
	printf("], \"partial\": %s, \"kinds\": {",
	       strcmp(verdict(m), "partial") ? "false" : "true");
	for (i = 0; i < PINGUARD_MEM_KINDS; i++)
		printf("%s\"%s\": {\"kernel\": \"%s\", \"detected_by\": "
		       "\"%s\", \"probe_us\": %.1f, \"error\": %d}",
		       i ? ", " : "", pinguard_memkind_name(i),
		       pinguard_kernel_name(m->kinds[i].kernel),
		       pinguard_reason_name(m->kinds[i].reason),
		       (double)m->kinds[i].probe_ns / 1000,
		       fx->k.kind_error[i]);
	printf("}, \"hugepages\": {\"nr_hugepages\": %ld, \"sizes\": [",
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
	kernel_judge(&fx.k);
	look_around(&fx);
	if (json)
		print_json(&fx);
	else
		print_text(&fx);
	return fx.k.mode.kernel == PINGUARD_KERNEL_UNKNOWN ? EX_FAIL : EX_OK;
}
