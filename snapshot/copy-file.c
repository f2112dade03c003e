// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * One file of a copy: its content (a clone, or the data ranges so that holes
 * stay holes) and its metadata (owner, mode, extended attributes with POSIX
 * ACLs among them, times).
 */
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/xattr.h>

#include "copy.h"

#define BUFFER_SIZE (1024 * 1024)

bool copy_stat_changed(const struct stat *a, const struct stat *b)
{
	return a->st_ino != b->st_ino || a->st_size != b->st_size ||
	       a->st_mtim.tv_sec != b->st_mtim.tv_sec || a->st_mtim.tv_nsec != b->st_mtim.tv_nsec ||
	       a->st_ctim.tv_sec != b->st_ctim.tv_sec || a->st_ctim.tv_nsec != b->st_ctim.tv_nsec;
}

/* Copies [off, end) with read and write, for filesystems copy_file_range refuses. */
static int copy_range_rw(int in, int out, off_t off, off_t end, uint64_t *copied)
{
	_cleanup_free_ char *buf = malloc(BUFFER_SIZE);

	if (!buf)
		return -ENOMEM;
	while (off < end) {
		size_t want = (size_t)(end - off) < BUFFER_SIZE ? (size_t)(end - off) : BUFFER_SIZE;
		ssize_t n = pread(in, buf, want, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break; /* shrank meanwhile: the caller sees the change */
		for (ssize_t done = 0; done < n;) {
			ssize_t w = pwrite(out, buf + done, (size_t)(n - done), off + done);

			if (w < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			done += w;
		}
		off += n;
		*copied += (uint64_t)n;
	}
	return 0;
}

static bool copy_range_unsupported(int e)
{
	return e == EXDEV || e == EINVAL || e == EOPNOTSUPP || e == ENOSYS || e == EBADF;
}

/* Copies [off, end): in the kernel where it can, else through a buffer. */
static int copy_range(int in, int out, off_t off, off_t end, uint64_t *copied)
{
	while (off < end) {
		loff_t ioff = off, ooff = off;
		ssize_t n = copy_file_range(in, &ioff, out, &ooff, (size_t)(end - off), 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (copy_range_unsupported(errno))
				return copy_range_rw(in, out, off, end, copied);
			return -errno;
		}
		if (n == 0)
			break;
		off += n;
		*copied += (uint64_t)n;
	}
	return 0;
}

int copy_data(int in, int out, off_t size, bool *reflink, bool *cloned, uint64_t *copied)
{
	off_t off = 0;
	int r;

	*cloned = false;
	if (*reflink) {
		if (ioctl(out, FICLONE, in) == 0) {
			*cloned = true;
			return 0;
		}
		if (errno != EXDEV && errno != EOPNOTSUPP && errno != EINVAL && errno != ENOTTY &&
		    errno != EPERM)
			return -errno;
		*reflink = false;
	}
	while (off < size) {
		off_t data = lseek(in, off, SEEK_DATA), hole;

		if (data < 0) {
			if (errno == ENXIO)
				break; /* a hole up to the end */
			return -errno;
		}
		if (data >= size)
			break;
		hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		if (hole > size)
			hole = size;
		r = copy_range(in, out, data, hole, copied);
		if (r < 0)
			return r;
		off = hole;
	}
	return ftruncate(out, size) < 0 ? -errno : 0;
}

/* The names of the extended attributes of a file, as listxattr returns them. */
typedef ssize_t (*list_fn)(const void *f, char *buf, size_t size);
typedef ssize_t (*get_fn)(const void *f, const char *name, void *buf, size_t size);
typedef int (*set_fn)(const void *f, const char *name, const void *buf, size_t size);

struct xattr_ops {
	list_fn list;
	get_fn get;
	set_fn set;
};

static ssize_t list_by_fd(const void *f, char *buf, size_t size)
{
	return flistxattr(*(const int *)f, buf, size);
}
static ssize_t get_by_fd(const void *f, const char *name, void *buf, size_t size)
{
	return fgetxattr(*(const int *)f, name, buf, size);
}
static int set_by_fd(const void *f, const char *name, const void *buf, size_t size)
{
	return fsetxattr(*(const int *)f, name, buf, size, 0);
}
static ssize_t list_by_path(const void *f, char *buf, size_t size)
{
	return llistxattr(f, buf, size);
}
static ssize_t get_by_path(const void *f, const char *name, void *buf, size_t size)
{
	return lgetxattr(f, name, buf, size);
}
static int set_by_path(const void *f, const char *name, const void *buf, size_t size)
{
	return lsetxattr(f, name, buf, size, 0);
}

static const struct xattr_ops fd_xattr = { list_by_fd, get_by_fd, set_by_fd };
static const struct xattr_ops path_xattr = { list_by_path, get_by_path, set_by_path };

/* Reads a list or a value whose size may change between the two calls. */
static int read_sized(const struct xattr_ops *ops, const void *f, const char *name, char **ret,
		      size_t *ret_size)
{
	for (int tries = 0; tries < 8; tries++) {
		ssize_t n = name ? ops->get(f, name, NULL, 0) : ops->list(f, NULL, 0);
		char *buf;

		if (n < 0)
			return -errno;
		buf = malloc((size_t)n + 1);
		if (!buf)
			return -ENOMEM;
		n = name ? ops->get(f, name, buf, (size_t)n) : ops->list(f, buf, (size_t)n);
		if (n >= 0) {
			*ret = buf;
			*ret_size = (size_t)n;
			return 0;
		}
		free(buf);
		if (errno != ERANGE)
			return -errno;
	}
	return -ERANGE;
}

static int copy_xattrs(const struct xattr_ops *from, const void *src, const struct xattr_ops *to,
		       const void *dst)
{
	_cleanup_free_ char *names = NULL;
	size_t size;
	int r;

	r = read_sized(from, src, NULL, &names, &size);
	if (r == -EOPNOTSUPP || r == -ENOTSUP)
		return 0;
	if (r < 0)
		return r;
	for (size_t off = 0; off < size; off += strlen(names + off) + 1) {
		_cleanup_free_ char *value = NULL;
		size_t vsize;

		r = read_sized(from, src, names + off, &value, &vsize);
		if (r == -ENODATA)
			continue; /* removed meanwhile */
		if (r < 0)
			return r;
		if (to->set(dst, names + off, value, vsize) < 0)
			return -errno;
	}
	return 0;
}

static void times_of(const struct stat *st, struct timespec ts[2])
{
	ts[0] = st->st_atim;
	ts[1] = st->st_mtim;
}

int copy_xattrs_clear_fd(int fd)
{
	_cleanup_free_ char *names = NULL;
	size_t size;
	int r;

	r = read_sized(&fd_xattr, &fd, NULL, &names, &size);
	if (r == -EOPNOTSUPP || r == -ENOTSUP)
		return 0;
	if (r < 0)
		return r;
	for (size_t off = 0; off < size; off += strlen(names + off) + 1)
		if (fremovexattr(fd, names + off) < 0 && errno != ENODATA)
			return -errno;
	return 0;
}

int copy_meta_fd(int in, int out, const struct stat *st)
{
	struct timespec ts[2];
	int r;

	/* owner first: chown clears set-id bits and file capabilities */
	if (fchown(out, st->st_uid, st->st_gid) < 0)
		return -errno;
	r = copy_xattrs(&fd_xattr, &in, &fd_xattr, &out);
	if (r < 0)
		return r;
	if (fchmod(out, st->st_mode & 07777) < 0)
		return -errno;
	times_of(st, ts);
	return futimens(out, ts) < 0 ? -errno : 0;
}

int copy_meta_at(int src_dirfd, const char *src_name, int dirfd, const char *name,
		 const struct stat *st)
{
	char src[64 + NAME_MAX], dst[64 + NAME_MAX];
	struct timespec ts[2];
	int r;

	if (fchownat(dirfd, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	/* no descriptor can be had on a symlink or a device without opening it:
	 * its directory's descriptor and its one-component name name it */
	snprintf(src, sizeof(src), "/proc/self/fd/%d/%s", src_dirfd, src_name);
	snprintf(dst, sizeof(dst), "/proc/self/fd/%d/%s", dirfd, name);
	r = copy_xattrs(&path_xattr, src, &path_xattr, dst);
	if (r < 0)
		return r;
	if (!S_ISLNK(st->st_mode) && fchmodat(dirfd, name, st->st_mode & 07777, 0) < 0)
		return -errno;
	times_of(st, ts);
	return utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}
