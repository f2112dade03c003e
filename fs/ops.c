// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The request handlers of the view. A node id names either a synthetic entry
 * (the root, a set's directory, `latest`) or a file of a snapshot, found again
 * through its file handle; see ino.h. Nothing here changes anything: every
 * mutation is answered with EROFS.
 */
#include <limits.h>
#include <sys/statvfs.h>

#include "ops.h"

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct view *v = view_of(req);
	_cleanup_target_ struct target t = { 0 };
	struct fuse_entry_param e;
	_cleanup_close_ int fd = -1;
	struct view_set *s;
	int r;

	r = target_resolve(v, parent, &t);
	if (r < 0) {
		fuse_reply_err(req, target_errno(r, "lookup", &t));
		return;
	}
	switch (t.kind) {
	case INO_KIND_ROOT:
		view_sets_refresh(v, false);
		if (streq(name, "latest")) {
			s = view_set_latest(v);
			r = s ? synthetic_entry(v, s, INO_SYN_LATEST, &e) : -ENOENT;
		} else if (streq(name, "current")) {
			s = view_set_current(v);
			r = synthetic_entry(v, s, INO_SYN_CURRENT, &e);
			if (r >= 0)
				__atomic_store_n(&v->current_told, s ? s->seq : 0, __ATOMIC_RELEASE);
		} else {
			s = view_set_by_token(v, name);
			r = s ? synthetic_entry(v, s, INO_SYN_SETDIR, &e) : -ENOENT;
		}
		view_set_unref(s);
		break;
	case INO_KIND_SETDIR:
	case INO_KIND_CURRENT:
		r = -ENOENT;
		for (size_t i = 0; t.set && i < t.set->n_vols; i++)
			if (streq(t.set->vols[i].name, name)) {
				r = volume_entry(v, t.set, i, t.current, &e);
				break;
			}
		break;
	case INO_KIND_FILE:
		if (hidden_name(&t, name)) {
			r = -ENOENT;
			break;
		}
		fd = target_open(v, &t, O_PATH | O_DIRECTORY);
		if (fd < 0) {
			r = fd;
			break;
		}
		r = child_entry(v, &t, fd, name, &e);
		if (r == -ENOENT) {
			/* absent now means absent forever: cache the miss */
			memset(&e, 0, sizeof(e));
			e.entry_timeout = TIMEOUT_FOREVER;
			fuse_reply_entry(req, &e);
			return;
		}
		break;
	default:
		r = -ENOTDIR;
	}
	if (r < 0)
		fuse_reply_err(req, target_errno(r, "lookup", &t));
	else
		fuse_reply_entry(req, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct ino_parts p;

	enum ino_kind k = ino_decode(ino, &p);

	if (k == INO_KIND_FILE || k == INO_KIND_CURRENT_FILE)
		node_table_forget(view_of(req)->nodes, ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct view *v = view_of(req);
	struct ino_parts p;

	for (size_t i = 0; i < count; i++) {
		enum ino_kind k = ino_decode(forgets[i].ino, &p);

		if (k == INO_KIND_FILE || k == INO_KIND_CURRENT_FILE)
			node_table_forget(v->nodes, forgets[i].ino, forgets[i].nlookup);
	}
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct view *v = view_of(req);
	_cleanup_target_ struct target t = { 0 };
	_cleanup_close_ int fd = -1;
	struct stat st;
	uint64_t id = 0;
	int r;

	r = target_resolve(v, ino, &t);
	if (r < 0) {
		fuse_reply_err(req, target_errno(r, "getattr", &t));
		return;
	}
	if (t.kind != INO_KIND_FILE) {
		synthetic_attr(v, &t, &st);
		fuse_reply_attr(req, &st, t.kind == INO_KIND_ROOT ? TIMEOUT_ROOT : TIMEOUT_FOREVER);
		return;
	}
	fd = target_open_path(v, &t);
	r = fd < 0 ? fd : file_attr(&t, fd, "", &st, &id);
	if (r < 0) {
		fuse_reply_err(req, target_errno(r, "getattr", &t));
		return;
	}
	fuse_reply_attr(req, &st, TIMEOUT_FOREVER);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct view *v = view_of(req);
	_cleanup_target_ struct target t = { 0 };
	struct statvfs sv = { .f_bsize = 4096, .f_frsize = 4096, .f_namemax = 255 };

	if (target_resolve(v, ino, &t) == 0 && t.kind == INO_KIND_FILE && fstatvfs(t.vol->fd, &sv) == 0)
		sv.f_flag |= ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct view *v = userdata;

	/* files need no OPEN (see op_open), unless the kernel is to read them itself */
	if (v->passthrough && passthrough_init(v->passthrough)) {
		v->no_open = false;
		log_info("open files are read by the kernel from the snapshot (passthrough)");
	} else {
		if (v->passthrough)
			log_info("this kernel offers no FUSE passthrough: files are read through "
				 "the daemon");
		v->no_open = (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) != 0;
	}
	/* the kernel must ask for every listing with attributes: walkers stat everything */
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	if (conn->capable & FUSE_CAP_POSIX_ACL)
		conn->want |= FUSE_CAP_POSIX_ACL;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	/* nothing changes underneath: never drop cached pages on attribute changes */
	conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
	conn->want &= ~(unsigned)(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE |
				  FUSE_CAP_SPLICE_MOVE);
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	conn->time_gran = 1;
}

#define EROFS_HANDLER(name, ...)                                                                   \
	static void name(fuse_req_t req, __VA_ARGS__)                                              \
	{                                                                                          \
		fuse_reply_err(req, EROFS);                                                        \
	}

EROFS_HANDLER(op_setattr, fuse_ino_t ino, struct stat *attr, int to_set,
	      struct fuse_file_info *fi)
EROFS_HANDLER(op_mknod, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
EROFS_HANDLER(op_mkdir, fuse_ino_t parent, const char *name, mode_t mode)
EROFS_HANDLER(op_unlink, fuse_ino_t parent, const char *name)
EROFS_HANDLER(op_rmdir, fuse_ino_t parent, const char *name)
EROFS_HANDLER(op_symlink, const char *link, fuse_ino_t parent, const char *name)
EROFS_HANDLER(op_rename, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
	      const char *newname, unsigned int flags)
EROFS_HANDLER(op_link, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
EROFS_HANDLER(op_write, fuse_ino_t ino, const char *buf, size_t size, off_t off,
	      struct fuse_file_info *fi)
EROFS_HANDLER(op_setxattr, fuse_ino_t ino, const char *name, const char *value, size_t size,
	      int flags)
EROFS_HANDLER(op_removexattr, fuse_ino_t ino, const char *name)
EROFS_HANDLER(op_create, fuse_ino_t parent, const char *name, mode_t mode,
	      struct fuse_file_info *fi)
EROFS_HANDLER(op_fallocate, fuse_ino_t ino, int mode, off_t offset, off_t length,
	      struct fuse_file_info *fi)

const struct fuse_lowlevel_ops view_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.lseek = op_lseek,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.statfs = op_statfs,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.setattr = op_setattr,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.write = op_write,
	.setxattr = op_setxattr,
	.removexattr = op_removexattr,
	.create = op_create,
	.fallocate = op_fallocate,
};
