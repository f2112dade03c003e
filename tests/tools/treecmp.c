/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * treecmp: compares two directory trees the way a restore would be judged.
 *
 *   treecmp [OPTIONS] A B
 *
 * Prints one line per difference, "path: what: A-value vs B-value", and exits
 * 0 when the trees are equal, 1 when they differ, 2 on an error (an error
 * also prints a line on stderr, and the walk goes on).
 *
 * Compared: the names in every directory, file type, the 12 mode bits, uid,
 * gid, size (not of directories: it is filesystem-specific), mtime with
 * nanoseconds, regular file content as read, symlink targets, device
 * numbers, every xattr (POSIX ACLs included: they are the system.posix_acl_*
 * xattrs), st_nlink of non-directories, and identity: the entries of A and B
 * must pair up one to one by (st_dev, st_ino), so hard-link groups are the
 * same on both sides and no two distinct files share an inode number.
 *
 * The walk holds directory descriptors and resolves every name relative to
 * them (openat, fstatat, readlinkat), so trees deeper than PATH_MAX work;
 * the printed path is the only long string. Xattrs are read through
 * /proc/self/fd/N of an O_PATH|O_NOFOLLOW descriptor, which reaches symlinks,
 * fifos and device nodes without opening them.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <search.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE (4u << 20)

static struct {
	bool atime;
	bool owner;
	bool xattrs;
	bool mtime_dirs;
	bool nlink;
	bool hardlinks;
	bool check_dino;
	char **ignore;
	size_t n_ignore;
} opt = {
	.owner = true,
	.xattrs = true,
	.mtime_dirs = true,
	.nlink = true,
	.hardlinks = true,
};

static unsigned long n_diffs;
static unsigned long n_errors;
static unsigned char *buf_a, *buf_b;

/* The current path relative to the roots; empty for the roots themselves. */
static char *path;
static size_t path_len, path_cap;

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		fputs("treecmp: out of memory\n", stderr);
		exit(2);
	}
	return p;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		fputs("treecmp: out of memory\n", stderr);
		exit(2);
	}
	return p;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xmalloc(n), s, n);
}

/* Appends "/name" ("name" at the top) to path; returns the length to restore. */
static size_t path_push(const char *name)
{
	size_t old = path_len, n = strlen(name);
	size_t need = path_len + 1 + n + 1;

	if (need > path_cap) {
		path_cap = need * 2;
		path = xrealloc(path, path_cap);
	}
	if (path_len > 0)
		path[path_len++] = '/';
	memcpy(path + path_len, name, n + 1);
	path_len += n;
	return old;
}

static void path_pop(size_t old)
{
	path_len = old;
	path[path_len] = '\0';
}

/* Prints bytes with control, non-ASCII and backslash escaped as \xHH. */
static void put_escaped(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x7f || c == '\\')
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

/* Prints a relative path; the roots are ".". */
static void put_path(FILE *f, const char *p, size_t n)
{
	if (n == 0)
		fputc('.', f);
	else
		put_escaped(f, p, n);
}

static void print_path(FILE *f)
{
	put_path(f, path, path_len);
}

/* Reports a difference at the current path. */
static void diff(const char *what, const char *a, const char *b)
{
	n_diffs++;
	print_path(stdout);
	printf(": %s: %s vs %s\n", what, a, b);
}

/* Reports an error at the current path; errnum is positive. */
static void error_at(const char *side, const char *op, int errnum)
{
	n_errors++;
	fflush(stdout);
	fputs("treecmp: ", stderr);
	print_path(stderr);
	fprintf(stderr, ": %s in %s: %s\n", op, side, strerror(errnum));
}

static bool ignored(void)
{
	for (size_t i = 0; i < opt.n_ignore; i++)
		if (strcmp(opt.ignore[i], path) == 0)
			return true;
	return false;
}

static const char *type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "regular file";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symlink";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	case S_IFCHR: return "char device";
	case S_IFBLK: return "block device";
	default: return "unknown type";
	}
}

