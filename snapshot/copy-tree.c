// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Copying a live tree, one entry at a time, each as of one instant.
 *
 * The tree belongs to its users, who may change it while it is copied and
 * may try to make a process running as root read elsewhere. So every entry
 * is opened by one name beneath its parent's descriptor (open_beneath), an
 * entry whose type changes between the stat and the open is looked at again,
 * and a regular file is copied until two stats around the copy agree; one
 * that keeps changing is copied once more under a shared lock (both fcntl and
 * flock kinds), which programs that lock their files, as SQLite does, wait
 * for. What still changed is reported as inconsistent, never hidden.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <time.h>

#include "copy.h"

/* unlocked attempts before a file that keeps changing is locked */
#define UNLOCKED_TRIES 3
/* a type that keeps changing under us is an attack or a storm: give up then */
#define RETYPE_TRIES 8
#define LOCK_POLL_NS (10 * INT64_C(1000000))

struct copier {
	const struct copy_options *o;
	struct copy_stats *stats;
	struct inomap_writer *map;
	const struct inomap *base_map;
	struct copy_links *links;
	int dst_root;
	dev_t src_dev;
	bool reflink;
	struct errbuf *eb;
	char *path; /* the entry being copied, relative to the volume */
	size_t len, cap;
};

/* A name in a directory, with what readdir tells of it. */
struct entry {
	char *name;
	ino_t ino;
	unsigned char type; /* DT_*; DT_UNKNOWN where the filesystem does not say */
};

static void free_entries(struct entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].name);
	free(e);
}

static int path_push(struct copier *c, const char *name, size_t *saved)
{
	size_t n = strlen(name), need = c->len + n + 2;

	if (need > c->cap) {
		size_t cap = c->cap ? c->cap : 256;
		char *p;

		while (cap < need)
			cap *= 2;
		p = realloc(c->path, cap);
		if (!p)
			return -ENOMEM;
		c->path = p;
		c->cap = cap;
	}
	*saved = c->len;
	if (c->len > 0)
		c->path[c->len++] = '/';
	memcpy(c->path + c->len, name, n + 1);
	c->len += n;
	return 0;
}

static void path_pop(struct copier *c, size_t saved)
{
	c->len = saved;
	c->path[saved] = '\0';
}

static const char *path_or_root(const struct copier *c)
{
	return c->len ? c->path : ".";
}

static int fail(struct copier *c, int r, const char *what)
{
	if (r == -ENOSPC || r == -EDQUOT)
		return errbuf_set(c->eb, r, "the storage is full (copying '%s')", path_or_root(c));
	return errbuf_set(c->eb, r, "cannot %s '%s'", what, path_or_root(c));
}

static void problem(struct copier *c, const char *what)
{
	c->stats->inconsistent++;
	if (c->o->problem)
		c->o->problem(c->o->userdata, path_or_root(c), what);
}

/* Records the copy's inode `copy_ino` as a copy of the file `orig`. */
static int record_ino(struct copier *c, ino_t copy_ino, const struct stat *orig)
{
	struct inomap_record rec = {
		.copy_ino = (uint64_t)copy_ino,
		.ino = (uint64_t)orig->st_ino,
		.ctime_sec = orig->st_ctim.tv_sec,
		.ctime_nsec = (uint32_t)orig->st_ctim.tv_nsec,
		.nlink = (uint32_t)orig->st_nlink,
	};

	return inomap_writer_add(c->map, &rec);
}

/* Records the copy (`dirfd`/`name`, or `fd`) as a copy of the file `orig`. */
static int record(struct copier *c, int fd, int dirfd, const char *name, const struct stat *orig)
{
	struct stat st;

	if ((fd >= 0 ? fstat(fd, &st) : fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW)) < 0)
		return fail(c, -errno, "inspect the copy of");
	return record_ino(c, st.st_ino, orig);
}

/* A later name of a file already copied: a hard link of that copy. 1 when done. */
static int link_earlier(struct copier *c, const struct stat *st, int dst, const char *name)
{
	_cleanup_close_ int fd = -1;
	int r;

	if (S_ISDIR(st->st_mode) || st->st_nlink < 2)
		return 0;
	r = copy_links_find(c->links, (uint64_t)st->st_ino, c->dst_root, &fd);
	if (r == -ENOENT || r == -ESTALE)
		return 0;
	if (r < 0)
		return fail(c, r, "find the earlier copy of");
	if (linkat(fd, "", dst, name, AT_EMPTY_PATH) < 0) {
		if (errno == EMLINK)
			return 0; /* a copy of its own then */
		return fail(c, -errno, "link");
	}
	return 1;
}

