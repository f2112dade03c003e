/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * --freeze-fs: freezing the filesystems of copy volumes (FIFREEZE) while the
 * refresh of their copies runs, so that nothing at all writes to them,
 * whoever the writer is. Private to snapshot/.
 *
 * A frozen filesystem blocks every process that writes to it, stillfs
 * included, so the filesystems that stillfs or the machine must write to are
 * refused: the one of /, of the catalog, of the copy's storage and of the
 * stillfs program. The guard thaws each at the hold's deadline or as soon as
 * stillfs dies.
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "common.h"
#include "guard.h"

struct snapshot_volume;

/* A filesystem to freeze: reached through a volume on it, shown by its mount point. */
struct fsfreeze_fs {
	char *path;        /* the first volume on it (canonical): opened to freeze it */
	char *mount_point; /* where it is mounted, for messages and the catalog */
	dev_t dev;         /* the filesystem's device number, as /proc/self/mountinfo */
};

/*
 * The distinct filesystems that hold the volumes (each volume's provider
 * must take copies without writing to the volume), after refusing one that
 * holds /, the file `catalog_path`, one of `storages` (a directory per
 * volume) or this program. Stores an array in *ret (free with
 * fsfreeze_fs_free()).
 */
int fsfreeze_resolve(const struct snapshot_volume *volumes, size_t n, char *const *storages,
		     const char *catalog_path, struct fsfreeze_fs **ret, size_t *ret_n,
		     struct errbuf *eb);
void fsfreeze_fs_free(struct fsfreeze_fs *fs, size_t n);

struct fsfreeze;

/*
 * Freezes each filesystem after telling the guard to thaw it at deadline_ns
 * (CLOCK_MONOTONIC). FIFREEZE also writes out what is dirty, which can take a
 * while: when the deadline passes meanwhile, or anything fails, thaws what it
 * froze and returns -ETIMEDOUT or -errno with *eb saying which filesystem.
 */
int fsfreeze_begin(struct guard *g, const struct fsfreeze_fs *fs, size_t n, int64_t deadline_ns,
		   struct fsfreeze **ret, struct errbuf *eb);

/*
 * Thaws every filesystem of the freeze and frees it. Returns -ETIMEDOUT when
 * the deadline had passed (the guard may have thawed them already), else 0
 * or -errno. NULL is fine.
 */
int fsfreeze_end(struct fsfreeze *f, struct errbuf *eb);

/*
 * FITHAW of the filesystem mounted at `mount_point`, opened by path (looking a
 * path up only reads, which works on a frozen filesystem). Returns 0, -EINVAL
 * when it was not frozen, or -errno.
 */
int fsfreeze_thaw_path(const char *mount_point);
