/* SPDX-License-Identifier: MIT */
/*
 * The fork hook. prepare runs last among prepare handlers with the
 * registry lock held until parent/child, so pins racing with the fork
 * wait. The interposed fork(), _Fork() and clone() protect the pinned
 * pages before the real call, strictly: a piece that cannot be protected
 * fails the fork with ENOMEM/EAGAIN (an atfork handler cannot fail a fork:
 * it counts and logs). fork() leaves the snapshots to the atfork prepare,
 * which still runs after the application's prepare handlers. Modes:
 *  - dontfork: pages are MADV_DONTFORK since pin time; nothing to do.
 *  - copy: snapshot each pinned piece into private anonymous staging
 *    memory, MADV_DONTFORK the pinned pages so the parent keeps them
 *    exclusively, fork; the child mremap()s the staging onto the pinned
 *    addresses (no second copy) and the parent drops its staging and
 *    undoes the DONTFORK. The cost depends on pinned bytes only.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>

#include "copier.h"
#include "internal.h"
#include "names.h"
#include "handles.h"
#include "plan.h"
#include "staging.h"
#include "sys.h"
#include "vmacache.h"

static __thread bool t_locked, t_unguarded;
/* When the guarded fork in progress began: one at a time (the lock is
 * held from prepare to the parent's side). */
static uint64_t fork_start_ns;

/* Protect (copy mode: plan + MADV_DONTFORK); stage: take the snapshots
 * too. Called with the lock held. */
static int guard(bool strict, bool stage)
{
	int ret = 0;

	if (!pg.reg.nsegs)
		return 0;
	switch (pg.effective) {
	case PINGUARD_MODE_COPY:
		ret = pg_plan_protect(strict);
		if (!ret && stage)
			pg_plan_stage();
		break;
	case PINGUARD_MODE_DONTFORK:
		pg.cnt.forks_guarded++;
		break;
	default:
		break;
	}
	return ret;
}

static int prepare(bool strict, bool stage)
{
	int ret;

	atomic_fetch_add(&pg_unguarded_forks, 1);
	if (!atomic_load(&pg_active)) {
		t_unguarded = true;	/* nothing pinned: one flag test */
		return 0;
	}
	atomic_fetch_sub(&pg_unguarded_forks, 1);
	pg_lock();
	t_locked = true;
	fork_start_ns = pg_now_ns();
	pg.cnt.forks_seen++;
	ret = guard(strict, stage);
	if (ret) {
		t_locked = false;
		pg_unlock();
	}
	return ret;
}

void pinguard_fork_prepare(void)
{
	if (!pg_t_fork_early) {
		(void)prepare(false, true);
		return;
	}
	pg_t_fork_early = false;
	if (!t_locked)
		return;
	/* Prepare handlers of other libraries ran since fork() protected
	 * the pages; if one of them called into pinguard (pinned, unpinned,
	 * madvised), protect again from the registry as it is now. */
	if (pg_lock_nested_since_fork()) {
		pg_plan_unprotect();
		(void)guard(false, true);
	} else if (pg.reg.nsegs && pg.effective == PINGUARD_MODE_COPY) {
		pg_plan_stage();
	}
}

int pg_fork_begin(bool atfork_follows)
{
	int ret = prepare(true, !atfork_follows);

	if (!ret && atfork_follows) {
		pg_lock_nested_since_fork();	/* reset */
		pg_t_fork_early = true;
	}
	return ret;
}

void pg_fork_end(pid_t pid, bool atfork_follows)
{
	if (atfork_follows) {
		if (!pg_t_fork_early)
			return;		/* the atfork handlers ran */
		/* They did not (fork() reached something other than glibc's):
		 * no snapshots were taken, the child gets no copy. */
		pg_t_fork_early = false;
	}
	if (pid == 0)
		pinguard_fork_child();
	else
		pinguard_fork_parent();
}

void pinguard_fork_parent(void)
{
	uint64_t ns;

	if (t_unguarded) {
		t_unguarded = false;
		atomic_fetch_sub(&pg_unguarded_forks, 1);
		return;
	}
	if (!t_locked)
		return;
	t_locked = false;
	pg_plan_copy_parent();
	ns = pg_now_ns() - fork_start_ns;
	pg.cnt.fork_ns += ns;
	if (pg.reg.nsegs)
		pg_log(PG_LOG_INFO, "fork guarded (%s): %lu extents, %lu bytes "
		       "pinned, %lu us", pg_name_of(pg_mode_names, pg.effective),
		       (unsigned long)pg.reg.extents,
		       (unsigned long)pg.reg.bytes, (unsigned long)(ns / 1000));
	pg_unlock();
}

/* The child owns no pins: the device holds the parent's pages. Start it
 * from an empty registry, without freeing anything. held: this thread
 * took the lock in prepare and unlocks it properly; otherwise another
 * thread (gone in the child) may have held it: reinitialise. */
void pg_fork_reset_child(bool held)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

	if (held)
		pthread_mutex_unlock(&pg.lock);
	else
		memcpy(&pg.lock, &fresh, sizeof(fresh));
	pg_reg_reset(&pg.reg);
	pg_reg_reset(&pg.foreign);
	memset(&pg.cnt, 0, sizeof(pg.cnt));
	pg_vmacache_invalidate();
	pg_copy_reset_child();
	pg_staging_reset_child();
	pg_handles_reset_child();
	pg_retry_reset_child();
	pg_verdict_reset_child();
	atomic_store(&pg_active, false);
	atomic_store(&pg_unguarded_forks, 0);
}

void pinguard_fork_child(void)
{
	int saved = errno;

	bool held = t_locked;

	if (held)
		pg_plan_copy_child();
	t_locked = false;
	t_unguarded = false;
	pg_t_fork_early = false;
	pg_fork_reset_child(held);
	errno = saved;
}
