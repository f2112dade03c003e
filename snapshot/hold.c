// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The hold, on the cgroup v2 freezer. Every freeze is announced to the guard
 * before it is written, so that from the moment a cgroup can be frozen there
 * is a process that will thaw it at the deadline or when stillfs dies.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "hold.h"

#define NSEC_PER_MSEC INT64_C(1000000)
#define NSEC_PER_SEC INT64_C(1000000000)

#define UNIT_PREFIX "unit:"
/*
 * systemd nests slices a few levels deep (user.slice/user-1000.slice/
 * user@1000.service/app.slice/x.service); the bounds only keep a strange
 * tree from making the search slow.
 */
#define UNIT_SEARCH_MAX_DEPTH 16
#define UNIT_SEARCH_MAX_DIRS 65536
/* cgroup.events wakes poll(); re-reading this often as well costs nothing and misses nothing */
#define FREEZE_POLL_MAX_MS 100

struct hold_cgroup {
	char *path;
	int dir_fd;    /* freeze and thaw go to the cgroup we opened, even if renamed */
	int events_fd;
	bool armed;    /* the guard knows it and we wrote (or tried to write) "1" */
	bool frozen;   /* cgroup.events said "frozen 1" */
};

struct hold {
	struct guard *g; /* not owned: the caller's guard outlives the hold */
	int64_t deadline_ns;
	size_t n;
	struct hold_cgroup cg[];
};

static const char *startswith(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

static bool endswith(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && streq(s + n - m, suffix);
}

/* Whether `path` is `dir` or lies beneath it; both absolute and canonical. */
static bool path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (streq(dir, "/"))
		return true;
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* ---- resolving --hold ---- */

/* Undoes mountinfo's octal escapes (\040 for a space). */
static void unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

/*
 * The mount point of the cgroup2 filesystem (the first one, as there is
 * normally only one). Returns 0, -ENOENT when none is mounted, or -errno.
 */
static int cgroup2_mount_point(char **ret)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char *sep = strstr(line, " - "), *mp, *save = NULL;

		if (!sep || strncmp(sep + 3, "cgroup2 ", 8) != 0)
			continue;
		*sep = '\0';
		/* ID PARENT MAJ:MIN ROOT MOUNT_POINT ... */
		mp = strtok_r(line, " ", &save);
		for (int i = 0; mp && i < 4; i++)
			mp = strtok_r(NULL, " ", &save);
		if (!mp)
			continue;
		unescape(mp);
		*ret = strdup(mp);
		r = *ret ? 0 : -ENOMEM;
		break;
	}
	fclose(f);
	return r;
}

/* This process's cgroup v2 path ("0::PATH" in /proc/self/cgroup), e.g. "/" or "/a/b". */
static int own_cgroup(char **ret)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int r = -ENOENT;

	if (!f)
		return -errno;
	while ((n = getline(&line, &cap, f)) > 0) {
		const char *p = startswith(line, "0::");

		if (!p)
			continue;
		if (line[n - 1] == '\n')
			line[n - 1] = '\0';
		*ret = strdup(p);
		r = *ret ? 0 : -ENOMEM;
		break;
	}
	fclose(f);
	return r;
}

/* The root cgroup has no cgroup.freeze, and neither has a kernel before 5.2. */
static int check_freezable(const char *spec, const char *dir, struct errbuf *eb)
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r;

	if (dfd < 0)
		return errbuf_set(eb, -errno, "cannot hold '%s'", spec);
	if (faccessat(dfd, "cgroup.freeze", W_OK, 0) == 0)
		return 0;
	r = -errno;
	if (r == -ENOENT)
		return errbuf_setx(eb, -EOPNOTSUPP,
				   "cannot hold '%s': it has no cgroup.freeze (this kernel has no "
				   "cgroup v2 freezer)",
				   spec);
	return errbuf_set(eb, r, "cannot hold '%s': cannot write its cgroup.freeze", spec);
}

/*
 * Checks that `path` is a cgroup v2 directory that may be frozen, and stores
 * its canonical form in *ret. `spec` is what the user wrote, for messages.
 */
