// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target for the time tokens stored in the catalog and shown as
 * directory names: gmt_token_parse() must never read past its input, and
 * whatever it accepts must format back to the very same text and second.
 * The first eight bytes, taken as a time, must also survive format then parse,
 * and iso_time_format() must handle any 64-bit nanosecond count.
 *
 * Built with libFuzzer when the compiler is clang; replay.c runs the saved
 * corpus through the same function as an ordinary test.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timefmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *text)
{
	fprintf(stderr, "fuzz-token: %s: '%s'\n", what, text);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[GMT_TOKEN_LEN], iso[ISO_TIME_MAX];
	time_t sec = 0, back = 0;
	char *text;

	/* an exactly sized copy, so that a read past the end is caught */
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	if (gmt_token_parse(text, &sec) == 0) {
		if (strlen(text) != GMT_TOKEN_LEN - 1)
			fail("accepted a token of the wrong length", text);
		if (gmt_token_format(sec, out, sizeof(out)) != 0)
			fail("cannot format an accepted token", text);
		if (strcmp(out, text) != 0)
			fail("formats back differently", text);
	}
	free(text);

	if (size >= sizeof(int64_t)) {
		int64_t v;

		memcpy(&v, data, sizeof(v));
		if (gmt_token_format((time_t)v, out, sizeof(out)) == 0) {
			if (strlen(out) != GMT_TOKEN_LEN - 1)
				fail("formatted a token of the wrong length", out);
			if (gmt_token_parse(out, &back) != 0)
				fail("cannot parse a formatted token", out);
			if (back != (time_t)v)
				fail("parses back to another second", out);
		}
		if (iso_time_format(v, iso, sizeof(iso)) != 0)
			fail("iso_time_format failed", "");
		if (strlen(iso) != 30 || iso[29] != 'Z')
			fail("odd ISO time", iso);
	}
	return 0;
}
