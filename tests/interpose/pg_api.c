/* SPDX-License-Identifier: MIT */
#include <dlfcn.h>
#include <string.h>
#include <sys/mman.h>

#include "pg_api.h"

static int (*p_pin_count)(const void *);
static int (*p_get_stats)(struct pinguard_stats *, size_t);
static int (*p_get_config)(struct pinguard_config *, size_t);
static int (*p_configure)(const struct pinguard_config *, size_t);
static int (*p_get_mode)(struct pinguard_mode_info *, size_t);
static struct pinguard_stats base;

static bool in_pinguard(const void *p)
{
	Dl_info info;

	return p && dladdr(p, &info) && info.dli_fname &&
	       strstr(info.dli_fname, "libpinguard.so");
}

bool wrapped_by_pinguard(const char *sym)
{
	return in_pinguard(dlsym(RTLD_DEFAULT, sym));
}

int pg_api_setup(void **state)
{
	struct pinguard_mode_info mi;
	struct pinguard_config c;

	(void)state;
	p_pin_count = (int (*)(const void *))dlsym(RTLD_DEFAULT,
						   "pinguard_pin_count");
	p_get_stats = (int (*)(struct pinguard_stats *, size_t))
		dlsym(RTLD_DEFAULT, "pinguard_get_stats");
	p_get_config = (int (*)(struct pinguard_config *, size_t))
		dlsym(RTLD_DEFAULT, "pinguard_get_config");
	p_configure = (int (*)(const struct pinguard_config *, size_t))
		dlsym(RTLD_DEFAULT, "pinguard_configure");
	p_get_mode = (int (*)(struct pinguard_mode_info *, size_t))
		dlsym(RTLD_DEFAULT, "pinguard_get_mode");
	if (!in_pinguard((void *)p_pin_count) || !p_get_stats ||
	    !p_get_config || !p_configure || !p_get_mode) {
		print_error("libpinguard is not preloaded (LD_PRELOAD)\n");
		return -1;
	}
	/* bookkeeping only: no fork policy needed here */
	if (p_get_config(&c, sizeof(c)))
		return -1;
	c.mode = PINGUARD_MODE_OFF;
	if (p_configure(&c, sizeof(c)) || p_get_mode(&mi, sizeof(mi)) ||
	    mi.effective != PINGUARD_MODE_OFF)
		return -1;
	return 0;
}

int pg_test_setup(void **state)
{
	(void)state;
	fake_reset();
	base = pg_stats();
	return 0;
}

int pins(const void *addr)
{
	return p_pin_count(addr);
}

struct pinguard_stats pg_stats(void)
{
	struct pinguard_stats s;

	assert_int_equal(p_get_stats(&s, sizeof(s)), 0);
	return s;
}

void expect_stats(int64_t d_active, int64_t d_bytes)
{
	struct pinguard_stats s = pg_stats();

	assert_int_equal((int64_t)(s.active_pins - base.active_pins), d_active);
	assert_int_equal((int64_t)(s.pinned_bytes - base.pinned_bytes),
			 d_bytes);
}

void *pages(size_t n)
{
	void *p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	memset(p, 1, n * PAGE);
	return p;
}

const struct fake_call *reached(const char *fn)
{
	const struct fake_call *c = fake_last(fn);

	if (!c)
		fail_msg("%s never reached the stand-in library", fn);
	return c;
}

void expect_nested_wrapped(const char *site)
{
	const char *obj = fake_binding(site);

	if (!strstr(obj, "libpinguard.so"))
		fail_msg("nested call %s is bound to '%s', not to pinguard's "
			 "wrapper", site, obj);
}
