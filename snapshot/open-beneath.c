// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Opening one name beneath a directory, and nothing else: the tree being read
 * belongs to users who may swap a directory for a symlink at any moment, so
 * no symlink (nor /proc's magic links) is followed and no other mount is
 * entered, whatever the name resolves to by then.
 */
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>

#include "copy.h"

int open_beneath(int dirfd, const char *name, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
			   RESOLVE_NO_XDEV,
	};
	long fd;

	do
		fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
	while (fd < 0 && (errno == EINTR || errno == EAGAIN));
	return fd < 0 ? -errno : (int)fd;
}
