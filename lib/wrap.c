/* SPDX-License-Identifier: MIT */
/* What the interposers share: pinning around a registration call (never
 * failing the caller's call: the real call decides), keeping the pin with
 * the registration's handle, and the nesting depth. */
#include "compat.h"	/* IBV_ACCESS_* without verbs.h */
#include "handles.h"
#include "internal.h"
#include "names.h"
#include "wrap.h"

__thread int pg_wrap_depth __attribute__((tls_model("initial-exec")));

bool pg_ibv_access_readonly(unsigned int access)
{
	return !(access & (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			   IBV_ACCESS_REMOTE_ATOMIC));
}

bool pg_wrap_pin(const void *addr, size_t len, bool readonly,
		 enum pg_source src)
{
	int ret;

	if (!addr || !len)
		return false;
	ret = pinguard_pin((void *)addr, len,
			   readonly ? PINGUARD_PIN_READONLY : 0);
	if (ret)
		pg_log(ret == -EFAULT ? PG_LOG_DEBUG : PG_LOG_WARN,
		       "%s registration of %p+%zu left unguarded (error %d)",
		       pg_name_of(pg_source_names, src), addr, len, ret);
	return ret == 0;
}

void pg_wrap_registered(const void *handle, bool pinned, const void *addr,
			size_t len, uint32_t flags, enum pg_source src)
{
	int saved = errno;
	struct pg_reg_entry e = {
		.key = handle, .addr = (uintptr_t)addr, .len = len,
		.flags = flags, .src = (uint8_t)src,
	};

	pg_wrap_depth--;
	if (pinned && (!handle || pg_handle_put(&e)))
		pg_wrap_unpin(addr, len, src);
	errno = saved;
}

void pg_wrap_unpin(const void *addr, size_t len, enum pg_source src)
{
	int ret = pinguard_unpin((void *)addr, len);

	(void)src;
	if (ret)
		pg_log(PG_LOG_DEBUG, "unpin %p+%zu: error %d", addr, len, ret);
}
