// SPDX-License-Identifier: GPL-2.0-or-later
/* Opening a btrfs snapshot's root, for the tree searches made on it. */
#include <fcntl.h>
#include <linux/btrfs_tree.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "snapshot-internal.h"

/* Opens the root directory of a btrfs subvolume, refusing any other directory. */
int btrfs_open_subvolume(const char *path, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	struct statfs sfs;
	struct stat st;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstatfs(fd, &sfs) < 0 || fstat(fd, &st) < 0)
		return -errno;
	/* tree_id 0 searches the subvolume of the fd: a subdirectory would widen the answer */
	if (sfs.f_type != BTRFS_SUPER_MAGIC || st.st_ino != BTRFS_FIRST_FREE_OBJECTID)
		return -EMEDIUMTYPE;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int btrfs_open_subvolume_info(const char *path, int *ret_fd, struct btrfs_util_subvolume_info *ret)
{
	_cleanup_close_ int fd = -1;
	int r;

	r = btrfs_open_subvolume(path, &fd);
	if (r < 0)
		return r;
	errno = 0;
	r = btrfs_errno(btrfs_util_subvolume_info_fd(fd, 0, ret));
	if (r < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	return 0;
}
