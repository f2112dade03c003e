/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to snapshot/: the parts of the copy provider.
 *
 * A copy set's snapshot of a volume is a container directory in the storage,
 *
 *   <storage>/<set id>.<index>/identity   what made it (checked before removal)
 *   <storage>/<set id>.<index>/tree/      the copy of the volume
 *   <storage>/<set id>.<index>/inomap     original inode numbers, ctimes, links
 *
 * and the catalog records .../tree as the snapshot. Files are cloned (reflink)
 * where the filesystem can, hard links of the previous set's copy where the
 * file did not change since, and copied otherwise.
 */
#pragma once

#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>

#include "inomap.h"
#include "snapshot-internal.h"

struct copy_stats {
	uint64_t entries;      /* every entry of the tree, its root included */
	uint64_t files;        /* regular files, linked ones included */
	uint64_t bytes;        /* their size */
	uint64_t copied_bytes; /* bytes read and written */
	uint64_t cloned;       /* files cloned (reflink) */
	uint64_t linked;       /* files shared with the previous copy, or kept by a refresh */
	uint64_t inconsistent; /* files that kept changing */
};

/* Told of each file that could not be copied as of one instant. */
typedef void (*copy_problem_fn)(void *userdata, const char *path, const char *what);

struct copy_options {
	/*
	 * dst already holds a copy of src made by copy_tree(), mapped by
	 * base_map: bring it up to date in place (copy what changed, remove
	 * what is gone, keep the rest); base must be -1
	 */
	bool refresh;
	/* how long to wait for a shared lock on a file that keeps changing */
	int64_t lock_timeout_ns;
	/* CLOCK_MONOTONIC time by which the copy must be done; 0: none */
	int64_t deadline_ns;
	copy_problem_fn problem;
	void *userdata;
};

/*
 * Copies the tree beneath directory `src` into the empty directory `dst`,
 * recording every entry in `map`. Each file is opened beneath its parent only
 * (no symlink is followed, no other mount entered: a mount point is copied as
 * an empty directory). A regular file unchanged since the copy `base` (a tree
 * descriptor and its map; -1 and NULL: none), by inode, size, mtime and ctime,
 * is a hard link to the base's copy. With o->refresh, `dst` holds a copy of
 * the same tree that copy_tree() made earlier and `base_map` is its map: what
 * is unchanged by inode, link count, ctime (and for files size and mtime) is
 * kept, what changed is copied again and what is gone removed, so the cost
 * follows the change plus a stat of every entry. Returns 0 or -errno with the
 * path in *eb (-ETIME when the deadline passed).
 */
int copy_tree(int src, int dst, int base, const struct inomap *base_map, struct inomap_writer *map,
	      const struct copy_options *o, struct copy_stats *stats, struct errbuf *eb);

/* copy-file.c: one file's content and metadata. */

/* Whether the file changed between two stats of it (size, mtime, ctime). */
bool copy_stat_changed(const struct stat *a, const struct stat *b);

/*
 * Copies the content of regular file `in` into the empty file `out`: a clone
 * when *reflink and the filesystem allows it (else *reflink becomes false),
 * else the data ranges only, so holes stay holes. Adds to *copied the bytes
 * read and written; sets *cloned when it was a clone.
 */
int copy_data(int in, int out, off_t size, bool *reflink, bool *cloned, uint64_t *copied);

/*
 * Gives `out` (or, when out < 0, the entry `name` in directory `dirfd`,
 * never followed) the owner, mode, extended attributes and times of `st` and
 * of the source (descriptor `in`, or entry `src_name` of `src_dirfd`).
 */
int copy_meta_fd(int in, int out, const struct stat *st);
/* Removes every extended attribute of `fd`. */
int copy_xattrs_clear_fd(int fd);
int copy_meta_at(int src_dirfd, const char *src_name, int dirfd, const char *name,
		 const struct stat *st);

/* copy-links.c: the files of the volume that have several names. */
struct copy_links;
int copy_links_new(struct copy_links **ret);
void copy_links_free(struct copy_links *l);
/* Where the first copy of original inode `ino` is (a handle on the storage), or -ENOENT. */
int copy_links_find(struct copy_links *l, uint64_t ino, int mount_fd, int *ret_fd);
/* Remembers the copy at `name` in `dirfd` of original inode `ino`. */
int copy_links_add(struct copy_links *l, uint64_t ino, int dirfd, const char *name);

/* rmtree.c */
/*
 * A stream of the entries of the directory `dfd` (readdir(), then closedir()),
 * on a descriptor of its own so that `dfd` stays open. Returns 0 or -errno.
 */
int dir_list(int dfd, DIR **ret);

/*
 * Removes `name` in `dirfd` and everything beneath it, never following a
 * symlink nor leaving the filesystem of dirfd. 0 also when it is gone.
 */
int rmtree_at(int dirfd, const char *name);

/* open-beneath.c: opens `name` (one component) in `dirfd` without following
 * any symlink or entering another mount. Returns a descriptor or -errno
 * (-ELOOP: a symlink, or -ENOTDIR with O_DIRECTORY; -EXDEV: a mount point,
 * or a name of more than one component). Uses openat2 (Linux 5.6) and,
 * where it is missing or filtered (ENOSYS), open_beneath_plain(). */
int open_beneath(int dirfd, const char *name, int flags);

/* The same without openat2: openat with O_NOFOLLOW, then the mount id of what
 * was opened compared with dirfd's (statx, Linux 5.8; before, the device
 * number, which does not tell a bind mount of the same filesystem). */
int open_beneath_plain(int dirfd, const char *name, int flags);
