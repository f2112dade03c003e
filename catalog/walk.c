// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The tree walk behind index and verify. Each directory's names are read
 * whole and sorted, so a depth-first walk yields entries in manifest path
 * order and merges with the base manifest as two sorted streams. Directories
 * are opened relative to their parent only when something in them has to be
 * looked at: an unchanged directory in the generation method is never opened.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "catalog-internal.h"
#include "walk.h"

struct level {
	int fd;          /* -1 until needed */
	size_t name_off; /* where its name starts in the path */
	size_t saved_len; /* the path's length before it was entered */
};

struct walker {
	const struct walk_options *o;
	const char *root;
	struct errbuf *eb;
	struct walk_stats st;
	char *path;
	size_t len, cap;
	struct level *levels;
	size_t depth, levels_cap;
	dev_t root_dev;
	char *target;
	size_t target_cap;
	struct manifest_hasher *hasher;
	struct manifest_entry b; /* the base entry in hand */
	bool b_valid, b_eof;
	int64_t last_tick_ns;
	unsigned since_tick;
};

struct dirent_name {
	size_t off;
	uint64_t ino;
};

static void maybe_tick(struct walker *w, bool force)
{
	int64_t now;

	if (!w->o->tick || (!force && ++w->since_tick < 64))
		return;
	w->since_tick = 0;
	now = time_mono_ns();
	if (!force && now - w->last_tick_ns < 200000000)
		return;
	w->last_tick_ns = now;
	w->o->tick(w->o->userdata, &w->st);
}

static int fail(struct walker *w, int r, const char *what)
{
	return errbuf_set(w->eb, r, "cannot %s '%s%s%.*s'", what, w->root, w->len ? "/" : "",
			  (int)w->len, w->path);
}

/*
 * A copy's file as the original showed it (see inomap.h). A file the map
 * does not know has no identity to record: the index fails rather than
 * record the storage's numbers.
 */
static int original(struct walker *w, struct stat *st)
{
	int r;

	if (!w->o->inomap)
		return 0;
	r = inomap_apply(w->o->inomap, st);
	if (r == -ENOENT)
		return errbuf_setx(w->eb, -EIO,
				   "'%s%s%.*s' (inode %ju of the copy) is missing from the "
				   "inode map",
				   w->root, w->len ? "/" : "", (int)w->len, w->path,
				   (uintmax_t)st->st_ino);
	if (r < 0)
		return fail(w, r, "translate through the inode map");
	return 0;
}

/* As original(), for an entry `name` of the current directory known by number alone. */
static int original_ino(struct walker *w, const char *name, uint64_t *ino)
{
	struct inomap_record rec;

	if (!w->o->inomap)
		return 0;
	if (!inomap_find(w->o->inomap, *ino, &rec))
		return errbuf_setx(w->eb, -EIO,
				   "'%s%s%.*s/%s' (inode %ju of the copy) is missing from the "
				   "inode map",
				   w->root, w->len ? "/" : "", (int)w->len, w->path, name,
				   (uintmax_t)*ino);
	*ino = rec.ino;
	return 0;
}

static int path_push(struct walker *w, const char *name, size_t len)
{
	size_t need = w->len + 1 + len + 1;

	if (need > w->cap) {
		size_t cap = w->cap ? w->cap : 4096;
		char *p;

		while (cap < need)
			cap *= 2;
		p = realloc(w->path, cap);
		if (!p)
			return -ENOMEM;
		w->path = p;
		w->cap = cap;
	}
	if (w->depth + 1 >= w->levels_cap) {
		size_t cap = w->levels_cap ? w->levels_cap * 2 : 64;
		struct level *l = reallocarray(w->levels, cap, sizeof(*l));

		if (!l)
			return -ENOMEM;
		w->levels = l;
		w->levels_cap = cap;
	}
	w->depth++;
	w->levels[w->depth] = (struct level){ .fd = -1, .saved_len = w->len };
	if (w->len)
		w->path[w->len++] = '/';
	w->levels[w->depth].name_off = w->len;
	memcpy(w->path + w->len, name, len);
	w->len += len;
	w->path[w->len] = 0;
	return 0;
}

static void path_pop(struct walker *w)
{
	struct level *l = &w->levels[w->depth];

	if (l->fd >= 0)
		close(l->fd);
	w->len = l->saved_len;
	w->path[w->len] = 0;
	w->depth--;
}

/* The name of the current level, NUL-terminated (it ends the path). */
static const char *level_name(const struct walker *w)
{
	return w->path + w->levels[w->depth].name_off;
}

