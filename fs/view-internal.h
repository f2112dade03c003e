/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Private to fs/: the state of a running view. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include <fuse_lowlevel.h>

#include "bufpool.h"
#include "catalog.h"
#include "fdcache.h"
#include "fetchahead.h"
#include "ino.h"
#include "node.h"
#include "passthrough.h"
#include "statpool.h"
#include "view.h"

struct view_volume {
	char *name;
	int fd; /* the snapshot's root directory; -1 when it could not be opened */
	struct node_handle root_handle;
	uint64_t root_ino; /* the root's inode number in the snapshot (a copy: the original's) */
	bool hide_storage; /* the root holds the placeholder of the storage subvolume */
	uint64_t volume_key; /* the volume's catalog-wide number, for current/'s st_ino */
	/*
	 * A copy's inode map (NULL for btrfs): numbers, ctimes and link counts
	 * of its files are the storage's, shown only after translation.
	 */
	struct inomap *inomap;
	atomic_bool inomap_gap_logged; /* a file missing from the map was logged */
};

struct view_set {
	atomic_int refs;
	int64_t seq;
	char id[CATALOG_ID_LEN];
	char token[GMT_TOKEN_LEN];
	int64_t created_ns;
	size_t n_vols;
	struct view_volume *vols;
};

struct view {
	const struct view_options *opts;
	struct catalog *catalog;
	struct node_table *nodes;
	struct fuse_session *session;
	struct timespec mounted_at;

	pthread_rwlock_t sets_lock;
	struct view_set **sets; /* complete sets, oldest first */
	size_t n_sets;
	pthread_mutex_t refresh_lock;
	int64_t data_version;
	int64_t current_seq; /* the set pinned as current/ (0: none); under sets_lock */
	int64_t current_pinned_ns; /* when it was pinned: current/'s times */
	int64_t current_told; /* the set of the last current/ entry given to the kernel (atomic) */
	bool loaded;

	/* --set: the one set shown, and whether its single volume is the root */
	bool single;
	int64_t single_seq;
	bool single_volume_root;

	pthread_t refresher;
	bool refresher_started;
	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	bool stopping;

	/* the kernel skips OPEN and RELEASE of files: every read names the node alone */
	bool no_open;
	struct fdcache *files; /* descriptors of files being read without OPEN, and of their directories */
	struct bufpool *buffers; /* what READs are read into */
	struct statpool *stats; /* a second thread for the stats of a listing */
	struct fetchahead *fetch; /* small files read ahead of their reader (NULL: none) */
	struct passthrough *passthrough; /* NULL unless asked for (view_options) */
	atomic_bool readahead_pending;
};

/* Loads or reloads the sets from the catalog when it changed. Returns 0 or -errno. */
int view_sets_refresh(struct view *v, bool force);
/* The set with that sequence number, token, or the newest; NULL if none. Unref when done. */
struct view_set *view_set_by_seq(struct view *v, int64_t seq);
struct view_set *view_set_by_token(struct view *v, const char *token);
struct view_set *view_set_latest(struct view *v);
/* The set shown as current/ (NULL when none), referenced, and its sequence number. */
struct view_set *view_set_current(struct view *v);
void view_set_unref(struct view_set *s);
/* A referenced copy of the current list; free with view_sets_release(). */
int view_sets_snapshot(struct view *v, struct view_set ***ret, size_t *ret_n);
void view_sets_release(struct view_set **sets, size_t n);
void view_sets_clear(struct view *v);
/* The background thread that notices new and deleted sets and tells the kernel. */
int view_refresher_start(struct view *v);
void view_refresher_stop(struct view *v);

/*
 * Raises the kernel's readahead on the view once the connection is set up
 * (FUSE_INIT's reply can only lower it). Called by every request that names
 * a node; the first does the work, which may fail harmlessly (not root, no
 * sysfs): reads then use the kernel's default window.
 */
void view_readahead_once(struct view *v);

extern const struct fuse_lowlevel_ops view_ops;