/* Remembers a copy whose file has other names still to come. */
static int remember(struct copier *c, const struct stat *st, int dst, const char *name)
{
	int r;

	if (S_ISDIR(st->st_mode) || st->st_nlink < 2)
		return 0;
	r = copy_links_add(c->links, (uint64_t)st->st_ino, dst, name);
	return r < 0 ? fail(c, r, "remember the copy of") : 0;
}

/* The previous set's copy, when the file is the same by inode, size, mtime and ctime. 1 when linked. */
static int link_base(struct copier *c, const struct stat *st, int base, int dst, const char *name)
{
	struct inomap_record buf;
	const struct inomap_record *rec;
	struct stat bst;

	if (base < 0 || !c->base_map || fstatat(base, name, &bst, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(bst.st_mode))
		return 0;
	rec = inomap_find(c->base_map, (uint64_t)bst.st_ino, &buf);
	if (!rec || rec->ino != (uint64_t)st->st_ino || rec->ctime_sec != st->st_ctim.tv_sec ||
	    rec->ctime_nsec != (uint32_t)st->st_ctim.tv_nsec || bst.st_size != st->st_size ||
	    bst.st_mtim.tv_sec != st->st_mtim.tv_sec || bst.st_mtim.tv_nsec != st->st_mtim.tv_nsec)
		return 0;
	if (linkat(base, name, dst, name, 0) < 0) {
		if (errno == EMLINK || errno == EXDEV)
			return 0;
		return fail(c, -errno, "link the previous copy of");
	}
	c->stats->linked++;
	return 1;
}

static bool deadline_passed(const struct copier *c)
{
	return c->o->deadline_ns > 0 && time_mono_ns() > c->o->deadline_ns;
}

/*
 * A refresh: whether the earlier copy of `name` in `dst` (`had`, as its
 * directory listed it; NULL: none) still stands for the entry `st` of the
 * volume. It does when it has the same type and its map gives the same
 * inode, link count and ctime: any change of content, size, times, owner,
 * mode or xattrs moves the ctime on. 1 when it is kept as it is (recorded
 * again); 0 when there is nothing there now, or a directory to refresh in
 * place; what was there and is not the same any more is removed first.
 */
static int refresh_existing(struct copier *c, int dst, const char *name, const struct stat *st,
			    const struct entry *had)
{
	struct inomap_record buf;
	const struct inomap_record *rec;
	mode_t type;
	ino_t ino;
	bool same;
	int r;

	if (!had)
		return 0;
	if (had->type != DT_UNKNOWN) {
		type = DTTOIF(had->type);
		ino = had->ino;
	} else {
		struct stat cst;

		if (fstatat(dst, name, &cst, AT_SYMLINK_NOFOLLOW) < 0)
			return errno == ENOENT ? 0 : fail(c, -errno, "inspect the earlier copy of");
		type = cst.st_mode & S_IFMT;
		ino = cst.st_ino;
	}
	same = type == (st->st_mode & S_IFMT) && st->st_dev == c->src_dev;
	if (same && S_ISDIR(st->st_mode))
		return 0;
	rec = same ? inomap_find(c->base_map, (uint64_t)ino, &buf) : NULL;
	same = rec && rec->ino == (uint64_t)st->st_ino && rec->ctime_sec == st->st_ctim.tv_sec &&
	       rec->ctime_nsec == (uint32_t)st->st_ctim.tv_nsec &&
	       rec->nlink == (uint32_t)st->st_nlink;
	if (same) {
		c->stats->linked += S_ISREG(st->st_mode);
		return record_ino(c, ino, st) ?: 1;
	}
	r = rmtree_at(dst, name);
	return r < 0 ? fail(c, r, "remove the earlier copy of") : 0;
}

/* Takes shared locks of both kinds on the whole file, waiting until the deadline. */
static bool lock_shared(struct copier *c, int fd)
{
	int64_t until = time_mono_ns() + c->o->lock_timeout_ns;
	bool posix = false, bsd = false;

	for (;;) {
		struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET };

		if (!posix && fcntl(fd, F_OFD_SETLK, &fl) == 0)
			posix = true;
		if (!bsd && flock(fd, LOCK_SH | LOCK_NB) == 0)
			bsd = true;
		if (posix && bsd)
			return true;
		if (time_mono_ns() >= until || deadline_passed(c))
			return false;
		nanosleep(&(struct timespec){ 0, LOCK_POLL_NS }, NULL);
	}
}

