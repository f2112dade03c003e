/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Assertions for loops of many thousand checks. Check's own assertions record
 * a checkpoint even when they pass (a write to the runner per call), which
 * makes such loops take minutes under valgrind; these call into Check only on
 * failure, and still print both values.
 */
#pragma once

#include <check.h>
#include <stdint.h>
#include <string.h>

#define fast_assert_int_eq(X, Y)                                                                   \
	do {                                                                                       \
		intmax_t _fx = (X), _fy = (Y);                                                     \
		if (_fx != _fy)                                                                    \
			ck_abort_msg("Assertion '%s == %s' failed: %s == %jd, %s == %jd", #X, #Y,  \
				     #X, _fx, #Y, _fy);                                            \
	} while (0)

#define fast_assert_uint_eq(X, Y)                                                                  \
	do {                                                                                       \
		uintmax_t _fx = (X), _fy = (Y);                                                    \
		if (_fx != _fy)                                                                    \
			ck_abort_msg("Assertion '%s == %s' failed: %s == %ju, %s == %ju", #X, #Y,  \
				     #X, _fx, #Y, _fy);                                            \
	} while (0)

#define fast_assert_uint_ne(X, Y)                                                                  \
	do {                                                                                       \
		uintmax_t _fx = (X), _fy = (Y);                                                    \
		if (_fx == _fy)                                                                    \
			ck_abort_msg("Assertion '%s != %s' failed: %s == %ju, %s == %ju", #X, #Y,  \
				     #X, _fx, #Y, _fy);                                            \
	} while (0)

#define fast_assert_str_eq(X, Y)                                                                   \
	do {                                                                                       \
		const char *_fx = (X), *_fy = (Y);                                                 \
		if (strcmp(_fx, _fy) != 0)                                                         \
			ck_abort_msg("Assertion '%s == %s' failed: %s == \"%s\", %s == \"%s\"",    \
				     #X, #Y, #X, _fx, #Y, _fy);                                    \
	} while (0)

#define fast_assert_mem_eq(X, Y, N)                                                                \
	do {                                                                                       \
		if (memcmp((X), (Y), (N)) != 0)                                                    \
			ck_assert_mem_eq((X), (Y), (N));                                           \
	} while (0)
