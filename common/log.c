// SPDX-License-Identifier: GPL-2.0-or-later
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

#include "log.h"

static const char *program = "stillfs";
static enum log_level max_level = LOG_LEVEL_INFO;
static bool use_syslog;

void log_set_program(const char *name)
{
	program = name;
}

void log_set_max_level(enum log_level level)
{
	max_level = level;
}

void log_to_syslog(void)
{
	openlog(program, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	use_syslog = true;
}

int log_full(enum log_level level, int err, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	int saved = errno;
	char msg[2048];
	va_list ap;
	int n;

	if (err > 0)
		err = -err;
	if (level > max_level)
		goto out;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		goto out;
	if (err != 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(-err));

	if (use_syslog)
		syslog(prio[level], "%s", msg);
	else if (level == LOG_LEVEL_WARNING)
		fprintf(stderr, "%s: warning: %s\n", program, msg);
	else
		fprintf(stderr, "%s: %s\n", program, msg);
out:
	errno = saved;
	return err;
}
