// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The space of a btrfs snapshot, from the filesystem's quota groups: with
 * quotas on, btrfs keeps for every subvolume the bytes it refers to and the
 * bytes no other subvolume shares (what deleting it gives back), updated at
 * each transaction commit. Without quotas nothing counts that short of
 * walking the extents of every subvolume.
 */
#include <endian.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>
#include <stddef.h>
#include <sys/ioctl.h>

#include "snapshot-internal.h"

/* The item at key (0, type, offset) of the quota tree, copied into `item` (`size` bytes). */
static int quota_item(int fd, uint8_t type, uint64_t offset, void *item, size_t size)
{
	/* the arguments and the buffer the kernel fills after them */
	uint64_t raw[(sizeof(struct btrfs_ioctl_search_args_v2) + 1024) / sizeof(uint64_t)] = { 0 };
	struct btrfs_ioctl_search_args_v2 *args = (struct btrfs_ioctl_search_args_v2 *)raw;
	const size_t buf_size = sizeof(raw) - sizeof(*args);
	struct btrfs_ioctl_search_header sh;

	args->key = (struct btrfs_ioctl_search_key){
		.tree_id = BTRFS_QUOTA_TREE_OBJECTID,
		.min_objectid = 0,
		.max_objectid = 0,
		.min_type = type,
		.max_type = type,
		.min_offset = offset,
		.max_offset = offset,
		.min_transid = 0,
		.max_transid = UINT64_MAX,
		.nr_items = 1,
	};
	args->buf_size = buf_size;
	if (ioctl(fd, BTRFS_IOC_TREE_SEARCH_V2, args) < 0)
		/* no quota tree: quotas were never enabled */
		return errno == ENOENT ? -ENODATA : -errno;
	if (args->key.nr_items == 0)
		return -ENODATA;
	memcpy(&sh, args->buf, sizeof(sh));
	if (sh.type != type || sh.offset != offset || sh.len < size ||
	    sh.len > buf_size - sizeof(sh))
		return -EIO;
	memcpy(item, args->buf + sizeof(sh), size);
	return 0;
}

int btrfs_snapshot_space(const char *snapshot, struct snapshot_space *ret)
{
	struct btrfs_qgroup_status_item status;
	struct btrfs_qgroup_info_item info;
	struct btrfs_util_subvolume_info sv;
	_cleanup_close_ int fd = -1;
	uint64_t flags;
	int r;

	r = btrfs_open_subvolume_info(snapshot, &fd, &sv);
	if (r < 0)
		return r;
	/* newer filesystems append fields to the status item; flags is in every version */
	r = quota_item(fd, BTRFS_QGROUP_STATUS_KEY, 0, &status,
		       offsetof(struct btrfs_qgroup_status_item, rescan));
	if (r < 0)
		return r;
	flags = le64toh(status.flags);
	if (!(flags & BTRFS_QGROUP_STATUS_FLAG_ON))
		return -ENODATA;
	if (flags & (BTRFS_QGROUP_STATUS_FLAG_RESCAN | BTRFS_QGROUP_STATUS_FLAG_INCONSISTENT))
		return -ESTALE;
	/* a subvolume's own quota group is 0/its id, which is the id itself */
	r = quota_item(fd, BTRFS_QGROUP_INFO_KEY, sv.id, &info, sizeof(info));
	if (r < 0)
		return r;
	ret->exclusive = le64toh(info.excl);
	ret->referenced = le64toh(info.rfer);
	return 0;
}
