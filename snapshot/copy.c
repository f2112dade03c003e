// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The copy provider: a file-level shadow copy of a volume on any filesystem,
 * kept in a root-only storage directory that the administrator chooses
 * (default SNAPSHOT_COPY_DEFAULT_STORAGE), never inside the volume itself.
 * Layout and cost: see copy.h.
 */
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "copy.h"

#define IDENTITY_FILE "identity"
#define IDENTITY_MAGIC "stillfs-copy 1"

/* Filesystems that are views of the kernel, not data a backup keeps. */
static const char *const pseudo_fs[] = {
	"proc",	    "sysfs",	"devtmpfs", "devpts",	 "cgroup",     "cgroup2",
	"debugfs",  "tracefs",	"securityfs", "pstore",	 "bpf",	       "configfs",
	"fusectl",  "mqueue",	"hugetlbfs", "autofs",	 "efivarfs",   "binfmt_misc",
	"rpc_pipefs", "nsfs",	"selinuxfs", "fuse.stillfs",
};

/* `path`'s place within its filesystem (bind mounts resolved), and the filesystem. */
static int fs_place(const char *path, char **ret, unsigned *major, unsigned *minor)
{
	struct mount_entry m;
	size_t n;
	int r;

	r = mountinfo_find(path, &m);
	if (r < 0)
		return r;
	n = streq(m.mount_point, "/") ? 0 : strlen(m.mount_point);
	if (asprintf(ret, "%s%s", streq(m.root, "/") ? "" : m.root, path + n) < 0)
		return -ENOMEM;
	if ((*ret)[0] == '\0') {
		free(*ret);
		*ret = strdup("/");
		if (!*ret)
			return -ENOMEM;
	}
	*major = m.major;
	*minor = m.minor;
	return 0;
}

static bool beneath_or_same(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (streq(dir, "/"))
		return true;
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/*
 * The canonical form of a storage path that may not exist yet: its longest
 * existing leading part resolved, the rest appended. Refuses "." and "..".
 */
static int storage_canonical(const char *storage, char **ret, char **ret_existing)
{
	_cleanup_free_ char *head = NULL, *real = NULL;
	const char *rest;
	int r;

	if (storage[0] != '/' || strstr(storage, "/../") || strstr(storage, "/./"))
		return -EINVAL;
	r = storage_existing_part(storage, &head);
	if (r < 0)
		return r;
	/* a storage whose top-level directory does not exist is a mistake */
	if (streq(head, "/") && !streq(storage, "/"))
		return -ENOENT;
	rest = storage + strlen(head);
	real = realpath(head, NULL);
	if (!real)
		return -errno;
	if (asprintf(ret, "%s%s", streq(real, "/") && rest[0] ? "" : real, rest) < 0)
		return -ENOMEM;
	/* no trailing slash */
	for (size_t n = strlen(*ret); n > 1 && (*ret)[n - 1] == '/'; n--)
		(*ret)[n - 1] = '\0';
	*ret_existing = TAKE_PTR(real);
	return 0;
}

static int copy_probe(const char *path, const struct snapshot_volume_options *o,
		      struct snapshot_volume *v, struct errbuf *eb)
{
	_cleanup_free_ char *storage = NULL, *existing = NULL, *vol_place = NULL;
	_cleanup_free_ char *sto_place = NULL;
	const char *given = o && o->storage ? o->storage : SNAPSHOT_COPY_DEFAULT_STORAGE;
	unsigned vmaj, vmin, smaj, smin;
	struct mount_entry m;
	int r;

	r = mountinfo_find(path, &m);
	if (r < 0)
		return errbuf_set(eb, r, "cannot find the mount that holds '%s'", path);
	for (size_t i = 0; i < ARRAY_SIZE(pseudo_fs); i++)
		if (streq(m.fstype, pseudo_fs[i]))
			return errbuf_setx(eb, -EMEDIUMTYPE,
					   "cannot protect '%s': it is on a %s filesystem, which "
					   "holds no data of its own",
					   path, m.fstype);
	r = storage_canonical(given, &storage, &existing);
	if (r == -EINVAL)
		return errbuf_setx(eb, r, "storage '%s' must be an absolute path without '.' or '..'",
				   given);
	if (r < 0)
		return errbuf_set(eb, r, "cannot use storage '%s'", given);
	r = fs_place(path, &vol_place, &vmaj, &vmin);
	if (r == 0)
		r = fs_place(existing, &sto_place, &smaj, &smin);
	if (r < 0)
		return errbuf_set(eb, r, "cannot tell where storage '%s' lies", given);
	/* compare where they are within one filesystem, so a bind mount cannot hide it */
	if (vmaj == smaj && vmin == smin) {
		_cleanup_free_ char *full = NULL;

		if (asprintf(&full, "%s%s", streq(sto_place, "/") ? "" : sto_place,
			     storage + strlen(existing)) < 0)
			return -ENOMEM;
		if (beneath_or_same(full[0] ? full : "/", vol_place))
			return errbuf_setx(eb, -EINVAL,
					   "refusing storage '%s': it lies inside the volume '%s' "
					   "(give --storage a directory outside it)",
					   storage, path);
		if (beneath_or_same(vol_place, full[0] ? full : "/"))
			return errbuf_setx(eb, -EINVAL,
					   "refusing to protect '%s': it lies inside the storage '%s'",
					   path, storage);
	}
	v->storage_root = TAKE_PTR(storage);
	return 0;
}

/* Makes `path` a root-only directory unless it is one; parents as needed (root-only too). */
static int private_dir(const char *path, struct errbuf *eb)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		_cleanup_free_ char *parent = strdup(path);
		int r;

		if (errno != ENOENT)
			return errbuf_set(eb, -errno, "cannot inspect '%s'", path);
		if (!parent)
			return -ENOMEM;
		if (!streq(dirname(parent), "/")) {
			r = lstat(parent, &st) < 0 ? private_dir(parent, eb) : 0;
			if (r < 0)
				return r;
		}
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return errbuf_set(eb, -errno, "cannot create '%s'", path);
	}
	return storage_dir_claim(path, eb);
}

