/* SPDX-License-Identifier: MIT */
/*
 * /proc/PID/smaps, reduced to what decides a pinned range's fate at fork:
 * shared or private, hugetlb (KernelPageSize above the base page, or
 * VmFlags ht), transparent huge pages present (AnonHugePages), MADV_DONTFORK
 * (VmFlags dc), device memory nobody pins (VmFlags io/pf).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

static bool has_flag(const char *flags, const char *f)
{
	const char *p = flags;
	size_t l = strlen(f);

	while ((p = strstr(p, f))) {
		if ((p == flags || p[-1] == ' ') &&
		    (p[l] == ' ' || p[l] == '\n' || !p[l]))
			return true;
		p += l;
	}
	return false;
}

int read_smaps(int pid, struct vma **out, size_t *n)
{
	char path[64], *line = NULL, perms[5], p[4096];
	size_t lcap = 0;
	struct vma *v = NULL;
	uint64_t s, e, kb;
	FILE *f;
	int ret = 0;

	*out = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	errno = 0;
	while (getline(&line, &lcap, f) > 0) {
		p[0] = 0;
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %*x %*x:%*x %*u "
			   "%4095[^\n]", &s, &e, perms, p) >= 3) {
			struct vma nv = {
				.start = s, .end = e, .page_kb = 4,
				.shared = perms[3] == 's',
				.writable = perms[1] == 'w',
			};

			if (array_append(out, n, &nv, sizeof(nv))) {
				ret = -ENOMEM;
				break;
			}
			v = &(*out)[*n - 1];
			v->path = strdup(p);
		} else if (!v) {
			continue;
		} else if (sscanf(line, "AnonHugePages: %" SCNu64, &kb) == 1) {
			v->anon_huge = kb * 1024;
		} else if (sscanf(line, "KernelPageSize: %" SCNu64, &kb) == 1) {
			v->page_kb = (unsigned long)kb;
			v->hugetlb |= kb > 4;
		} else if (!strncmp(line, "VmFlags:", 8)) {
			v->dontfork = has_flag(line + 8, "dc");
			v->hugetlb |= has_flag(line + 8, "ht");
			v->shared |= has_flag(line + 8, "sh");
			v->io = has_flag(line + 8, "io") ||
				has_flag(line + 8, "pf");
		}
	}
	/* another user's process: the kernel refuses at read time */
	if (!ret && ferror(f))
		ret = errno ? -errno : -EIO;
	else if (!ret && !*n)
		ret = -ESRCH;	/* no mappings: exited, or a kernel thread */
	free(line);
	fclose(f);
	if (ret) {
		free_smaps(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return ret;
}

void free_smaps(struct vma *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i].path);
	free(v);
}
