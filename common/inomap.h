/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The inode map of a copy: a volume that is not btrfs is snapshotted by
 * copying its tree into a container directory,
 *
 *     <storage>/<set-id>.<i>/tree     the copy (the volume's recorded snapshot)
 *     <storage>/<set-id>.<i>/inomap   this map
 *
 * The copied files keep their content, mode, owners, times and xattrs, but
 * their inode numbers, ctimes and link counts are the storage filesystem's.
 * The map gives back, for each inode of the copy, what the original showed,
 * so that the view and the index never show the storage's numbers.
 *
 * The writer collects records in any order and writes them once, sorted; a
 * reader maps the file read-only and looks records up by binary search. The
 * file format is described in inomap.c. Depends on libc and xxHash (the
 * checksum, inside inomap.c only).
 */
#pragma once

#include <stdint.h>
#include <sys/stat.h>

#include "macro.h"

/* One file of a copy: its inode in the copy, and what the original showed. */
struct inomap_record {
	uint64_t copy_ino;
	uint64_t ino;	   /* original inode number */
	int64_t ctime_sec; /* original ctime */
	uint32_t ctime_nsec;
	uint32_t nlink; /* original link count */
};

#define INOMAP_FILE "inomap" /* name of the map beside a copy's tree */
#define INOMAP_TREE "tree"   /* name of the tree in the container */

/*
 * Collects the records of one copy. It holds them all in a growable array,
 * 32 bytes a record, until commit: a copy of a million files costs 32 MiB.
 */
struct inomap_writer;

/* Stores a new, empty writer in *ret (free with inomap_writer_free()). Returns 0 or -ENOMEM. */
int inomap_writer_new(struct inomap_writer **ret);

/*
 * Adds a record, in any order. The same copy_ino may be added more than once
 * (one add per name of a hard link); identical records are collapsed at
 * commit, and different values for one copy_ino make the commit fail with
 * -EINVAL. Returns 0, -EINVAL when ctime_nsec is not below 10^9, -ENOMEM.
 */
int inomap_writer_add(struct inomap_writer *w, const struct inomap_record *r);

/*
 * Sorts the records and writes the map as `name` in directory `dirfd`,
 * durably: a temporary file beside it, fsync, rename over `name`, fsync of
 * dirfd. Returns 0, -EINVAL when one copy_ino was added with different
 * values, or -errno; on failure `name` is left as it was and the temporary
 * file removed.
 */
int inomap_writer_commit(struct inomap_writer *w, int dirfd, const char *name);

/* Records added so far, duplicates included until commit collapses them. */
uint64_t inomap_writer_count(const struct inomap_writer *w);
void inomap_writer_free(struct inomap_writer *w);

/* A map opened for lookups: the file mapped read-only. */
struct inomap;

/*
 * Opens the map `name` in directory `dirfd` and checks all of it, and stores
 * it in *ret (close with inomap_close()). Returns 0, -EBADMSG when it is
 * damaged (bad magic, version or reserved field, a size that does not match
 * the count, a checksum mismatch, records not strictly increasing by
 * copy_ino, a ctime_nsec not below 10^9), or -errno (-ENOENT: no map).
 */
int inomap_open(int dirfd, const char *name, struct inomap **ret);

/*
 * Opens the map beside the tree at `snapshot` (".../<container>/tree", a
 * trailing slash allowed: ".../<container>/inomap"), as inomap_open().
 * -EINVAL when the path's last component is not INOMAP_TREE.
 */
int inomap_open_beside(const char *snapshot, struct inomap **ret);

/*
 * The record of `copy_ino`, decoded into *buf, which is returned; NULL when
 * the map has none. The map is read-only: lookups may run in many threads.
 */
const struct inomap_record *inomap_find(const struct inomap *m, uint64_t copy_ino,
					struct inomap_record *buf);

/*
 * Rewrites st_ino, st_ctim and st_nlink of `st`, a stat of a file of the
 * copy, to the original's, and leaves every other field. Returns 0, -ENOENT
 * when the map has no record of st->st_ino (st untouched), -EOVERFLOW when a
 * value does not fit struct stat.
 */
int inomap_apply(const struct inomap *m, struct stat *st);

/* Records in the map. */
uint64_t inomap_count(const struct inomap *m);
void inomap_close(struct inomap *m);

static inline void inomap_writer_freep(struct inomap_writer **w)
{
	inomap_writer_free(*w);
}
static inline void inomap_closep(struct inomap **m)
{
	inomap_close(*m);
}
#define _cleanup_inomap_writer_ _cleanup_(inomap_writer_freep)
#define _cleanup_inomap_ _cleanup_(inomap_closep)
