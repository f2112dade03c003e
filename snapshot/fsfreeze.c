// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * --freeze-fs, on FIFREEZE and FITHAW. As with the cgroup hold, the guard
 * hears of every filesystem before it is frozen, so that from the moment one
 * can be frozen there is a process that will thaw it.
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>

#include "fsfreeze.h"
#include "mountinfo.h"
#include "snapshot-internal.h"

struct fsfreeze_one {
	char *path;
	int fd;
	bool armed;  /* the guard knows it */
	bool frozen; /* FIFREEZE succeeded */
};

struct fsfreeze {
	struct guard *g; /* not owned */
	int64_t deadline_ns;
	size_t n;
	struct fsfreeze_one fs[];
};

void fsfreeze_fs_free(struct fsfreeze_fs *fs, size_t n)
{
	for (size_t i = 0; fs && i < n; i++) {
		free(fs[i].path);
		free(fs[i].mount_point);
	}
	free(fs);
}

/* The mount that holds `path` (made canonical first). */
static int mount_of(const char *path, struct mount_entry *ret, struct errbuf *eb)
{
	_cleanup_free_ char *real = realpath(path, NULL);
	int r;

	if (!real)
		return errbuf_set(eb, -errno, "cannot resolve '%s'", path);
	r = mountinfo_find(real, ret);
	if (r < 0)
		return errbuf_set(eb, r, "cannot find the mount that holds '%s'", real);
	return 0;
}

/* Refuses to freeze `fs` when `what` (a path) lives on it. */
static int refuse_if_on(const struct fsfreeze_fs *fs, const char *path, const char *what,
			struct errbuf *eb)
{
	struct mount_entry *m = malloc(sizeof(*m));
	int r;

	if (!m)
		return -ENOMEM;
	r = mount_of(path, m, eb);
	if (r == 0 && makedev(m->major, m->minor) == fs->dev)
		r = errbuf_setx(eb, -EBUSY,
				"--freeze-fs refuses to freeze the filesystem mounted at '%s': it "
				"holds %s",
				fs->mount_point, what);
	free(m);
	return r;
}

static int check_fs(const struct fsfreeze_fs *fs, char *const *storages, size_t n,
		    const char *catalog_path, struct errbuf *eb)
{
	int r;

	r = refuse_if_on(fs, "/", "/ (the whole machine would wait on it)", eb);
	if (r < 0)
		return r;
	/* its journal and lock files are beside it */
	r = refuse_if_on(fs, catalog_path, "the catalog, written right after the hold", eb);
	if (r < 0)
		return r;
	r = refuse_if_on(fs, "/proc/self/exe", "the stillfs program", eb);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (!storages[i])
			continue;
		r = refuse_if_on(fs, storages[i], "the storage the copies are written to", eb);
		if (r < 0)
			return r;
	}
	return 0;
}

int fsfreeze_resolve(const struct snapshot_volume *volumes, size_t n, char *const *storages,
		     const char *catalog_path, struct fsfreeze_fs **ret, size_t *ret_n,
		     struct errbuf *eb)
{
	_cleanup_free_ struct mount_entry *m = malloc(sizeof(*m));
	struct fsfreeze_fs *fs = calloc(n ? n : 1, sizeof(*fs));
	size_t k = 0;
	int r = 0;

	if (!m || !fs) {
		free(fs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		const struct snapshot_volume *v = &volumes[i];
		bool seen = false;

		if (!v->provider->freezable) {
			r = errbuf_setx(eb, -EOPNOTSUPP,
					"--freeze-fs cannot be used for '%s': its provider (%s) "
					"writes to the filesystem it snapshots",
					v->path, v->provider->name);
			break;
		}
		r = mount_of(v->path, m, eb);
		if (r < 0)
			break;
		for (size_t j = 0; j < k; j++)
			seen = seen || fs[j].dev == makedev(m->major, m->minor);
		if (seen)
			continue;
		fs[k] = (struct fsfreeze_fs){
			.path = strdup(v->path),
			.mount_point = strdup(m->mount_point),
			.dev = makedev(m->major, m->minor),
		};
		k++;
		if (!fs[k - 1].path || !fs[k - 1].mount_point)
			r = -ENOMEM;
		else
			r = check_fs(&fs[k - 1], storages, n, catalog_path, eb);
	}
	if (r < 0) {
		fsfreeze_fs_free(fs, k);
		return r;
	}
	*ret = fs;
	*ret_n = k;
	return 0;
}

int fsfreeze_thaw_path(const char *mount_point)
{
	_cleanup_close_ int fd = open(mount_point, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, FITHAW, 0) < 0)
		return -errno;
	return 0;
}

