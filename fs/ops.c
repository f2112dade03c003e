// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The request handlers of the view. A node id names either a synthetic entry
 * (the root, a set's directory, `latest`) or a file of a snapshot, found again
 * through its file handle; see ino.h. Nothing here changes anything: every
 * mutation is answered with EROFS.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>

#include "view-internal.h"

/* the data never changes: let the kernel keep what it learns for a year */
#define TIMEOUT_FOREVER (365.0 * 86400.0)
/* the root's names change as sets come and go */
#define TIMEOUT_ROOT 1.0
#define DIRBUF_SIZE (64 * 1024)

struct target {
	enum ino_kind kind;
	struct ino_parts p;
	struct view_set *set;     /* referenced, for all kinds but the history root */
	struct view_volume *vol;  /* FILE */
	uint64_t id;              /* node id as the kernel knows it */
	bool current;             /* an entry of current/: numbered for stability across sets */
};

static void target_release(struct target *t)
{
	view_set_unref(t->set);
	t->set = NULL;
}
#define _cleanup_target_ _cleanup_(target_release)

static struct view *view_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* Errors from underneath: a vanished snapshot reads as absent; the rest is logged. */
static int fs_errno(int r, const char *what, const struct target *t)
{
	if (r == -ESTALE || r == -ENOENT)
		return ENOENT;
	if (r == -EIO || r == -EUCLEAN)
		log_error("%s failed in set %s: %s", what, t->set ? t->set->id : "?",
			  strerror(-r));
	return -r;
}

static int resolve(struct view *v, fuse_ino_t id, struct target *t)
{
	memset(t, 0, sizeof(*t));
	t->id = id;
	if (id == FUSE_ROOT_ID && v->single) {
		t->set = view_set_by_seq(v, v->single_seq);
		if (!t->set)
			return -ENOENT;
		if (!v->single_volume_root) {
			t->kind = INO_KIND_SETDIR;
			t->p.set = (uint64_t)t->set->seq;
			return 0;
		}
		t->kind = INO_KIND_FILE;
		t->vol = &t->set->vols[0];
		if (t->vol->fd < 0)
			return -EIO;
		t->p = (struct ino_parts){ (uint64_t)t->set->seq, 0, t->vol->root_ino };
		return 0;
	}
	t->kind = ino_decode(id, &t->p);
	if (t->kind == INO_KIND_CURRENT_FILE) {
		t->kind = INO_KIND_FILE;
		t->current = true;
	}
	switch (t->kind) {
	case INO_KIND_ROOT:
		return 0;
	case INO_KIND_CURRENT:
		/* empty when nothing is pinned, or the set it showed is gone */
		t->current = true;
		t->set = t->p.set ? view_set_by_seq(v, (int64_t)t->p.set) : NULL;
		return 0;
	case INO_KIND_SETDIR:
	case INO_KIND_LATEST:
	case INO_KIND_FILE:
		t->set = view_set_by_seq(v, (int64_t)t->p.set);
		if (!t->set)
			return -ENOENT;
		if (t->kind != INO_KIND_FILE)
			return 0;
		if (t->p.vol >= t->set->n_vols)
			return -ENOENT;
		t->vol = &t->set->vols[t->p.vol];
		return t->vol->fd < 0 ? -EIO : 0;
	default:
		return -ENOENT;
	}
}

static int target_handle(struct view *v, const struct target *t, struct node_handle *ret)
{
	if (t->p.file == t->vol->root_ino) {
		*ret = t->vol->root_handle;
		return 0;
	}
	return node_table_handle(v->nodes, t->id, ret);
}

static int target_open(struct view *v, const struct target *t, int flags)
{
	struct node_handle h;
	int r = target_handle(v, t, &h);

	return r < 0 ? r : node_handle_open(t->vol->fd, &h, flags);
}

static void synthetic_attr(struct view *v, const struct target *t, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = t->id;
	st->st_blksize = 4096;
	if (t->kind == INO_KIND_ROOT) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2 + v->n_sets + (v->single ? 0 : 1);
		st->st_atim = st->st_mtim = st->st_ctim = v->mounted_at;
		return;
	}
	if (t->kind == INO_KIND_CURRENT) {
		int64_t pinned;

		/* the same directory whatever set it shows; its times say when it was pinned */
		pthread_rwlock_rdlock(&v->sets_lock);
		pinned = t->set && t->set->seq == v->current_seq ? v->current_pinned_ns : 0;
		pthread_rwlock_unlock(&v->sets_lock);
		st->st_ino = INO_CURRENT_DIR_STABLE;
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2 + (t->set ? t->set->n_vols : 0);
		st->st_atim = st->st_mtim = st->st_ctim = v->mounted_at;
		if (pinned > 0) {
			st->st_mtim.tv_sec = (time_t)(pinned / 1000000000);
			st->st_mtim.tv_nsec = (long)(pinned % 1000000000);
			st->st_atim = st->st_ctim = st->st_mtim;
		}
		return;
	}
	st->st_atim.tv_sec = st->st_mtim.tv_sec = st->st_ctim.tv_sec =
		(time_t)(t->set->created_ns / 1000000000);
	st->st_atim.tv_nsec = st->st_mtim.tv_nsec = st->st_ctim.tv_nsec =
		(long)(t->set->created_ns % 1000000000);
	if (t->kind == INO_KIND_SETDIR) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2 + t->set->n_vols;
	} else {
		st->st_mode = S_IFLNK | 0777;
		st->st_nlink = 1;
		st->st_size = (off_t)strlen(t->set->token);
	}
}

