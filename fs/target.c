// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What a node id names (a synthetic entry or a file of a snapshot, see ino.h),
 * and the attributes and entries the view answers with for it.
 */
#include "target.h"

void target_release(struct target *t)
{
	view_set_unref(t->set);
	t->set = NULL;
}

/* Errors from underneath: a vanished snapshot reads as absent; the rest is logged. */
int target_errno(int r, const char *what, const struct target *t)
{
	if (r == -ESTALE || r == -ENOENT)
		return ENOENT;
	if (r == -EIO || r == -EUCLEAN)
		log_error("%s failed in set %s: %s", what, t->set ? t->set->id : "?",
			  strerror(-r));
	return -r;
}

int target_resolve(struct view *v, fuse_ino_t id, struct target *t)
{
	view_readahead_once(v);
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

struct dir_open {
	int mount_fd;
	const struct node_handle *handle;
};

static int dir_open(void *userdata)
{
	struct dir_open *o = userdata;

	return node_handle_open(o->mount_fd, o->handle, O_PATH | O_DIRECTORY);
}

/* what a file target is found for */
enum use {
	USE_HANDLE, /* its handle, recorded for the node */
	USE_DATA,   /* reading its data: the same, and the fetching ahead is told */
	USE_PATH,   /* an O_PATH descriptor: a listed node stays listed */
};

/*
 * Finds a file target: its handle in *ret (and for USE_PATH, the descriptor
 * in *ret_fd). A node known by its listing alone is looked up by name
 * through a descriptor of its directory, kept for the entries after it (a
 * backup reads a directory's files one after the other).
 */
static int find(struct view *v, const struct target *t, enum use use, int flags,
		struct node_handle *ret, int *ret_fd)
{
	char name[NAME_MAX + 1];
	uint64_t dir_id;
	struct dir_open o = { t->vol->fd, ret };
	int r, fd;

	if (t->p.file == t->vol->root_ino) {
		*ret = t->vol->root_handle;
		return 0;
	}
	r = node_table_handle(v->nodes, t->id, ret, name, &dir_id);
	if (r != NODE_LISTED)
		return r;
	/* (*ret is its directory's handle) */
	fd = fdcache_get(v->files, dir_id, dir_open, &o);
	if (fd < 0)
		return fd;
	if (use == USE_PATH) {
		/* (a snapshot's names never change; the name is not followed) */
		*ret_fd = openat(fd, name, flags | O_NOFOLLOW | O_CLOEXEC);
		r = *ret_fd < 0 ? -errno : NODE_LISTED;
		fdcache_put(v->files, dir_id, fd);
		return r;
	}
	r = node_handle_at(fd, name, ret);
	if (r == 0 && use == USE_DATA && v->fetch)
		fetchahead_note(v->fetch, dir_id, fd, name, &t->p);
	fdcache_put(v->files, dir_id, fd);
	if (r == 0)
		node_table_set_handle(v->nodes, t->id, ret);
	return r;
}

int target_handle(struct view *v, const struct target *t, struct node_handle *ret)
{
	return find(v, t, USE_HANDLE, 0, ret, NULL);
}

static int open_for(struct view *v, const struct target *t, int flags, enum use use)
{
	struct node_handle h;
	int fd = -1;
	int r = find(v, t, use, flags, &h, &fd);

	if (r == NODE_LISTED)
		return fd;
	return r < 0 ? r : node_handle_open(t->vol->fd, &h, flags);
}

int target_open(struct view *v, const struct target *t, int flags)
{
	return open_for(v, t, flags, USE_HANDLE);
}

int target_open_data(struct view *v, const struct target *t, int flags)
{
	return open_for(v, t, flags, USE_DATA);
}

int target_open_path(struct view *v, const struct target *t)
{
	return open_for(v, t, O_PATH | O_NOFOLLOW, USE_PATH);
}

void synthetic_attr(struct view *v, const struct target *t, struct stat *st)
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

static int map_gap(const struct target *t, uint64_t copy_ino)
{
	/* a damaged or incomplete map would otherwise fill the log, one line per file */
	if (!atomic_exchange(&t->vol->inomap_gap_logged, true))
		log_error("set %s: volume '%s': inode %ju of the copy is missing from its inode "
			  "map; such files answer EIO",
			  t->set->id, t->vol->name, (uintmax_t)copy_ino);
	return -EIO;
}

int original_stat(const struct target *t, struct stat *st)
{
	int r;

	if (!t->vol->inomap)
		return 0;
	r = inomap_apply(t->vol->inomap, st);
	return r == -ENOENT ? map_gap(t, (uint64_t)st->st_ino) : r;
}

int original_ino(const struct target *t, uint64_t copy_ino, uint64_t *ret)
{
	struct inomap_record rec;

	if (!t->vol->inomap) {
		*ret = copy_ino;
		return 0;
	}
	if (!inomap_find(t->vol->inomap, copy_ino, &rec))
		return map_gap(t, copy_ino);
	*ret = rec.ino;
	return 0;
}

/* The node id of a file of t's set and volume, in t's namespace. */
static int node_id(const struct target *t, uint64_t file, uint64_t *ret)
{
	return t->current ? ino_encode_current(t->p.set, t->p.vol, file, ret)
			  : ino_encode(t->p.set, t->p.vol, file, ret);
}

/* What stat and readdir show as its number: the node id, or in current/ a number
 * that does not depend on the set. */
int shown_ino(const struct target *t, uint64_t file, uint64_t *ret)
{
	return t->current ? ino_current_st(t->vol->volume_key, file, ret)
			  : ino_encode(t->p.set, t->p.vol, file, ret);
}

int file_attr_of(const struct target *t, struct stat *st, uint64_t *ret_id)
{
	uint64_t id = 0, shown = 0;
	int r;

	/* node ids are built from the original's number; the node table keeps the copy's handle */
	r = original_stat(t, st);
	if (r < 0)
		return r;
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

int file_attr(const struct target *t, int fd, const char *name, struct stat *st,
	      uint64_t *ret_id)
{
	if (fstatat(fd, name, st, AT_SYMLINK_NOFOLLOW | (name[0] ? 0 : AT_EMPTY_PATH)) < 0)
		return -errno;
	return file_attr_of(t, st, ret_id);
}

/* The rest of an entry of node `id` (its attributes are in e). */
static void entry_fill(struct fuse_entry_param *e, uint64_t id)
{
	e->ino = id;
	e->attr_timeout = TIMEOUT_FOREVER;
	e->entry_timeout = TIMEOUT_FOREVER;
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
	entry_fill(e, id);
	return 0;
}

int child_entry(struct view *v, const struct target *parent, int dirfd, const char *name,
		struct fuse_entry_param *e)
{
	return file_entry(v, parent, dirfd, name, NULL, e);
}

int listed_entry(struct view *v, const struct target *parent, struct node_dir *dir,
		 const char *name, const struct stat *st, struct fuse_entry_param *e)
{
	uint64_t id = 0;
	int r;

	memset(e, 0, sizeof(*e));
	e->attr = *st;
	r = file_attr_of(parent, &e->attr, &id);
	if (r == 0)
		r = node_table_ref_listed(v->nodes, id, dir, name);
	if (r < 0)
		return r;
	entry_fill(e, id);
	return 0;
}

/* The entry of a volume's root inside its set's directory (one lookup reference). */
int volume_entry(struct view *v, struct view_set *s, size_t vi, bool current,
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

int synthetic_entry(struct view *v, struct view_set *s, uint64_t file,
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

bool hidden_name(const struct target *dir, const char *name)
{
	return dir->vol->hide_storage && dir->p.file == dir->vol->root_ino &&
	       streq(name, ".stillfs");
}
