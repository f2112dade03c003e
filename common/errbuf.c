// SPDX-License-Identifier: GPL-2.0-or-later
#include <stdarg.h>
#include <stdio.h>

#include "errbuf.h"

static int errbuf_vset(struct errbuf *eb, int r, bool with_errno, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

static int errbuf_vset(struct errbuf *eb, int r, bool with_errno, const char *fmt, va_list ap)
{
	int n;

	if (!eb)
		return r;
	n = vsnprintf(eb->msg, sizeof(eb->msg), fmt, ap);
	if (with_errno && r < 0 && n >= 0 && (size_t)n < sizeof(eb->msg))
		snprintf(eb->msg + n, sizeof(eb->msg) - (size_t)n, ": %s", strerror(-r));
	return r;
}

int errbuf_set(struct errbuf *eb, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errbuf_vset(eb, r, true, fmt, ap);
	va_end(ap);
	return r;
}

int errbuf_setx(struct errbuf *eb, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errbuf_vset(eb, r, false, fmt, ap);
	va_end(ap);
	return r;
}
