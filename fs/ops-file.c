// SPDX-License-Identifier: GPL-2.0-or-later
/* Reading files: open, read, seek for data and holes, symlinks and extended attributes. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/xattr.h>

#include "direct-read.h"
#include "ops.h"

void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct view *v = view_of(req);
	_cleanup_target_ struct target t = { 0 };
	_cleanup_close_ int fd = -1;
	char buf[PATH_MAX + 1];
	ssize_t n;
	int r;

	r = target_resolve(v, ino, &t);
	if (r == 0 && t.kind == INO_KIND_LATEST) {
		fuse_reply_readlink(req, t.set->token);
		return;
	}
	if (r == 0 && t.kind != INO_KIND_FILE)
		r = -EINVAL;
	if (r == 0)
		r = fd = target_open_path(v, &t);
	if (r >= 0) {
		n = readlinkat(fd, "", buf, sizeof(buf) - 1);
		r = n < 0 ? -errno : 0;
		if (n >= 0)
			buf[n] = '\0';
	}
	if (r < 0)
		fuse_reply_err(req, target_errno(r, "readlink", &t));
	else
		fuse_reply_readlink(req, buf);
}

#define DATA_FLAGS (O_RDONLY | O_NOFOLLOW | O_NONBLOCK)

/*
 * How a file's data is read: directly where asked and the filesystem allows
 * (direct-read.h), else through the snapshot's page cache. Backups read files
 * whole, front to back, and the kernel's READs of one file arrive in several
 * threads at once: reads through the page cache (the kernel's own under
 * passthrough, or the daemon's) get twice the usual readahead.
 */
static void set_read_mode(int fd, bool direct)
{
	if (direct && direct_read_enable(fd))
		return;
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
}

/* Opens the file to read its data directly: O_DIRECT given to the open
 * itself saves set_read_mode()'s two calls per file. Where the filesystem
 * refuses it there, the file is read through its page cache. */
static int open_direct(struct view *v, const struct target *t)
{
	int fd = target_open_data(v, t, DATA_FLAGS | O_DIRECT);

	if (fd != -EINVAL)
		return fd;
	fd = target_open_data(v, t, DATA_FLAGS);
	if (fd >= 0)
		set_read_mode(fd, false);
	return fd;
}

/* in an OPEN's file handle, beside the descriptor: the kernel reads the file itself */
#define FH_PASSTHROUGH (UINT64_C(1) << 32)
#define FH_FD(fh) ((int)((fh) & UINT32_MAX))

/*
 * Where the kernel supports it, files are not opened at all: the first OPEN is
 * answered ENOSYS, after which the kernel sends no OPEN or RELEASE on this
 * connection, keeps cached pages across opens, and names the node alone in
 * each READ (one request per small file instead of three). The file is then
 * reopened by its handle, through a small cache of descriptors (fdcache.h).
 * Otherwise each open keeps a descriptor until RELEASE, and with passthrough
 * (passthrough.h) the kernel reads the file through that descriptor itself.
 */
void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct view *v = view_of(req);
	_cleanup_target_ struct target t = { 0 };
	int r, fd;

	if (v->no_open) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	r = target_resolve(v, ino, &t);
	if (r == 0 && t.kind != INO_KIND_FILE)
		r = -EISDIR;
	if (r < 0) {
		fuse_reply_err(req, target_errno(r, "open", &t));
		return;
	}
	fd = target_open(v, &t, DATA_FLAGS);
	if (fd < 0) {
		fuse_reply_err(req, target_errno(fd, "open", &t));
		return;
	}
	fi->fh = (uint64_t)fd;
	/* (the kernel refuses passthrough together with a kept page cache: it has
	 * none; and it serves the reader's calls through this descriptor, which
	 * is therefore not made direct: they stay cached) */
	if (v->passthrough && passthrough_open(v->passthrough, ino, fd))
		fi->fh |= FH_PASSTHROUGH;
	else
		fi->keep_cache = 1;
	set_read_mode(fd, !(fi->fh & FH_PASSTHROUGH));
	fi->noflush = 1;
	if (fuse_reply_open(req, fi) < 0) {
		if (fi->fh & FH_PASSTHROUGH)
			passthrough_release(v->passthrough, ino);
		close(fd);
	}
}

struct node_open {
	struct view *v;
	fuse_ino_t ino;
	const char *what;
	bool fetched; /* out: opened to read what was fetched ahead into the page cache */
};

