/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to catalog/: walking a tree in manifest path order, producing an
 * entry with digests for every file, directory and special file.
 *
 * Indexing walks a snapshot; verify walks a restored copy. With a base
 * manifest, entries that the method shows unchanged are taken from the base
 * instead of being read again: `stat` compares inode, type, size, mtime and
 * ctime; `generation` trusts the filesystem's list of changed inodes and then
 * does not even look at an unchanged entry, so the cost follows the change.
 */
#pragma once

#include "catalog.h"

struct walk_stats {
	uint64_t entries;
	uint64_t files, bytes;           /* regular files and their size */
	uint64_t read_files, read_bytes; /* of those, read this time */
};

/* Called for every entry in path order; `reused` when taken from the base. */
typedef int (*walk_emit_fn)(void *userdata, const struct manifest_entry *e, bool reused);
/* Called now and then while the walk goes on. */
typedef void (*walk_tick_fn)(void *userdata, const struct walk_stats *s);

struct walk_options {
	enum catalog_index_method method;
	struct catalog_manifest_reader *base; /* NULL unless method is stat or generation */
	const struct u64set *changed;         /* for generation */
	bool one_filesystem;                  /* do not descend into other mounts */
	/*
	 * A copy's inode map: entries record the original's inode number,
	 * ctime and link count, and the stat method compares those. NULL:
	 * the tree's own values (a btrfs snapshot, a restored tree).
	 */
	const struct inomap *inomap;
	walk_emit_fn emit;
	walk_tick_fn tick;
	void *userdata;
};

/*
 * Walks the tree at `root`. Returns 0 with the totals in *ret_stats, or
 * -errno with *eb naming the path that failed (-EBADMSG: the base manifest
 * is damaged; -EIO: a file missing from the inode map; emit's own errors are
 * passed through).
 */
int walk_tree(const char *root, const struct walk_options *o, struct walk_stats *ret_stats,
	      struct errbuf *eb);