static void fmt_time(char *out, size_t n, const struct timespec *ts)
{
	struct tm tm;
	char date[64];
	time_t t = ts->tv_sec;

	if (gmtime_r(&t, &tm) && strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(out, n, "%s.%09ld UTC", date, ts->tv_nsec);
	else
		snprintf(out, n, "@%lld.%09ld", (long long)ts->tv_sec, ts->tv_nsec);
}

static void diff_u64(const char *what, uint64_t a, uint64_t b)
{
	char sa[32], sb[32];

	snprintf(sa, sizeof(sa), "%" PRIu64, a);
	snprintf(sb, sizeof(sb), "%" PRIu64, b);
	diff(what, sa, sb);
}

static void diff_time(const char *what, const struct timespec *a, const struct timespec *b)
{
	char sa[96], sb[96];

	if (a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec)
		return;
	fmt_time(sa, sizeof(sa), a);
	fmt_time(sb, sizeof(sb), b);
	diff(what, sa, sb);
}

/* Compares the inode attributes; returns true when the types match. */
static bool compare_stat(const struct stat *a, const struct stat *b)
{
	bool dir = S_ISDIR(a->st_mode);

	if ((a->st_mode & S_IFMT) != (b->st_mode & S_IFMT)) {
		diff("type", type_name(a->st_mode), type_name(b->st_mode));
		return false;
	}
	if ((a->st_mode & 07777) != (b->st_mode & 07777)) {
		char sa[16], sb[16];

		snprintf(sa, sizeof(sa), "%04o", (unsigned)(a->st_mode & 07777));
		snprintf(sb, sizeof(sb), "%04o", (unsigned)(b->st_mode & 07777));
		diff("mode", sa, sb);
	}
	if (opt.owner && a->st_uid != b->st_uid)
		diff_u64("uid", a->st_uid, b->st_uid);
	if (opt.owner && a->st_gid != b->st_gid)
		diff_u64("gid", a->st_gid, b->st_gid);
	if (!dir && a->st_size != b->st_size)
		diff_u64("size", (uint64_t)a->st_size, (uint64_t)b->st_size);
	if (!dir && opt.nlink && a->st_nlink != b->st_nlink)
		diff_u64("nlink", a->st_nlink, b->st_nlink);
	if (!dir || opt.mtime_dirs)
		diff_time("mtime", &a->st_mtim, &b->st_mtim);
	if (opt.atime)
		diff_time("atime", &a->st_atim, &b->st_atim);
	if ((S_ISCHR(a->st_mode) || S_ISBLK(a->st_mode)) && a->st_rdev != b->st_rdev) {
		char sa[48], sb[48];

		snprintf(sa, sizeof(sa), "%u:%u", major(a->st_rdev), minor(a->st_rdev));
		snprintf(sb, sizeof(sb), "%u:%u", major(b->st_rdev), minor(b->st_rdev));
		diff("device", sa, sb);
	}
	return true;
}

/*
 * Identity. Every entry of A is paired with the entry of B at the same path;
 * the pairing of (dev, ino) must be one to one in both directions.
 */
struct ident {
	dev_t dev;
	ino_t ino;
	dev_t other_dev;
	ino_t other_ino;
	char *path;
};

static void *ident_a, *ident_b;

static int ident_cmp(const void *x, const void *y)
{
	const struct ident *a = x, *b = y;

	if (a->dev != b->dev)
		return a->dev < b->dev ? -1 : 1;
	if (a->ino != b->ino)
		return a->ino < b->ino ? -1 : 1;
	return 0;
}

/* Records (dev, ino) -> (other_dev, other_ino); returns the earlier path when
 * the key was seen before with another partner, NULL otherwise. */
static const char *ident_add(void **root, const struct stat *st, const struct stat *other)
{
	struct ident *n = xmalloc(sizeof(*n)), **found;

	*n = (struct ident){ st->st_dev, st->st_ino, other->st_dev, other->st_ino, NULL };
	found = tsearch(n, root, ident_cmp);
	if (!found) {
		fputs("treecmp: out of memory\n", stderr);
		exit(2);
	}
	if (*found != n) {
		free(n);
		if ((*found)->other_dev != other->st_dev || (*found)->other_ino != other->st_ino)
			return (*found)->path;
		return NULL;
	}
	n->path = xstrdup(path);
	return NULL;
}

static void compare_identity(const struct stat *a, const struct stat *b)
{
	const char *pa, *pb;
	char *sa, *sb;
	size_t la, lb;
	FILE *f;

	if (!opt.hardlinks)
		return;
	pa = ident_add(&ident_a, a, b);
	pb = ident_add(&ident_b, b, a);
	if (!pa && !pb)
		return;
	/* "same inode as P" on the side where the pairing broke */
	f = open_memstream(&sa, &la);
	if (!f)
		exit(2);
	if (pa) {
		fputs("same inode as '", f);
		put_path(f, pa, strlen(pa));
		fputc('\'', f);
	} else {
		fputs("own inode", f);
	}
	fclose(f);
	f = open_memstream(&sb, &lb);
	if (!f)
		exit(2);
	if (pb) {
		fputs("same inode as '", f);
		put_path(f, pb, strlen(pb));
		fputc('\'', f);
	} else {
		fputs("own inode", f);
	}
	fclose(f);
	diff("hard link", sa, sb);
	free(sa);
	free(sb);
}

/* Reads up to n bytes, short only at end of file; returns -errno on error. */
static ssize_t read_full(int fd, unsigned char *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = read(fd, buf + done, n - done);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

static void compare_content(int da, int db, const char *name)
{
	int fa, fb;
	uint64_t off = 0;

	fa = openat(da, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fa < 0) {
		error_at("A", "open", errno);
		return;
	}
	fb = openat(db, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fb < 0) {
		error_at("B", "open", errno);
		close(fa);
		return;
	}
	(void)posix_fadvise(fa, 0, 0, POSIX_FADV_SEQUENTIAL);
	(void)posix_fadvise(fb, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (;;) {
		ssize_t ra = read_full(fa, buf_a, BUF_SIZE);
		ssize_t rb = read_full(fb, buf_b, BUF_SIZE);
		size_t n;

		if (ra < 0 || rb < 0) {
			char what[64];

			snprintf(what, sizeof(what), "read at byte %" PRIu64, off);
			error_at(ra < 0 ? "A" : "B", what, (int)-(ra < 0 ? ra : rb));
			break;
		}
		n = (size_t)(ra < rb ? ra : rb);
		if (memcmp(buf_a, buf_b, n) != 0) {
			char what[64], sa[8], sb[8];
			size_t i = 0;

			while (buf_a[i] == buf_b[i])
				i++;
			snprintf(what, sizeof(what), "content at byte %" PRIu64, off + i);
			snprintf(sa, sizeof(sa), "0x%02x", buf_a[i]);
			snprintf(sb, sizeof(sb), "0x%02x", buf_b[i]);
			diff(what, sa, sb);
			break;
		}
		if (ra != rb) {
			diff_u64("length as read", off + (uint64_t)ra, off + (uint64_t)rb);
			break;
		}
		off += (uint64_t)ra;
		if ((size_t)ra < BUF_SIZE)
			break;
	}
	close(fa);
	close(fb);
}

/* Reads a symlink; returns a malloc'ed string and its length, or NULL. */
static char *read_link(int dirfd, const char *name, const char *side, size_t *ret_len)
{
	size_t cap = 256;

	for (;;) {
		char *b = xmalloc(cap);
		ssize_t r = readlinkat(dirfd, name, b, cap);

		if (r < 0) {
			error_at(side, "readlink", errno);
			free(b);
			return NULL;
		}
		if ((size_t)r < cap) {
			b[r] = '\0';
			*ret_len = (size_t)r;
			return b;
		}
		free(b);
		cap *= 2;
	}
}

static void compare_symlink(int da, int db, const char *name)
{
	size_t la = 0, lb = 0;
	char *ta = read_link(da, name, "A", &la);
	char *tb = read_link(db, name, "B", &lb);

	if (ta && tb && (la != lb || memcmp(ta, tb, la) != 0)) {
		char *sa, *sb;
		size_t na, nb;
		FILE *f = open_memstream(&sa, &na);

		if (!f)
			exit(2);
		fputc('\'', f);
		put_escaped(f, ta, la);
		fputc('\'', f);
		fclose(f);
		f = open_memstream(&sb, &nb);
		if (!f)
			exit(2);
		fputc('\'', f);
		put_escaped(f, tb, lb);
		fputc('\'', f);
		fclose(f);
		diff("symlink target", sa, sb);
		free(sa);
		free(sb);
	}
	free(ta);
	free(tb);
}

/* xattrs, through /proc/self/fd/N of an O_PATH descriptor */

struct xlist {
	char *buf;
	char **names;
	size_t n;
};

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static int xattr_list(const char *proc, struct xlist *ret)
{
	char *b = NULL;
	ssize_t len;

	*ret = (struct xlist){ 0 };
	for (;;) {
		len = listxattr(proc, NULL, 0);
		if (len < 0)
			return (errno == ENOTSUP || errno == ENODATA) ? 0 : -errno;
		b = xrealloc(b, (size_t)len + 1);
		len = listxattr(proc, b, (size_t)len);
		if (len >= 0)
			break;
		if (errno != ERANGE) {
			free(b);
			return -errno;
		}
	}
	ret->buf = b;
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(b + i) + 1)
		ret->n++;
	ret->names = xmalloc(ret->n * sizeof(char *));
	ret->n = 0;
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(b + i) + 1)
		ret->names[ret->n++] = b + i;
	qsort(ret->names, ret->n, sizeof(char *), cmp_str);
	return 0;
}

static int xattr_get(const char *proc, const char *name, char **ret, size_t *ret_len)
{
	char *b = NULL;
	ssize_t len;

	for (;;) {
		len = getxattr(proc, name, NULL, 0);
		if (len < 0)
			return -errno;
		b = xrealloc(b, (size_t)len + 1);
		len = getxattr(proc, name, b, (size_t)len);
		if (len >= 0)
			break;
		if (errno != ERANGE) {
			free(b);
			return -errno;
		}
	}
	*ret = b;
	*ret_len = (size_t)len;
	return 0;
}

static void diff_xattr(const char *name, const char *a, const char *b)
{
	char *what;
	size_t n;
	FILE *f = open_memstream(&what, &n);

	if (!f)
		exit(2);
	fputs("xattr ", f);
	put_escaped(f, name, strlen(name));
	fclose(f);
	diff(what, a, b);
	free(what);
}

static void compare_xattr_values(const char *pa, const char *pb, const char *name)
{
	char *va = NULL, *vb = NULL;
	size_t la = 0, lb = 0;
	int r;

	r = xattr_get(pa, name, &va, &la);
	if (r < 0) {
		error_at("A", "getxattr", -r);
		return;
	}
	r = xattr_get(pb, name, &vb, &lb);
	if (r < 0) {
		error_at("B", "getxattr", -r);
		free(va);
		return;
	}
	if (la != lb) {
		char sa[32], sb[32];

		snprintf(sa, sizeof(sa), "%zu bytes", la);
		snprintf(sb, sizeof(sb), "%zu bytes", lb);
		diff_xattr(name, sa, sb);
	} else if (memcmp(va, vb, la) != 0) {
		char sa[48], sb[48];
		size_t i = 0;

		while (va[i] == vb[i])
			i++;
		snprintf(sa, sizeof(sa), "0x%02x at byte %zu", (unsigned char)va[i], i);
		snprintf(sb, sizeof(sb), "0x%02x at byte %zu", (unsigned char)vb[i], i);
		diff_xattr(name, sa, sb);
	}
	free(va);
	free(vb);
}

/* Compares the xattrs of two O_PATH descriptors. */
static void compare_xattrs(int fa, int fb)
{
	char pa[40], pb[40];
	struct xlist xa, xb;
	size_t i = 0, j = 0;
	int r;

	snprintf(pa, sizeof(pa), "/proc/self/fd/%d", fa);
	snprintf(pb, sizeof(pb), "/proc/self/fd/%d", fb);
	r = xattr_list(pa, &xa);
	if (r < 0) {
		error_at("A", "listxattr", -r);
		return;
	}
	r = xattr_list(pb, &xb);
	if (r < 0) {
		error_at("B", "listxattr", -r);
		free(xa.buf);
		free(xa.names);
		return;
	}
	while (i < xa.n || j < xb.n) {
		int c = i == xa.n ? 1 : j == xb.n ? -1 : strcmp(xa.names[i], xb.names[j]);

		if (c < 0) {
			diff_xattr(xa.names[i++], "present", "missing");
		} else if (c > 0) {
			diff_xattr(xb.names[j++], "missing", "present");
		} else {
			compare_xattr_values(pa, pb, xa.names[i]);
			i++;
			j++;
		}
	}
	free(xa.buf);
	free(xa.names);
	free(xb.buf);
	free(xb.names);
}

static void compare_xattrs_at(int da, int db, const char *name)
{
	int fa, fb;

	if (!opt.xattrs)
		return;
	fa = openat(da, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fa < 0) {
		error_at("A", "open", errno);
		return;
	}
	fb = openat(db, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fb < 0) {
		error_at("B", "open", errno);
		close(fa);
		return;
	}
	compare_xattrs(fa, fb);
	close(fa);
	close(fb);
}

/* directories */

struct dentry {
	char *name;
	ino_t d_ino;
	unsigned char d_type;
};

struct dirlist {
	struct dentry *e;
	size_t n;
};

static int cmp_entry(const void *x, const void *y)
{
	return strcmp(((const struct dentry *)x)->name, ((const struct dentry *)y)->name);
}

static int read_dir(int dirfd, struct dirlist *ret)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	size_t cap = 0;
	struct dirent *de;
	DIR *d;

	*ret = (struct dirlist){ 0 };
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		int e = errno;

		close(fd);
		return -e;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de)
			break;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (ret->n == cap) {
			cap = cap ? cap * 2 : 32;
			ret->e = xrealloc(ret->e, cap * sizeof(*ret->e));
		}
		ret->e[ret->n++] = (struct dentry){ xstrdup(de->d_name), de->d_ino, de->d_type };
	}
	if (errno) {
		int e = errno;

		closedir(d);
		return -e;
	}
	closedir(d);
	qsort(ret->e, ret->n, sizeof(*ret->e), cmp_entry);
	return 0;
}

