// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "timefmt.h"

int64_t time_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t time_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int gmt_token_format(time_t sec, char *buf, size_t size)
{
	struct tm tm;

	if (!gmtime_r(&sec, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
		return -EOVERFLOW;
	if (size < GMT_TOKEN_LEN)
		return -ENOBUFS;
	snprintf(buf, size, "@GMT-%04d.%02d.%02d-%02d.%02d.%02d", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return 0;
}

static int parse_digits(const char *s, int n, int *ret)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return 0;
}

static int days_in_month(int year, int month)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

int gmt_token_parse(const char *token, time_t *ret_sec)
{
	/* positions of the separators in "@GMT-YYYY.MM.DD-HH.MM.SS" */
	static const struct {
		int pos;
		char c;
	} seps[] = { { 9, '.' }, { 12, '.' }, { 15, '-' }, { 18, '.' }, { 21, '.' } };
	int year, mon, day, hour, min, sec;
	struct tm tm = { 0 };
	time_t t;

	if (!token || strlen(token) != GMT_TOKEN_LEN - 1 || strncmp(token, "@GMT-", 5) != 0)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(seps) / sizeof(seps[0]); i++)
		if (token[seps[i].pos] != seps[i].c)
			return -EINVAL;
	if (parse_digits(token + 5, 4, &year) < 0 || parse_digits(token + 10, 2, &mon) < 0 ||
	    parse_digits(token + 13, 2, &day) < 0 || parse_digits(token + 16, 2, &hour) < 0 ||
	    parse_digits(token + 19, 2, &min) < 0 || parse_digits(token + 22, 2, &sec) < 0)
		return -EINVAL;
	if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) || hour > 23 ||
	    min > 59 || sec > 59)
		return -EINVAL;

	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1 && !(year == 1969 && mon == 12 && day == 31 && hour == 23 &&
				 min == 59 && sec == 59))
		return -EINVAL;
	*ret_sec = t;
	return 0;
}

int iso_time_format(int64_t ns, char *buf, size_t size)
{
	time_t sec = (time_t)(ns / 1000000000);
	long frac = (long)(ns % 1000000000);
	struct tm tm;
	int n;

	if (frac < 0) {
		frac += 1000000000;
		sec--;
	}
	if (!gmtime_r(&sec, &tm))
		return -EOVERFLOW;
	n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
	if (n < 0 || (size_t)n >= size)
		return -ENOBUFS;
	return 0;
}
