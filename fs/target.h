/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to fs/: what a node id names, resolved for one request, and the
 * attributes and entries the view answers with.
 */
#pragma once

#include "view-internal.h"

/* the data never changes: let the kernel keep what it learns for a year */
#define TIMEOUT_FOREVER (365.0 * 86400.0)
/* the root's names change as sets come and go */
#define TIMEOUT_ROOT 1.0

struct target {
	enum ino_kind kind;
	struct ino_parts p;
	struct view_set *set;     /* referenced, for all kinds but the history root */
	struct view_volume *vol;  /* FILE */
	uint64_t id;              /* node id as the kernel knows it */
	bool current;             /* an entry of current/: numbered for stability across sets */
};

static inline struct view *view_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* Resolves node id `id`; release with target_release() whatever it returns. */
int target_resolve(struct view *v, fuse_ino_t id, struct target *t);
void target_release(struct target *t);
#define _cleanup_target_ _cleanup_(target_release)

/* The errno to answer with for -errno `r` from underneath (logs what matters). */
int target_errno(int r, const char *what, const struct target *t);

/* The handle of a file target (read once from its directory if it was only listed). */
int target_handle(struct view *v, const struct target *t, struct node_handle *ret);

/* Opens a file target's inode by its handle with `flags`. Returns a descriptor or -errno. */
int target_open(struct view *v, const struct target *t, int flags);
/* The same, to read its data: a file first opened since it was listed is
 * told to the fetching ahead (fetchahead.h) with its directory. */
int target_open_data(struct view *v, const struct target *t, int flags);
/*
 * An O_PATH descriptor of a file target (symlinks not followed), for its
 * attributes, extended attributes or link text. A node known by its listing
 * alone is opened by name in its directory and stays so: a backup that reads
 * a file's extended attributes before its data still has the data READ
 * tell the fetching ahead where the file is listed.
 */
int target_open_path(struct view *v, const struct target *t);

/* Attributes of a synthetic target (root, set directory, current/, latest). */
void synthetic_attr(struct view *v, const struct target *t, struct stat *st);

/*
 * A copy's files as the original showed them: a stat's inode number, ctime
 * and link count, or an inode number alone (readdir's d_ino), translated
 * through the volume's inode map; nothing to do without one. -EIO (logged
 * once per volume) when the map lacks the file: the storage's number is
 * never shown.
 */
int original_stat(const struct target *t, struct stat *st);
int original_ino(const struct target *t, uint64_t copy_ino, uint64_t *ret);

/* What stat and readdir show as the number of `file` in t's set and volume. */
int shown_ino(const struct target *t, uint64_t file, uint64_t *ret);

/* stat of `name` in `fd` ("" for fd itself) with the view's numbering; *ret_id is its node id. */
int file_attr(const struct target *t, int fd, const char *name, struct stat *st, uint64_t *ret_id);
/* The same for a stat already made. */
int file_attr_of(const struct target *t, struct stat *st, uint64_t *ret_id);

/* Entries (each takes one lookup reference on its node). */
int child_entry(struct view *v, const struct target *parent, int dirfd, const char *name,
		struct fuse_entry_param *e);
/* An entry met listing `dir`, of stat `st`: its handle is read only when wanted. */
int listed_entry(struct view *v, const struct target *parent, struct node_dir *dir,
		 const char *name, const struct stat *st, struct fuse_entry_param *e);
int volume_entry(struct view *v, struct view_set *s, size_t vi, bool current,
		 struct fuse_entry_param *e);
int synthetic_entry(struct view *v, struct view_set *s, uint64_t file, struct fuse_entry_param *e);

/* Whether `name` in directory `dir` is hidden (the storage placeholder at a volume's root). */
bool hidden_name(const struct target *dir, const char *name);