static void unlock(int fd)
{
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET };

	fcntl(fd, F_OFD_SETLK, &fl);
	flock(fd, LOCK_UN);
}

/* One attempt: 1 when the file did not change while it was copied, with its stat in *st. */
static int copy_once(struct copier *c, int in, int out, struct stat *st)
{
	struct stat after;
	bool cloned;
	int r;

	if (fstat(in, st) < 0)
		return -errno;
	if (ftruncate(out, 0) < 0)
		return -errno;
	r = copy_data(in, out, st->st_size, &c->reflink, &cloned, &c->stats->copied_bytes);
	if (r < 0)
		return r;
	if (fstat(in, &after) < 0)
		return -errno;
	if (copy_stat_changed(st, &after))
		return 0;
	if (cloned)
		c->stats->cloned++;
	return 1;
}

static int copy_regular(struct copier *c, int src, int dst, int base, const char *name,
			const struct stat *seen)
{
	_cleanup_close_ int in = -1, out = -1;
	struct stat st;
	int r = 0;

	r = link_base(c, seen, base, dst, name);
	if (r < 0)
		return r;
	if (r > 0) {
		c->stats->files++;
		c->stats->bytes += (uint64_t)seen->st_size;
		return record(c, -1, dst, name, seen) ?: remember(c, seen, dst, name);
	}

	in = open_beneath(src, name, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_NOATIME);
	if (in == -EPERM)
		in = open_beneath(src, name, O_RDONLY | O_NONBLOCK | O_NOCTTY);
	if (in == -ENOENT)
		return 0; /* removed meanwhile: the copy shows it gone */
	if (in == -ELOOP || in == -ENXIO || in == -EXDEV)
		return -EAGAIN;
	if (in < 0)
		return fail(c, in, "open");
	if (fstat(in, &st) < 0)
		return fail(c, -errno, "inspect");
	if (!S_ISREG(st.st_mode))
		return -EAGAIN; /* swapped for something else meanwhile */

	out = openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		return fail(c, -errno, "create the copy of");
	for (int i = 0; i < UNLOCKED_TRIES && r == 0; i++) {
		r = copy_once(c, in, out, &st);
		if (r < 0)
			return fail(c, r, "copy");
	}
	if (r == 0) {
		if (!lock_shared(c, in)) {
			unlock(in);
			problem(c, "kept changing, and no shared lock could be taken in time");
			r = 1;
		} else {
			r = copy_once(c, in, out, &st);
			unlock(in);
			if (r < 0)
				return fail(c, r, "copy");
			if (r == 0)
				problem(c, "kept changing even under a shared lock");
		}
	}
	r = copy_meta_fd(in, out, &st);
	if (r < 0)
		return fail(c, r, "copy the attributes of");
	c->stats->files++;
	c->stats->bytes += (uint64_t)st.st_size;
	r = record(c, out, -1, NULL, &st);
	return r < 0 ? r : remember(c, &st, dst, name);
}

static int copy_symlink(struct copier *c, int src, int dst, const char *name, const struct stat *st)
{
	_cleanup_free_ char *target = malloc((size_t)st->st_size + 2);
	ssize_t n;
	int r;

	if (!target)
		return -ENOMEM;
	n = readlinkat(src, name, target, (size_t)st->st_size + 2);
	if (n < 0)
		return errno == ENOENT ? 0 : errno == EINVAL ? -EAGAIN : fail(c, -errno, "read");
	if (n != st->st_size)
		return -EAGAIN;
	target[n] = '\0';
	if (symlinkat(target, dst, name) < 0)
		return fail(c, -errno, "create the copy of");
	/* (by name: gone meanwhile, it may be back as something else) */
	r = copy_meta_at(src, name, dst, name, st);
	if (r == -ENOENT)
		return -EAGAIN;
	if (r < 0)
		return fail(c, r, "copy the attributes of");
	r = record(c, -1, dst, name, st);
	return r < 0 ? r : remember(c, st, dst, name);
}

static int copy_special(struct copier *c, int src, int dst, const char *name, const struct stat *st)
{
	int r;

	if (mknodat(dst, name, st->st_mode & (S_IFMT | 0600), st->st_rdev) < 0)
		return fail(c, -errno, "create the copy of");
	r = copy_meta_at(src, name, dst, name, st);
	if (r == -ENOENT)
		return -EAGAIN;
	if (r < 0)
		return fail(c, r, "copy the attributes of");
	r = record(c, -1, dst, name, st);
	return r < 0 ? r : remember(c, st, dst, name);
}

