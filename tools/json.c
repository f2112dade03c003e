// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli.h"

/* Writes s as a JSON string; bytes that are not UTF-8 text are escaped as \u00XX. */
void json_string(FILE *f, const char *s)
{
	if (!s) {
		fputs("null", f);
		return;
	}
	json_string_n(f, s, strlen(s));
}

void json_string_n(FILE *f, const char *s, size_t len)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; p < (const unsigned char *)s + len; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (*p < 0x20 || *p >= 0x7f)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

void json_field(FILE *f, const char *name, const char *value)
{
	fprintf(f, ",\"%s\":", name);
	json_string(f, value);
}

void json_strings(FILE *f, char *const *list, size_t n)
{
	fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		fputs(i ? "," : "", f);
		json_string(f, list[i]);
	}
	fputc(']', f);
}
