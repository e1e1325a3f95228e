/* SPDX-License-Identifier: MIT */
/* Logging that is safe in fork handlers: a fixed buffer, a tiny formatter
 * and one write(2) per line. Silent unless PINGUARD_LOG asks. */
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "names.h"
#include "sys.h"

uint64_t pg_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct out {
	char buf[512];
	size_t n;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (n > sizeof(o->buf) - 1 - o->n)
		n = sizeof(o->buf) - 1 - o->n;
	memcpy(o->buf + o->n, s, n);
	o->n += n;
}

static void put_num(struct out *o, unsigned long long v, unsigned base,
		    bool neg)
{
	char tmp[24];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		tmp[--i] = '-';
	put(o, tmp + i, sizeof(tmp) - i);
}

static void vformat(struct out *o, const char *fmt, va_list ap)
{
	const char *s;
	long long sv;

	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			put(o, fmt, 1);
			continue;
		}
		fmt++;
		bool is_long = false, is_size = false;

		if (*fmt == 'l') {
			is_long = true;
			fmt++;
		} else if (*fmt == 'z') {
			is_size = true;
			fmt++;
		}
		switch (*fmt) {
		case 's':
			s = va_arg(ap, const char *);
			s = s ? s : "(null)";
			put(o, s, strlen(s));
			break;
		case 'd':
			sv = is_long ? va_arg(ap, long) : va_arg(ap, int);
			put_num(o, sv < 0 ? (unsigned long long)-sv :
				(unsigned long long)sv, 10, sv < 0);
			break;
		case 'u':
			put_num(o, is_long ? va_arg(ap, unsigned long) :
				is_size ? va_arg(ap, size_t) :
				va_arg(ap, unsigned), 10, false);
			break;
		case 'x':
			put_num(o, is_long ? va_arg(ap, unsigned long) :
				va_arg(ap, unsigned), 16, false);
			break;
		case 'p':
			put(o, "0x", 2);
			put_num(o, (uintptr_t)va_arg(ap, void *), 16, false);
			break;
		case '%':
			put(o, "%", 1);
			break;
		default:
			return;
		}
	}
}

static void emit(const char *level, const char *fmt, va_list ap)
{
	struct out o = { .n = 0 };
	int saved = errno;

	put(&o, "pinguard[", 9);
	put_num(&o, (unsigned long long)getpid(), 10, false);
	put(&o, "]: ", 3);
	put(&o, level, strlen(level));
	put(&o, ": ", 2);
	vformat(&o, fmt, ap);
	o.buf[o.n++] = '\n';
	pg_sys_write(pg.log_fd, o.buf, o.n);
	errno = saved;
}

void pg_log(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > pg.log_level)
		return;
	va_start(ap, fmt);
	emit(pg_name_of(pg_level_names, level), fmt, ap);
	va_end(ap);
}

/* Bad configuration is the one thing printed even when logging is off. */
void pg_warn_config(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit("warning", fmt, ap);
	va_end(ap);
}