/* Opens the directories down to level d as they are needed. */
static int level_fd(struct walker *w, size_t d)
{
	struct level *l = &w->levels[d];
	_cleanup_free_ char *name = NULL;
	size_t end;
	int parent;

	if (l->fd >= 0)
		return l->fd;
	parent = level_fd(w, d - 1);
	if (parent < 0)
		return parent;
	end = d < w->depth ? w->levels[d + 1].saved_len : w->len;
	name = strndup(w->path + l->name_off, end - l->name_off);
	if (!name)
		return -ENOMEM;
	l->fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (l->fd < 0)
		return -errno;
	return l->fd;
}

static int base_peek(struct walker *w)
{
	int r;

	if (!w->o->base || w->b_eof)
		return 0;
	if (w->b_valid)
		return 1;
	r = catalog_manifest_reader_next(w->o->base, &w->b);
	if (r == -EBADMSG)
		return errbuf_setx(w->eb, r, "the base manifest is damaged (%s)",
				   catalog_manifest_reader_damage(w->o->base) ?: "unknown");
	if (r < 0)
		return errbuf_set(w->eb, r, "cannot read the base manifest");
	if (r == 0) {
		w->b_eof = true;
		return 0;
	}
	w->b_valid = true;
	return 1;
}

static bool changed(const struct walker *w, uint64_t ino)
{
	return !w->o->changed || u64set_contains(w->o->changed, ino);
}

static void count(struct walker *w, const struct manifest_entry *e)
{
	w->st.entries++;
	if (e->type == MANIFEST_REG) {
		w->st.files++;
		w->st.bytes += e->size;
	}
}

static bool same_inode_state(const struct manifest_entry *a, const struct manifest_entry *b)
{
	return a->type == b->type && a->ino == b->ino && a->size == b->size &&
	       a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec &&
	       a->ctime_sec == b->ctime_sec && a->ctime_nsec == b->ctime_nsec;
}

static int read_content(struct walker *w, int dfd, const char *name, const struct stat *st,
			struct manifest_entry *e)
{
	_cleanup_close_ int fd = -1;
	struct stat st2;
	uint64_t n;
	int r;

	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return fail(w, -errno, "open");
	if (fstat(fd, &st2) < 0)
		return fail(w, -errno, "stat");
	r = original(w, &st2);
	if (r < 0)
		return r;
	if (st2.st_ino != st->st_ino || st2.st_dev != st->st_dev)
		return fail(w, -ESTALE, "read (replaced while read)");
	r = manifest_hasher_fd(w->hasher, fd, e->content, &n);
	if (r < 0)
		return fail(w, r, "read");
	e->flags |= MANIFEST_HAS_CONTENT;
	w->st.read_files++;
	w->st.read_bytes += n;
	return 0;
}

/*
 * Looks at the entry `name` of directory `dfd` (the root itself when name is
 * ""), reusing the digests of `reuse` when the stat method shows it unchanged.
 */
static int fresh_entry(struct walker *w, int dfd, const char *name,
		       const struct manifest_entry *reuse, struct manifest_entry *e,
		       struct stat *ret_st)
{
	struct stat st;
	int r;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW | (name[0] ? 0 : AT_EMPTY_PATH)) < 0)
		return fail(w, -errno, "stat");
	r = original(w, &st);
	if (r < 0)
		return r;
	*e = (struct manifest_entry){ 0 };
	r = manifest_entry_from_stat(&st, e);
	if (r < 0)
		return fail(w, r, "record the type of");
	e->path = w->path;
	e->path_len = w->len;
	if (S_ISLNK(st.st_mode)) {
		ssize_t n;

		for (;;) {
			if (w->target_cap < (size_t)st.st_size + 2 || w->target_cap < 256) {
				size_t cap = (size_t)st.st_size + 256;
				char *t = realloc(w->target, cap);

				if (!t)
					return -ENOMEM;
				w->target = t;
				w->target_cap = cap;
			}
			n = readlinkat(dfd, name, w->target, w->target_cap);
			if (n < 0)
				return fail(w, -errno, "read the link");
			if ((size_t)n < w->target_cap)
				break;
			st.st_size = (off_t)w->target_cap * 2;
		}
		e->target = w->target;
		e->target_len = (size_t)n;
		e->size = (uint64_t)n;
	}
	if (reuse && same_inode_state(e, reuse)) {
		memcpy(e->content, reuse->content, MANIFEST_DIGEST_LEN);
		memcpy(e->xattrs, reuse->xattrs, MANIFEST_DIGEST_LEN);
		e->flags = reuse->flags;
	} else {
		if (S_ISREG(st.st_mode)) {
			r = read_content(w, dfd, name, &st, e);
			if (r < 0)
				return r;
		}
		r = manifest_xattr_digest_at(dfd, name, e->xattrs);
		if (r < 0)
			return fail(w, r, "read the extended attributes of");
		if (r > 0)
			e->flags |= MANIFEST_HAS_XATTRS;
	}
	if (ret_st)
		*ret_st = st;
	return 0;
}