static int node_open(void *userdata)
{
	struct node_open *o = userdata;
	_cleanup_target_ struct target t = { 0 };
	int r = target_resolve(o->v, o->ino, &t);

	if (r == 0 && t.kind != INO_KIND_FILE)
		r = -EISDIR;
	if (r == 0 && o->v->fetch && fetchahead_has(o->v->fetch, &t.p)) {
		o->fetched = true;
		r = target_open_data(o->v, &t, DATA_FLAGS);
	} else if (r == 0) {
		r = open_direct(o->v, &t);
	}
	return r < 0 ? -target_errno(r, o->what, &t) : r;
}

/* The descriptor to serve a request on a file from: the one its OPEN made, or
 * (without OPEN) one shared through the view's descriptor cache. Hand it back
 * with file_fd_put(). *fetched (unless NULL) tells whether it was opened now
 * to read a file fetched ahead (fetchahead.h). Returns it or an errno < 0. */
static int file_fd(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, const char *what,
		   bool *fetched)
{
	struct view *v = view_of(req);
	struct node_open o = { v, ino, what, false };
	int fd;

	if (!v->no_open)
		return FH_FD(fi->fh);
	fd = fdcache_get(v->files, ino, node_open, &o);
	if (fetched)
		*fetched = o.fetched;
	return fd;
}

static void file_fd_put(fuse_req_t req, fuse_ino_t ino, int fd)
{
	struct view *v = view_of(req);

	if (v->no_open)
		fdcache_put(v->files, ino, fd);
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct bufpool *pool = view_of(req)->buffers;
	size_t span = direct_read_span(off, size), skip = 0, len = 0;
	char *buf = NULL;
	bool pooled = span <= bufpool_size(pool), fetched = false;
	int fd, r;

	if (pooled)
		buf = bufpool_get(pool);
	else if (posix_memalign((void **)&buf, DIRECT_READ_ALIGN, span) != 0)
		buf = NULL;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fd = file_fd(req, ino, fi, "read", &fetched);
	r = fd;
	if (fd >= 0) {
		r = direct_read(fd, buf, size, off, &skip, &len);
		/* the view's cache keeps it now: the snapshot's need not */
		if (fetched)
			(void)posix_fadvise(fd, off - (off_t)skip, (off_t)span, POSIX_FADV_DONTNEED);
		file_fd_put(req, ino, fd);
		if (r < 0)
			log_error("read of inode %#jx at %jd failed: %s", (uintmax_t)ino,
				  (intmax_t)off, strerror(-r));
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_buf(req, buf + skip, len);
	if (pooled)
		bufpool_put(pool, buf);
	else
		free(buf);
}

void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (fi->fh & FH_PASSTHROUGH)
		passthrough_release(view_of(req)->passthrough, ino);
	close(FH_FD(fi->fh));
	fuse_reply_err(req, 0);
}

void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
	int fd = file_fd(req, ino, fi, "lseek", NULL);
	off_t r;
	int err;

	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	/* (the kernel asks only for SEEK_DATA and SEEK_HOLE; moving a shared
	 * descriptor's position harms nobody, as reads use pread) */
	r = lseek(fd, off, whence);
	err = errno;
	file_fd_put(req, ino, fd);
	if (r < 0)
		fuse_reply_err(req, err);
	else
		fuse_reply_lseek(req, r);
}

/* Extended attributes are read through the inode's /proc/self/fd entry, which works
 * for every file type, symlinks and devices included, without opening the file. */
static void do_xattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct view *v = view_of(req);
	_cleanup_target_ struct target t = { 0 };
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int fd = -1;
	char proc[64];
	ssize_t n;
	int r;

	r = target_resolve(v, ino, &t);
	if (r == 0 && t.kind != INO_KIND_FILE) {
		if (name)
			fuse_reply_err(req, ENODATA);
		else if (size == 0)
			fuse_reply_xattr(req, 0);
		else
			fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (r == 0)
		r = fd = target_open_path(v, &t);
	if (r < 0) {
		fuse_reply_err(req, target_errno(r, "getxattr", &t));
		return;
	}
	if (size > 0) {
		buf = malloc(size);
		if (!buf) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = name ? getxattr(proc, name, buf, size) : listxattr(proc, buf, size);
	if (n < 0)
		fuse_reply_err(req, errno);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	do_xattr(req, ino, name, size);
}

void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	do_xattr(req, ino, NULL, size);
}
