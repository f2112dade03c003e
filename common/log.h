/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging for the command and the view daemon. Library modules do not log;
 * they return -errno and the caller decides what to say. Messages go to stderr
 * until log_to_syslog() is called (the daemon after it detaches).
 */
#pragma once

#include "macro.h"

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Prefix for messages on stderr, normally "stillfs". Not copied. */
void log_set_program(const char *name);
void log_set_max_level(enum log_level level);
/* Sends further messages to syslog under the program name. */
void log_to_syslog(void);

/* Logs a message; returns -err when err is non-zero, else 0, for `return log_...`. */
int log_full(enum log_level level, int err, const char *fmt, ...) _printf_(3, 4);

#define log_error(...) log_full(LOG_LEVEL_ERROR, 0, __VA_ARGS__)
#define log_warning(...) log_full(LOG_LEVEL_WARNING, 0, __VA_ARGS__)
#define log_info(...) log_full(LOG_LEVEL_INFO, 0, __VA_ARGS__)
#define log_debug(...) log_full(LOG_LEVEL_DEBUG, 0, __VA_ARGS__)
/* As log_error(), with ": <strerror(-r)>" appended; returns r (negative errno). */
#define log_error_errno(r, ...) log_full(LOG_LEVEL_ERROR, (r), __VA_ARGS__)
#define log_warning_errno(r, ...) log_full(LOG_LEVEL_WARNING, (r), __VA_ARGS__)
