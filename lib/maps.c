/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "maps.h"
#include "sys.h"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif

/* Two iterator buffers (maps, and smaps inside a maps walk), mapped once
 * and kept: a temporary mapping would merge into a neighbour and leave a
 * hole in the very list being read; static ones would grow .bss and cost
 * every process a loader mmap. Caller holds pg_lock. */
struct pg_maps_iter *pg_maps_buffer(int which)
{
	static struct pg_maps_iter *bufs;
	void *p;

	if (!bufs) {
		p = pg_sys_alloc(2 * sizeof(*bufs));
		if (p == MAP_FAILED)
			return NULL;
		bufs = p;
	}
	return &bufs[which];
}

int pg_maps_open(struct pg_maps_iter *it)
{
	it->fd = pg_sys_open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	it->len = it->pos = 0;
	it->path[0] = 0;
	return it->fd < 0 ? it->fd : 0;
}

void pg_maps_close(struct pg_maps_iter *it)
{
	if (it->fd >= 0)
		pg_sys_close(it->fd);
	it->fd = -1;
}

/* Next line (without '\n') into *line; 1 ok, 0 eof, <0 error. Lines longer
 * than the buffer are cut: only their start matters here. */
static int next_line(int fd, char *buf, size_t cap, size_t *len, size_t *pos,
		     const char **line, size_t *llen)
{
	char *nl;
	ssize_t n;

	for (;;) {
		nl = memchr(buf + *pos, '\n', *len - *pos);
		if (nl) {
			*line = buf + *pos;
			*llen = (size_t)(nl - (buf + *pos));
			*pos = (size_t)(nl - buf) + 1;
			return 1;
		}
		if (*pos == 0 && *len == cap) {	/* overlong: skip rest */
			*line = buf;
			*llen = cap;
			*len = 0;
			do {
				n = pg_sys_read(fd, buf, cap);
				if (n <= 0)
					break;
				nl = memchr(buf, '\n', (size_t)n);
			} while (!nl);
			if (n > 0) {
				*pos = (size_t)(nl - buf) + 1;
				*len = (size_t)n;
			}
			return 1;
		}
		memmove(buf, buf + *pos, *len - *pos);
		*len -= *pos;
		*pos = 0;
		n = pg_sys_read(fd, buf + *len, cap - *len);
		if (n < 0)
			return (int)n;
		if (n == 0) {
			if (*len == 0)
				return 0;
			buf[*len] = '\n';	/* cap-1 is read at most */
			continue;
		}
		*len += (size_t)n;
	}
}

static uint64_t parse_hex(const char **p, const char *end)
{
	uint64_t v = 0;
	int d;

	for (; *p < end; (*p)++) {
		char c = **p;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			break;
		v = (v << 4) | (uint64_t)d;
	}
	return v;
}

static uint64_t parse_dec(const char **p, const char *end)
{
	uint64_t v = 0;

	for (; *p < end && **p >= '0' && **p <= '9'; (*p)++)
		v = v * 10 + (uint64_t)(**p - '0');
	return v;
}

static void skip_spaces(const char **p, const char *end)
{
	while (*p < end && **p == ' ')
		(*p)++;
}

int pg_maps_next(struct pg_maps_iter *it, struct pg_vma *v)
{
	const char *line, *p, *end;
	size_t llen, plen;
	uint32_t major, minor;
	int ret;

	ret = next_line(it->fd, it->buf, sizeof(it->buf) - 1, &it->len,
			&it->pos, &line, &llen);
	if (ret <= 0)
		return ret;
	p = line;
	end = line + llen;
	v->start = (uintptr_t)parse_hex(&p, end);
	p++;				/* '-' */
	v->end = (uintptr_t)parse_hex(&p, end);
	skip_spaces(&p, end);
	v->prot = 0;
	v->flags = 0;
	if (end - p >= 4) {
		if (p[0] == 'r')
			v->prot |= PROT_READ;
		if (p[1] == 'w')
			v->prot |= PROT_WRITE;
		if (p[2] == 'x')
			v->prot |= PROT_EXEC;
		if (p[3] == 's')
			v->flags |= PG_VMA_SHARED;
		p += 4;
	}
	skip_spaces(&p, end);
	parse_hex(&p, end);		/* offset */
	skip_spaces(&p, end);
	major = (uint32_t)parse_hex(&p, end);
	p++;				/* ':' */
	minor = (uint32_t)parse_hex(&p, end);
	v->dev = major << 20 | minor;
	skip_spaces(&p, end);
	v->inode = parse_dec(&p, end);
	skip_spaces(&p, end);
	plen = (size_t)(end - p);
	if (plen >= sizeof(it->path))
		plen = sizeof(it->path) - 1;
	memcpy(it->path, p, plen);
	it->path[plen] = 0;
	v->pageshift = 12;
	if (v->inode) {
		v->flags |= PG_VMA_FILE;
		if (major == 0)
			v->flags |= PG_VMA_MAYBE_HUGE;
	}
	return 1;
}

static uint32_t shift_of(uint64_t bytes)
{
	uint32_t s = 0;

	while (s < 63 && (1ull << s) < bytes)
		s++;
	return s;
}

/* KernelPageSize of the smaps entry at start. smaps walks every page of
 * every mapping, so this runs only for pseudo-fs mappings statfs cannot
 * name, and its answer is cached by the caller. */
static uint32_t smaps_shift(uintptr_t start)
{
	struct pg_maps_iter *it = pg_maps_buffer(1);
	const char *line, *p, *end;
	size_t llen;
	bool in_vma = false;
	uint32_t shift = 0;

	if (!it)
		return 0;
	it->fd = pg_sys_open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
	it->len = it->pos = 0;
	while (it->fd >= 0 && next_line(it->fd, it->buf, sizeof(it->buf) - 1,
					&it->len, &it->pos, &line, &llen) > 0) {
		p = line;
		end = line + llen;
		if (llen && line[0] != ' ' && memchr(line, '-', llen) &&
		    !memchr(line, ':', llen < 20 ? llen : 20)) {
			in_vma = (uintptr_t)parse_hex(&p, end) == start;
			continue;
		}
		if (in_vma && llen > 15 && !memcmp(line, "KernelPageSize:", 15)) {
			p = line + 15;
			skip_spaces(&p, end);
			shift = shift_of(parse_dec(&p, end) * 1024);
			break;
		}
	}
	pg_maps_close(it);
	return shift > 12 ? shift : 0;
}

uint32_t pg_hugetlb_shift(uintptr_t start, const char *path)
{
	struct statfs sfs;
	size_t n = strlen(path);
	static const char deleted[] = " (deleted)";

	if (path[0] == '/' && !(n > sizeof(deleted) - 1 &&
				!strcmp(path + n - (sizeof(deleted) - 1), deleted))) {
		if (statfs(path, &sfs) == 0)
			return (uint32_t)sfs.f_type == HUGETLBFS_MAGIC ?
			       shift_of((uint64_t)sfs.f_bsize) : 0;
	}
	return smaps_shift(start);
}