/* Thaws what this freeze froze and tells the guard; errors from FITHAW are returned. */
static int thaw_one(struct fsfreeze *f, struct fsfreeze_one *one)
{
	int r = 0;

	if (one->frozen && ioctl(one->fd, FITHAW, 0) < 0)
		r = -errno;
	one->frozen = false;
	/*
	 * EINVAL: not frozen any more, the guard thawed it at the deadline. On
	 * any other error the guard keeps it, to thaw it at the deadline.
	 */
	if (one->armed && (r == 0 || r == -EINVAL)) {
		guard_forget_fs(f->g, one->path);
		one->armed = false;
	}
	return r;
}

static void fsfreeze_free(struct fsfreeze *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++) {
		free(f->fs[i].path);
		if (f->fs[i].fd >= 0)
			close(f->fs[i].fd);
	}
	free(f);
}

static void thaw_all(struct fsfreeze *f)
{
	/* in the reverse order of freezing */
	for (size_t i = f->n; i-- > 0;)
		thaw_one(f, &f->fs[i]);
}

static void fsfreeze_freep(struct fsfreeze **f)
{
	if (*f) {
		thaw_all(*f);
		fsfreeze_free(*f);
	}
}

int fsfreeze_begin(struct guard *g, const struct fsfreeze_fs *fs, size_t n, int64_t deadline_ns,
		   struct fsfreeze **ret, struct errbuf *eb)
{
	_cleanup_(fsfreeze_freep) struct fsfreeze *f = NULL;
	int r;

	if (!g || (n > 0 && !fs) || !ret)
		return -EINVAL;
	if (n > (SIZE_MAX - sizeof(*f)) / sizeof(f->fs[0]))
		return -ENOMEM;
	f = calloc(1, sizeof(*f) + n * sizeof(f->fs[0]));
	if (!f)
		return -ENOMEM;
	f->g = g;
	f->deadline_ns = deadline_ns;
	f->n = n;
	for (size_t i = 0; i < n; i++)
		f->fs[i].fd = -1;

	/* everything that can fail without freezing comes first */
	for (size_t i = 0; i < n; i++) {
		struct fsfreeze_one *one = &f->fs[i];

		one->path = strdup(fs[i].path);
		if (!one->path)
			return -ENOMEM;
		one->fd = open(one->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY);
		if (one->fd < 0)
			return errbuf_set(eb, -errno, "cannot open '%s'", one->path);
	}

	for (size_t i = 0; i < n; i++) {
		struct fsfreeze_one *one = &f->fs[i];

		if (time_mono_ns() >= deadline_ns)
			return errbuf_setx(eb, -ETIMEDOUT,
					   "the hold's deadline passed while the filesystems were "
					   "being frozen (writing out what was dirty took too long)");
		/* the guard first: a filesystem is never frozen without someone to thaw it */
		r = guard_watch_fs(g, one->path, deadline_ns);
		if (r < 0)
			return errbuf_set(eb, r, "cannot hand the filesystem of '%s' to the guard",
					  fs[i].mount_point);
		one->armed = true;
		if (ioctl(one->fd, FIFREEZE, 0) < 0) {
			r = -errno;
			if (r == -EBUSY)
				return errbuf_setx(eb, r,
						   "the filesystem mounted at '%s' is frozen already "
						   "(by fsfreeze or another program)",
						   fs[i].mount_point);
			if (r == -EOPNOTSUPP || r == -ENOTTY)
				return errbuf_setx(eb, -EOPNOTSUPP,
						   "the filesystem mounted at '%s' cannot be frozen",
						   fs[i].mount_point);
			return errbuf_set(eb, r, "cannot freeze the filesystem mounted at '%s'",
					  fs[i].mount_point);
		}
		one->frozen = true;
	}
	if (time_mono_ns() >= deadline_ns)
		return errbuf_setx(eb, -ETIMEDOUT,
				   "the hold's deadline passed while the filesystems were being "
				   "frozen (writing out what was dirty took too long)");
	*ret = TAKE_PTR(f);
	return 0;
}

int fsfreeze_end(struct fsfreeze *f, struct errbuf *eb)
{
	bool late;
	int r = 0;

	if (!f)
		return 0;
	/* taken first: the copies were all made before this call */
	late = time_mono_ns() > f->deadline_ns;
	for (size_t i = f->n; i-- > 0;) {
		struct fsfreeze_one *one = &f->fs[i];
		int k = thaw_one(f, one);

		if (k == -EINVAL) {
			if (r == 0 && !late)
				r = errbuf_setx(eb, -ESTALE,
						"the filesystem of '%s' was thawed during the hold, "
						"not by stillfs", one->path);
		} else if (k < 0 && r == 0) {
			r = errbuf_set(eb, k, "cannot thaw the filesystem of '%s'", one->path);
		}
	}
	fsfreeze_free(f);
	if (late)
		return errbuf_setx(eb, -ETIMEDOUT,
				   "the hold outlasted its deadline: the guard may have thawed the "
				   "filesystems before the copies were made");
	return r;
}
