/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reading /proc/self/mountinfo: which mount holds a path, and what it is.
 */
#pragma once

#include <stddef.h>

struct mount_entry {
	char mount_point[4096]; /* unescaped */
	char fstype[64];        /* "btrfs", "fuse.stillfs", ... */
	char source[1024];
	char root[4096];        /* the path within its filesystem that is mounted */
	unsigned int major;     /* st_dev of the mounted filesystem */
	unsigned int minor;
};

/*
 * Finds the mount that holds the canonical absolute `path` (the mount point
 * that is its longest leading path, the last mounted on top when stacked).
 * Returns 0 with *ret filled, or -errno.
 */
int mountinfo_find(const char *path, struct mount_entry *ret);

/*
 * Whether `path` (canonical) is itself a mount point; fills *ret (may be NULL)
 * when so. Returns 1, 0 or -errno.
 */
int mountinfo_is_mount_point(const char *path, struct mount_entry *ret);