static int copy_children(struct copier *c, int src, int dst, int base);
static int copy_mount_point(struct copier *c, int src, int dst, const char *name,
			    const struct stat *st);

/*
 * A mount point inside the volume (a directory, or a file bind-mounted as
 * containers do with /etc/resolv.conf): empty, with the mount's attributes,
 * as tar --one-file-system keeps it.
 */
static int copy_mount_point(struct copier *c, int src, int dst, const char *name,
			    const struct stat *st)
{
	int r;

	r = S_ISDIR(st->st_mode) ? mkdirat(dst, name, 0700)
				 : mknodat(dst, name, (st->st_mode & S_IFMT) | 0600, st->st_rdev);
	if (r < 0)
		return fail(c, -errno, "create the copy of");
	r = copy_meta_at(src, name, dst, name, st);
	if (r < 0)
		return fail(c, r, "copy the attributes of");
	return record(c, -1, dst, name, st);
}

static int copy_directory(struct copier *c, int src, int dst, int base, const char *name,
			  const struct stat *seen)
{
	_cleanup_close_ int in = -1, out = -1, base_child = -1;
	struct stat st;
	int r;

	in = open_beneath(src, name, O_RDONLY | O_DIRECTORY);
	if (in == -ENOENT)
		return 0;
	if (in == -ELOOP || in == -ENOTDIR)
		return -EAGAIN;
	if (in == -EXDEV) {
		/* mounted on since its stat: a refresh had kept the directory's copy */
		if (c->o->refresh) {
			r = rmtree_at(dst, name);
			if (r < 0)
				return fail(c, r, "remove the earlier copy of");
		}
		return copy_mount_point(c, src, dst, name, seen);
	}
	if (in < 0)
		return fail(c, in, "open");
	if (fstat(in, &st) < 0)
		return fail(c, -errno, "inspect");
	/* a refresh keeps the earlier copy of a directory, and refreshes its entries */
	if (mkdirat(dst, name, 0700) < 0 && !(c->o->refresh && errno == EEXIST))
		return fail(c, -errno, "create the copy of");
	out = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (out < 0)
		return fail(c, -errno, "open the copy of");
	if (c->o->refresh) {
		r = copy_xattrs_clear_fd(out);
		if (r < 0)
			return fail(c, r, "refresh the attributes of");
	}
	if (base >= 0)
		base_child = openat(base, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	r = copy_children(c, in, out, base_child);
	if (r < 0)
		return r;
	/* after the children, whose making changed its times */
	r = copy_meta_fd(in, out, &st);
	if (r < 0)
		return fail(c, r, "copy the attributes of");
	return record(c, out, -1, NULL, &st);
}

/* A refresh: the entry is gone from the volume, so its earlier copy goes too. */
static int refresh_gone(struct copier *c, int dst, const char *name)
{
	int r = rmtree_at(dst, name);

	return r < 0 ? fail(c, r, "remove the earlier copy of") : 0;
}

/* Copies `name`; in a refresh, `had` is its earlier copy as listed (NULL: none). */
static int copy_entry(struct copier *c, int src, int dst, int base, const char *name,
		      const struct entry *had)
{
	for (int tries = 0; tries < RETYPE_TRIES; tries++) {
		struct stat st;
		int r;

		if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				return c->o->refresh ? refresh_gone(c, dst, name) : 0;
			return fail(c, -errno, "inspect");
		}
		if (c->o->refresh) {
			r = refresh_existing(c, dst, name, &st, had);
			if (r != 0)
				return r < 0 ? r : 0;
		}
		r = link_earlier(c, &st, dst, name);
		if (r != 0)
			return r < 0 ? r : 0;
		if (st.st_dev != c->src_dev && !S_ISLNK(st.st_mode))
			r = copy_mount_point(c, src, dst, name, &st);
		else if (S_ISDIR(st.st_mode))
			r = copy_directory(c, src, dst, base, name, &st);
		else if (S_ISREG(st.st_mode))
			r = copy_regular(c, src, dst, base, name, &st);
		else if (S_ISLNK(st.st_mode))
			r = copy_symlink(c, src, dst, name, &st);
		else
			r = copy_special(c, src, dst, name, &st);
		if (r != -EAGAIN)
			return r;
		/* it changed type under us: start again with what is there now */
		had = NULL;
		r = rmtree_at(dst, name);
		if (r < 0)
			return fail(c, r, "remove the partial copy of");
	}
	return fail(c, -EAGAIN, "copy (it keeps changing type)");
}

