/* SPDX-License-Identifier: MIT */
/* /proc/PID/maps of the inspected process, and the library it mapped. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tool.h"

int read_maps(int pid, struct mapping **out, size_t *n)
{
	char path[64], *line = NULL, p[PATH_MAX];
	size_t lcap = 0;
	struct mapping m;
	FILE *f;
	int k, nomem = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	*out = NULL;
	*n = 0;
	while (getline(&line, &lcap, f) > 0) {
		p[0] = 0;
		k = sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64
			   " %*x:%*x %lu %4095[^\n]", &m.start, &m.end,
			   m.perms, &m.off, &m.ino, p);
		if (k < 5)
			continue;
		m.path = strdup(p);
		if (!m.path || array_append(out, n, &m, sizeof(m))) {
			free(m.path);
			nomem = 1;
			break;
		}
	}
	free(line);
	/* another user's maps: the kernel refuses at read time */
	k = nomem ? -ENOMEM : ferror(f) ? -errno : *n ? 0 : -ESRCH;
	fclose(f);
	if (k) {
		free_maps(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return k;
}

void free_maps(struct mapping *maps, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(maps[i].path);
	free(maps);
}

/* Open the library file the process mapped, the same inode: through its
 * root (containers), its map_files link, then the path itself. */
static int open_mapped(int pid, const struct mapping *m)
{
	char p[PATH_MAX + 64];
	struct stat st;
	int i, fd;

	for (i = 0; i < 3; i++) {
		if (i == 0)
			snprintf(p, sizeof(p), "/proc/%d/root%s", pid, m->path);
		else if (i == 1)
			snprintf(p, sizeof(p), "/proc/%d/map_files/%" PRIx64
				 "-%" PRIx64, pid, m->start, m->end);
		else
			snprintf(p, sizeof(p), "%s", m->path);
		fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (!fstat(fd, &st) && st.st_ino == m->ino)
			return fd;
		close(fd);
	}
	return -1;
}

/* Address of pinguard_state_v1 in the process, 0 if no pinguard. */
uint64_t find_state(int pid, struct mapping *maps, size_t n,
		    const char *symbol, const char **lib)
{
	uint64_t value, first_load;
	size_t i;
	int fd;

	for (i = 0; i < n; i++) {
		const char *base = strrchr(maps[i].path, '/');

		if (!base || !strstr(base, "libpinguard.so") || maps[i].off)
			continue;
		fd = open_mapped(pid, &maps[i]);
		if (fd < 0)
			continue;
		if (!elf_dynsym(fd, symbol, &value, &first_load)) {
			close(fd);
			*lib = maps[i].path;
			return maps[i].start - first_load + value;
		}
		close(fd);
	}
	return 0;
}

const char *mapping_of(struct mapping *maps, size_t n, uintptr_t a,
			      char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (a >= maps[i].start && a < maps[i].end) {
			snprintf(buf, len, "%s %s", maps[i].perms,
				 maps[i].path[0] ? maps[i].path : "anonymous");
			return buf;
		}
	return "unmapped";
}

