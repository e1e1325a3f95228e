/* SPDX-License-Identifier: MIT */
/*
 * A process's pinguard state, read without stopping it. The library
 * exports pinguard_state_v1, a pointer to its struct pg_global (lib/state.h
 * is the layout); we find the symbol in the library file the process
 * mapped, add the load address, and read everything through
 * /proc/PID/mem. The process keeps running, so a read can be torn: we
 * re-read until two snapshots of the header agree.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

#define STATE_SYMBOL "pinguard_state_v1"
#define MAX_NODES (1u << 22)	/* sanity bound on what we copy out: 2 GiB */
#define MAX_HTAB (1u << 24)
#define MAX_URING_SLOTS 65536


static int read_mem(int memfd, uint64_t addr, void *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pread(memfd, (char *)buf + done, len - done,
			  (off_t)(addr + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* A message: kept in s->error, and on stderr unless s->quiet. */
__attribute__((format(printf, 2, 3)))
static void say(struct snapshot *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->error, sizeof(s->error), fmt, ap);
	va_end(ap);
	if (!s->quiet)
		errmsg("%s", s->error);
}

static int perm_denied(struct snapshot *s)
{
	say(s, "cannot read process %d: permission denied (only the same "
	    "user, or root, can inspect it)", s->pid);
	return EX_PERM;
}

static int add_range(struct snapshot *s, const struct pg_seg *seg)
{
	struct range *r = s->nranges ? &s->ranges[s->nranges - 1] : NULL;

	/* neighbours with the same counts read as one range */
	if (r && r->end == seg->start && r->nlong == seg->nlong &&
	    r->nshort == seg->nshort && r->flags == seg->flags) {
		r->end = seg->end;
		return 0;
	}
	return array_append(&s->ranges, &s->nranges, &(struct range){
		seg->start, seg->end, seg->nlong, seg->nshort, seg->flags },
		sizeof(*r));
}

/* Walk of the copied pool: down the leftmost path, then along the leaf
 * links; -EAGAIN when it does not look like one consistent B+tree (a torn
 * read). */
static int walk(struct snapshot *s)
{
	const struct pg_registry *r = &s->g.reg;
	uint32_t i = r->root, depth, j;
	uint64_t visited = 0, leaves = 0;
	uintptr_t prev = 0;
	const struct pg_node *nd;

	if (!r->nsegs)
		return r->root == PG_NIL ? 0 : -EAGAIN;
	for (depth = 1; ; depth++) {
		if (i == PG_NIL || i >= r->used || depth > r->height)
			return -EAGAIN;
		nd = &s->pool[i];
		if (nd->leaf)
			break;
		if (!nd->n || nd->n > PG_INNER_KIDS)
			return -EAGAIN;
		i = nd->child[0];
	}
	if (depth != r->height)
		return -EAGAIN;
	while (i != PG_NIL) {
		if (i >= r->used || ++leaves > r->used)
			return -EAGAIN;
		nd = &s->pool[i];
		if (!nd->leaf || !nd->n || nd->n > PG_LEAF_SEGS)
			return -EAGAIN;
		for (j = 0; j < nd->n; j++) {
			const struct pg_seg *g = &nd->seg[j];

			if (++visited > r->nsegs || g->start >= g->end ||
			    g->start < prev)
				return -EAGAIN;
			prev = g->end;
			if (add_range(s, g))
				return -ENOMEM;
		}
		i = nd->next;
	}
	return visited == r->nsegs ? 0 : -EAGAIN;
}

/* What one reading attempt allocated (maps stay). */
static void free_state(struct snapshot *s)
{
	size_t i;

	if (s->slots)
		for (i = 0; i < s->g.htab_cap; i++)
			free(s->slots[i]);
	free(s->slots);
	free(s->pool);
	free(s->htab);
	free(s->ranges);
	s->slots = NULL;
	s->pool = NULL;
	s->htab = NULL;
	s->ranges = NULL;
	s->nranges = 0;
}

bool snapshot_live_key(const void *key)
{
	return key && key != (const void *)1;
}

/* One attempt: 0, -EAGAIN (torn), or another -errno. */
static int read_once(int memfd, uint64_t state, struct snapshot *s)
{
	struct pg_global again;
	size_t i;
	int ret;

	if ((ret = read_mem(memfd, state, &s->g, sizeof(s->g))))
		return ret;
	if (s->g.reg.used > MAX_NODES || s->g.reg.used > s->g.reg.cap ||
	    s->g.htab_cap > MAX_HTAB)
		return -EAGAIN;
	if (s->g.reg.pool && s->g.reg.used) {
		s->pool = malloc((size_t)s->g.reg.used * sizeof(*s->pool));
		if (!s->pool)
			return -ENOMEM;
		/* one read for the whole used part of the pool */
		if ((ret = read_mem(memfd, (uintptr_t)s->g.reg.pool, s->pool,
				    (size_t)s->g.reg.used * sizeof(*s->pool))))
			return ret == -EIO ? -EAGAIN : ret;
	} else if (s->g.reg.nsegs) {
		return -EAGAIN;
	}
	if (s->g.htab && s->g.htab_cap) {
		s->htab = calloc(s->g.htab_cap, sizeof(*s->htab));
		s->slots = calloc(s->g.htab_cap, sizeof(*s->slots));
		if (!s->htab || !s->slots)
			return -ENOMEM;
		if ((ret = read_mem(memfd, (uintptr_t)s->g.htab, s->htab,
				    s->g.htab_cap * sizeof(*s->htab))))
			return ret == -EIO ? -EAGAIN : ret;
		for (i = 0; i < s->g.htab_cap; i++) {
			struct pg_reg_entry *e = &s->htab[i];

			if (!snapshot_live_key(e->key) || e->src != PG_SRC_IO_URING ||
			    !e->len || e->len > MAX_URING_SLOTS)
				continue;
			s->slots[i] = calloc(e->len, sizeof(struct pg_uring_slot));
			if (!s->slots[i] ||
			    read_mem(memfd, e->addr, s->slots[i],
				     e->len * sizeof(struct pg_uring_slot))) {
				free(s->slots[i]);
				s->slots[i] = NULL;	/* shown without slots */
			}
		}
	}
	if ((ret = read_mem(memfd, state, &again, sizeof(again))))
		return ret;
	if (again.reg.pool != s->g.reg.pool || again.reg.used != s->g.reg.used ||
	    again.reg.root != s->g.reg.root ||
	    again.reg.height != s->g.reg.height ||
	    again.reg.nsegs != s->g.reg.nsegs || again.htab != s->g.htab ||
	    again.htab_cap != s->g.htab_cap ||
	    again.cnt.pins_total != s->g.cnt.pins_total ||
	    again.cnt.unpins_total != s->g.cnt.unpins_total)
		return -EAGAIN;
	return walk(s);
}

/* The state at ptr: the header first (magic, version, size), then
 * consistent reads (up to three tries; s->torn if none was). */
static int read_state(int memfd, uint64_t ptr, struct snapshot *s)
{
	int ret = -EAGAIN, try;

	if (read_mem(memfd, ptr, &s->g,
		     sizeof(uint64_t) + 2 * sizeof(uint32_t)) ||
	    s->g.magic != PG_STATE_MAGIC) {
		say(s, "process %d: %s has no recognisable pinguard state",
		       s->pid, s->lib);
		return EX_FAIL;
	}
	if (s->g.version != PG_STATE_VERSION || s->g.size != sizeof(s->g)) {
		say(s, "process %d: pinguard state version %u (%u bytes); this "
		       "tool reads version %u (%zu bytes): use the pinguard "
		       "command of the same release as %s", s->pid,
		       s->g.version, s->g.size, PG_STATE_VERSION,
		       sizeof(s->g), s->lib);
		return EX_FAIL;
	}
	for (try = 0; try < 3 && ret == -EAGAIN; try++) {
		free_state(s);
		ret = read_once(memfd, ptr, s);
	}
	s->torn = ret == -EAGAIN;
	if (ret && !s->torn) {
		say(s, "cannot read process %d: %s", s->pid, strerror(-ret));
		return ret == -ESRCH || ret == -ENOENT ? EX_NOPROC : EX_FAIL;
	}
	return EX_OK;
}

static int take(int memfd, uint64_t state, struct snapshot *s)
{
	uint64_t ptr;
	int ret;

	ret = read_mem(memfd, state, &ptr, sizeof(ptr));
	if (ret == -EACCES || ret == -EPERM)
		return perm_denied(s);
	if (ret) {
		/* an exited process reads as empty */
		say(s, "cannot read process %d: %s", s->pid, strerror(-ret));
		return kill(s->pid, 0) ? EX_NOPROC : EX_FAIL;
	}
	return read_state(memfd, ptr, s);
}

static int take_snapshot(int pid, struct snapshot *s, bool quiet)
{
	char path[64];
	uint64_t state;
	int ret, memfd;

	memset(s, 0, sizeof(*s));
	s->pid = pid;
	s->quiet = quiet;
	ret = read_maps(pid, &s->maps, &s->nmaps);
	if (ret == -ENOENT || ret == -ESRCH) {
		say(s, "no process with PID %d", pid);
		return EX_NOPROC;
	}
	if (ret == -EACCES || ret == -EPERM)
		return perm_denied(s);
	if (ret) {
		say(s, "cannot read /proc/%d/maps: %s", pid, strerror(-ret));
		return EX_FAIL;
	}
	state = find_state(pid, s->maps, s->nmaps, STATE_SYMBOL, &s->lib);
	if (!state) {
		say(s, "process %d does not use pinguard", pid);
		return EX_NOPROC;
	}
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	memfd = open(path, O_RDONLY | O_CLOEXEC);
	if (memfd < 0 && (errno == EACCES || errno == EPERM))
		return perm_denied(s);
	if (memfd < 0) {
		int err = errno;	/* the message may change errno */

		say(s, "process %d: %s", pid, strerror(err));
		return err == ENOENT || err == ESRCH ? EX_NOPROC : EX_FAIL;
	}
	ret = take(memfd, state, s);
	close(memfd);
	return ret;
}

int snapshot_take(int pid, struct snapshot *s)
{
	return take_snapshot(pid, s, false);
}

int snapshot_take_quiet(int pid, struct snapshot *s)
{
	return take_snapshot(pid, s, true);
}

void snapshot_free(struct snapshot *s)
{
	free_state(s);
	free_maps(s->maps, s->nmaps);
	s->maps = NULL;
	s->nmaps = 0;
}