static int check_cgroup_dir(const char *spec, const char *path, char **ret, struct errbuf *eb)
{
	_cleanup_free_ struct mount_entry *m = malloc(sizeof(*m));
	_cleanup_free_ char *canon = NULL, *rel = NULL, *self = NULL;
	const char *within;
	struct stat st;
	int r;

	if (!m)
		return -ENOMEM;
	canon = realpath(path, NULL);
	if (!canon) {
		r = -errno;
		if (r == -ENOENT)
			return errbuf_setx(eb, r, "cannot hold '%s': no such cgroup directory",
					   spec);
		return errbuf_set(eb, r, "cannot hold '%s'", spec);
	}
	if (stat(canon, &st) < 0)
		return errbuf_set(eb, -errno, "cannot hold '%s'", spec);
	if (!S_ISDIR(st.st_mode))
		return errbuf_setx(eb, -ENOTDIR, "cannot hold '%s': not a directory", spec);

	r = mountinfo_find(canon, m);
	if (r < 0)
		return errbuf_set(eb, r, "cannot hold '%s': cannot find its mount", spec);
	if (streq(m->fstype, "cgroup"))
		return errbuf_setx(eb, -EMEDIUMTYPE,
				   "cannot hold '%s': it is in a cgroup v1 hierarchy; the hold needs "
				   "a cgroup v2 directory",
				   spec);
	if (!streq(m->fstype, "cgroup2"))
		return errbuf_setx(eb, -EMEDIUMTYPE,
				   "cannot hold '%s': not a cgroup v2 directory (it is on %s)", spec,
				   m->fstype);

	/* its path in the hierarchy, as /proc/self/cgroup names cgroups */
	within = canon + (streq(m->mount_point, "/") ? 0 : strlen(m->mount_point));
	if (asprintf(&rel, "%s%s", streq(m->root, "/") && *within ? "" : m->root, within) < 0) {
		rel = NULL;
		return -ENOMEM;
	}
	if (streq(rel, "/"))
		return errbuf_setx(eb, -EPERM, "cannot hold '%s': the root cgroup cannot be frozen",
				   spec);

	r = own_cgroup(&self);
	if (r < 0)
		return errbuf_set(eb, r, "cannot hold '%s': cannot read this process's cgroup",
				  spec);
	/* stillfs, and its guard, would freeze themselves and nothing would thaw */
	if (path_within(self, rel))
		return errbuf_setx(eb, -EDEADLK,
				   "cannot hold '%s': stillfs itself runs in it (in cgroup '%s')",
				   spec, self);

	r = check_freezable(spec, canon, eb);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(canon);
	return 0;
}

struct str_list {
	char **items;
	size_t n, cap;
};

static void str_list_free(struct str_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	*l = (struct str_list){ 0 };
}

/* Takes `s` (even on failure). */
static int str_list_push(struct str_list *l, char *s)
{
	if (!s)
		return -ENOMEM;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		char **items;

		if (cap > SIZE_MAX / sizeof(*items)) {
			free(s);
			return -ENOMEM;
		}
		items = realloc(l->items, cap * sizeof(*items));
		if (!items) {
			free(s);
			return -ENOMEM;
		}
		l->items = items;
		l->cap = cap;
	}
	l->items[l->n++] = s;
	return 0;
}

static char *path_join(const char *a, const char *b)
{
	char *s;

	if (!*a)
		return strdup(b);
	if (asprintf(&s, "%s/%s", a, b) < 0)
		return NULL;
	return s;
}

