// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for common/: time tokens and ISO times, process identities,
 * mountinfo lookups, error buffers and sets of inode numbers.
 */
#include <check.h>
#include <errno.h>
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

START_TEST(test_time_now)
{
	int64_t before = (int64_t)time(NULL), now = time_now_ns(), after = (int64_t)time(NULL);

	ck_assert_int_ge(now / 1000000000, before);
	ck_assert_int_le(now / 1000000000, after);
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
