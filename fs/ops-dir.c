// SPDX-License-Identifier: GPL-2.0-or-later
/* Listing directories: the synthetic ones (the root, a set, current/) and a snapshot's. */
#include <dirent.h>
#include <pthread.h>

#include "dir-reply.h"
#include "ops.h"
#include "statpool.h"

#define DIRBUF_SIZE (64 * 1024)
/* at most this many names are statted together (a 32 KiB reply holds ~200) */
#define LISTED_MAX 256

/* The next entries of a READDIRPLUS reply, statted together (statpool.h). */
struct listed {
	size_t end;    /* where in the dir's buf the batch ends */
	bool full;     /* the reply has no room for the entry at end */
	size_t n;
	const char *names[LISTED_MAX];
	struct stat st[LISTED_MAX];
	int err[LISTED_MAX];
};

/*
 * An open directory (fd is -1 for synthetic ones). The kernel asks for a
 * listing a reply at a time, each starting where the last one ended; entries
 * read from the snapshot but not yet sent wait in buf for the next request, so
 * each is read once.
 *
 * A READDIRPLUS reply costs a stat per entry, and the kernel then spends
 * about as long taking the entries in, while the daemon would wait for the
 * next request. So once a reply is sent, the thread that sent it goes on to
 * build the next one (`ahead`), holding the lock that the next request waits
 * on: the two halves of a walk run at once on two processors.
 */
struct dir {
	pthread_mutex_t lock;
	int fd;
	struct target t;
	struct node_dir *node; /* what its listed entries are found again through */
	size_t len;  /* bytes of getdents64 records in buf */
	size_t pos;  /* the first record not yet sent */
	off_t next;  /* the offset the kernel asks for to continue from pos */
	struct listed *listed;  /* READDIRPLUS: the entries being statted */
	struct dir_reply now;   /* the reply being built for a request */
	struct dir_reply ahead; /* the reply to the request expected next */
	bool ahead_ready;
	char buf[DIRBUF_SIZE];
};

static void dir_free(struct view *v, struct dir *d)
{
	if (d->ahead_ready)
		dir_reply_drop(&d->ahead, v->nodes);
	dir_reply_release(&d->now);
	node_dir_unref(d->node);
	free(d->listed);
	dir_reply_release(&d->ahead);
	if (d->fd >= 0)
		close(d->fd);
	target_release(&d->t);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

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
	pthread_mutex_init(&d->lock, NULL);
	r = target_resolve(v, ino, &d->t);
	if (r == 0 && d->t.kind == INO_KIND_LATEST)
		r = -ENOTDIR;
	if (r == 0 && d->t.kind == INO_KIND_FILE) {
		struct node_handle h;

		r = target_handle(v, &d->t, &h);
		if (r == 0)
			r = d->fd = node_handle_open(d->t.vol->fd, &h, O_RDONLY | O_DIRECTORY);
		if (r >= 0)
			r = node_dir_new(d->t.id, &h, &d->node);
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
	} else if (r == 0 && (d->t.kind == INO_KIND_SETDIR || d->t.kind == INO_KIND_CURRENT)) {
		/* a node id names one set, so its listing never changes */
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
	}
	if (r < 0) {
		fuse_reply_err(req, target_errno(r, "opendir", &d->t));
		dir_free(v, d);
		return;
	}
	fi->fh = (uintptr_t)d;
	if (fuse_reply_open(req, fi) < 0)
		dir_free(v, d);
}

void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir *d = (struct dir *)(uintptr_t)fi->fh;

	/* waits for a reply still being built ahead */
	pthread_mutex_lock(&d->lock);
	pthread_mutex_unlock(&d->lock);
	dir_free(view_of(req), d);
	fuse_reply_err(req, 0);
}

/*
 * Appends one entry; returns its size, or 0 when it no longer fits. (libfuse
 * reads nothing of the request here, and a reply built ahead has none.)
 */
