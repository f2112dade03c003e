// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Opening one name beneath a directory, and nothing else: the tree being read
 * belongs to users who may swap a directory for a symlink at any moment, so
 * no symlink (nor /proc's magic links) is followed and no other mount is
 * entered, whatever the name resolves to by then.
 */
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "copy.h"

/* Whether fd and dirfd are on one mount: by mount id, or by device where statx lacks it. */
static int same_mount(int dirfd, int fd)
{
	struct statx a, b;

	if (statx(dirfd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_MNT_ID, &a) < 0 ||
	    statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_MNT_ID, &b) < 0)
		return -errno;
	if ((a.stx_mask & STATX_MNT_ID) && (b.stx_mask & STATX_MNT_ID))
		return a.stx_mnt_id == b.stx_mnt_id;
	return makedev(a.stx_dev_major, a.stx_dev_minor) == makedev(b.stx_dev_major, b.stx_dev_minor);
}

int open_beneath_plain(int dirfd, const char *name, int flags)
{
	int fd, r;

	/* one component: nothing to resolve but the name itself */
	if (strchr(name, '/') || streq(name, ".."))
		return -EXDEV;
	do
		fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -errno;
	r = same_mount(dirfd, fd);
	if (r <= 0) {
		close(fd);
		return r < 0 ? r : -EXDEV;
	}
	return fd;
}

int open_beneath(int dirfd, const char *name, int flags)
{
	static atomic_bool no_openat2;
	struct open_how how = {
		.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
			   RESOLVE_NO_XDEV,
	};
	long fd;

	if (atomic_load_explicit(&no_openat2, memory_order_relaxed))
		return open_beneath_plain(dirfd, name, flags);
	do
		fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
	while (fd < 0 && (errno == EINTR || errno == EAGAIN));
	if (fd < 0 && errno == ENOSYS) {
		atomic_store_explicit(&no_openat2, true, memory_order_relaxed);
		return open_beneath_plain(dirfd, name, flags);
	}
	return fd < 0 ? -errno : (int)fd;
}
