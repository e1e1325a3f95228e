/* SPDX-License-Identifier: MIT */
/*
 * Fork entry points, each prepared before the real call so that pinned
 * memory which cannot be protected fails the fork (ENOMEM/EAGAIN) rather
 * than reaching the child unprotected:
 *  - fork(): glibc then runs the atfork hook, which finds the work done;
 *  - _Fork() (glibc 2.34+) and clone() without CLONE_VM, which run no
 *    atfork handlers.
 * daemon() and other libc-internal forks reach only the atfork hook;
 * vfork(), posix_spawn(), system() and popen() share the parent's memory
 * until exec and need nothing. Raw clone system calls cannot be seen:
 * such callers use pinguard_fork_prepare/parent/child.
 */
#include <sched.h>
#include <stdarg.h>
#include <unistd.h>

#include "internal.h"
#include "wrap.h"

#define LIBC "libc.so.6"

/* Fail like fork(2) when the pinned pages cannot be protected. */
static int begin(bool atfork_follows)
{
	int ret = pg_fork_begin(atfork_follows);

	if (ret)
		errno = ret == -EAGAIN ? EAGAIN : ENOMEM;
	return ret;
}

static pid_t fork_via(pid_t (*next)(void), bool atfork_follows)
{
	pid_t pid;
	int saved;

	if (!next) {
		errno = ENOSYS;
		return -1;
	}
	if (begin(atfork_follows))
		return -1;
	pid = next();
	saved = errno;
	pg_fork_end(pid, atfork_follows);
	errno = saved;
	return pid;
}

pid_t fork(void)
{
	static pid_t (*next)(void);

	PG_NEXT(next, LIBC, "fork", "GLIBC_2.2.5");
	return fork_via(next, true);	/* glibc runs the atfork hook */
}

pid_t _Fork(void)
{
	static pid_t (*next)(void);

	PG_NEXT(next, LIBC, "_Fork", "GLIBC_2.34");
	return fork_via(next, false);
}

struct clone_start {
	int (*fn)(void *);
	void *arg;
};

/* Runs first in the child, on its own stack, before the caller's fn. */
static int clone_child(void *p)
{
	struct clone_start start = *(struct clone_start *)p;

	pg_fork_end(0, false);
	return start.fn(start.arg);
}

int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	static int (*next)(int (*)(void *), void *, int, void *, ...);
	/* the child reads this from its copy of our stack */
	struct clone_start start = { fn, arg };
	pid_t *ptid;
	void *tls;
	pid_t *ctid;
	va_list ap;
	int ret, saved;

	va_start(ap, arg);
	ptid = va_arg(ap, pid_t *);
	tls = va_arg(ap, void *);
	ctid = va_arg(ap, pid_t *);
	va_end(ap);
	PG_NEXT(next, LIBC, "clone", "GLIBC_2.2.5");
	if (!next) {
		errno = ENOSYS;
		return -1;
	}
	if (flags & CLONE_VM)	/* shares our memory: nothing to guard */
		return next(fn, stack, flags, arg, ptid, tls, ctid);
	if (begin(false))
		return -1;
	ret = next(clone_child, stack, flags, &start, ptid, tls, ctid);
	saved = errno;
	pg_fork_end(ret, false);
	errno = saved;
	return ret;
}
