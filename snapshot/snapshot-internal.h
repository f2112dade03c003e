/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Private to snapshot/. */
#pragma once

#include <btrfsutil.h>

#include "snapshot.h"

extern const struct snapshot_provider snapshot_provider_btrfs;
extern const struct snapshot_provider snapshot_provider_copy;

/* A libbtrfsutil error as -errno; reads errno, so clear it before the call. */
int btrfs_errno(enum btrfs_util_error e);

/*
 * The btrfs provider's view of change (btrfs-changes.c), as the provider
 * operations `generation` and `changed_inodes` in snapshot.h. Both need the
 * snapshot's root directory; the second needs CAP_SYS_ADMIN (tree search).
 */
int btrfs_snapshot_generation(const char *snapshot, uint64_t *ret);
int btrfs_changed_inodes(const char *snapshot, uint64_t since, struct u64set **ret);

/*
 * Opens the root directory of the btrfs subvolume at `path` (btrfs-subvolume.c),
 * refusing any other directory with -EMEDIUMTYPE.
 */
int btrfs_open_subvolume(const char *path, int *ret_fd);
/* The same, and what libbtrfsutil tells of the subvolume (its id, its transactions). */
int btrfs_open_subvolume_info(const char *path, int *ret_fd, struct btrfs_util_subvolume_info *ret);

/* The provider operation `space` (snapshot.h): btrfs from its quota groups, copy by a walk. */
int btrfs_snapshot_space(const char *snapshot, struct snapshot_space *ret);
int copy_snapshot_space(const char *snapshot, struct snapshot_space *ret);

/* Finds the provider that protects `path` (the one named in `o`, if any) and lets it fill `v`. */
int snapshot_provider_probe(const char *path, const struct snapshot_volume_options *o,
			    struct snapshot_volume *v, struct errbuf *eb);

/*
 * Checks that an existing storage directory is a directory owned by root and
 * makes it root-only (mode 0700).
 */
int storage_dir_claim(const char *path, struct errbuf *eb);

/*
 * The longest leading part of `path` (absolute) that exists, as written, for
 * a storage that is made later: "/srv/a/b" gives "/srv" when only that exists,
 * "/" at worst. Stores a new string in *ret. Returns 0 or -errno.
 */
int storage_existing_part(const char *path, char **ret);

/* Removes a leftover in storage with whichever provider recognises it as its own. */
int snapshot_provider_remove_orphan(const char *path, struct errbuf *eb);
/*
 * Whether a set owns the storage entry at `path`: as its snapshot, or as the
 * container a provider keeps its snapshot in (path + its snapshot suffix).
 */
int snapshot_provider_owned(struct catalog *c, const char *path, bool *ret);

#include "hold.h"
#include "writer.h"

struct snapshot_plan {
	struct snapshot_volume *volumes;
	size_t n_volumes;
	struct writer *writers;
	size_t n_writers;
	char **holds; /* canonical cgroup directories */
	size_t n_holds;
	const char *label;
	bool require_writers;
	int64_t prepare_timeout_ns;
	int64_t freeze_timeout_ns;
	int64_t hold_timeout_ns;
	int64_t post_timeout_ns;
	int64_t lock_timeout_ns;
	bool strict;
	bool freeze_fs;
	snapshot_note_fn note;
	void *userdata;
};
