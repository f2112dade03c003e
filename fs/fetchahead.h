/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Small files fetched ahead of a backup. A backup reads a directory's files
 * one after the other, in the order the directory lists them, and a small
 * file's read is mostly a wait for the disk: through the view that wait is
 * the daemon's, with the reader waiting on the daemon, one file at a time.
 *
 * When the view reads a file it met in a listing, it notes the file here. A
 * thread of this module lists the same directory in the snapshot, finds the
 * file, and asks the snapshot's filesystem to read the next small regular
 * files (POSIX_FADV_WILLNEED starts the reads and waits for none), staying a
 * bounded number of files ahead of the reader; each note moves it along. The
 * view then reads a fetched file through the snapshot's page cache rather
 * than directly, and drops its pages there once read. A reader that does not
 * follow the listing's order, or passes fetched files without reading them
 * (an incremental backup reads only what changed), soon stops the fetching
 * for that directory.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "ino.h"

/* files of at most this size are fetched (larger ones get the kernel's readahead) */
#define FETCHAHEAD_FILE_MAX (128u << 10)

struct fetchahead;

/* Starts the fetching thread. Returns 0 or -errno. */
int fetchahead_new(struct fetchahead **ret);
/* Stops and joins it, closing what it holds; NULL is accepted. */
void fetchahead_free(struct fetchahead *f);

/*
 * The view is about to read file `p` (its set, volume and inode number),
 * listed as `name` in directory `dir_id`, which `dirfd` (any descriptor of
 * that directory, O_PATH too) is open on. Returns at once: the work is the
 * thread's, and a note it has no room for is dropped.
 */
void fetchahead_note(struct fetchahead *f, uint64_t dir_id, int dirfd, const char *name,
		     const struct ino_parts *p);

/* Whether file `p` was fetched ahead and not yet passed by its reader. */
bool fetchahead_has(struct fetchahead *f, const struct ino_parts *p);

/* Notes handled (or dropped) and files fetched so far (for tests and statistics). */
uint64_t fetchahead_handled(struct fetchahead *f);
uint64_t fetchahead_fetched(struct fetchahead *f);
