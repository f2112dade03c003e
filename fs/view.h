/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fs: the view, a read-only FUSE filesystem (libfuse3 low-level API) that
 * shows the catalog's complete sets as directories:
 *
 *   MOUNTPOINT/@GMT-YYYY.MM.DD-HH.MM.SS/<volume>/...   one directory per set
 *   MOUNTPOINT/latest -> @GMT-...                      the newest set
 *
 * or, with a set id, that set alone (its volume at the root when it has one).
 * The only module that includes FUSE headers. Depends on catalog/ and common/.
 */
#pragma once

#include <stdbool.h>

#include "common.h"

struct view_options {
	const char *catalog_path;
	const char *mountpoint; /* canonical */
	const char *set_id;     /* NULL: all sets */
	bool foreground;        /* stay attached; log to stderr */
	bool debug;             /* log every request (libfuse debug) */
	bool passthrough;       /* the kernel reads open files from the snapshot itself */
};

/*
 * Mounts the view and serves it until it is unmounted or the daemon gets
 * SIGTERM/SIGINT/SIGHUP. Unless foreground, returns in the parent (0) once the
 * mount is ready while a child serves it. Errors found before mounting are
 * described in *eb and returned as -errno.
 */
int view_run(const struct view_options *o, struct errbuf *eb);
