// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What changed in a btrfs snapshot since an earlier transaction, read from its
 * tree: every inode item carries the transaction that last wrote it, and a
 * tree search bounded below by a transaction id skips the blocks that were not
 * rewritten since, so the cost follows the change, not the size of the tree.
 */
#include <btrfsutil.h>
#include <endian.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>
#include <linux/magic.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "snapshot-internal.h"

/* Enough for a few hundred items per call; one item never needs more than a node. */
#define SEARCH_BUF_SIZE (64 * 1024)
/* The kernel answers at most this much per call whatever the buffer. */
#define SEARCH_BUF_MAX (16 * 1024 * 1024)

static void setp_free(struct u64set **s)
{
	u64set_free(*s);
}

int btrfs_snapshot_generation(const char *snapshot, uint64_t *ret)
{
	struct btrfs_util_subvolume_info info;
	_cleanup_close_ int fd = -1;
	int r;

	r = btrfs_open_subvolume_info(snapshot, &fd, &info);
	if (r < 0)
		return r;
	*ret = info.otransid;
	return 0;
}

/* The smallest key after (objectid, type, offset); false when there is none. */
static bool key_next(struct btrfs_ioctl_search_key *k, uint64_t objectid, uint32_t type,
		     uint64_t offset)
{
	if (offset < UINT64_MAX) {
		k->min_objectid = objectid;
		k->min_type = type;
		k->min_offset = offset + 1;
	} else if (type < UINT8_MAX) {
		k->min_objectid = objectid;
		k->min_type = type + 1;
		k->min_offset = 0;
	} else if (objectid < UINT64_MAX) {
		k->min_objectid = objectid + 1;
		k->min_type = 0;
		k->min_offset = 0;
	} else {
		return false;
	}
	return true;
}

/*
 * Adds the inodes among the `n` items in `buf` (`size` bytes as the kernel
 * filled it) whose item was written at or after `since`, and stores the key
 * of the last item in *k's minimum moved past it. Returns 1 to go on, 0 at
 * the end of the key space, or -errno.
 */
static int take_items(const uint8_t *buf, size_t size, uint32_t n, uint64_t since,
		      struct btrfs_ioctl_search_key *k, struct u64set *set)
{
	struct btrfs_ioctl_search_header sh = {0};
	size_t pos = 0;
	int r;

	for (uint32_t i = 0; i < n; i++) {
		if (size - pos < sizeof(sh))
			return -EIO;
		memcpy(&sh, buf + pos, sizeof(sh));
		pos += sizeof(sh);
		if (size - pos < sh.len)
			return -EIO;
		/*
		 * The key range is one interval of (objectid, type, offset), not a
		 * filter on each part: every other item of the inodes in the range
		 * comes back too.
		 */
		if (sh.type == BTRFS_INODE_ITEM_KEY) {
			__le64 transid;

			if (sh.len < sizeof(struct btrfs_inode_item))
				return -EIO;
			memcpy(&transid, buf + pos + offsetof(struct btrfs_inode_item, transid),
			       sizeof(transid));
			/*
			 * Not `>`: the transaction that made the earlier snapshot may
			 * still change the origin after the copy (a snapshot placed
			 * inside its origin gets its directory entry then), so an item
			 * written in it may be missing from that snapshot. The price is
			 * the inodes whose writes that snapshot itself flushed.
			 */
			if (le64toh(transid) >= since) {
				r = u64set_add(set, sh.objectid);
				if (r < 0)
					return r;
			}
		}
		pos += sh.len;
	}
	return key_next(k, sh.objectid, sh.type, sh.offset) ? 1 : 0;
}

int btrfs_changed_inodes(const char *snapshot, uint64_t since, struct u64set **ret)
{
	_cleanup_(setp_free) struct u64set *set = NULL;
	_cleanup_free_ struct btrfs_ioctl_search_args_v2 *args = NULL;
	_cleanup_close_ int fd = -1;
	struct btrfs_ioctl_search_key key = {
		.tree_id = 0,
		.min_objectid = BTRFS_FIRST_FREE_OBJECTID,
		.max_objectid = BTRFS_LAST_FREE_OBJECTID,
		.min_type = BTRFS_INODE_ITEM_KEY,
		.max_type = BTRFS_INODE_ITEM_KEY,
		.min_offset = 0,
		.max_offset = UINT64_MAX,
		/* blocks not rewritten since `since` hold no item written since */
		.min_transid = since,
		.max_transid = UINT64_MAX,
	};
	size_t buf_size = SEARCH_BUF_SIZE;
	int r;

	r = btrfs_open_subvolume(snapshot, &fd);
	if (r < 0)
		return r;
	set = u64set_new();
	args = malloc(sizeof(*args) + buf_size);
	if (!set || !args)
		return -ENOMEM;
	/*
	 * A subvolume nested in the origin shows in the snapshot as an empty
	 * directory with this inode number. It has no item in the tree, and its
	 * times are made up each time it is instantiated, so it may always differ.
	 */
	r = u64set_add(set, BTRFS_EMPTY_SUBVOL_DIR_OBJECTID);
	if (r < 0)
		return r;

	for (;;) {
		args->key = key;
		args->key.nr_items = UINT32_MAX;
		args->buf_size = buf_size;
		if (ioctl(fd, BTRFS_IOC_TREE_SEARCH_V2, args) < 0) {
			struct btrfs_ioctl_search_args_v2 *bigger;

			if (errno != EOVERFLOW)
				return -errno;
			/* one item larger than the buffer: the kernel said how much it needs */
			if (args->buf_size <= buf_size || args->buf_size > SEARCH_BUF_MAX)
				return -EOVERFLOW;
			buf_size = args->buf_size;
			bigger = realloc(args, sizeof(*args) + buf_size);
			if (!bigger)
				return -ENOMEM;
			args = bigger;
			continue;
		}
		if (args->key.nr_items == 0)
			break;
		r = take_items(args->buf, buf_size, args->key.nr_items, since, &key, set);
		if (r < 0)
			return r;
		if (r == 0)
			break;
	}
	*ret = TAKE_PTR(set);
	return 0;
}