static int emit(struct walker *w, const struct manifest_entry *e, bool reused)
{
	count(w, e);
	maybe_tick(w, false);
	return w->o->emit(w->o->userdata, e, reused);
}

static int walk_listed(struct walker *w);

/* Descends into the directory just entered (the current level), if allowed. */
static int descend(struct walker *w, const struct stat *st)
{
	if (w->o->one_filesystem && st->st_dev != w->root_dev)
		return 0;
	return walk_listed(w);
}

/*
 * A directory the generation method shows unchanged: its names are those of
 * the base, so it is not even opened; only changed children are looked at.
 */
static int walk_unchanged(struct walker *w)
{
	int r;

	for (;;) {
		struct manifest_entry e;
		struct stat st;
		const char *name;
		size_t skip, name_len;
		bool is_dir;

		r = base_peek(w);
		if (r <= 0)
			return r;
		if (!manifest_path_is_beneath(w->b.path, w->b.path_len, w->path, w->len))
			return 0;
		skip = w->len ? w->len + 1 : 0;
		name = w->b.path + skip;
		name_len = w->b.path_len - skip;
		if (memchr(name, '/', name_len))
			return errbuf_setx(w->eb, -EBADMSG,
					   "the base manifest is damaged (an entry without its "
					   "directory)");
		r = path_push(w, name, name_len);
		if (r < 0)
			return r;
		if (!changed(w, w->b.ino)) {
			is_dir = w->b.type == MANIFEST_DIR;
			r = emit(w, &w->b, true);
			w->b_valid = false;
			if (r >= 0 && is_dir)
				r = walk_unchanged(w);
		} else {
			int dfd = level_fd(w, w->depth - 1);

			w->b_valid = false;
			if (dfd < 0)
				r = fail(w, dfd, "open");
			else
				r = fresh_entry(w, dfd, level_name(w), NULL, &e, &st);
			if (r >= 0)
				r = emit(w, &e, false);
			if (r >= 0 && e.type == MANIFEST_DIR)
				r = descend(w, &st);
		}
		path_pop(w);
		if (r < 0)
			return r;
	}
}

static int name_cmp(const void *a, const void *b, void *arena)
{
	const struct dirent_name *x = a, *y = b;

	return strcmp((const char *)arena + x->off, (const char *)arena + y->off);
}

/* Reads the current directory's names, sorted. */
static int list_dir(struct walker *w, char **ret_arena, struct dirent_name **ret_names,
		    size_t *ret_n)
{
	_cleanup_free_ char *arena = NULL;
	_cleanup_free_ struct dirent_name *names = NULL;
	size_t n = 0, cap = 0, alen = 0, acap = 0;
	struct dirent *de;
	DIR *d;
	int fd, dup_fd, r;

	fd = level_fd(w, w->depth);
	if (fd < 0)
		return fail(w, fd, "open");
	dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dup_fd < 0)
		return fail(w, -errno, "open");
	d = fdopendir(dup_fd);
	if (!d) {
		close(dup_fd);
		return fail(w, -errno, "open");
	}
	for (;;) {
		size_t len;

		errno = 0;
		de = readdir(d);
		if (!de)
			break;
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		len = strlen(de->d_name);
		if (alen + len + 1 > acap) {
			size_t c = acap ? acap * 2 : 4096;
			char *a;

			while (c < alen + len + 1)
				c *= 2;
			a = realloc(arena, c);
			if (!a)
				goto nomem;
			arena = a;
			acap = c;
		}
		if (n == cap) {
			size_t c = cap ? cap * 2 : 64;
			struct dirent_name *nn = reallocarray(names, c, sizeof(*nn));

			if (!nn)
				goto nomem;
			names = nn;
			cap = c;
		}
		memcpy(arena + alen, de->d_name, len + 1);
		names[n++] = (struct dirent_name){ .off = alen, .ino = de->d_ino };
		alen += len + 1;
		/* the generation method compares it with the base's, the original's number */
		r = original_ino(w, de->d_name, &names[n - 1].ino);
		if (r < 0) {
			closedir(d);
			return r;
		}
	}
	if (errno != 0) {
		r = -errno;
		closedir(d);
		return fail(w, r, "list");
	}
	closedir(d);
	if (n > 1)
		qsort_r(names, n, sizeof(*names), name_cmp, arena);
	*ret_arena = TAKE_PTR(arena);
	*ret_names = TAKE_PTR(names);
	*ret_n = n;
	return 0;
