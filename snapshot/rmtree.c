// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Removing a copy from the storage: depth first, by descriptor, never
 * following a symlink and never entering another mount (something mounted
 * inside the storage is left in place and the removal fails).
 */
#include <dirent.h>
#include <fcntl.h>

#include "copy.h"

int dir_list(int dfd, DIR **ret)
{
	int fd = dup(dfd);

	if (fd < 0)
		return -errno;
	*ret = fdopendir(fd);
	if (!*ret) {
		close(fd);
		return -errno;
	}
	return 0;
}

static int remove_children(int dfd)
{
	DIR *d;
	struct dirent *de;
	int first = dir_list(dfd, &d);

	if (first < 0)
		return first;
	while ((errno = 0, de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		int r = rmtree_at(dfd, de->d_name);

		if (r < 0 && first == 0)
			first = r;
	}
	if (errno != 0 && first == 0)
		first = -errno;
	closedir(d);
	return first;
}

int rmtree_at(int dirfd, const char *name)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	fd = open_beneath(dirfd, name, O_RDONLY | O_DIRECTORY);
	if (fd == -ENOTDIR || fd == -ELOOP)
		/* no longer a directory: whatever took its place goes */
		return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	r = remove_children(fd);
	if (r < 0)
		return r;
	return unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
}
