/* SPDX-License-Identifier: MIT */
/*
 * Fork paths that run no pthread_atfork handlers: _Fork() (glibc 2.34+)
 * and clone() without CLONE_VM. fork(), daemon() and friends reach the
 * atfork hook; vfork(), posix_spawn(), system() and popen() share the
 * parent's memory until exec and need nothing. Raw clone system calls
 * cannot be seen: such callers use pinguard_fork_prepare/parent/child.
 */
#include <sched.h>
#include <stdarg.h>
#include <unistd.h>

#include "internal.h"
#include "next.h"

#define LIBC "libc.so.6"

pid_t _Fork(void)
{
	static pid_t (*next)(void);
	pid_t pid;
	int saved;

	PG_NEXT(next, LIBC, "_Fork", "GLIBC_2.34");
	if (!next) {
		errno = ENOSYS;
		return -1;
	}
	pinguard_fork_prepare();
	pid = next();
	saved = errno;
	if (pid == 0)
		pinguard_fork_child();
	else
		pinguard_fork_parent();
	errno = saved;
	return pid;
}

struct clone_start {
	int (*fn)(void *);
	void *arg;
};

/* Runs first in the child, on its own stack, before the caller's fn. */
static int clone_child(void *p)
{
	struct clone_start start = *(struct clone_start *)p;

	pinguard_fork_child();
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
	pinguard_fork_prepare();
	ret = next(clone_child, stack, flags, &start, ptid, tls, ctid);
	saved = errno;
	pinguard_fork_parent();
	errno = saved;
	return ret;
}
