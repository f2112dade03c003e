/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Times as stillfs shows and stores them: nanoseconds since the epoch (UTC),
 * the `@GMT-YYYY.MM.DD-HH.MM.SS` token that names a set in the view (the format
 * of SMB "Previous Versions" and Samba's shadow_copy2), and ISO 8601 text.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* "@GMT-YYYY.MM.DD-HH.MM.SS" plus NUL */
#define GMT_TOKEN_LEN 25
/* "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" plus NUL, with room for 5-digit years */
#define ISO_TIME_MAX 40

/* Current UTC time in nanoseconds since the epoch. */
int64_t time_now_ns(void);
/* CLOCK_MONOTONIC in nanoseconds: for durations and deadlines. */
int64_t time_mono_ns(void);

/*
 * Writes the token for the UTC second containing `sec` into buf (at least
 * GMT_TOKEN_LEN bytes). Returns 0, or -EOVERFLOW for a time outside years 0-9999.
 */
int gmt_token_format(time_t sec, char *buf, size_t size);

/*
 * Parses a token; accepts exactly the format above with a valid calendar date
 * and time. Returns 0 and stores the UTC second in *ret_sec, or -EINVAL.
 */
int gmt_token_parse(const char *token, time_t *ret_sec);

/* Formats ns since the epoch as ISO 8601 UTC with nanoseconds. Returns 0 or -EOVERFLOW. */
int iso_time_format(int64_t ns, char *buf, size_t size);