/* The node id of a file of t's set and volume, in t's namespace. */
static int node_id(const struct target *t, uint64_t file, uint64_t *ret)
{
	return t->current ? ino_encode_current(t->p.set, t->p.vol, file, ret)
			  : ino_encode(t->p.set, t->p.vol, file, ret);
}

/* What stat and readdir show as its number: the node id, or in current/ a number
 * that does not depend on the set. */
static int shown_ino(const struct target *t, uint64_t file, uint64_t *ret)
{
	return t->current ? ino_current_st(t->vol->volume_key, file, ret)
			  : ino_encode(t->p.set, t->p.vol, file, ret);
}

static int file_attr(const struct target *t, int fd, const char *name, struct stat *st,
		     uint64_t *ret_id)
{
	uint64_t id = 0, shown = 0;
	int r;

	if (fstatat(fd, name, st, AT_SYMLINK_NOFOLLOW | (name[0] ? 0 : AT_EMPTY_PATH)) < 0)
		return -errno;
	r = node_id(t, (uint64_t)st->st_ino, &id);
	if (r == 0)
		r = shown_ino(t, (uint64_t)st->st_ino, &shown);
	if (r < 0) {
		log_error("set %s: inode %ju is beyond what the view can number", t->set->id,
			  (uintmax_t)st->st_ino);
		return r;
	}
	st->st_ino = shown;
	*ret_id = id;
	return 0;
}

/*
 * Fills an entry for `name` in directory `dirfd` (the directory itself when
 * name is ""), taking one lookup reference on its node. `h` is its handle when
 * known, else it is read from the filesystem.
 */
static int file_entry(struct view *v, const struct target *parent, int dirfd, const char *name,
		      const struct node_handle *h, struct fuse_entry_param *e)
{
	struct node_handle found;
	uint64_t id = 0;
	int r;

	memset(e, 0, sizeof(*e));
	r = file_attr(parent, dirfd, name, &e->attr, &id);
	if (r < 0)
		return r;
	if (!h) {
		r = node_handle_at(dirfd, name, &found);
		if (r < 0)
			return r;
		h = &found;
	}
	r = node_table_ref(v->nodes, id, h);
	if (r < 0)
		return r;
	e->ino = id;
	e->attr_timeout = TIMEOUT_FOREVER;
	e->entry_timeout = TIMEOUT_FOREVER;
	return 0;
}

static int child_entry(struct view *v, const struct target *parent, int dirfd, const char *name,
		       struct fuse_entry_param *e)
{
	return file_entry(v, parent, dirfd, name, NULL, e);
}

/* The entry of a volume's root inside its set's directory (one lookup reference). */
static int volume_entry(struct view *v, struct view_set *s, size_t vi, bool current,
			struct fuse_entry_param *e)
{
	struct target t = {
		.kind = INO_KIND_FILE, .set = s, .vol = &s->vols[vi], .current = current
	};

	if (t.vol->fd < 0)
		return -EIO;
	t.p = (struct ino_parts){ (uint64_t)s->seq, vi, t.vol->root_ino };
	return file_entry(v, &t, t.vol->fd, "", &t.vol->root_handle, e);
}

