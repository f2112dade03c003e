// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for common/: time tokens and ISO times, process identities,
 * mountinfo lookups, error buffers, sets of inode numbers and inode maps.
 */
#include <check.h>
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include "common.h"
#include "fast-assert.h"

/* Seconds of 0000-01-01 00:00:00 and 9999-12-31 23:59:59 UTC. */
#define YEAR0_SEC INT64_C(-62167219200)
#define YEAR9999_END_SEC INT64_C(253402300799)

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static void token_of(int y, int mo, int d, int h, int mi, int s, char buf[GMT_TOKEN_LEN])
{
	int n = snprintf(buf, GMT_TOKEN_LEN, "@GMT-%04d.%02d.%02d-%02d.%02d.%02d", y, mo, d, h, mi,
			 s);

	fast_assert_int_eq(n, GMT_TOKEN_LEN - 1);
}

static void assert_format(int64_t sec, const char *expected)
{
	char buf[GMT_TOKEN_LEN];
	time_t back = 0;

	ck_assert_int_eq(gmt_token_format((time_t)sec, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, expected);
	ck_assert_int_eq(gmt_token_parse(buf, &back), 0);
	ck_assert_int_eq(back, sec);
}

static void assert_rejected(const char *token)
{
	time_t sec = 12345;

	if (gmt_token_parse(token, &sec) != -EINVAL)
		ck_abort_msg("token '%s' was accepted", token ? token : "(null)");
	/* output parameters are written only on success */
	fast_assert_int_eq(sec, 12345);
}

START_TEST(test_token_known_values)
{
	assert_format(0, "@GMT-1970.01.01-00.00.00");
	assert_format(-1, "@GMT-1969.12.31-23.59.59");
	assert_format(951782400, "@GMT-2000.02.29-00.00.00");
	assert_format(1709251199, "@GMT-2024.02.29-23.59.59");
	assert_format(1795305600, "@GMT-2026.11.22-00.00.00");
	assert_format(4107542400, "@GMT-2100.03.01-00.00.00");
	assert_format(YEAR0_SEC, "@GMT-0000.01.01-00.00.00");
	assert_format(YEAR9999_END_SEC, "@GMT-9999.12.31-23.59.59");
}
END_TEST

START_TEST(test_token_format_limits)
{
	char buf[GMT_TOKEN_LEN] = "untouched";

	ck_assert_int_eq(gmt_token_format((time_t)(YEAR9999_END_SEC + 1), buf, sizeof(buf)),
			 -EOVERFLOW);
	ck_assert_int_eq(gmt_token_format((time_t)(YEAR0_SEC - 1), buf, sizeof(buf)), -EOVERFLOW);
	ck_assert_int_eq(gmt_token_format((time_t)INT64_MAX, buf, sizeof(buf)), -EOVERFLOW);
	ck_assert_int_eq(gmt_token_format((time_t)INT64_MIN, buf, sizeof(buf)), -EOVERFLOW);
	ck_assert_int_eq(gmt_token_format(0, buf, GMT_TOKEN_LEN - 1), -ENOBUFS);
	ck_assert_str_eq(buf, "untouched");
}
END_TEST

/*
 * Walks every day from 1583 (the first whole Gregorian year) to 2401 and
 * checks that consecutive dates parse 86400 seconds apart and format back
 * to the same text: a calendar check independent of the library's own.
 */
START_TEST(test_token_every_day)
{
	time_t prev = 0, sec = 0;
	char tok[GMT_TOKEN_LEN], buf[GMT_TOKEN_LEN];
	bool first = true;
	int days = 0;

	for (int y = 1583; y <= 2401; y++)
		for (int m = 1; m <= 12; m++) {
			static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
			int n = mdays[m - 1] + (m == 2 && is_leap(y));

			for (int d = 1; d <= n; d++) {
				token_of(y, m, d, 12, 34, 56, tok);
				fast_assert_int_eq(gmt_token_parse(tok, &sec), 0);
				if (!first)
					fast_assert_int_eq(sec - prev, 86400);
				fast_assert_int_eq(gmt_token_format(sec, buf, sizeof(buf)), 0);
				fast_assert_str_eq(buf, tok);
				prev = sec;
				first = false;
				days++;
			}
		}
	/* 819 years, of which 199 leap (1584..2400 by 4, minus 1700, 1800, 1900, 2100, 2200, 2300)
	 */
	fast_assert_int_eq(days, 819 * 365 + 199);
}
END_TEST

START_TEST(test_token_leap_days)
{
	char tok[GMT_TOKEN_LEN], buf[GMT_TOKEN_LEN];
	time_t sec = 0, mar1 = 0;

	for (int y = 0; y <= 9999; y++) {
		token_of(y, 2, 29, 0, 0, 0, tok);
		if (!is_leap(y)) {
			assert_rejected(tok);
			continue;
		}
		fast_assert_int_eq(gmt_token_parse(tok, &sec), 0);
		fast_assert_int_eq(gmt_token_format(sec, buf, sizeof(buf)), 0);
		fast_assert_str_eq(buf, tok);
		token_of(y, 3, 1, 0, 0, 0, tok);
		fast_assert_int_eq(gmt_token_parse(tok, &mar1), 0);
		fast_assert_int_eq(mar1 - sec, 86400);
	}
}
END_TEST

/* Times spread over the whole range, from a fixed pseudo-random sequence. */
START_TEST(test_token_round_trip_many)
{
	const int64_t span = YEAR9999_END_SEC - YEAR0_SEC + 1;
	uint64_t x = 0x9e3779b97f4a7c15u;
	char buf[GMT_TOKEN_LEN];
	time_t back;

	for (int i = 0; i < 200000; i++) {
		int64_t sec;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		sec = YEAR0_SEC + (int64_t)(x % (uint64_t)span);
		fast_assert_int_eq(gmt_token_format((time_t)sec, buf, sizeof(buf)), 0);
		fast_assert_int_eq(strlen(buf), GMT_TOKEN_LEN - 1);
		back = 0;
		fast_assert_int_eq(gmt_token_parse(buf, &back), 0);
		fast_assert_int_eq(back, sec);
	}
	/* and every second around the epoch and the ends of the range */
	for (int64_t base = -5; base <= 5; base++) {
		const int64_t points[] = {base, YEAR0_SEC + 5 + base, YEAR9999_END_SEC - 5 + base};

		for (size_t i = 0; i < ARRAY_SIZE(points); i++) {
			fast_assert_int_eq(gmt_token_format((time_t)points[i], buf, sizeof(buf)),
					   0);
			fast_assert_int_eq(gmt_token_parse(buf, &back), 0);
			fast_assert_int_eq(back, points[i]);
		}
	}
}
END_TEST

START_TEST(test_token_rejects)
{
	static const char *const bad[] = {
		"",
		"@GMT-2026.11.22-02.00.0",    /* too short */
		"@GMT-2026.11.22-02.00.000",  /* too long */
		"@GMT-2026.11.22-02.00.00 ",  /* trailing junk */
		"@GMT-2026.11.22-02.00.00\n", /* trailing newline */
		"@GMT-2026.11.22-02.00.00Z",  /* trailing zone */
		" @GMT-2026.11.22-02.00.0",   /* leading space */
		"@gmt-2026.11.22-02.00.00",   /* prefix is case-sensitive */
		"#GMT-2026.11.22-02.00.00",
		"@GMT_2026.11.22-02.00.00",
		"@GMT-2026-11.22-02.00.00", /* separators, one at a time */
		"@GMT-2026.11-22-02.00.00",
		"@GMT-2026.11.22.02.00.00",
		"@GMT-2026.11.22-02:00.00",
		"@GMT-2026.11.22-02.00:00",
		"@GMT-2026/11/22-02.00.00",
		"@GMT-2026.13.22-02.00.00", /* month 13 */
		"@GMT-2026.00.22-02.00.00", /* month 0 */
		"@GMT-2026.11.00-02.00.00", /* day 0 */
		"@GMT-2026.11.31-02.00.00", /* November has 30 days */
		"@GMT-2026.01.32-02.00.00",
		"@GMT-2024.02.30-02.00.00", /* Feb 30 */
		"@GMT-2023.02.29-02.00.00", /* Feb 29, not a leap year */
		"@GMT-1900.02.29-02.00.00", /* divisible by 100 */
		"@GMT-2100.02.29-02.00.00",
		"@GMT-2026.11.22-24.00.00", /* hour 24 */
		"@GMT-2026.11.22-02.60.00", /* minute 60 */
		"@GMT-2026.11.22-02.00.60", /* no leap seconds */
		"@GMT-2026.11.22-02.00.99",
		"@GMT-20a6.11.22-02.00.00", /* letters */
		"@GMT-2026.1x.22-02.00.00",
		"@GMT-2026.11.22-02.0O.00",
		"@GMT-YYYY.MM.DD-HH.MM.SS",
		"@GMT-+026.11.22-02.00.00", /* signs and spaces are not digits */
		"@GMT--026.11.22-02.00.00",
		"@GMT- 026.11.22-02.00.00",
		"@GMT-2026.+1.22-02.00.00",
		"@GMT-2026.11.22-0 .00.00",
	};
	char nul[] = "@GMT-2026.11.22-02.00.00";

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_rejected(bad[i]);
	assert_rejected(NULL);
	/* an embedded NUL makes the string short */
	nul[10] = '\0';
	assert_rejected(nul);
}
END_TEST

static void assert_iso(int64_t ns, const char *expected)
{
	char buf[ISO_TIME_MAX];

	ck_assert_int_eq(iso_time_format(ns, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, expected);
}

START_TEST(test_iso_time)
{
	char small[20] = "untouched";

	assert_iso(0, "1970-01-01T00:00:00.000000000Z");
	assert_iso(1, "1970-01-01T00:00:00.000000001Z");
	assert_iso(999999999, "1970-01-01T00:00:00.999999999Z");
	assert_iso(1000000000, "1970-01-01T00:00:01.000000000Z");
	assert_iso(-1, "1969-12-31T23:59:59.999999999Z");
	assert_iso(-999999999, "1969-12-31T23:59:59.000000001Z");
	assert_iso(-1000000000, "1969-12-31T23:59:59.000000000Z");
	assert_iso(-1000000001, "1969-12-31T23:59:58.999999999Z");
	assert_iso(INT64_C(951782400123456789), "2000-02-29T00:00:00.123456789Z");
	assert_iso(INT64_MAX, "2262-04-11T23:47:16.854775807Z");
	assert_iso(INT64_MIN, "1677-09-21T00:12:43.145224192Z");
	ck_assert_int_eq(iso_time_format(0, small, sizeof(small)), -ENOBUFS);
	/* exactly the length plus NUL fits, one less does not */
	ck_assert_int_eq(iso_time_format(0, small, 0), -ENOBUFS);
	{
		char fit[31];

		ck_assert_int_eq(iso_time_format(0, fit, sizeof(fit)), 0);
		ck_assert_str_eq(fit, "1970-01-01T00:00:00.000000000Z");
		ck_assert_int_eq(iso_time_format(0, fit, sizeof(fit) - 1), -ENOBUFS);
	}
}
END_TEST

static int64_t realtime_ns(void)
{
	struct timespec ts;

	ck_assert_int_eq(clock_gettime(CLOCK_REALTIME, &ts), 0);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* (not time(): it reads a coarser clock, up to a tick behind) */
START_TEST(test_time_now)
{
	int64_t before = realtime_ns(), now = time_now_ns(), after = realtime_ns();

	ck_assert_int_ge(now, before);
	ck_assert_int_le(now, after);
}
END_TEST

START_TEST(test_process_self)
{
	struct process_id id, again;

	ck_assert_int_eq(process_id_get(getpid(), &id), 0);
	ck_assert_int_eq(id.pid, getpid());
	ck_assert_uint_gt(id.start_time, 0);
	ck_assert_int_eq(strlen(id.boot_id), BOOT_ID_LEN - 1);
	ck_assert(process_id_alive(&id));

	ck_assert_int_eq(process_id_get(getpid(), &again), 0);
	ck_assert_uint_eq(again.start_time, id.start_time);
	ck_assert_str_eq(again.boot_id, id.boot_id);
}
END_TEST

START_TEST(test_process_fake_identity)
{
	struct process_id id, fake;

	ck_assert_int_eq(process_id_get(getpid(), &id), 0);

	/* same pid, started at another time: a reused pid, not our process */
	fake = id;
	fake.start_time = id.start_time + 1;
	ck_assert(!process_id_alive(&fake));
	fake.start_time = id.start_time - 1;
	ck_assert(!process_id_alive(&fake));

	/* same pid and start time in another boot */
	fake = id;
	fake.boot_id[0] = fake.boot_id[0] == '0' ? '1' : '0';
	ck_assert(!process_id_alive(&fake));

	/* a pid that cannot exist */
	ck_assert_int_eq(process_id_get(INT_MAX, &fake), -ESRCH);
	fake = id;
	fake.pid = INT_MAX;
	ck_assert(!process_id_alive(&fake));
}
END_TEST

/*
 * A child that waits until told to exit; its command name holds spaces and
 * parentheses, which the parser of /proc/PID/stat must step over.
 */
START_TEST(test_process_reaped_child)
{
	struct process_id id, renamed;
	int go[2], ready[2], status;
	char c;
	pid_t pid;

	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(ready), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(go[1]);
		close(ready[0]);
		prctl(PR_SET_NAME, "a) (b c) 1 2");
		if (write(ready[1], "r", 1) != 1)
			_exit(2);
		if (read(go[0], &c, 1) < 0)
			_exit(3);
		_exit(0);
	}
	close(go[0]);
	close(ready[1]);
	ck_assert_int_eq(read(ready[0], &c, 1), 1);

	ck_assert_int_eq(process_id_get(pid, &renamed), 0);
	ck_assert_int_eq(renamed.pid, pid);
	ck_assert(process_id_alive(&renamed));
	/* the start time read past the odd name is the child's, after ours */
	ck_assert_int_eq(process_id_get(getpid(), &id), 0);
	ck_assert_uint_ge(renamed.start_time, id.start_time);

	close(go[1]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	close(ready[0]);

	ck_assert(!process_id_alive(&renamed));
}
END_TEST

START_TEST(test_mountinfo)
{
	struct mount_entry e;

	ck_assert_int_eq(mountinfo_find("/", &e), 0);
	ck_assert_str_eq(e.mount_point, "/");

	ck_assert_int_eq(mountinfo_find("/proc/self/status", &e), 0);
	ck_assert_str_eq(e.mount_point, "/proc");
	ck_assert_str_eq(e.fstype, "proc");

	ck_assert_int_eq(mountinfo_find("/proc", &e), 0);
	ck_assert_str_eq(e.mount_point, "/proc");

	/* a name that merely begins with "/proc" is not under it */
	ck_assert_int_eq(mountinfo_find("/procfoo/bar", &e), 0);
	ck_assert_str_ne(e.mount_point, "/proc");

	ck_assert_int_eq(mountinfo_is_mount_point("/proc", &e), 1);
	ck_assert_str_eq(e.fstype, "proc");
	/* the device numbers are those stat reports for the mount */
	struct stat st;
	ck_assert_int_eq(stat("/proc", &st), 0);
	ck_assert_uint_eq(e.major, major(st.st_dev));
	ck_assert_uint_eq(e.minor, minor(st.st_dev));
	ck_assert_int_eq(mountinfo_is_mount_point("/proc/self", &e), 0);
	ck_assert_int_eq(mountinfo_is_mount_point("/", &e), 1);
}
END_TEST

START_TEST(test_errbuf)
{
	struct errbuf eb;
	char expected[256], *longarg;

	ck_assert_int_eq(errbuf_set(&eb, -ENOENT, "cannot open '%s'", "/srv"), -ENOENT);
	snprintf(expected, sizeof(expected), "cannot open '/srv': %s", strerror(ENOENT));
	ck_assert_str_eq(eb.msg, expected);

	ck_assert_int_eq(errbuf_setx(&eb, -EINVAL, "bad token '%s'", "@x"), -EINVAL);
	ck_assert_str_eq(eb.msg, "bad token '@x'");

	/* r >= 0 never appends an error text */
	ck_assert_int_eq(errbuf_set(&eb, 0, "note %d", 7), 0);
	ck_assert_str_eq(eb.msg, "note 7");
	ck_assert_int_eq(errbuf_set(&eb, 5, "five"), 5);
	ck_assert_str_eq(eb.msg, "five");

	/* no buffer: only the value comes back */
	ck_assert_int_eq(errbuf_set(NULL, -EIO, "ignored %s", "x"), -EIO);
	ck_assert_int_eq(errbuf_setx(NULL, -EIO, "ignored"), -EIO);

	/* too long a message is cut and stays terminated */
	longarg = malloc(3000);
	ck_assert_ptr_nonnull(longarg);
	memset(longarg, 'x', 2999);
	longarg[2999] = '\0';
	ck_assert_int_eq(errbuf_set(&eb, -ENOENT, "%s", longarg), -ENOENT);
	ck_assert_int_eq(strlen(eb.msg), sizeof(eb.msg) - 1);
	ck_assert_ptr_null(strchr(eb.msg, ':'));
	free(longarg);
}
END_TEST

/* A fixed xorshift sequence, so a failure replays. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

START_TEST(test_u64set_basic)
{
	struct u64set *s = u64set_new();

	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(u64set_size(s), 0);
	ck_assert(!u64set_contains(s, 0));
	ck_assert(!u64set_contains(s, 1));
	ck_assert(!u64set_contains(s, UINT64_MAX));

	ck_assert_int_eq(u64set_add(s, 256), 1);
	ck_assert_int_eq(u64set_add(s, 257), 1);
	ck_assert_uint_eq(u64set_size(s), 2);
	ck_assert(u64set_contains(s, 256));
	ck_assert(u64set_contains(s, 257));
	ck_assert(!u64set_contains(s, 258));
	ck_assert(!u64set_contains(s, 0));
	u64set_free(s);
}
END_TEST

START_TEST(test_u64set_duplicates)
{
	struct u64set *s = u64set_new();

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(u64set_add(s, 42), 1);
	ck_assert_int_eq(u64set_add(s, 42), 0);
	ck_assert_int_eq(u64set_add(s, 42), 0);
	ck_assert_uint_eq(u64set_size(s), 1);
	/* duplicates across growth are still recognised */
	for (uint64_t i = 1; i <= 1000; i++)
		ck_assert_int_eq(u64set_add(s, i), i == 42 ? 0 : 1);
	for (uint64_t i = 1; i <= 1000; i++)
		fast_assert_int_eq(u64set_add(s, i), 0);
	ck_assert_uint_eq(u64set_size(s), 1000);
	u64set_free(s);
}
END_TEST

START_TEST(test_u64set_extremes)
{
	struct u64set *s = u64set_new();

	ck_assert_ptr_nonnull(s);
	/* 0 is what an empty slot holds inside; it must still be a member like any other */
	ck_assert_int_eq(u64set_add(s, 0), 1);
	ck_assert(u64set_contains(s, 0));
	ck_assert(!u64set_contains(s, UINT64_MAX));
	ck_assert_uint_eq(u64set_size(s), 1);
	ck_assert_int_eq(u64set_add(s, 0), 0);
	ck_assert_int_eq(u64set_add(s, UINT64_MAX), 1);
	ck_assert_int_eq(u64set_add(s, UINT64_MAX), 0);
	ck_assert_uint_eq(u64set_size(s), 2);
	for (uint64_t i = 1; i <= 100; i++)
		ck_assert_int_eq(u64set_add(s, UINT64_MAX - i), 1);
	ck_assert(u64set_contains(s, 0));
	ck_assert(u64set_contains(s, UINT64_MAX));
	ck_assert(u64set_contains(s, UINT64_MAX - 100));
	ck_assert(!u64set_contains(s, UINT64_MAX - 101));
	ck_assert(!u64set_contains(s, 1));
	ck_assert_uint_eq(u64set_size(s), 102);
	u64set_free(s);

	/* UINT64_MAX alone, without 0 */
	s = u64set_new();
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(u64set_add(s, UINT64_MAX), 1);
	ck_assert(u64set_contains(s, UINT64_MAX));
	ck_assert(!u64set_contains(s, 0));
	ck_assert_uint_eq(u64set_size(s), 1);
	u64set_free(s);
}
END_TEST

START_TEST(test_u64set_random)
{
	enum { N = 50000 };
	uint64_t *ref = malloc(N * sizeof(uint64_t));
	uint64_t state = UINT64_C(0x9e3779b97f4a7c15);
	struct u64set *s = u64set_new();
	size_t n_unique = 0;

	ck_assert_ptr_nonnull(ref);
	ck_assert_ptr_nonnull(s);
	/* small values repeat often, so adds of members already present are mixed in */
	for (size_t i = 0; i < N; i++) {
		uint64_t x = next_random(&state);

		ref[i] = (i % 3 == 0) ? x % 4096 : x;
		(void)u64set_add(s, ref[i]);
	}
	qsort(ref, N, sizeof(uint64_t), cmp_u64);
	for (size_t i = 0; i < N; i++)
		if (i == 0 || ref[i] != ref[i - 1])
			ref[n_unique++] = ref[i];
	ck_assert_uint_eq(u64set_size(s), n_unique);
	for (size_t i = 0; i < n_unique; i++)
		if (!u64set_contains(s, ref[i]))
			ck_abort_msg("member %" PRIu64 " is missing", ref[i]);
	/* values drawn afresh are members exactly when the reference holds them */
	for (size_t i = 0; i < 2 * N; i++) {
		uint64_t x = next_random(&state);

		if (i % 2 == 0)
			x %= 8192;
		bool expected = bsearch(&x, ref, n_unique, sizeof(uint64_t), cmp_u64) != NULL;
		if (u64set_contains(s, x) != expected)
			ck_abort_msg("contains(%" PRIu64 ") is %d, expected %d", x, !expected,
				     expected);
	}
	u64set_free(s);
	free(ref);
}
END_TEST

START_TEST(test_u64set_growth)
{
	/* inode numbers are dense: many consecutive values through many doublings */
	enum { N = 200000 };
	struct u64set *s = u64set_new();

	ck_assert_ptr_nonnull(s);
	for (uint64_t i = 256; i < 256 + N; i++) {
		fast_assert_int_eq(u64set_add(s, i), 1);
		fast_assert_uint_eq(u64set_size(s), i - 255);
	}
	for (uint64_t i = 256; i < 256 + N; i++)
		if (!u64set_contains(s, i))
			ck_abort_msg("member %" PRIu64 " is missing after growth", i);
	for (uint64_t i = 0; i < 256; i++)
		if (u64set_contains(s, i) || u64set_contains(s, 256 + N + i))
			ck_abort_msg("non-member %" PRIu64 " or %" PRIu64 " found", i,
				     (uint64_t)(256 + N + i));
	u64set_free(s);
}
END_TEST

START_TEST(test_u64set_free_null)
{
	u64set_free(NULL);
}
END_TEST

/* Inode maps: written and read back in a private directory. */
static char map_dir[PATH_MAX];
static int map_dfd = -1;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void map_setup(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(map_dir, sizeof(map_dir), "%s/stillfs-unit-inomap.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(map_dir));
	map_dfd = open(map_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(map_dfd, 0);
}

static void map_teardown(void)
{
	close(map_dfd);
	map_dfd = -1;
	nftw(map_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* What a test's record number i holds: every field distinct and some at their limits. */
static struct inomap_record map_record(uint64_t i)
{
	return (struct inomap_record){
		.copy_ino = i * 7919 + 3,
		.ino = UINT64_MAX - i,
		.ctime_sec = i % 2 ? (int64_t)i * 1000003 : -(int64_t)i * 77,
		.ctime_nsec = (uint32_t)(i * 104729 % 1000000000),
		.nlink = i % 5 == 0 ? UINT32_MAX : (uint32_t)(i % 7 + 1),
	};
}

static void assert_record_eq(const struct inomap_record *a, const struct inomap_record *b)
{
	fast_assert_uint_eq(a->copy_ino, b->copy_ino);
	fast_assert_uint_eq(a->ino, b->ino);
	fast_assert_int_eq(a->ctime_sec, b->ctime_sec);
	fast_assert_uint_eq(a->ctime_nsec, b->ctime_nsec);
	fast_assert_uint_eq(a->nlink, b->nlink);
}

/* Writes records 0..n-1 as `name` in map_dir. */
static void write_map(const char *name, uint64_t n)
{
	_cleanup_inomap_writer_ struct inomap_writer *w = NULL;

	ck_assert_int_eq(inomap_writer_new(&w), 0);
	for (uint64_t i = 0; i < n; i++) {
		struct inomap_record r = map_record(i);

		ck_assert_int_eq(inomap_writer_add(w, &r), 0);
	}
	ck_assert_int_eq(inomap_writer_commit(w, map_dfd, name), 0);
}

static size_t read_whole(const char *name, uint8_t *buf, size_t cap)
{
	_cleanup_close_ int fd = openat(map_dfd, name, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, cap);
	ck_assert_int_gt(n, 0);
	ck_assert_int_lt(n, (ssize_t)cap);
	return (size_t)n;
}

static void write_whole(const char *name, const uint8_t *buf, size_t len)
{
	_cleanup_close_ int fd =
		openat(map_dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ck_assert_int_ge(fd, 0);
	if (len > 0)
		ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
}

/* Opening `name` fails with `expected`, and leaves *ret alone. */
static void assert_open_fails(const char *name, int expected, const char *what)
{
	struct inomap *m = (struct inomap *)&map_dfd;
	int r = inomap_open(map_dfd, name, &m);

	if (r != expected)
		ck_abort_msg("%s: inomap_open returned %d, expected %d", what, r, expected);
	ck_assert_ptr_eq(m, (struct inomap *)&map_dfd);
}

/* The names in map_dir: the map alone, no temporary file left behind. */
static void assert_only(const char *name)
{
	DIR *d = opendir(map_dir);
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, "..")) {
			ck_assert_str_eq(de->d_name, name);
			n++;
		}
	closedir(d);
	ck_assert_int_eq(n, name ? 1 : 0);
}

START_TEST(test_inomap_round_trip)
{
	enum { N = 20000 };
	_cleanup_inomap_writer_ struct inomap_writer *w = NULL;
	_cleanup_inomap_ struct inomap *m = NULL;
	_cleanup_free_ uint64_t *order = malloc(N * sizeof(uint64_t));
	uint64_t state = UINT64_C(0x2545f4914f6cdd1d);
	struct inomap_record extremes[] = {
		{ 0, 1, INT64_MIN, 999999999, 0 },
		{ UINT64_MAX, UINT64_MAX, INT64_MAX, 0, UINT32_MAX },
	};
	struct inomap_record got;
	struct stat st;

	ck_assert_ptr_nonnull(order);
	for (uint64_t i = 0; i < N; i++)
		order[i] = i;
	for (uint64_t i = N - 1; i > 0; i--) {
		uint64_t j = next_random(&state) % (i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	ck_assert_int_eq(inomap_writer_new(&w), 0);
	for (uint64_t i = 0; i < N; i++) {
		struct inomap_record r = map_record(order[i]);

		fast_assert_int_eq(inomap_writer_add(w, &r), 0);
	}
	for (size_t i = 0; i < ARRAY_SIZE(extremes); i++)
		ck_assert_int_eq(inomap_writer_add(w, &extremes[i]), 0);
	ck_assert_uint_eq(inomap_writer_count(w), N + 2);
	ck_assert_int_eq(inomap_writer_commit(w, map_dfd, INOMAP_FILE), 0);
	assert_only(INOMAP_FILE);
	ck_assert_int_eq(fstatat(map_dfd, INOMAP_FILE, &st, 0), 0);
	ck_assert_int_eq(st.st_size, 32 + 32 * (N + 2));

	ck_assert_int_eq(inomap_open(map_dfd, INOMAP_FILE, &m), 0);
	ck_assert_uint_eq(inomap_count(m), N + 2);
	for (uint64_t i = 0; i < N; i++) {
		struct inomap_record want = map_record(i);

		if (inomap_find(m, want.copy_ino, &got) != &got)
			ck_abort_msg("record of copy inode %" PRIu64 " is missing", want.copy_ino);
		assert_record_eq(&got, &want);
		/* the numbers between records are absent */
		if (inomap_find(m, want.copy_ino + 1, &got))
			ck_abort_msg("copy inode %" PRIu64 " found", want.copy_ino + 1);
	}
	for (size_t i = 0; i < ARRAY_SIZE(extremes); i++) {
		ck_assert_ptr_eq(inomap_find(m, extremes[i].copy_ino, &got), &got);
		assert_record_eq(&got, &extremes[i]);
	}
	ck_assert_ptr_null(inomap_find(m, 1, &got));
	ck_assert_ptr_null(inomap_find(m, UINT64_MAX - 1, &got));
	inomap_close(TAKE_PTR(m));

	/* a second commit replaces the map whole */
	write_map(INOMAP_FILE, 10);
	assert_only(INOMAP_FILE);
	ck_assert_int_eq(inomap_open(map_dfd, INOMAP_FILE, &m), 0);
	ck_assert_uint_eq(inomap_count(m), 10);
}
END_TEST

START_TEST(test_inomap_duplicates)
{
	_cleanup_inomap_writer_ struct inomap_writer *w = NULL;
	_cleanup_inomap_ struct inomap *m = NULL;
	struct inomap_record a = map_record(1), b = map_record(2), c = map_record(3), got;

	/* three names of one inode, as the copier meets hard links */
	ck_assert_int_eq(inomap_writer_new(&w), 0);
	ck_assert_int_eq(inomap_writer_add(w, &b), 0);
	ck_assert_int_eq(inomap_writer_add(w, &a), 0);
	ck_assert_int_eq(inomap_writer_add(w, &b), 0);
	ck_assert_int_eq(inomap_writer_add(w, &c), 0);
	ck_assert_int_eq(inomap_writer_add(w, &b), 0);
	ck_assert_uint_eq(inomap_writer_count(w), 5);
	ck_assert_int_eq(inomap_writer_commit(w, map_dfd, INOMAP_FILE), 0);
	ck_assert_uint_eq(inomap_writer_count(w), 3);
	ck_assert_int_eq(inomap_open(map_dfd, INOMAP_FILE, &m), 0);
	ck_assert_uint_eq(inomap_count(m), 3);
	ck_assert_ptr_nonnull(inomap_find(m, b.copy_ino, &got));
	assert_record_eq(&got, &b);
}
END_TEST

START_TEST(test_inomap_conflict)
{
	static const struct {
		const char *what;
		size_t off; /* of the field changed in the second record */
	} fields[] = {
		{ "ino", offsetof(struct inomap_record, ino) },
		{ "ctime_sec", offsetof(struct inomap_record, ctime_sec) },
		{ "ctime_nsec", offsetof(struct inomap_record, ctime_nsec) },
		{ "nlink", offsetof(struct inomap_record, nlink) },
	};

	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		_cleanup_inomap_writer_ struct inomap_writer *w = NULL;
		struct inomap_record a = map_record(4), b = a, other = map_record(9);

		((uint8_t *)&b)[fields[i].off] ^= 1;
		ck_assert_int_eq(inomap_writer_new(&w), 0);
		ck_assert_int_eq(inomap_writer_add(w, &a), 0);
		ck_assert_int_eq(inomap_writer_add(w, &other), 0);
		ck_assert_int_eq(inomap_writer_add(w, &b), 0);
		if (inomap_writer_commit(w, map_dfd, INOMAP_FILE) != -EINVAL)
			ck_abort_msg("records differing in %s were accepted", fields[i].what);
		/* nothing written, not even a temporary file */
		assert_only(NULL);
	}

	/* a ctime that no stat shows */
	{
		_cleanup_inomap_writer_ struct inomap_writer *w = NULL;
		struct inomap_record bad = map_record(1);

		bad.ctime_nsec = 1000000000;
		ck_assert_int_eq(inomap_writer_new(&w), 0);
		ck_assert_int_eq(inomap_writer_add(w, &bad), -EINVAL);
		ck_assert_uint_eq(inomap_writer_count(w), 0);
	}
}
END_TEST

START_TEST(test_inomap_apply)
{
	_cleanup_inomap_writer_ struct inomap_writer *w = NULL;
	_cleanup_inomap_ struct inomap *m = NULL;
	struct inomap_record r;
	struct stat st, before, want;

	ck_assert_int_eq(fstat(map_dfd, &st), 0);
	r = (struct inomap_record){
		.copy_ino = (uint64_t)st.st_ino,
		.ino = (uint64_t)st.st_ino + 12345,
		.ctime_sec = 1234567890,
		.ctime_nsec = 987654321,
		.nlink = 42,
	};
	ck_assert_int_eq(inomap_writer_new(&w), 0);
	ck_assert_int_eq(inomap_writer_add(w, &r), 0);
	ck_assert_int_eq(inomap_writer_commit(w, map_dfd, INOMAP_FILE), 0);
	ck_assert_int_eq(inomap_open(map_dfd, INOMAP_FILE, &m), 0);

	/* exactly the three fields change, whatever the others hold */
	memset(&before, 0xa5, sizeof(before));
	before.st_ino = st.st_ino;
	want = before;
	want.st_ino = (ino_t)r.ino;
	want.st_ctim.tv_sec = r.ctime_sec;
	want.st_ctim.tv_nsec = r.ctime_nsec;
	want.st_nlink = r.nlink;
	st = before;
	ck_assert_int_eq(inomap_apply(m, &st), 0);
	ck_assert_uint_eq(st.st_ino, want.st_ino);
	ck_assert_int_eq(st.st_ctim.tv_sec, 1234567890);
	ck_assert_int_eq(st.st_ctim.tv_nsec, 987654321);
	ck_assert_uint_eq(st.st_nlink, 42);
	ck_assert(memcmp(&st, &want, sizeof(st)) == 0);

	/* a real stat: mode, size, owners and the other times stay */
	ck_assert_int_eq(fstat(map_dfd, &before), 0);
	st = before;
	ck_assert_int_eq(inomap_apply(m, &st), 0);
	ck_assert_uint_eq(st.st_mode, before.st_mode);
	ck_assert_uint_eq(st.st_dev, before.st_dev);
	ck_assert_int_eq(st.st_size, before.st_size);
	ck_assert_int_eq(st.st_mtim.tv_sec, before.st_mtim.tv_sec);
	ck_assert_int_eq(st.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
	ck_assert_int_eq(st.st_atim.tv_sec, before.st_atim.tv_sec);
	ck_assert_uint_eq(st.st_uid, before.st_uid);

	/* a file the map does not know: -ENOENT, st untouched */
	memset(&before, 0x5a, sizeof(before));
	before.st_ino = (ino_t)(r.copy_ino + 1);
	st = before;
	ck_assert_int_eq(inomap_apply(m, &st), -ENOENT);
	ck_assert(memcmp(&st, &before, sizeof(st)) == 0);
}
END_TEST

/* Every single-byte change of a small map is caught when it is opened. */
START_TEST(test_inomap_flips)
{
	static const uint8_t masks[] = { 0x01, 0x80, 0xff };
	uint8_t good[512], bad[512];
	size_t len;

	write_map(INOMAP_FILE, 3);
	len = read_whole(INOMAP_FILE, good, sizeof(good));
	ck_assert_uint_eq(len, 32 + 3 * 32);
	for (size_t i = 0; i < len; i++)
		for (size_t k = 0; k < ARRAY_SIZE(masks); k++) {
			char what[64];

			memcpy(bad, good, len);
			bad[i] ^= masks[k];
			write_whole("bad", bad, len);
			snprintf(what, sizeof(what), "byte %zu ^ 0x%02x", i, masks[k]);
			assert_open_fails("bad", -EBADMSG, what);
		}
}
END_TEST

/* A map cut short at any length, or with bytes after its end, is refused. */
START_TEST(test_inomap_truncation)
{
	uint8_t good[512], longer[512 + 64] = { 0 };
	_cleanup_inomap_ struct inomap *m = NULL;
	size_t len;

	write_map(INOMAP_FILE, 3);
	len = read_whole(INOMAP_FILE, good, sizeof(good));
	for (size_t n = 0; n < len; n++) {
		char what[64];

		write_whole("bad", good, n);
		snprintf(what, sizeof(what), "cut at %zu of %zu", n, len);
		assert_open_fails("bad", -EBADMSG, what);
	}
	memcpy(longer, good, len);
	write_whole("bad", longer, len + 1);
	assert_open_fails("bad", -EBADMSG, "one byte more");
	write_whole("bad", longer, len + 32);
	assert_open_fails("bad", -EBADMSG, "one zero record more");
	/* and the whole file is still good */
	write_whole("bad", good, len);
	ck_assert_int_eq(inomap_open(map_dfd, "bad", &m), 0);
}
END_TEST

/* The bytes of a map of `recs` as the format describes them, written independently of inomap.c. */
static size_t craft(const struct inomap_record *recs, size_t n, uint8_t *buf)
{
	uint64_t sum;

	memset(buf, 0, 32 + n * 32);
	memcpy(buf, "SFIM", 4);
	buf[4] = 1;
	buf[8] = (uint8_t)n;
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = buf + 32 + i * 32;
		uint64_t v[3] = { htole64(recs[i].copy_ino), htole64(recs[i].ino),
				  htole64((uint64_t)recs[i].ctime_sec) };
		uint32_t u[2] = { htole32(recs[i].ctime_nsec), htole32(recs[i].nlink) };

		memcpy(p, v, sizeof(v));
		memcpy(p + 24, u, sizeof(u));
	}
	sum = htole64(XXH3_64bits(buf + 32, n * 32));
	memcpy(buf + 16, &sum, sizeof(sum));
	return 32 + n * 32;
}

/* Well-formed maps, checksum right, whose records break the rules: still damaged. */
START_TEST(test_inomap_crafted)
{
	struct inomap_record a = map_record(0), b = map_record(1), c = map_record(2);
	struct inomap_record ordered[] = { a, b, c }, unsorted[] = { a, c, b },
			     dup[] = { a, b, b }, nsec[] = { a, b };
	uint8_t written[512], crafted[512];
	size_t len;

	/* the crafting agrees with the writer, byte for byte */
	write_map(INOMAP_FILE, 3);
	len = read_whole(INOMAP_FILE, written, sizeof(written));
	ck_assert_uint_eq(craft(ordered, 3, crafted), len);
	ck_assert(memcmp(written, crafted, len) == 0);

	write_whole("bad", crafted, craft(unsorted, 3, crafted));
	assert_open_fails("bad", -EBADMSG, "records out of order");
	write_whole("bad", crafted, craft(dup, 3, crafted));
	assert_open_fails("bad", -EBADMSG, "one copy inode twice");
	nsec[1].ctime_nsec = 1000000000;
	write_whole("bad", crafted, craft(nsec, 2, crafted));
	assert_open_fails("bad", -EBADMSG, "nanoseconds past a second");
}
END_TEST

START_TEST(test_inomap_empty)
{
	_cleanup_inomap_ struct inomap *m = NULL;
	struct inomap_record got;
	struct stat st, before;

	write_map(INOMAP_FILE, 0);
	ck_assert_int_eq(fstatat(map_dfd, INOMAP_FILE, &st, 0), 0);
	ck_assert_int_eq(st.st_size, 32);
	ck_assert_int_eq(inomap_open(map_dfd, INOMAP_FILE, &m), 0);
	ck_assert_uint_eq(inomap_count(m), 0);
	ck_assert_ptr_null(inomap_find(m, 0, &got));
	ck_assert_ptr_null(inomap_find(m, UINT64_MAX, &got));
	before = st;
	ck_assert_int_eq(inomap_apply(m, &st), -ENOENT);
	ck_assert(memcmp(&st, &before, sizeof(st)) == 0);
}
END_TEST

static void assert_beside(const char *snapshot, int expected, uint64_t count)
{
	struct inomap *m = NULL;
	int r = inomap_open_beside(snapshot, &m);

	if (r != expected)
		ck_abort_msg("inomap_open_beside('%s') returned %d, expected %d", snapshot, r,
			     expected);
	if (r == 0)
		ck_assert_uint_eq(inomap_count(m), count);
	inomap_close(m);
}

START_TEST(test_inomap_open_beside)
{
	char p[PATH_MAX + 64], q[PATH_MAX + 64];
	_cleanup_close_ int c = -1;
	_cleanup_inomap_writer_ struct inomap_writer *w = NULL;
	struct inomap_record r = map_record(7);

	/* <dir>/c/{tree,inomap}, and <dir>/d/tree without a map */
	snprintf(p, sizeof(p), "%s/c", map_dir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/c/tree", map_dir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/d", map_dir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/d/tree", map_dir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	c = openat(map_dfd, "c", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(c, 0);
	ck_assert_int_eq(inomap_writer_new(&w), 0);
	ck_assert_int_eq(inomap_writer_add(w, &r), 0);
	ck_assert_int_eq(inomap_writer_commit(w, c, INOMAP_FILE), 0);

	snprintf(p, sizeof(p), "%s/c/tree", map_dir);
	assert_beside(p, 0, 1);
	snprintf(p, sizeof(p), "%s/c/tree/", map_dir);
	assert_beside(p, 0, 1);
	snprintf(p, sizeof(p), "%s/c/tree//", map_dir);
	assert_beside(p, 0, 1);
	snprintf(p, sizeof(p), "%s/c//tree", map_dir);
	assert_beside(p, 0, 1);
	/* the path must name the tree itself */
	snprintf(p, sizeof(p), "%s/c", map_dir);
	assert_beside(p, -EINVAL, 0);
	snprintf(p, sizeof(p), "%s/c/trees", map_dir);
	assert_beside(p, -EINVAL, 0);
	snprintf(p, sizeof(p), "%s/c/atree", map_dir);
	assert_beside(p, -EINVAL, 0);
	assert_beside("", -EINVAL, 0);
	assert_beside("/", -EINVAL, 0);
	/* a container without a map */
	snprintf(p, sizeof(p), "%s/d/tree", map_dir);
	assert_beside(p, -ENOENT, 0);
	/* a relative path: the container is the working directory */
	ck_assert_int_eq(getcwd(q, sizeof(q)) != NULL, 1);
	ck_assert_int_eq(fchdir(c), 0);
	assert_beside("tree", 0, 1);
	assert_beside("tree/", 0, 1);
	ck_assert_int_eq(chdir(q), 0);
	/* something else in the map's place */
	snprintf(p, sizeof(p), "%s/d/" INOMAP_FILE, map_dir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/d/tree", map_dir);
	assert_beside(p, -EBADMSG, 0);
}
END_TEST

START_TEST(test_inomap_free_null)
{
	inomap_writer_free(NULL);
	inomap_close(NULL);
}
END_TEST

START_TEST(test_bytesize)
{
	static const struct {
		const char *in;
		uint64_t out;
	} good[] = {
		{ "0", 0 },
		{ "512", 512 },
		{ "64K", 64 << 10 },
		{ "64KiB", 64 << 10 },
		{ "3M", UINT64_C(3) << 20 },
		{ "2G", UINT64_C(2) << 30 },
		{ "1T", UINT64_C(1) << 40 },
		{ "18446744073709551615", UINT64_MAX },
		{ "16777215T", UINT64_C(16777215) << 40 },
	};
	static const char *const bad[] = {
		"", "-1", "+1", " 1", "1 ", "1k", "1KB", "1Ki", "1P", "1.5G", "G", "1GiBs",
		"18446744073709551616", "16777216T",
	};
	char buf[BYTESIZE_MAX];
	uint64_t v;

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		v = 1;
		ck_assert_msg(bytesize_parse(good[i].in, &v) == 0, "'%s' refused", good[i].in);
		ck_assert_uint_eq(v, good[i].out);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		v = 7;
		ck_assert_msg(bytesize_parse(bad[i], &v) < 0, "'%s' accepted", bad[i]);
		ck_assert_uint_eq(v, 7);
	}
	bytesize_format(0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "0 B");
	bytesize_format(1023, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1023 B");
	bytesize_format(1024, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1.0 KiB");
	bytesize_format(UINT64_C(3) << 29, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1.5 GiB");
	bytesize_format(UINT64_MAX, buf, sizeof(buf));
	ck_assert_str_eq(buf, "16.0 EiB");
}
END_TEST

static Suite *common_suite(void)
{
	Suite *s = suite_create("common");
	TCase *tc;

	tc = tcase_create("timefmt");
	tcase_add_test(tc, test_token_known_values);
	tcase_add_test(tc, test_token_format_limits);
	tcase_add_test(tc, test_token_every_day);
	tcase_add_test(tc, test_token_leap_days);
	tcase_add_test(tc, test_token_round_trip_many);
	tcase_add_test(tc, test_token_rejects);
	tcase_add_test(tc, test_iso_time);
	tcase_add_test(tc, test_time_now);
	suite_add_tcase(s, tc);

	tc = tcase_create("process");
	tcase_add_test(tc, test_process_self);
	tcase_add_test(tc, test_process_fake_identity);
	tcase_add_test(tc, test_process_reaped_child);
	suite_add_tcase(s, tc);

	tc = tcase_create("mountinfo");
	tcase_add_test(tc, test_mountinfo);
	suite_add_tcase(s, tc);

	tc = tcase_create("bytesize");
	tcase_add_test(tc, test_bytesize);
	suite_add_tcase(s, tc);

	tc = tcase_create("errbuf");
	tcase_add_test(tc, test_errbuf);
	suite_add_tcase(s, tc);

	tc = tcase_create("u64set");
	tcase_add_test(tc, test_u64set_basic);
	tcase_add_test(tc, test_u64set_duplicates);
	tcase_add_test(tc, test_u64set_extremes);
	tcase_add_test(tc, test_u64set_random);
	tcase_add_test(tc, test_u64set_growth);
	tcase_add_test(tc, test_u64set_free_null);
	suite_add_tcase(s, tc);

	tc = tcase_create("inomap");
	tcase_add_checked_fixture(tc, map_setup, map_teardown);
	tcase_add_test(tc, test_inomap_round_trip);
	tcase_add_test(tc, test_inomap_duplicates);
	tcase_add_test(tc, test_inomap_conflict);
	tcase_add_test(tc, test_inomap_apply);
	tcase_add_test(tc, test_inomap_flips);
	tcase_add_test(tc, test_inomap_truncation);
	tcase_add_test(tc, test_inomap_crafted);
	tcase_add_test(tc, test_inomap_empty);
	tcase_add_test(tc, test_inomap_open_beside);
	tcase_add_test(tc, test_inomap_free_null);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(common_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