static bool is_dir_entry(int dfd, const struct dirent *de)
{
	struct stat st;

	if (de->d_type != DT_UNKNOWN)
		return de->d_type == DT_DIR;
	return fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/*
 * Scans one level of the tree: every directory in `level` (paths relative to
 * the mount) is read; those named `name` go to `found`, the others to `next`.
 */
static int search_level(int mount_fd, const char *name, const struct str_list *level,
			struct str_list *next, struct str_list *found, size_t *visited)
{
	for (size_t i = 0; i < level->n; i++) {
		const char *rel = level->items[i];
		int dfd = openat(mount_fd, *rel ? rel : ".",
				 O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		struct dirent *de;
		DIR *d;
		int r = 0;

		if (dfd < 0)
			continue; /* the cgroup went away while we looked */
		d = fdopendir(dfd);
		if (!d) {
			close(dfd);
			return -ENOMEM;
		}
		while (r == 0 && (de = readdir(d))) {
			if (streq(de->d_name, ".") || streq(de->d_name, "..") ||
			    !is_dir_entry(dfd, de))
				continue;
			if (++*visited > UNIT_SEARCH_MAX_DIRS)
				r = -E2BIG;
			else if (streq(de->d_name, name))
				r = str_list_push(found, path_join(rel, de->d_name));
			else
				r = str_list_push(next, path_join(rel, de->d_name));
		}
		closedir(d);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * Finds the cgroup of unit `name` without asking systemd (which may not be
 * PID 1): system.slice/NAME if it exists, else the shallowest directory of
 * that name anywhere in the tree, which must be the only one at its depth.
 */
static int find_unit(const char *spec, const char *name, char **ret, struct errbuf *eb)
{
	_cleanup_free_ char *mp = NULL;
	_cleanup_close_ int mount_fd = -1;
	struct str_list level = { 0 }, next = { 0 }, found = { 0 };
	size_t visited = 0;
	struct stat st;
	int r;

	if (!endswith(name, ".service") && !endswith(name, ".scope") &&
	    !endswith(name, ".slice"))
		return errbuf_setx(eb, -EINVAL,
				   "cannot hold '%s': a unit name ends in .service, .scope or .slice",
				   spec);
	if (strchr(name, '/') || name[0] == '.')
		return errbuf_setx(eb, -EINVAL, "cannot hold '%s': not a unit name", spec);

	r = cgroup2_mount_point(&mp);
	if (r == -ENOENT)
		return errbuf_setx(eb, -ENOENT, "cannot hold '%s': no cgroup2 filesystem is mounted",
				   spec);
	if (r < 0)
		return errbuf_set(eb, r, "cannot hold '%s': cannot read the mount table", spec);
	mount_fd = open(mp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mount_fd < 0)
		return errbuf_set(eb, -errno, "cannot hold '%s': cannot open '%s'", spec, mp);

	if (fstatat(mount_fd, "system.slice", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode)) {
		_cleanup_close_ int sfd = openat(mount_fd, "system.slice",
						 O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

		if (sfd >= 0 && fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode)) {
			if (asprintf(ret, "%s/system.slice/%s", mp, name) < 0)
				return -ENOMEM;
			return 0;
		}
	}

	r = str_list_push(&level, strdup(""));
	for (int depth = 0; r == 0 && depth < UNIT_SEARCH_MAX_DEPTH && level.n > 0; depth++) {
		r = search_level(mount_fd, name, &level, &next, &found, &visited);
		if (r < 0 || found.n > 0)
			break;
		str_list_free(&level);
		level = next;
		next = (struct str_list){ 0 };
	}

	if (r == -E2BIG)
		errbuf_setx(eb, r, "cannot hold '%s': gave up after searching %d cgroups under '%s'",
			    spec, UNIT_SEARCH_MAX_DIRS, mp);
	else if (r < 0)
		errbuf_set(eb, r, "cannot hold '%s': cannot search '%s'", spec, mp);
	else if (found.n == 0)
		r = errbuf_setx(eb, -ENOENT,
				"cannot hold '%s': no cgroup named '%s' under '%s' (is the unit "
				"running?)",
				spec, name, mp);
	else if (found.n > 1)
		r = errbuf_setx(eb, -ENOTUNIQ,
				"cannot hold '%s': several cgroups have that name, '%s/%s' and "
				"'%s/%s'; give the directory instead",
				spec, mp, found.items[0], mp, found.items[1]);
	else if (asprintf(ret, "%s/%s", mp, found.items[0]) < 0)
		r = -ENOMEM;

	str_list_free(&level);
	str_list_free(&next);
	str_list_free(&found);
	return r;
}

int hold_resolve(const char *spec, char **ret, struct errbuf *eb)
{
	_cleanup_free_ char *path = NULL;
	const char *unit;
	int r;

	if (!spec || !*spec)
		return errbuf_setx(eb, -EINVAL, "cannot hold '': no cgroup given");
	unit = startswith(spec, UNIT_PREFIX);
	if (!unit)
		return check_cgroup_dir(spec, spec, ret, eb);
	r = find_unit(spec, unit, &path, eb);
	if (r < 0)
		return r;
	return check_cgroup_dir(path, path, ret, eb);
}

/* ---- the hold ---- */

static int write_freeze(int dir_fd, const char *value)
{
	_cleanup_close_ int fd = openat(dir_fd, "cgroup.freeze", O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (write(fd, value, 1) != 1)
		return -errno;
	return 0;
}

/* The value last written to cgroup.freeze: 0 or 1, or -errno. */
static int read_freeze(int dir_fd)
{
	_cleanup_close_ int fd = openat(dir_fd, "cgroup.freeze", O_RDONLY | O_CLOEXEC);
	char c;

	if (fd < 0)
		return -errno;
	if (read(fd, &c, 1) != 1)
		return -EIO;
	return c == '1';
}

/* Whether cgroup.events says "frozen 1": 1, 0, or -errno. */
static int read_frozen(int events_fd)
{
	char buf[256];
	ssize_t n = pread(events_fd, buf, sizeof(buf) - 1, 0);
	const char *p;

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	for (p = buf; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		const char *v = startswith(p, "frozen ");

		if (v)
			return *v == '1';
	}
	return -EOPNOTSUPP;
}

static void hold_free(struct hold *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++) {
		free(h->cg[i].path);
		closep(&h->cg[i].dir_fd);
		closep(&h->cg[i].events_fd);
	}
	free(h);
}

static void hold_freep(struct hold **h)
{
	hold_free(*h);
}

/*
 * Undoes a hold_begin() that failed. A cgroup we could not thaw stays with
 * the guard, which thaws it at the deadline.
 */
static void thaw_armed(struct hold *h)
{
	for (size_t i = 0; i < h->n; i++) {
		if (!h->cg[i].armed)
			continue;
		if (write_freeze(h->cg[i].dir_fd, "0") == 0)
			guard_forget_cgroup(h->g, h->cg[i].path);
	}
}

static int ms_until(int64_t deadline_ns, int64_t now_ns)
{
	int64_t ms;

	if (deadline_ns <= now_ns)
		return 0;
	ms = (deadline_ns - now_ns + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/*
 * Waits until every cgroup reports frozen. The freezer stops each task at its
 * next return to user space, which takes microseconds, but a task in an
 * uninterruptible sleep (NFS, FUSE) delays it without bound: hence the deadline.
 */
static int wait_frozen(struct hold *h, struct errbuf *eb)
{
	_cleanup_free_ struct pollfd *pfds = calloc(h->n ? h->n : 1, sizeof(*pfds));

	if (!pfds)
		return -ENOMEM;
	for (;;) {
		size_t pending = 0, first = SIZE_MAX;
		int64_t now;
		int timeout;

		for (size_t i = 0; i < h->n; i++) {
			int r;

			if (h->cg[i].frozen)
				continue;
			r = read_frozen(h->cg[i].events_fd);
			if (r < 0)
				return errbuf_set(eb, r, "cannot read '%s/cgroup.events'",
						  h->cg[i].path);
			if (r > 0) {
				h->cg[i].frozen = true;
				continue;
			}
			pfds[pending++] = (struct pollfd){ .fd = h->cg[i].events_fd,
							   .events = POLLPRI };
			if (first == SIZE_MAX)
				first = i;
		}
		now = time_mono_ns();
		/* frozen only after the deadline is not a hold: the guard thaws it now */
		if (now >= h->deadline_ns) {
			if (pending == 0)
				return errbuf_setx(eb, -ETIMEDOUT,
						   "the hold's deadline passed while freezing");
			if (pending == 1)
				return errbuf_setx(eb, -ETIMEDOUT,
						   "cgroup '%s' did not freeze before the hold's "
						   "deadline",
						   h->cg[first].path);
			return errbuf_setx(eb, -ETIMEDOUT,
					   "cgroup '%s' and %zu more did not freeze before the "
					   "hold's deadline",
					   h->cg[first].path, pending - 1);
		}
		if (pending == 0)
			return 0;
		timeout = ms_until(h->deadline_ns, now);
		if (timeout > FREEZE_POLL_MAX_MS)
			timeout = FREEZE_POLL_MAX_MS;
		if (poll(pfds, pending, timeout) < 0 && errno != EINTR)
			return errbuf_set(eb, -errno, "cannot wait for cgroups to freeze");
	}
}

int hold_begin(struct guard *g, char *const *cgroups, size_t n, int64_t deadline_ns,
	       struct hold **ret, struct errbuf *eb)
{
	_cleanup_(hold_freep) struct hold *h = NULL;
	int r;

	if (!g || (n > 0 && !cgroups) || !ret)
		return -EINVAL;
	if (n > (SIZE_MAX - sizeof(*h)) / sizeof(h->cg[0]))
		return -ENOMEM;
	h = calloc(1, sizeof(*h) + n * sizeof(h->cg[0]));
	if (!h)
		return -ENOMEM;
	h->g = g;
	h->deadline_ns = deadline_ns;
	h->n = n;
	for (size_t i = 0; i < n; i++)
		h->cg[i].dir_fd = h->cg[i].events_fd = -1;

	/* everything that can fail without freezing comes first */
	for (size_t i = 0; i < n; i++) {
		struct hold_cgroup *c = &h->cg[i];

		c->path = strdup(cgroups[i]);
		if (!c->path)
			return -ENOMEM;
		c->dir_fd = open(c->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (c->dir_fd < 0)
			return errbuf_set(eb, -errno, "cannot open cgroup '%s'", c->path);
		c->events_fd = openat(c->dir_fd, "cgroup.events", O_RDONLY | O_CLOEXEC);
		if (c->events_fd < 0)
			return errbuf_set(eb, -errno, "cannot open '%s/cgroup.events'", c->path);
	}
	if (time_mono_ns() >= deadline_ns)
		return errbuf_setx(eb, -ETIMEDOUT, "the hold's deadline passed before it began");

	for (size_t i = 0; i < n; i++) {
		struct hold_cgroup *c = &h->cg[i];

		/* the guard first: a cgroup is never frozen without someone to thaw it */
		r = guard_watch_cgroup(g, c->path, deadline_ns);
		if (r < 0) {
			thaw_armed(h);
			return errbuf_set(eb, r, "cannot hand cgroup '%s' to the guard", c->path);
		}
		c->armed = true;
		r = write_freeze(c->dir_fd, "1");
		if (r < 0) {
			thaw_armed(h);
			return errbuf_set(eb, r, "cannot freeze cgroup '%s'", c->path);
		}
	}

	r = wait_frozen(h, eb);
	if (r < 0) {
		thaw_armed(h);
		return r;
	}
	*ret = TAKE_PTR(h);
	return 0;
}

int hold_end(struct hold *h, struct errbuf *eb)
{
	bool late;
	int r = 0;

	if (!h)
		return 0;
	/* taken first: the snapshots were all taken before this call */
	late = time_mono_ns() > h->deadline_ns;

	for (size_t i = 0; i < h->n; i++) {
		struct hold_cgroup *c = &h->cg[i];
		int was = read_freeze(c->dir_fd), k;

		k = write_freeze(c->dir_fd, "0");
		if (k == -ENOENT || k == -ENODEV) {
			/* removed while held, so it was empty: nothing to thaw */
		} else if (k < 0) {
			/* the guard keeps it and thaws it at the deadline */
			if (r == 0)
				r = errbuf_set(eb, k, "cannot thaw cgroup '%s'", c->path);
			continue;
		}
		guard_forget_cgroup(h->g, c->path);
		if (was == 0 && r == 0)
			r = errbuf_setx(eb, -ESTALE,
					"cgroup '%s' was thawed during the hold, not by stillfs",
					c->path);
	}

	hold_free(h);
	if (late)
		return errbuf_setx(eb, -ETIMEDOUT,
				   "the hold outlasted its deadline: the guard may have thawed its "
				   "cgroups before the snapshots were taken");
	return r;
}
