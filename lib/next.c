/* SPDX-License-Identifier: MIT */
/* Finding the real definition behind a wrapper (dlsym RTLD_NEXT, or the
 * already loaded library for plug-ins loaded RTLD_LOCAL). */
#include <dlfcn.h>
#include <stddef.h>

#include "next.h"

void *pg_next(const char *soname, const char *name, const char *version)
{
	void *sym = NULL, *h;

	if (version)
		sym = dlvsym(RTLD_NEXT, name, version);
	if (!sym)
		sym = dlsym(RTLD_NEXT, name);
	if (sym)
		return sym;
	h = dlopen(soname, RTLD_LAZY | RTLD_NOLOAD);
	if (!h)
		return NULL;
	if (version)
		sym = dlvsym(h, name, version);
	if (!sym)
		sym = dlsym(h, name);
	dlclose(h);	/* NOLOAD handle: only drops the reference it took */
	return sym;
}