static void dirlist_release(struct dirlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->e[i].name);
	free(l->e);
}

static unsigned char mode_to_dtype(mode_t m)
{
	return (unsigned char)IFTODT(m);
}

/* readdir's d_ino and d_type must agree with fstatat on the same side. */
static void check_dirent(const char *side, const struct dentry *e, const struct stat *st)
{
	char what[48];

	if (!opt.check_dino)
		return;
	if (e->d_ino != st->st_ino) {
		snprintf(what, sizeof(what), "%s readdir d_ino vs stat st_ino", side);
		diff_u64(what, e->d_ino, st->st_ino);
	}
	if (e->d_type != DT_UNKNOWN && e->d_type != mode_to_dtype(st->st_mode)) {
		snprintf(what, sizeof(what), "%s readdir d_type vs stat type", side);
		diff_u64(what, e->d_type, mode_to_dtype(st->st_mode));
	}
}

static void compare_dir(int da, int db);

static void compare_entry(int da, int db, const struct dentry *ea, const struct dentry *eb)
{
	const char *name = ea->name;
	struct stat sa, sb;

	if (fstatat(da, name, &sa, AT_SYMLINK_NOFOLLOW) < 0) {
		error_at("A", "stat", errno);
		return;
	}
	if (fstatat(db, name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
		error_at("B", "stat", errno);
		return;
	}
	check_dirent("A", ea, &sa);
	check_dirent("B", eb, &sb);
	if (!compare_stat(&sa, &sb))
		return;
	compare_identity(&sa, &sb);
	compare_xattrs_at(da, db, name);

	switch (sa.st_mode & S_IFMT) {
	case S_IFREG:
		if (sa.st_size == sb.st_size)
			compare_content(da, db, name);
		break;
	case S_IFLNK:
		compare_symlink(da, db, name);
		break;
	case S_IFDIR: {
		int ca, cb;

		ca = openat(da, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (ca < 0) {
			error_at("A", "open directory", errno);
			break;
		}
		cb = openat(db, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cb < 0) {
			error_at("B", "open directory", errno);
			close(ca);
			break;
		}
		compare_dir(ca, cb);
		close(ca);
		close(cb);
		break;
	}
	default:
		break;
	}
}

static void compare_dir(int da, int db)
{
	struct dirlist la, lb;
	size_t i = 0, j = 0;
	int r;

	r = read_dir(da, &la);
	if (r < 0) {
		error_at("A", "read directory", -r);
		return;
	}
	r = read_dir(db, &lb);
	if (r < 0) {
		error_at("B", "read directory", -r);
		dirlist_release(&la);
		return;
	}
	while (i < la.n || j < lb.n) {
		int c = i == la.n ? 1 : j == lb.n ? -1 : strcmp(la.e[i].name, lb.e[j].name);
		const char *name = c <= 0 ? la.e[i].name : lb.e[j].name;
		size_t old = path_push(name);

		if (!ignored()) {
			if (c < 0)
				diff("entry", "present", "missing");
			else if (c > 0)
				diff("entry", "missing", "present");
			else
				compare_entry(da, db, &la.e[i], &lb.e[j]);
		}
		path_pop(old);
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}
	dirlist_release(&la);
	dirlist_release(&lb);
}

static void usage(FILE *f)
{
	fputs("usage: treecmp [OPTIONS] A B\n"
	      "Compares two trees; prints 'path: what: A-value vs B-value' per difference.\n"
	      "Exit status: 0 equal, 1 different, 2 error.\n"
	      "  --atime          also compare atimes (default: --no-atime)\n"
	      "  --no-owner       do not compare uid and gid\n"
	      "  --no-xattrs      do not compare xattrs (and so POSIX ACLs)\n"
	      "  --no-mtime-dirs  do not compare directory mtimes\n"
	      "  --no-nlink       do not compare st_nlink\n"
	      "  --no-hardlinks   do not require the same hard-link groups\n"
	      "  --check-dino     require readdir d_ino/d_type to match fstatat on each side\n"
	      "  --ignore PATH    skip PATH, relative to the roots (a top-level name or\n"
	      "                   a/b/c); repeatable\n",
	      f);
}

int main(int argc, char **argv)
{
	enum { O_ATIME = 256, O_NO_ATIME, O_NO_OWNER, O_NO_XATTRS, O_NO_MTIME_DIRS,
	       O_NO_NLINK, O_NO_HARDLINKS, O_CHECK_DINO, O_IGNORE, O_SAME_INO_GROUPS };
	static const struct option longopts[] = {
		{ "atime", no_argument, NULL, O_ATIME },
		{ "no-atime", no_argument, NULL, O_NO_ATIME },
		{ "no-owner", no_argument, NULL, O_NO_OWNER },
		{ "no-xattrs", no_argument, NULL, O_NO_XATTRS },
		{ "no-mtime-dirs", no_argument, NULL, O_NO_MTIME_DIRS },
		{ "no-nlink", no_argument, NULL, O_NO_NLINK },
		{ "no-hardlinks", no_argument, NULL, O_NO_HARDLINKS },
		{ "same-ino-groups", no_argument, NULL, O_SAME_INO_GROUPS },
		{ "check-dino", no_argument, NULL, O_CHECK_DINO },
		{ "ignore", required_argument, NULL, O_IGNORE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct stat sa, sb;
	int c, da, db;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_ATIME: opt.atime = true; break;
		case O_NO_ATIME: opt.atime = false; break;
		case O_NO_OWNER: opt.owner = false; break;
		case O_NO_XATTRS: opt.xattrs = false; break;
		case O_NO_MTIME_DIRS: opt.mtime_dirs = false; break;
		case O_NO_NLINK: opt.nlink = false; break;
		case O_NO_HARDLINKS: opt.hardlinks = false; break;
		case O_SAME_INO_GROUPS: opt.hardlinks = true; break;
		case O_CHECK_DINO: opt.check_dino = true; break;
		case O_IGNORE: {
			size_t n = strlen(optarg);

			while (n > 1 && optarg[n - 1] == '/')
				optarg[--n] = '\0';
			while (optarg[0] == '.' && optarg[1] == '/')
				optarg += 2;
			opt.ignore = xrealloc(opt.ignore, (opt.n_ignore + 1) * sizeof(char *));
			opt.ignore[opt.n_ignore++] = optarg;
			break;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		return 2;
	}
	da = open(argv[optind], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (da < 0) {
		fprintf(stderr, "treecmp: cannot open '%s': %s\n", argv[optind], strerror(errno));
		return 2;
	}
	db = open(argv[optind + 1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (db < 0) {
		fprintf(stderr, "treecmp: cannot open '%s': %s\n", argv[optind + 1], strerror(errno));
		return 2;
	}
	if (fstat(da, &sa) < 0 || fstat(db, &sb) < 0) {
		fprintf(stderr, "treecmp: cannot stat the roots: %s\n", strerror(errno));
		return 2;
	}
	buf_a = xmalloc(BUF_SIZE);
	buf_b = xmalloc(BUF_SIZE);
	path_cap = 4096;
	path = xmalloc(path_cap);
	path[0] = '\0';
	path_len = 0;

	compare_stat(&sa, &sb);
	compare_identity(&sa, &sb);
	if (opt.xattrs)
		compare_xattrs(da, db);
	compare_dir(da, db);

	close(da);
	close(db);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "treecmp: cannot write the report: %s\n", strerror(errno));
		return 2;
	}
	if (n_errors)
		return 2;
	return n_diffs ? 1 : 0;
}
