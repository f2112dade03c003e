/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Small helpers the test tools share: counts from the command line, whole
 * reads, busy loops, ready files, and stopping cleanly on SIGTERM or SIGINT
 * (common/stop.h). Test helper only; libc and common only.
 */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include "common.h"

/*
 * Parses s as a decimal count from min to max. Returns 0, -EINVAL if s is not
 * a number (or does not fit in 64 bits), or -ERANGE if it is out of range.
 */
static inline int parse_count(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-')
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

/* Reads up to len bytes, stopping early only at end of file. */
static inline ssize_t read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (char *)buf + done, len - done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/*
 * Ends a tool on its command line: prints its usage on stdout and exits 0
 * (status 0, for --help), or on stderr and exits with status (a usage error).
 */
_noreturn_ static inline void usage_exit(void (*usage)(FILE *f), int status)
{
	usage(status == 0 ? stdout : stderr);
	exit(status);
}

/* Parses the N of --spin N; exits 2 if it is not a count. */
static inline uint64_t parse_spin(const char *arg)
{
	uint64_t n;

	if (parse_count(arg, 0, UINT64_MAX, &n) < 0) {
		log_error("invalid spin count '%s'", arg);
		exit(2);
	}
	return n;
}

/* Busy-waits n iterations (--spin N: widens the window between two writes). */
static inline void spin(uint64_t n)
{
	for (volatile uint64_t i = 0; i < n; i++)
		;
}

/* Creates (or truncates) the --ready file at path, holding this process's pid. */
static inline int touch_ready(const char *path)
{
	_cleanup_close_ int fd = -1;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (dprintf(fd, "%d\n", (int)getpid()) < 0)
		return -EIO;
	return 0;
}

/*
 * Installs the SIGTERM and SIGINT handlers of common/stop.h (the main loop
 * polls stop_requested()). Returns 0, or -errno after logging the failure.
 */
static inline int install_stop_signals(void)
{
	int r = stop_signals_install();

	if (r < 0)
		log_error_errno(r, "cannot install signal handlers");
	return r;
}
