// SPDX-License-Identifier: GPL-2.0-or-later
/* Storage directories: root's alone, whoever made them. */
#include <sys/stat.h>

#include "snapshot-internal.h"

int storage_dir_claim(const char *path, struct errbuf *eb)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errbuf_set(eb, -errno, "cannot inspect '%s'", path);
	if (!S_ISDIR(st.st_mode))
		return errbuf_setx(eb, -ENOTDIR, "'%s' is in the way: not a directory", path);
	/* another user's directory could be swapped under us: never store in one */
	if (st.st_uid != 0)
		return errbuf_setx(eb, -EPERM, "refusing storage '%s': not owned by root", path);
	if ((st.st_mode & 07777) != 0700 && chmod(path, 0700) < 0)
		return errbuf_set(eb, -errno, "cannot make '%s' root-only", path);
	return 0;
}

int storage_existing_part(const char *path, char **ret)
{
	_cleanup_free_ char *p = strdup(path);
	struct stat st;
	char *slash;

	if (!p)
		return -ENOMEM;
	while (stat(p, &st) < 0) {
		if (errno != ENOENT)
			return -errno;
		slash = strrchr(p, '/');
		if (!slash)
			return -ENOENT;
		slash[slash == p] = '\0';
	}
	*ret = TAKE_PTR(p);
	return 0;
}
