// SPDX-License-Identifier: GPL-2.0-or-later
/* Listing directories: the synthetic ones (the root, a set, current/) and a snapshot's. */
#include <dirent.h>

#include "ops.h"

#define DIRBUF_SIZE (64 * 1024)

/*
 * An open directory (fd is -1 for synthetic ones). The kernel asks for a
 * listing a reply at a time, each starting where the last one ended; entries
 * read from the snapshot but not yet sent wait in buf for the next request, so
 * each is read once.
 */
struct dir {
	int fd;
	struct target t;
	size_t len;  /* bytes of getdents64 records in buf */
	size_t pos;  /* the first record not yet sent */
	off_t next;  /* the offset the kernel asks for to continue from pos */
	char buf[DIRBUF_SIZE];
};

void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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
	r = target_resolve(v, ino, &d->t);
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
		fuse_reply_err(req, target_errno(r, "opendir", &d->t));
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

void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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
		fuse_reply_err(req, target_errno(r, "readdir", &d->t));
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
	if (off != d->next || (off == 0 && d->len == 0)) {
		if (lseek(d->fd, off, SEEK_SET) < 0) {
			fuse_reply_err(req, errno);
			return;
		}
		d->len = d->pos = 0;
		d->next = off;
	}
	while (!full && r == 0) {
		if (d->pos >= d->len) {
			ssize_t got = getdents64(d->fd, d->buf, sizeof(d->buf));

			if (got < 0) {
				r = -errno;
				break;
			}
			d->pos = 0;
			d->len = (size_t)got;
			if (got == 0)
				break;
		}
		while (d->pos < d->len) {
			struct dirent64 *de = (struct dirent64 *)(d->buf + d->pos);
			struct fuse_entry_param e = { 0 };
			bool dot = streq(de->d_name, ".") || streq(de->d_name, "..");
			size_t n;

			if (!dot && hidden_name(&d->t, de->d_name)) {
				d->pos += de->d_reclen;
				d->next = (off_t)de->d_off;
				continue;
			}
			if (dot || !plus) {
				uint64_t ino = 0;

				/*
				 * Above a volume's root is its set's directory (or the
				 * mount root), not the snapshot's parent (a copy's
				 * container, which its map does not know).
				 */
				if (dot && streq(de->d_name, "..") &&
				    d->t.p.file == d->t.vol->root_ino) {
					e.attr.st_ino = FUSE_ROOT_ID;
					if (d->t.current)
						e.attr.st_ino = INO_CURRENT_DIR_STABLE;
					else if (d->t.id != FUSE_ROOT_ID)
						ino_encode(d->t.p.set, INO_VOL_SYNTHETIC,
							   INO_SYN_SETDIR, &e.attr.st_ino);
				} else {
					r = original_ino(&d->t, de->d_ino, &ino);
					if (r == 0)
						r = shown_ino(&d->t, ino, &e.attr.st_ino);
					if (r < 0)
						break;
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
			d->pos += de->d_reclen;
			d->next = (off_t)de->d_off;
		}
	}
	if (r < 0 && used == 0)
		fuse_reply_err(req, target_errno(r, "readdir", &d->t));
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

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}