static int copy_prepare_storage(const char *storage, struct errbuf *eb)
{
	return private_dir(storage, eb);
}

static int make_uuid(char out[37])
{
	uint8_t u[16];

	if (getrandom(u, sizeof(u), 0) != sizeof(u))
		return -errno;
	u[6] = (u[6] & 0x0f) | 0x40;
	u[8] = (u[8] & 0x3f) | 0x80;
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
		 u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
		 u[14], u[15]);
	return 0;
}

static int write_identity(int cfd, const char *uuid, const char *volume)
{
	_cleanup_close_ int fd = openat(cfd, IDENTITY_FILE,
					O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	_cleanup_free_ char *text = NULL;
	int n;

	if (fd < 0)
		return -errno;
	n = asprintf(&text, IDENTITY_MAGIC "\nuuid %s\nvolume %s\n", uuid, volume);
	if (n < 0)
		return -ENOMEM;
	if (write(fd, text, (size_t)n) != n)
		return errno ? -errno : -EIO;
	return fsync(fd) < 0 ? -errno : 0;
}

/* Reads a container's identity: 0 with its uuid and volume, -EPERM when not ours. */
static int read_identity(const char *container, char uuid[37], char **ret_volume)
{
	_cleanup_free_ char *path = NULL, *text = NULL;
	_cleanup_close_ int fd = -1;
	char *vol;
	ssize_t n;

	if (asprintf(&path, "%s/" IDENTITY_FILE, container) < 0)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -EPERM : -errno;
	text = calloc(1, PATH_MAX + 128);
	if (!text)
		return -ENOMEM;
	n = read(fd, text, PATH_MAX + 127);
	if (n < 0)
		return -errno;
	if (strncmp(text, IDENTITY_MAGIC "\nuuid ", 20) != 0 || (size_t)n < 20 + 37)
		return -EPERM;
	memcpy(uuid, text + 20, 36);
	uuid[36] = '\0';
	vol = strstr(text, "\nvolume ");
	if (!vol || !strchr(vol + 8, '\n'))
		return -EPERM;
	vol += 8;
	*strchr(vol, '\n') = '\0';
	*ret_volume = strdup(vol);
	return *ret_volume ? 0 : -ENOMEM;
}

/* ".../<container>/tree" -> ".../<container>"; NULL unless it ends so. */
static char *container_of(const char *snapshot)
{
	size_t n = strlen(snapshot), t = strlen("/" INOMAP_TREE);

	if (n <= t || !streq(snapshot + n - t, "/" INOMAP_TREE))
		return NULL;
	return strndup(snapshot, n - t);
}

struct problem_target {
	const struct snapshot_volume *v;
	const struct snapshot_take *t;
};

static void tell_problem(void *userdata, const char *path, const char *what)
{
	const struct problem_target *p = userdata;

	if (p->t->problem)
		p->t->problem(p->t->problem_data, p->v, path, what);
}

/* A new container for a copy of `v`, with its identity and an empty tree; its descriptor in *ret_cfd. */
static int make_container(const char *container, const struct snapshot_volume *v, char uuid[37],
			  int *ret_cfd, struct errbuf *eb)
{
	_cleanup_close_ int cfd = -1;
	int r;

	r = make_uuid(uuid);
	if (r < 0)
		return errbuf_set(eb, r, "cannot make an identity");
	if (mkdir(container, 0700) < 0)
		return errbuf_set(eb, -errno, "cannot create '%s'", container);
	cfd = open(container, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (cfd < 0)
		return errbuf_set(eb, -errno, "cannot open '%s'", container);
	r = write_identity(cfd, uuid, v->path);
	if (r < 0)
		return errbuf_set(eb, r, "cannot write the identity of '%s'", container);
	if (mkdirat(cfd, INOMAP_TREE, 0700) < 0)
		return errbuf_set(eb, -errno, "cannot create '%s/" INOMAP_TREE "'", container);
	*ret_cfd = TAKE_FD(cfd);
	return 0;
}

/* The container of an earlier copy of `v` to refresh, after checking whose it is. */
static int open_container(const char *container, const struct snapshot_volume *v, char uuid[37],
			  int *ret_cfd, struct errbuf *eb)
{
	_cleanup_free_ char *volume = NULL;
	int r, cfd;

	r = read_identity(container, uuid, &volume);
	if (r < 0)
		return errbuf_set(eb, r, "cannot read the identity of '%s'", container);
	if (!streq(volume, v->path))
		return errbuf_setx(eb, -EPERM, "'%s' is a copy of '%s', not of '%s'", container,
				   volume, v->path);
	cfd = open(container, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (cfd < 0)
		return errbuf_set(eb, -errno, "cannot open '%s'", container);
	*ret_cfd = cfd;
	return 0;
}

/*
 * The map that copy_tree() starts from: a refresh's own earlier map (which it
 * cannot do without), or the base's, where unchanged files are linked from
 * (without which every file is copied: slower, never wrong).
 */
static int open_start(const struct snapshot_take *t, int cfd, const char *container, int *ret_base,
		      struct inomap **ret_map, struct errbuf *eb)
{
	int r;

	if (t->refresh) {
		r = inomap_open(cfd, INOMAP_FILE, ret_map);
		return r < 0 ? errbuf_set(eb, r, "cannot read the inode map of '%s'", container) : 0;
	}
	if (!t->base)
		return 0;
	*ret_base = open(t->base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (*ret_base < 0 || inomap_open_beside(t->base, ret_map) < 0) {
		closep(ret_base);
		*ret_base = -1;
	}
	return 0;
}

static int copy_take(const struct snapshot_volume *v, const struct snapshot_take *t,
		     const char *dest, char **ret_uuid, struct errbuf *eb)
{
	struct problem_target target = { v, t };
	_cleanup_free_ char *container = container_of(dest);
	_cleanup_close_ int cfd = -1, tfd = -1, src = -1, base = -1;
	_cleanup_inomap_writer_ struct inomap_writer *map = NULL;
	_cleanup_inomap_ struct inomap *base_map = NULL;
	struct copy_stats stats;
	struct copy_options o = {
		.refresh = t->refresh,
		.lock_timeout_ns = t->lock_timeout_ns,
		.deadline_ns = t->deadline_ns,
		.problem = tell_problem,
		.userdata = &target,
	};
	char uuid[37];
	int r;

	if (!container)
		return errbuf_setx(eb, -EINVAL, "'%s' is no copy's tree", dest);
	r = t->refresh ? open_container(container, v, uuid, &cfd, eb)
		       : make_container(container, v, uuid, &cfd, eb);
	if (r < 0)
		return r;
	tfd = openat(cfd, INOMAP_TREE, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	src = open(v->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (tfd < 0 || src < 0)
		return errbuf_set(eb, -errno, "cannot open '%s'", tfd < 0 ? dest : v->path);
	r = open_start(t, cfd, container, &base, &base_map, eb);
	if (r < 0)
		return r;
	r = inomap_writer_new(&map);
	if (r < 0)
		return r;
	r = copy_tree(src, tfd, base, base_map, map, &o, &stats, eb);
	if (r == -ETIME) {
		struct errbuf where = *eb;

		return errbuf_setx(eb, r,
				   "the copy of '%s' inside the hold did not finish before the "
				   "hold's deadline (%s); a longer --hold-timeout gives it more time",
				   v->path, where.msg);
	}
	if (r < 0)
		return r;
	if (t->strict && stats.inconsistent > 0)
		return errbuf_setx(eb, -EAGAIN,
				   "%ju file%s of '%s' could not be copied as of one instant "
				   "(--strict)",
				   (uintmax_t)stats.inconsistent, stats.inconsistent == 1 ? "" : "s",
				   v->path);
	r = inomap_writer_commit(map, cfd, INOMAP_FILE);
	if (r < 0)
		return errbuf_set(eb, r, "cannot write the inode map of '%s'", container);
	if (syncfs(tfd) < 0 || fsync(cfd) < 0)
		return errbuf_set(eb, -errno, "cannot make the copy of '%s' durable", v->path);
	*ret_uuid = strdup(uuid);
	return *ret_uuid ? 0 : -ENOMEM;
}

/* Removes a container after checking it is a copy this provider made. */
static int remove_container(const char *container, const char *want_uuid, const char *want_volume,
			    struct errbuf *eb)
{
	_cleanup_free_ char *volume = NULL, *parent = strdup(container);
	_cleanup_close_ int pfd = -1;
	char uuid[37];
	struct stat st;
	int r;

	if (!parent)
		return -ENOMEM;
	if (lstat(container, &st) < 0)
		return errno == ENOENT ? 0 : errbuf_set(eb, -errno, "cannot inspect '%s'", container);
	if (!S_ISDIR(st.st_mode))
		return errbuf_setx(eb, -EPERM, "leaving '%s' alone: not a copy", container);
	r = read_identity(container, uuid, &volume);
	if (r == -EPERM) {
		/* a crash between mkdir and the identity's fsync leaves an empty container */
		if (rmdir(container) == 0)
			return 0;
		return errbuf_setx(eb, -EPERM, "leaving '%s' alone: it has no stillfs identity",
				   container);
	}
	if (r < 0)
		return errbuf_set(eb, r, "cannot read the identity of '%s'", container);
	if ((want_uuid && !streq(uuid, want_uuid)) ||
	    (!want_uuid && want_volume && !streq(volume, want_volume)))
		return errbuf_setx(eb, -EPERM,
				   "refusing to delete '%s': it is not the copy this set made",
				   container);
	pfd = open(dirname(parent), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return errbuf_set(eb, -errno, "cannot open '%s'", parent);
	r = rmtree_at(pfd, strrchr(container, '/') + 1);
	if (r < 0)
		return errbuf_set(eb, r, "cannot delete '%s'", container);
	return 0;
}

static int copy_remove(const struct catalog_volume *v, struct errbuf *eb)
{
	_cleanup_free_ char *container = NULL;
	const char *slash;
	size_t n;

	if (!v->snapshot)
		return 0;
	container = container_of(v->snapshot);
	n = strlen(v->storage);
	slash = container ? strrchr(container, '/') : NULL;
	if (!container || strncmp(container, v->storage, n) != 0 || slash != container + n ||
	    streq(slash + 1, "..") || streq(slash + 1, "."))
		return errbuf_setx(eb, -EPERM,
				   "refusing to delete '%s': not a copy inside the storage '%s'",
				   v->snapshot, v->storage);
	return remove_container(container, v->snapshot_uuid, v->path, eb);
}

static int copy_remove_orphan(const char *path, struct errbuf *eb)
{
	return remove_container(path, NULL, NULL, eb);
}

const struct snapshot_provider snapshot_provider_copy = {
	.name = "copy",
	.snapshot_suffix = "/" INOMAP_TREE,
	.freezable = true,
	.refreshes = true,
	.probe = copy_probe,
	.prepare_storage = copy_prepare_storage,
	/* copying reads what is in the page cache: nothing needs to reach the disk first */
	.sync = NULL,
	.take = copy_take,
	.remove = copy_remove,
	.remove_orphan = copy_remove_orphan,
	.space = copy_snapshot_space,
};