static int synthetic_entry(struct view *v, struct view_set *s, uint64_t file,
			   struct fuse_entry_param *e)
{
	struct target t = { .set = s };
	int r;

	if (file == INO_SYN_CURRENT)
		r = ino_encode_current(s ? (uint64_t)s->seq : 0, INO_VOL_SYNTHETIC, file, &t.id);
	else
		r = ino_encode((uint64_t)s->seq, INO_VOL_SYNTHETIC, file, &t.id);
	if (r < 0)
		return r;
	t.kind = file == INO_SYN_SETDIR	   ? INO_KIND_SETDIR
		 : file == INO_SYN_CURRENT ? INO_KIND_CURRENT
					   : INO_KIND_LATEST;
	memset(e, 0, sizeof(*e));
	synthetic_attr(v, &t, &e->attr);
	e->ino = t.id;
	e->attr_timeout = TIMEOUT_FOREVER;
	e->entry_timeout = TIMEOUT_ROOT;
	return 0;
}

static bool hidden_name(const struct target *dir, const char *name)
{
	return dir->vol->hide_storage && dir->p.file == dir->vol->root_ino &&
	       streq(name, ".stillfs");
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct view *v = view_of(req);
	_cleanup_target_ struct target t = { 0 };
	struct fuse_entry_param e;
	_cleanup_close_ int fd = -1;
	struct view_set *s;
	int r;

	r = resolve(v, parent, &t);
	if (r < 0) {
		fuse_reply_err(req, fs_errno(r, "lookup", &t));
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
		fuse_reply_err(req, fs_errno(r, "lookup", &t));
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

	r = resolve(v, ino, &t);
	if (r < 0) {
		fuse_reply_err(req, fs_errno(r, "getattr", &t));
		return;
	}
	if (t.kind != INO_KIND_FILE) {
		synthetic_attr(v, &t, &st);
		fuse_reply_attr(req, &st, t.kind == INO_KIND_ROOT ? TIMEOUT_ROOT : TIMEOUT_FOREVER);
		return;
	}
	fd = target_open(v, &t, O_PATH | O_NOFOLLOW);
	r = fd < 0 ? fd : file_attr(&t, fd, "", &st, &id);
	if (r < 0) {
		fuse_reply_err(req, fs_errno(r, "getattr", &t));
		return;
	}
	fuse_reply_attr(req, &st, TIMEOUT_FOREVER);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct view *v = view_of(req);
	_cleanup_target_ struct target t = { 0 };
	_cleanup_close_ int fd = -1;
	char buf[PATH_MAX + 1];
	ssize_t n;
	int r;

	r = resolve(v, ino, &t);
	if (r == 0 && t.kind == INO_KIND_LATEST) {
		fuse_reply_readlink(req, t.set->token);
		return;
	}
	if (r == 0 && t.kind != INO_KIND_FILE)
		r = -EINVAL;
	if (r == 0)
		r = fd = target_open(v, &t, O_PATH | O_NOFOLLOW);
	if (r >= 0) {
		n = readlinkat(fd, "", buf, sizeof(buf) - 1);
		r = n < 0 ? -errno : 0;
		if (n >= 0)
			buf[n] = '\0';
	}
	if (r < 0)
		fuse_reply_err(req, fs_errno(r, "readlink", &t));
	else
		fuse_reply_readlink(req, buf);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct view *v = view_of(req);
	_cleanup_target_ struct target t = { 0 };
	int r, fd;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	r = resolve(v, ino, &t);
	if (r == 0 && t.kind != INO_KIND_FILE)
		r = -EISDIR;
	if (r < 0) {
		fuse_reply_err(req, fs_errno(r, "open", &t));
		return;
	}
	fd = target_open(v, &t, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		fuse_reply_err(req, fs_errno(fd, "open", &t));
		return;
	}
	fi->fh = (uint64_t)fd;
	fi->keep_cache = 1;
	fi->noflush = 1;
	if (fuse_reply_open(req, fi) < 0)
		close(fd);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	_cleanup_free_ char *buf = malloc(size ? size : 1);
	size_t done = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	while (done < size) {
		ssize_t n = pread((int)fi->fh, buf + done, size - done, off + (off_t)done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			int err = errno;

			log_error("read of inode %#jx at %jd failed: %s", (uintmax_t)ino,
				  (intmax_t)off, strerror(err));
			fuse_reply_err(req, err == EIO ? EIO : err);
			return;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	fuse_reply_buf(req, buf, done);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	close((int)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	off_t r = lseek((int)fi->fh, off, whence);

	if (r < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_lseek(req, r);
}

/* An open directory of a snapshot; synthetic directories have none. */
struct dir {
	int fd;
	struct target t;
	char buf[DIRBUF_SIZE];
};

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct view *v = view_of(req);
	struct dir *d;
	int r;

	d = calloc(1, sizeof(*d));
	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	d->fd = -1;
	r = resolve(v, ino, &d->t);
	if (r == 0 && d->t.kind == INO_KIND_LATEST)
		r = -ENOTDIR;
	if (r == 0 && d->t.kind == INO_KIND_FILE) {
		d->fd = target_open(v, &d->t, O_RDONLY | O_DIRECTORY);
		r = d->fd < 0 ? d->fd : 0;
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
	} else if (r == 0 && (d->t.kind == INO_KIND_SETDIR || d->t.kind == INO_KIND_CURRENT)) {
		/* a node id names one set, so its listing never changes */
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
	}
	if (r < 0) {
		fuse_reply_err(req, fs_errno(r, "opendir", &d->t));
		target_release(&d->t);
		free(d);
		return;
	}
	fi->fh = (uintptr_t)d;
	if (fuse_reply_open(req, fi) < 0) {
		if (d->fd >= 0)
			close(d->fd);
		target_release(&d->t);
		free(d);
	}
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir *d = (struct dir *)(uintptr_t)fi->fh;

	if (d->fd >= 0)
		close(d->fd);
	target_release(&d->t);
	free(d);
	fuse_reply_err(req, 0);
}

/* Appends one entry; returns its size, or 0 when it no longer fits. */
static size_t add_entry(fuse_req_t req, char *p, size_t rem, bool plus, const char *name,
			const struct fuse_entry_param *e, off_t next)
{
	size_t n = plus ? fuse_add_direntry_plus(req, p, rem, name, e, next)
			: fuse_add_direntry(req, p, rem, name, &e->attr, next);

	return n > rem ? 0 : n;
}

/* Lists a synthetic directory: ".", "..", then its entries; offsets count entries. */
static void readdir_synthetic(fuse_req_t req, struct view *v, struct dir *d, size_t size,
			      off_t off, bool plus)
{
	_cleanup_free_ char *buf = malloc(size);
	struct view_set **sets = NULL;
	size_t n_sets = 0, used = 0, count;
	struct view_set *latest = NULL, *current = NULL;
	/* the root lists ".", "..", current/ (history view only), the sets, latest */
	size_t first_set = v->single ? 2 : 3;
	int r = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (d->t.kind == INO_KIND_ROOT) {
		view_sets_refresh(v, false);
		r = view_sets_snapshot(v, &sets, &n_sets);
		if (r < 0) {
			fuse_reply_err(req, -r);
			return;
		}
		latest = n_sets ? sets[n_sets - 1] : NULL;
		current = v->single ? NULL : view_set_current(v);
		count = first_set + n_sets + (latest ? 1 : 0);
	} else {
		count = 2 + (d->t.set ? d->t.set->n_vols : 0);
	}

	for (size_t i = (size_t)off; i < count; i++) {
		struct fuse_entry_param e = { 0 };
		const char *name;
		bool ref = false;
		size_t n;

		if (i < 2) {
			name = i == 0 ? "." : "..";
			e.attr.st_ino = i == 0 ? d->t.id : FUSE_ROOT_ID;
			if (i == 0 && d->t.kind == INO_KIND_CURRENT)
				e.attr.st_ino = INO_CURRENT_DIR_STABLE;
			e.attr.st_mode = S_IFDIR;
		} else if (d->t.kind == INO_KIND_ROOT && i < first_set) {
			name = "current";
			r = synthetic_entry(v, current, INO_SYN_CURRENT, &e);
		} else if (d->t.kind == INO_KIND_ROOT && i - first_set < n_sets) {
			name = sets[i - first_set]->token;
			r = synthetic_entry(v, sets[i - first_set], INO_SYN_SETDIR, &e);
		} else if (d->t.kind == INO_KIND_ROOT) {
			name = "latest";
			r = synthetic_entry(v, latest, INO_SYN_LATEST, &e);
		} else {
			struct target vt = { .set = d->t.set, .vol = &d->t.set->vols[i - 2],
					     .current = d->t.current };

			vt.p = (struct ino_parts){ (uint64_t)d->t.set->seq, i - 2, 0 };
			name = vt.vol->name;
			if (!plus) {
				e.attr.st_mode = S_IFDIR;
				r = shown_ino(&vt, vt.vol->root_ino, &e.attr.st_ino);
			} else {
				r = volume_entry(v, d->t.set, i - 2, d->t.current, &e);
				ref = r == 0;
			}
		}
		if (r < 0)
			break;
		if (!plus) {
			e.ino = 0;
		}
		n = add_entry(req, buf + used, size - used, plus, name, &e, (off_t)i + 1);
		if (n == 0) {
			if (ref)
				node_table_forget(v->nodes, e.ino, 1);
			break;
		}
		used += n;
	}
	view_sets_release(sets, n_sets);
	view_set_unref(current);
	if (r < 0 && used == 0)
		fuse_reply_err(req, fs_errno(r, "readdir", &d->t));
	else
		fuse_reply_buf(req, buf, used);
}

static void readdir_file(fuse_req_t req, struct view *v, struct dir *d, size_t size, off_t off,
			 bool plus)
{
	_cleanup_free_ char *buf = malloc(size);
	size_t used = 0;
	bool full = false;
	int r = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (lseek(d->fd, off, SEEK_SET) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	while (!full) {
		ssize_t got = getdents64(d->fd, d->buf, sizeof(d->buf));

		if (got < 0) {
			r = -errno;
			break;
		}
		if (got == 0)
			break;
		for (ssize_t pos = 0; pos < got;) {
			struct dirent64 *de = (struct dirent64 *)(d->buf + pos);
			struct fuse_entry_param e = { 0 };
			bool dot = streq(de->d_name, ".") || streq(de->d_name, "..");
			size_t n;

			pos += de->d_reclen;
			if (!dot && hidden_name(&d->t, de->d_name))
				continue;
			if (dot || !plus) {
				r = shown_ino(&d->t, de->d_ino, &e.attr.st_ino);
				if (r < 0)
					break;
				/* above a volume's root is its set's directory (or the mount root) */
				if (dot && streq(de->d_name, "..") &&
				    d->t.p.file == d->t.vol->root_ino) {
					e.attr.st_ino = FUSE_ROOT_ID;
					if (d->t.current)
						e.attr.st_ino = INO_CURRENT_DIR_STABLE;
					else if (d->t.id != FUSE_ROOT_ID)
						ino_encode(d->t.p.set, INO_VOL_SYNTHETIC,
							   INO_SYN_SETDIR, &e.attr.st_ino);
				}
				e.attr.st_mode = (mode_t)de->d_type << 12;
			} else {
				r = child_entry(v, &d->t, d->fd, de->d_name, &e);
				if (r < 0)
					break;
			}
			n = add_entry(req, buf + used, size - used, plus, de->d_name, &e,
				      (off_t)de->d_off);
			if (n == 0) {
				if (plus && !dot)
					node_table_forget(v->nodes, e.ino, 1);
				full = true;
				break;
			}
			used += n;
		}
		if (r < 0)
			break;
	}
	if (r < 0 && used == 0)
		fuse_reply_err(req, fs_errno(r, "readdir", &d->t));
	else
		fuse_reply_buf(req, buf, used);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	struct dir *d = (struct dir *)(uintptr_t)fi->fh;

	if (d->t.kind == INO_KIND_FILE)
		readdir_file(req, view_of(req), d, size, off, plus);
	else
		readdir_synthetic(req, view_of(req), d, size, off, plus);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct view *v = view_of(req);
	_cleanup_target_ struct target t = { 0 };
	struct statvfs sv = { .f_bsize = 4096, .f_frsize = 4096, .f_namemax = 255 };

	if (resolve(v, ino, &t) == 0 && t.kind == INO_KIND_FILE && fstatvfs(t.vol->fd, &sv) == 0)
		sv.f_flag |= ST_RDONLY;
	fuse_reply_statfs(req, &sv);
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

	r = resolve(v, ino, &t);
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
		r = fd = target_open(v, &t, O_PATH | O_NOFOLLOW);
	if (r < 0) {
		fuse_reply_err(req, fs_errno(r, "getxattr", &t));
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

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	do_xattr(req, ino, name, size);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	do_xattr(req, ino, NULL, size);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
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