static size_t add_entry(char *p, size_t rem, bool plus, const char *name,
			const struct fuse_entry_param *e, off_t next)
{
	size_t n = plus ? fuse_add_direntry_plus(NULL, p, rem, name, e, next)
			: fuse_add_direntry(NULL, p, rem, name, &e->attr, next);

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
		n = add_entry(buf + used, size - used, plus, name, &e, (off_t)i + 1);
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

/* The bytes an entry takes in a READDIRPLUS reply (libfuse sizes it with no buffer). */
static size_t plus_entry_size(const char *name)
{
	struct fuse_entry_param e = { 0 };

	return fuse_add_direntry_plus(NULL, NULL, 0, name, &e, 0);
}

/*
 * Stats the entries of d's buf from its position on that fit in `room`
 * bytes of a READDIRPLUS reply, all at once. Returns 0 or -ENOMEM.
 */
static int stat_listed(struct view *v, struct dir *d, size_t room)
{
	struct listed *l = d->listed;
	size_t p = d->pos;

	if (!l) {
		l = d->listed = malloc(sizeof(*l));
		if (!l)
			return -ENOMEM;
	}
	l->n = 0;
	l->full = false;
	while (p < d->len && l->n < LISTED_MAX) {
		struct dirent64 *de = (struct dirent64 *)(d->buf + p);
		bool dot = streq(de->d_name, ".") || streq(de->d_name, "..");
		size_t need;

		if (!dot && hidden_name(&d->t, de->d_name)) {
			p += de->d_reclen;
			continue;
		}
		need = plus_entry_size(de->d_name);
		if (need > room) {
			l->full = true;
			break;
		}
		room -= need;
		if (!dot)
			l->names[l->n++] = de->d_name;
		p += de->d_reclen;
	}
	l->end = p;
	statpool_run(v->stats, &(struct stat_batch){ d->fd, l->names, l->st, l->err, l->n });
	return 0;
}

/*
 * Fills `rep` with the entries from d's position on, up to `size` bytes. With
 * `plus`, each entry takes a lookup reference, recorded in rep.
 */
static void fill_file(struct view *v, struct dir *d, struct dir_reply *rep, size_t size,
		      bool plus)
{
	bool full = false;
	int r = 0;

	while (!full && r == 0) {
		size_t end, k = 0;

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
		end = d->len;
		if (plus) {
			r = stat_listed(v, d, size - rep->used);
			if (r < 0)
				break;
			end = d->listed->end;
			full = d->listed->full;
			if (end == d->pos)
				break;
		}
		while (d->pos < end) {
			struct dirent64 *de = (struct dirent64 *)(d->buf + d->pos);
			struct fuse_entry_param e = { 0 };
			bool dot = streq(de->d_name, ".") || streq(de->d_name, "..");
			bool ref = false;
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
				struct listed *l = d->listed;

				r = -l->err[k];
				if (r == 0)
					r = listed_entry(v, &d->t, d->node, de->d_name, &l->st[k],
							 &e);
				k++;
				if (r < 0)
					break;
				ref = true;
			}
			n = add_entry(rep->buf + rep->used, size - rep->used, plus,
				      de->d_name, &e, (off_t)de->d_off);
			if (ref && n > 0)
				r = dir_reply_add_id(rep, e.ino);
			if (n == 0 || r < 0) {
				if (ref)
					node_table_forget(v->nodes, e.ino, 1);
				full = true;
				break;
			}
			rep->used += n;
			d->pos += de->d_reclen;
			d->next = (off_t)de->d_off;
		}
	}
	if (rep->used == 0)
		rep->err = r;
}

/* Sends a built reply; its references are the kernel's once it has it. */
static void send_reply(fuse_req_t req, struct view *v, struct dir *d, struct dir_reply *rep)
{
	int r;

	if (rep->err < 0)
		r = fuse_reply_err(req, target_errno(rep->err, "readdir", &d->t));
	else
		r = fuse_reply_buf(req, rep->buf, rep->used);
	if (r < 0)
		dir_reply_drop(rep, v->nodes);
	else
		dir_reply_sent(rep);
}

/* Builds the reply to the request that follows one of `size` bytes, if there is one. */
static void build_ahead(struct view *v, struct dir *d, const struct dir_reply *sent,
			size_t size)
{
	if (sent->err < 0 || sent->used == 0)
		return;
	if (dir_reply_start(&d->ahead, size, d->next) < 0)
		return;
	fill_file(v, d, &d->ahead, size, true);
	d->ahead_ready = true;
}

static void readdir_file(fuse_req_t req, struct view *v, struct dir *d, size_t size, off_t off,
			 bool plus)
{
	int r;

	pthread_mutex_lock(&d->lock);
	if (d->ahead_ready) {
		d->ahead_ready = false;
		if (plus && d->ahead.off == off && d->ahead.used <= size) {
			send_reply(req, v, d, &d->ahead);
			build_ahead(v, d, &d->ahead, size);
			goto out;
		}
		/* not what was asked for: the listing goes on from `off` instead */
		dir_reply_drop(&d->ahead, v->nodes);
		d->len = d->pos = 0;
		d->next = -1;
	}
	if (off != d->next || (off == 0 && d->len == 0)) {
		if (lseek(d->fd, off, SEEK_SET) < 0) {
			fuse_reply_err(req, errno);
			goto out;
		}
		d->len = d->pos = 0;
		d->next = off;
	}
	r = dir_reply_start(&d->now, size, off);
	if (r < 0) {
		fuse_reply_err(req, -r);
		goto out;
	}
	fill_file(v, d, &d->now, size, plus);
	send_reply(req, v, d, &d->now);
	if (plus)
		build_ahead(v, d, &d->now, size);
out:
	pthread_mutex_unlock(&d->lock);
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