nomem:
	closedir(d);
	return -ENOMEM;
}

/* A directory whose names are read from the filesystem and merged with the base. */
static int walk_listed(struct walker *w)
{
	_cleanup_free_ char *arena = NULL;
	_cleanup_free_ struct dirent_name *names = NULL;
	size_t n = 0;
	int r;

	r = list_dir(w, &arena, &names, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		const char *name = arena + names[i].off;
		const struct manifest_entry *bm = NULL;
		struct manifest_entry e;
		struct stat st;
		int dfd;

		r = path_push(w, name, strlen(name));
		if (r < 0)
			return r;
		/* base entries before this one are gone from the tree */
		while ((r = base_peek(w)) > 0) {
			int c = manifest_path_cmp(w->b.path, w->b.path_len, w->path, w->len);

			if (c > 0)
				break;
			if (c == 0) {
				bm = &w->b;
				break;
			}
			w->b_valid = false;
		}
		if (r < 0)
			goto out;
		if (w->o->method == CATALOG_INDEX_GENERATION && bm && bm->ino == names[i].ino &&
		    !changed(w, bm->ino)) {
			bool is_dir = bm->type == MANIFEST_DIR;

			r = emit(w, bm, true);
			w->b_valid = false;
			if (r >= 0 && is_dir)
				r = walk_unchanged(w);
			goto out;
		}
		dfd = level_fd(w, w->depth - 1);
		if (dfd < 0) {
			r = fail(w, dfd, "open");
			goto out;
		}
		r = fresh_entry(w, dfd, name, w->o->method == CATALOG_INDEX_STAT ? bm : NULL, &e,
				&st);
		if (bm)
			w->b_valid = false;
		if (r >= 0)
			r = emit(w, &e, false);
		if (r >= 0 && e.type == MANIFEST_DIR)
			r = descend(w, &st);
out:
		path_pop(w);
		if (r < 0)
			return r;
	}
	/* what the base still holds beneath this directory is gone */
	while ((r = base_peek(w)) > 0 &&
	       manifest_path_is_beneath(w->b.path, w->b.path_len, w->path, w->len))
		w->b_valid = false;
	return r < 0 ? r : 0;
}

int walk_tree(const char *root, const struct walk_options *o, struct walk_stats *ret_stats,
	      struct errbuf *eb)
{
	struct walker w = { .o = o, .root = root, .eb = eb, .last_tick_ns = time_mono_ns() };
	struct manifest_entry e;
	struct stat st;
	int r, fd;

	w.levels_cap = 64;
	w.levels = calloc(w.levels_cap, sizeof(*w.levels));
	w.cap = 4096;
	w.path = malloc(w.cap);
	if (!w.levels || !w.path || manifest_hasher_new(&w.hasher) < 0) {
		r = -ENOMEM;
		goto out;
	}
	w.path[0] = 0;
	w.levels[0].fd = -1;
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = errbuf_set(eb, -errno, "cannot open '%s'", root);
		goto out;
	}
	w.levels[0] = (struct level){ .fd = fd };
	if (fstat(fd, &st) < 0) {
		r = errbuf_set(eb, -errno, "cannot stat '%s'", root);
		goto out;
	}
	w.root_dev = st.st_dev;
	r = original(&w, &st);
	if (r < 0)
		goto out;

	r = base_peek(&w);
	if (r < 0)
		goto out;
	if (r > 0 && w.b.path_len == 0 && o->method == CATALOG_INDEX_GENERATION &&
	    w.b.ino == (uint64_t)st.st_ino && !changed(&w, w.b.ino)) {
		r = emit(&w, &w.b, true);
		w.b_valid = false;
		if (r >= 0)
			r = walk_unchanged(&w);
	} else {
		const struct manifest_entry *bm = r > 0 && w.b.path_len == 0 ? &w.b : NULL;

		r = fresh_entry(&w, fd, "", o->method == CATALOG_INDEX_STAT ? bm : NULL, &e, NULL);
		if (bm)
			w.b_valid = false;
		if (r >= 0)
			r = emit(&w, &e, false);
		if (r >= 0)
			r = walk_listed(&w);
	}
	if (r >= 0) {
		maybe_tick(&w, true);
		*ret_stats = w.st;
		r = 0;
	}
out:
	while (w.levels && w.depth > 0)
		path_pop(&w);
	if (w.levels && w.levels[0].fd >= 0)
		close(w.levels[0].fd);
	free(w.levels);
	free(w.path);
	free(w.target);
	manifest_hasher_free(w.hasher);
	return r;
}
