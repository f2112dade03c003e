// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The space of a copy in the storage, by a walk of its tree: every inode's
 * allocated blocks, once. A file the next set found unchanged is a hard link
 * shared between the two sets' trees, so a file belongs to this set alone
 * when all its links are inside its tree.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "copy.h"
#include "snapshot-internal.h"

struct linked {
	uint64_t ino;
	uint64_t nlink;
	uint64_t bytes;
};

struct space_walk {
	dev_t dev;
	struct snapshot_space *space;
	struct linked *linked; /* files with more than one link, as met */
	size_t n_linked, cap_linked;
};

static int remember_linked(struct space_walk *w, const struct stat *st, uint64_t bytes)
{
	if (w->n_linked == w->cap_linked) {
		size_t cap = w->cap_linked ? 2 * w->cap_linked : 256;
		struct linked *l = reallocarray(w->linked, cap, sizeof(*l));

		if (!l)
			return -ENOMEM;
		w->linked = l;
		w->cap_linked = cap;
	}
	w->linked[w->n_linked++] = (struct linked){ (uint64_t)st->st_ino, (uint64_t)st->st_nlink,
						    bytes };
	return 0;
}

static int walk_dir(struct space_walk *w, int dfd)
{
	DIR *d;
	struct dirent *de;
	int r = dir_list(dfd, &d);

	if (r < 0)
		return r;
	while (r == 0 && (errno = 0, de = readdir(d))) {
		struct stat st;
		uint64_t bytes;

		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = -errno;
			break;
		}
		if (st.st_dev != w->dev)
			continue; /* something mounted inside the storage is not the copy */
		bytes = (uint64_t)st.st_blocks * 512;
		if (S_ISDIR(st.st_mode)) {
			_cleanup_close_ int sub = openat(dfd, de->d_name,
							 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub < 0) {
				r = -errno;
				break;
			}
			w->space->exclusive += bytes;
			w->space->referenced += bytes;
			r = walk_dir(w, sub);
		} else if (st.st_nlink > 1) {
			r = remember_linked(w, &st, bytes);
		} else {
			w->space->exclusive += bytes;
			w->space->referenced += bytes;
		}
	}
	if (r == 0 && errno != 0)
		r = -errno;
	closedir(d);
	return r;
}

static int linked_cmp(const void *a, const void *b)
{
	const struct linked *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* Each file with several links once; its own when every link was met in the tree. */
static void count_linked(struct space_walk *w)
{
	if (w->n_linked > 0)
		qsort(w->linked, w->n_linked, sizeof(*w->linked), linked_cmp);
	for (size_t i = 0, j; i < w->n_linked; i = j) {
		for (j = i + 1; j < w->n_linked && w->linked[j].ino == w->linked[i].ino; j++)
			;
		w->space->referenced += w->linked[i].bytes;
		if (j - i >= w->linked[i].nlink)
			w->space->exclusive += w->linked[i].bytes;
	}
}

int copy_snapshot_space(const char *snapshot, struct snapshot_space *ret)
{
	struct snapshot_space space = { 0 };
	struct space_walk w = { .space = &space };
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	fd = open(snapshot, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	w.dev = st.st_dev;
	space.exclusive = space.referenced = (uint64_t)st.st_blocks * 512;
	r = walk_dir(&w, fd);
	if (r == 0) {
		count_linked(&w);
		*ret = space;
	}
	free(w.linked);
	return r;
}