/* The entries of a directory, read before any is copied so that no stream stays open. */
static int list_entries(int dfd, struct entry **ret, size_t *ret_n)
{
	_cleanup_close_ int fd = dup(dfd);
	struct entry *e = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d)
		return -errno;
	fd = -1;
	while ((errno = 0, de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (n == cap) {
			struct entry *grown = reallocarray(e, cap ? cap * 2 : 16, sizeof(*e));

			if (!grown) {
				r = -ENOMEM;
				break;
			}
			e = grown;
			cap = cap ? cap * 2 : 16;
		}
		e[n] = (struct entry){ strdup(de->d_name), de->d_ino, de->d_type };
		if (!e[n].name) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	if (r == 0 && errno != 0)
		r = -errno;
	closedir(d);
	if (r < 0) {
		free_entries(e, n);
		return r;
	}
	*ret = e;
	*ret_n = n;
	return 0;
}

static int compare_entries(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

/*
 * A refresh: lists the earlier copy of a directory into *ret (sorted by
 * name) and removes the copies of the entries that the volume's directory
 * (`names`, sorted here too) no longer holds, before any is added.
 */
static int refresh_list(struct copier *c, int dst, struct entry *names, size_t n,
			struct entry **ret, size_t *ret_n)
{
	struct entry *had = NULL;
	size_t n_had = 0;
	int r;

	if (n > 0)
		qsort(names, n, sizeof(*names), compare_entries);
	r = list_entries(dst, &had, &n_had);
	if (r < 0)
		return fail(c, r, "list the earlier copy of");
	if (n_had > 0)
		qsort(had, n_had, sizeof(*had), compare_entries);
	for (size_t i = 0; i < n_had && r == 0; i++)
		if (n == 0 || !bsearch(&had[i], names, n, sizeof(*names), compare_entries)) {
			size_t saved;

			r = path_push(c, had[i].name, &saved);
			if (r == 0) {
				r = refresh_gone(c, dst, had[i].name);
				path_pop(c, saved);
			}
		}
	if (r < 0) {
		free_entries(had, n_had);
		return r;
	}
	*ret = had;
	*ret_n = n_had;
	return 0;
}

static int copy_children(struct copier *c, int src, int dst, int base)
{
	struct entry *names = NULL, *had = NULL;
	size_t n = 0, n_had = 0, i;
	int r;

	r = list_entries(src, &names, &n);
	if (r < 0)
		return fail(c, r, "list");
	if (c->o->refresh)
		r = refresh_list(c, dst, names, n, &had, &n_had);
	for (i = 0; i < n && r == 0; i++) {
		const struct entry *h = NULL;
		size_t saved;

		if (deadline_passed(c)) {
			r = errbuf_setx(c->eb, -ETIME, "it was at '%s'", path_or_root(c));
			break;
		}
		r = path_push(c, names[i].name, &saved);
		if (r < 0)
			break;
		if (++c->stats->entries == 100)
			failpoint(c->o->deadline_ns ? "copy-midway-held" : "copy-midway");
		if (had)
			h = bsearch(&names[i], had, n_had, sizeof(*had), compare_entries);
		r = copy_entry(c, src, dst, base, names[i].name, h);
		path_pop(c, saved);
	}
	free_entries(names, n);
	free_entries(had, n_had);
	return r;
}

int copy_tree(int src, int dst, int base, const struct inomap *base_map, struct inomap_writer *map,
	      const struct copy_options *o, struct copy_stats *stats, struct errbuf *eb)
{
	struct copier c = {
		.o = o,
		.stats = stats,
		.map = map,
		.base_map = base_map,
		.dst_root = dst,
		.reflink = true,
		.eb = eb,
	};
	struct stat st;
	int r;

	memset(stats, 0, sizeof(*stats));
	if (fstat(src, &st) < 0)
		return errbuf_set(eb, -errno, "cannot inspect the volume");
	c.src_dev = st.st_dev;
	r = copy_links_new(&c.links);
	if (r < 0)
		return r;
	stats->entries = 1;
	r = copy_children(&c, src, dst, base);
	if (r == 0 && o->refresh) {
		r = copy_xattrs_clear_fd(dst);
		if (r < 0)
			fail(&c, r, "refresh the attributes of");
	}
	if (r == 0) {
		r = copy_meta_fd(src, dst, &st);
		if (r < 0)
			fail(&c, r, "copy the attributes of");
	}
	if (r == 0)
		r = record(&c, dst, -1, NULL, &st);
	copy_links_free(c.links);
	free(c.path);
	return r;
}
