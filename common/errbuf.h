/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A place for a library function to describe why it failed, in words that
 * name the path or id concerned, without printing anything itself. The caller
 * owns the buffer and decides whether and how to show it.
 */
#pragma once

#include "macro.h"

struct errbuf {
	char msg[1024];
};

/*
 * Writes the formatted message, followed by ": <strerror(-r)>" when r < 0.
 * Returns r, so that `return errbuf_set(eb, r, ...)` reads naturally.
 * eb may be NULL.
 */
int errbuf_set(struct errbuf *eb, int r, const char *fmt, ...) _printf_(3, 4);

/* As errbuf_set() but never appends strerror. */
int errbuf_setx(struct errbuf *eb, int r, const char *fmt, ...) _printf_(3, 4);
