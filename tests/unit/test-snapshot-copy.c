// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the copy provider's parts (snapshot/copy.h): opening one name
 * beneath a directory, one file's data, whole trees (every type of file, their
 * metadata, hard links, mount points inside, sharing with a previous copy,
 * files that keep changing, locks, the deadline), removing a tree, and the
 * table of hard-link groups.
 *
 * The tests run as root: they chown, mknod and mount tmpfs. Each has a private
 * directory under /tmp made and removed by an unchecked fixture, that is in
 * the runner, so that it is removed, and whatever a test mounted beneath it
 * unmounted, even when the test failed in its forked child.
 */
#include <check.h>
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "copy.h"
#include "fast-assert.h"

#define MSEC INT64_C(1000000)
#define SEC INT64_C(1000000000)
#define MIB (1024 * 1024)

static char tmp[PATH_MAX];

/* Fails the test with the call and errno when a setup syscall fails. */
#define SYS(call)                                                                                  \
	do {                                                                                       \
		if ((call) < 0)                                                                    \
			ck_abort_msg("%s: %s", #call, strerror(errno));                            \
	} while (0)

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * MSEC };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}


/* tmp/rel, in one of a few rotating buffers: a call often names several paths. */
static const char *tpath(const char *rel)
{
	static char bufs[8][PATH_MAX];
	static unsigned int next;
	char *b = bufs[next++ % ARRAY_SIZE(bufs)];
	int n = snprintf(b, PATH_MAX, "%s/%s", tmp, rel);

	if (n < 0 || n >= PATH_MAX)
		ck_abort_msg("path too long for the test: %s", rel);
	return b;
}

static int open_dir(const char *rel)
{
	int fd = open(tpath(rel), O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		ck_abort_msg("open '%s': %s", rel, strerror(errno));
	return fd;
}

static void make_dir(const char *rel, mode_t mode)
{
	SYS(mkdir(tpath(rel), mode));
	SYS(chmod(tpath(rel), mode)); /* mkdir applies the umask */
}

static void make_file(const char *rel, const void *data, size_t len)
{
	_cleanup_close_ int fd = open(tpath(rel), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd < 0)
		ck_abort_msg("create '%s': %s", rel, strerror(errno));
	ck_assert_int_eq(pwrite(fd, data, len, 0), (ssize_t)len);
}

static void append_file(const char *rel, const char *s)
{
	_cleanup_close_ int fd = open(tpath(rel), O_WRONLY | O_APPEND | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* The whole content of a file; the caller frees it. */
static char *read_all(const char *path, size_t *ret_len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;

	if (fd < 0 || fstat(fd, &st) < 0)
		ck_abort_msg("read '%s': %s", path, strerror(errno));
	buf = malloc((size_t)st.st_size + 1);
	ck_assert_ptr_nonnull(buf);
	for (size_t done = 0; done < (size_t)st.st_size;) {
		ssize_t n = pread(fd, buf + done, (size_t)st.st_size - done, (off_t)done);

		ck_assert_int_gt(n, 0);
		done += (size_t)n;
	}
	buf[st.st_size] = '\0';
	*ret_len = (size_t)st.st_size;
	return buf;
}

static void assert_content(const char *path, const char *want)
{
	size_t len;
	_cleanup_free_ char *got = read_all(path, &len);

	ck_assert_msg(len == strlen(want) && memcmp(got, want, len) == 0,
		      "'%s' holds \"%s\", not \"%s\"", path, got, want);
}

static void assert_same_content(const char *a, const char *b)
{
	size_t la, lb, i;
	_cleanup_free_ char *ca = read_all(a, &la);
	_cleanup_free_ char *cb = read_all(b, &lb);

	ck_assert_msg(la == lb, "'%s' has %zu bytes, its copy %zu", a, la, lb);
	for (i = 0; i < la && ca[i] == cb[i]; i++)
		;
	ck_assert_msg(i == la, "'%s' and its copy differ at byte %zu", a, i);
}

static ino_t ino_of(const char *rel)
{
	struct stat st;

	SYS(lstat(tpath(rel), &st));
	return st.st_ino;
}

static void mount_tmpfs(const char *rel)
{
	SYS(mount("stillfs-test", tpath(rel), "tmpfs", MS_NOSUID | MS_NODEV, "size=16m"));
}

/* Entries in a directory, "." and ".." aside. */
static int count_entries(const char *path)
{
	struct dirent **names;
	int n = scandir(path, &names, NULL, NULL), entries = 0;

	if (n < 0)
		ck_abort_msg("scandir '%s': %s", path, strerror(errno));
	for (int i = 0; i < n; i++) {
		if (!streq(names[i]->d_name, ".") && !streq(names[i]->d_name, ".."))
			entries++;
		free(names[i]);
	}
	free(names);
	return entries;
}

/* ---- a thread that keeps rewriting a file ---- */

static struct busy_writer {
	pthread_t thread;
	bool running;
	int fd;
	bool locked;	  /* holds flock(LOCK_EX) on fd while it writes */
	int64_t until_ns; /* stops writing (and unlocks) then; 0: when told */
	dev_t dev;	  /* the file it writes */
	ino_t ino;
	atomic_bool stop;
	atomic_bool finished; /* wrote for the last time */
	atomic_uint_fast64_t writes;
	atomic_uint waits; /* stats of its file that waited for a change */
} busy;

/* Writes the first 4 KiB again and again, without a pause, as a busy database would. */
static void *write_loop(void *arg)
{
	struct busy_writer *w = arg;
	char buf[4096];
	uint64_t n = 0;

	while (!atomic_load(&w->stop) && (w->until_ns == 0 || now_ns() < w->until_ns)) {
		memset(buf, 'a' + (int)(n % 26), sizeof(buf));
		if (pwrite(w->fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
			break;
		atomic_store(&w->writes, ++n);
	}
	atomic_store(&w->finished, true);
	/* only once it wrote for the last time */
	if (w->locked)
		flock(w->fd, LOCK_UN);
	return NULL;
}

/*
 * fstat() is fstat64 with 64-bit offsets, and meson.build links this program
 * with -Wl,--wrap=fstat64. While the writer runs, a stat of its file returns
 * only once the writer changed the file after it. Left to the scheduler, the
 * writer often does not run at all during the copier's few syscalls between
 * its two stats of the file, and the copy comes out consistent: the tests of
 * a file that keeps changing would fail at random, most under load.
 */
int __real_fstat64(int fd, struct stat *st);
int __wrap_fstat64(int fd, struct stat *st);

static bool stat_differs(const struct stat *a, const struct stat *b)
{
	return a->st_size != b->st_size || a->st_mtim.tv_sec != b->st_mtim.tv_sec ||
	       a->st_mtim.tv_nsec != b->st_mtim.tv_nsec || a->st_ctim.tv_sec != b->st_ctim.tv_sec ||
	       a->st_ctim.tv_nsec != b->st_ctim.tv_nsec;
}

int __wrap_fstat64(int fd, struct stat *st)
{
	int r = __real_fstat64(fd, st), saved = errno;
	int64_t give_up;
	struct stat now;

	if (r < 0 || !busy.running || atomic_load(&busy.finished) || st->st_dev != busy.dev ||
	    st->st_ino != busy.ino)
		return r;
	atomic_fetch_add(&busy.waits, 1);
	give_up = now_ns() + 5 * SEC;
	while (!atomic_load(&busy.finished) && now_ns() < give_up &&
	       __real_fstat64(fd, &now) == 0 && !stat_differs(st, &now))
		nanosleep(&(struct timespec){ 0, 20000 }, NULL);
	errno = saved;
	return r;
}

/* Starts the writer on tmp/rel, and returns once it has written. */
static void start_writer(const char *rel, bool lock_ex, int64_t for_ns)
{
	int64_t give_up = now_ns() + 10 * SEC;
	struct stat st;

	busy.fd = open(tpath(rel), O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(busy.fd, 0);
	SYS(__real_fstat64(busy.fd, &st));
	busy.dev = st.st_dev;
	busy.ino = st.st_ino;
	if (lock_ex)
		SYS(flock(busy.fd, LOCK_EX));
	busy.locked = lock_ex;
	busy.until_ns = for_ns ? now_ns() + for_ns : 0;
	atomic_store(&busy.stop, false);
	atomic_store(&busy.finished, false);
	atomic_store(&busy.writes, 0);
	atomic_store(&busy.waits, 0);
	ck_assert_int_eq(pthread_create(&busy.thread, NULL, write_loop, &busy), 0);
	busy.running = true;
	while (atomic_load(&busy.writes) == 0 && now_ns() < give_up)
		sleep_ms(1);
	ck_assert_uint_gt(atomic_load(&busy.writes), 0);
}

/* The copier met the writer's changes, or the test proved nothing. */
#define assert_writer_seen()                                                                       \
	ck_assert_msg(atomic_load(&busy.waits) > 0,                                                \
		      "no stat of the writer's file waited: is fstat64 wrapped?")

/* Also from the teardown: without fork, a failed test leaves its writer running. */
static void stop_writer(void)
{
	if (!busy.running)
		return;
	atomic_store(&busy.stop, true);
	pthread_join(busy.thread, NULL);
	close(busy.fd);
	busy.running = false;
}

/* ---- fixture ---- */

/* Unmounts what a test mounted beneath tmp, found in mountinfo: the test's
 * memory went with its forked child. */
static void unmount_beneath(const char *dir)
{
	char points[32][PATH_MAX], line[3 * PATH_MAX];
	size_t n = 0, len = strlen(dir);
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return;
	while (n < ARRAY_SIZE(points) && fgets(line, sizeof(line), f)) {
		/* the fifth field is the mount point; ours have no characters to unescape */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", points[n]) == 1 &&
		    strncmp(points[n], dir, len) == 0 && points[n][len] == '/')
			n++;
	}
	fclose(f);
	while (n-- > 0)
		if (umount2(points[n], MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
			fprintf(stderr, "cannot unmount '%s': %s\n", points[n], strerror(errno));
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (remove(path) < 0)
		fprintf(stderr, "cannot remove '%s': %s\n", path, strerror(errno));
	return 0;
}

static void setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/stillfs-copy-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static void teardown(void)
{
	stop_writer();
	unmount_beneath(tmp);
	/* depth first, symlinks not followed, never into another filesystem */
	nftw(tmp, remove_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* ---- problems reported by copy_tree ---- */

struct problems {
	int n;
	char path[PATH_MAX];
	char what[256];
};

static void on_problem(void *userdata, const char *path, const char *what)
{
	struct problems *p = userdata;

	p->n++;
	snprintf(p->path, sizeof(p->path), "%s", path);
	snprintf(p->what, sizeof(p->what), "%s", what);
}

/* Copies tmp/src into a new tmp/<dst> and commits the map as tmp/<dst>.map. */
static int copy_into(const char *dst, const char *base, const struct copy_options *o,
		     struct copy_stats *stats, struct errbuf *eb)
{
	_cleanup_close_ int src = open_dir("src"), to = -1, base_fd = -1, top = open_dir(".");
	_cleanup_inomap_writer_ struct inomap_writer *w = NULL;
	_cleanup_inomap_ struct inomap *base_map = NULL;
	char map[NAME_MAX];
	int r;

	make_dir(dst, 0700);
	to = open_dir(dst);
	if (base) {
		base_fd = open_dir(base);
		snprintf(map, sizeof(map), "%s.map", base);
		ck_assert_int_eq(inomap_open(top, map, &base_map), 0);
	}
	ck_assert_int_eq(inomap_writer_new(&w), 0);
	r = copy_tree(src, to, base_fd, base_map, w, o, stats, eb);
	if (r == 0) {
		snprintf(map, sizeof(map), "%s.map", dst);
		ck_assert_int_eq(inomap_writer_commit(w, top, map), 0);
	}
	return r;
}

static struct inomap *open_map(const char *dst)
{
	_cleanup_close_ int top = open_dir(".");
	struct inomap *m = NULL;
	char map[NAME_MAX];

	snprintf(map, sizeof(map), "%s.map", dst);
	ck_assert_int_eq(inomap_open(top, map, &m), 0);
	return m;
}

/* ---- 1. open_beneath ---- */

/* What both openers promise, checked with `open_fn`. */
static void check_open_beneath(int (*open_fn)(int dirfd, const char *name, int flags))
{
	_cleanup_close_ int top = -1, dir = -1, fifo = -1;
	struct stat st;
	int r;


	make_dir("dir", 0755);
	make_file("file", "x", 1);
	SYS(symlink("dir", tpath("to-dir")));
	SYS(symlink("file", tpath("to-file")));
	SYS(mkfifo(tpath("fifo"), 0600));
	make_dir("mnt", 0755);
	mount_tmpfs("mnt");
	top = open_dir(".");

	dir = open_fn(top, "dir", O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(dir, 0);
	SYS(fstat(dir, &st));
	ck_assert_uint_eq(st.st_ino, ino_of("dir"));
	ck_assert_int_eq(fcntl(dir, F_GETFD), FD_CLOEXEC);

	ck_assert_int_eq(open_fn(top, "to-dir", O_RDONLY), -ELOOP);
	ck_assert_int_eq(open_fn(top, "to-file", O_RDONLY), -ELOOP);
	/* with O_DIRECTORY the kernel refuses the symlink as no directory before as a
	 * symlink (copy.h promises -ELOOP; copy_directory() takes either) */
	r = open_fn(top, "to-dir", O_RDONLY | O_DIRECTORY);
	ck_assert_msg(r == -ELOOP || r == -ENOTDIR, "a symlink to a directory opened: %d", r);
	ck_assert_int_eq(open_fn(dir, "../file", O_RDONLY), -EXDEV);
	ck_assert_int_eq(open_fn(dir, "..", O_RDONLY), -EXDEV);
	ck_assert_int_eq(open_fn(top, "/etc/hostname", O_RDONLY), -EXDEV);
	ck_assert_int_eq(open_fn(top, "mnt", O_RDONLY | O_DIRECTORY), -EXDEV);
	ck_assert_int_eq(open_fn(top, "missing", O_RDONLY), -ENOENT);

	/* a FIFO without a writer: a blocking open would hang the test until its timeout */
	fifo = open_fn(top, "fifo", O_RDONLY | O_NONBLOCK);
	ck_assert_int_ge(fifo, 0);
	SYS(fstat(fifo, &st));
	ck_assert(S_ISFIFO(st.st_mode));
}

/* openat2 where the kernel has it (under valgrind before 3.21, the fallback) */
START_TEST(test_open_beneath)
{
	check_open_beneath(open_beneath);
}
END_TEST

/* the fallback for kernels without openat2, or filters that refuse it */
START_TEST(test_open_beneath_plain)
{
	check_open_beneath(open_beneath_plain);
}
END_TEST

/* ---- 2. copy_data ---- */

START_TEST(test_copy_data_holes)
{
	const off_t hole = MIB, size = 3 * MIB, second = 4096 + hole;
	_cleanup_close_ int in = -1, out = -1;
	char block[4096];
	struct stat si, so;
	bool reflink = false, cloned = true;
	uint64_t copied = 0;

	/* data at 0, a 1 MiB hole, data, and a hole up to the size */
	in = open(tpath("sparse"), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ck_assert_int_ge(in, 0);
	memset(block, 'a', sizeof(block));
	ck_assert_int_eq(pwrite(in, block, sizeof(block), 0), (ssize_t)sizeof(block));
	memset(block, 'b', sizeof(block));
	ck_assert_int_eq(pwrite(in, block, sizeof(block), second), (ssize_t)sizeof(block));
	SYS(ftruncate(in, size));
	out = open(tpath("copy"), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ck_assert_int_ge(out, 0);

	ck_assert_int_eq(copy_data(in, out, size, &reflink, &cloned, &copied), 0);
	ck_assert(!cloned);
	ck_assert_uint_eq(copied, 2 * sizeof(block)); /* the data ranges only */
	assert_same_content(tpath("sparse"), tpath("copy"));

	SYS(fstat(in, &si));
	SYS(fstat(out, &so));
	ck_assert_int_eq(so.st_size, size);
	ck_assert_int_le(so.st_blocks, si.st_blocks + 16);
	ck_assert_int_eq(lseek(out, 0, SEEK_HOLE), 4096);
	ck_assert_int_eq(lseek(out, 4096, SEEK_DATA), second);
	ck_assert_int_eq(lseek(out, second, SEEK_HOLE), second + 4096);
	errno = 0;
	ck_assert_int_eq(lseek(out, second + 4096, SEEK_DATA) < 0 ? -errno : 0, -ENXIO);
}
END_TEST

START_TEST(test_copy_data_empty)
{
	_cleanup_close_ int in = -1, out = -1;
	struct stat st;
	bool reflink = false, cloned = true;
	uint64_t copied = 7;

	make_file("empty", "", 0);
	in = open(tpath("empty"), O_RDONLY | O_CLOEXEC);
	out = open(tpath("copy"), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ck_assert_int_ge(in, 0);
	ck_assert_int_ge(out, 0);
	ck_assert_int_eq(copy_data(in, out, 0, &reflink, &cloned, &copied), 0);
	ck_assert(!cloned);
	ck_assert_uint_eq(copied, 7); /* added to, never reset */
	SYS(fstat(out, &st));
	ck_assert_int_eq(st.st_size, 0);
	ck_assert_int_eq(st.st_blocks, 0);
}
END_TEST

/* Neither tmpfs nor a copy between two filesystems can clone. */
START_TEST(test_copy_data_no_reflink)
{
	static const char *const from[] = { "t/in", "in" };
	static const char *const to[] = { "t/out", "t/out2" };
	char *data = malloc(100 * 1024);

	ck_assert_ptr_nonnull(data);
	for (size_t i = 0; i < 100 * 1024; i++)
		data[i] = (char)(i * 7 + i / 4096);
	make_dir("t", 0755);
	mount_tmpfs("t");
	make_file("t/in", data, 100 * 1024);
	make_file("in", data, 100 * 1024);
	free(data);

	for (size_t i = 0; i < ARRAY_SIZE(from); i++) {
		_cleanup_close_ int in = open(tpath(from[i]), O_RDONLY | O_CLOEXEC);
		_cleanup_close_ int out =
			open(tpath(to[i]), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		bool reflink = true, cloned = true;
		uint64_t copied = 0;

		ck_assert_int_ge(in, 0);
		ck_assert_int_ge(out, 0);
		ck_assert_int_eq(copy_data(in, out, 100 * 1024, &reflink, &cloned, &copied), 0);
		ck_assert(!reflink);
		ck_assert(!cloned);
		ck_assert_uint_eq(copied, 100 * 1024);
		assert_same_content(tpath(from[i]), tpath(to[i]));
	}
}
END_TEST

/* ---- 3. copy_tree of every kind of entry ---- */

/* A valid POSIX ACL as the kernel stores it in system.posix_acl_access. */
struct acl_xattr {
	uint32_t version;
	struct {
		uint16_t tag, perm;
		uint32_t id;
	} e[5];
};
_Static_assert(sizeof(struct acl_xattr) == 44, "the ACL xattr layout has no padding");

/* user::rw- user:1234:r-- group::r-- mask::r-- other::---, that is mode 0640 */
static bool set_acl(const char *rel)
{
	struct acl_xattr acl = {
		.version = htole32(2),
		.e = {
			{ htole16(0x01), htole16(6), htole32(UINT32_MAX) },
			{ htole16(0x02), htole16(4), htole32(1234) },
			{ htole16(0x04), htole16(4), htole32(UINT32_MAX) },
			{ htole16(0x10), htole16(4), htole32(UINT32_MAX) },
			{ htole16(0x20), htole16(0), htole32(UINT32_MAX) },
		},
	};

	if (setxattr(tpath(rel), "system.posix_acl_access", &acl, sizeof(acl), 0) == 0)
		return true;
	if (errno != EOPNOTSUPP)
		ck_abort_msg("set the ACL of '%s': %s", rel, strerror(errno));
	return false;
}

static void make_socket(const char *rel)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	const char *p = tpath(rel);

	ck_assert_int_ge(s, 0);
	ck_assert_uint_lt(strlen(p), sizeof(sa.sun_path));
	memcpy(sa.sun_path, p, strlen(p) + 1);
	SYS(bind(s, (struct sockaddr *)&sa, sizeof(sa)));
}

/* A distinct mtime with nanoseconds for each entry, set after what changes it. */
static void set_mtime(const char *rel, int i)
{
	struct timespec ts[2] = { { 1600000000, 5 }, { 1700000000 + i, 123456789 + i } };

	SYS(utimensat(AT_FDCWD, tpath(rel), ts, AT_SYMLINK_NOFOLLOW));
}

static void assert_same_xattrs(const char *a, const char *b)
{
	char la[4096], lb[4096], va[4096], vb[4096];
	ssize_t na = llistxattr(a, la, sizeof(la)), nb = llistxattr(b, lb, sizeof(lb));

	ck_assert_msg(na >= 0 && na == nb, "'%s' lists %zd bytes of xattr names, its copy %zd", a,
		      na, nb);
	for (ssize_t off = 0; off < na; off += (ssize_t)strlen(la + off) + 1) {
		ssize_t sa = lgetxattr(a, la + off, va, sizeof(va));
		ssize_t sb = lgetxattr(b, la + off, vb, sizeof(vb));

		ck_assert_msg(sa >= 0 && sa == sb && memcmp(va, vb, (size_t)sa) == 0,
			      "'%s': xattr %s differs in the copy (%zd, %zd bytes)", a, la + off,
			      sa, sb);
	}
}

static void compare_tree(const char *a, const char *b, const struct inomap *m, int *count);

/* One entry and its copy: the same in all a user sees; the map gives back the rest. */
static void compare_entry(const char *a, const char *b, const struct inomap *m, int *count)
{
	struct inomap_record buf;
	const struct inomap_record *rec;
	struct stat sa, sb;

	SYS(lstat(a, &sa));
	SYS(lstat(b, &sb));
	(*count)++;
	ck_assert_msg(sa.st_mode == sb.st_mode, "'%s': mode %o, copy %o", a, sa.st_mode,
		      sb.st_mode);
	ck_assert_msg(sa.st_uid == sb.st_uid && sa.st_gid == sb.st_gid,
		      "'%s': owner %u:%u, copy %u:%u", a, sa.st_uid, sa.st_gid, sb.st_uid,
		      sb.st_gid);
	ck_assert_msg(sa.st_mtim.tv_sec == sb.st_mtim.tv_sec &&
			      sa.st_mtim.tv_nsec == sb.st_mtim.tv_nsec,
		      "'%s': mtime %jd.%09ld, copy %jd.%09ld", a, (intmax_t)sa.st_mtim.tv_sec,
		      sa.st_mtim.tv_nsec, (intmax_t)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec);
	assert_same_xattrs(a, b);

	rec = inomap_find(m, sb.st_ino, &buf);
	ck_assert_msg(rec, "'%s': the map has no record of copy inode %ju", b,
		      (uintmax_t)sb.st_ino);
	ck_assert_uint_eq(rec->ino, sa.st_ino);
	ck_assert_int_eq(rec->ctime_sec, sa.st_ctim.tv_sec);
	ck_assert_uint_eq(rec->ctime_nsec, sa.st_ctim.tv_nsec);
	ck_assert_uint_eq(rec->nlink, sa.st_nlink);

	switch (sa.st_mode & S_IFMT) {
	case S_IFREG:
		assert_same_content(a, b);
		break;
	case S_IFLNK: {
		char ta[PATH_MAX], tb[PATH_MAX];
		ssize_t la = readlink(a, ta, sizeof(ta)), lb = readlink(b, tb, sizeof(tb));

		ck_assert_msg(la > 0 && la == lb && memcmp(ta, tb, (size_t)la) == 0,
			      "'%s': the copy points elsewhere", a);
		break;
	}
	case S_IFCHR:
	case S_IFBLK:
		ck_assert_uint_eq(sa.st_rdev, sb.st_rdev);
		break;
	case S_IFDIR:
		compare_tree(a, b, m, count);
		break;
	}
}

static int not_dots(const struct dirent *de)
{
	return !streq(de->d_name, ".") && !streq(de->d_name, "..");
}

/* The two directories hold the same names, and each entry equals its copy. */
static void compare_tree(const char *a, const char *b, const struct inomap *m, int *count)
{
	struct dirent **na, **nb;
	int n = scandir(a, &na, not_dots, alphasort);

	ck_assert_int_ge(n, 0);
	ck_assert_int_eq(scandir(b, &nb, not_dots, alphasort), n);
	for (int i = 0; i < n; i++) {
		char pa[PATH_MAX], pb[PATH_MAX];

		ck_assert_str_eq(na[i]->d_name, nb[i]->d_name);
		snprintf(pa, sizeof(pa), "%s/%s", a, na[i]->d_name);
		snprintf(pb, sizeof(pb), "%s/%s", b, nb[i]->d_name);
		compare_entry(pa, pb, m, count);
	}
	for (int i = 0; i < n; i++) {
		free(na[i]);
		free(nb[i]);
	}
	free(na);
	free(nb);
}

START_TEST(test_copy_tree_everything)
{
	/* leaves first, then directories from the deepest: each mtime after its last change */
	static const char *const timed[] = {
		"src/file",	"src/empty",	 "src/suid",	 "src/dir/sub/deep", "src/dir/h1",
		"src/rel",	"src/abs",	 "src/fifo",	 "src/sock",	     "src/null",
		"src/dir/sub",	"src/dir",	 "src/sticky",	 "src",
	};
	_cleanup_inomap_ struct inomap *m = NULL;
	struct copy_options o = { .lock_timeout_ns = SEC };
	struct copy_stats stats;
	struct errbuf eb = { "" };
	struct stat st;
	bool acl;
	int count = 0, r;


	make_dir("src", 0755);
	make_file("src/file", "some content\n", 13);
	make_file("src/empty", "", 0);
	make_file("src/suid", "#!/bin/sh\n", 10);
	make_dir("src/sticky", 01777);
	make_dir("src/dir", 0750);
	make_dir("src/dir/sub", 0700);
	make_file("src/dir/sub/deep", "deep down", 9);
	make_file("src/dir/h1", "three names", 11);
	SYS(link(tpath("src/dir/h1"), tpath("src/sticky/h2")));
	SYS(link(tpath("src/dir/h1"), tpath("src/dir/sub/h3")));
	SYS(symlink("dir/sub/deep", tpath("src/rel")));
	SYS(symlink("/etc/hostname", tpath("src/abs")));
	SYS(mkfifo(tpath("src/fifo"), 0620));
	SYS(chmod(tpath("src/fifo"), 0620)); /* mkfifo applies the umask */
	make_socket("src/sock");
	SYS(mknod(tpath("src/null"), S_IFCHR | 0666, makedev(1, 3)));

	SYS(chown(tpath("src/file"), 1234, 5678));
	SYS(chown(tpath("src/suid"), 1234, 5678));
	SYS(chmod(tpath("src/suid"), 04755)); /* after chown, which clears it */
	SYS(lchown(tpath("src/rel"), 1234, 5678));
	SYS(setxattr(tpath("src/file"), "user.stillfs", "a value", 7, 0));
	SYS(setxattr(tpath("src/dir"), "user.dir", "", 0, 0));
	/* user.* is for files and directories only; root may give trusted.* to any entry */
	SYS(lsetxattr(tpath("src/rel"), "trusted.link", "l", 1, 0));
	SYS(lsetxattr(tpath("src/null"), "trusted.dev", "d", 1, 0));
	acl = set_acl("src/file");
	if (!acl)
		printf("%s: the filesystem of /tmp has no ACLs: not tested\n", __func__);
	for (size_t i = 0; i < ARRAY_SIZE(timed); i++)
		set_mtime(timed[i], (int)i);

	r = copy_into("dst", NULL, &o, &stats, &eb);
	ck_assert_msg(r == 0, "copy_tree: %d (%s)", r, eb.msg);
	m = open_map("dst");

	compare_entry(tpath("src"), tpath("dst"), m, &count);
	ck_assert_int_eq(count, 16);
	ck_assert_uint_eq(stats.entries, 16);
	ck_assert_uint_eq(stats.files, 5); /* the hard-link group is one file */
	ck_assert_uint_eq(stats.bytes, 13 + 0 + 10 + 9 + 11);
	ck_assert_uint_eq(stats.inconsistent, 0);
	ck_assert_uint_eq(stats.linked, 0);
	ck_assert_uint_eq(inomap_count(m), 14); /* 16 names, 14 files */

	/* what compare_entry checks only against the source, against what it must be */
	ck_assert_uint_eq(ino_of("dst/sticky/h2"), ino_of("dst/dir/h1"));
	ck_assert_uint_eq(ino_of("dst/dir/sub/h3"), ino_of("dst/dir/h1"));
	SYS(lstat(tpath("dst/dir/h1"), &st));
	ck_assert_uint_eq(st.st_nlink, 3);
	SYS(lstat(tpath("dst/suid"), &st));
	ck_assert_uint_eq(st.st_mode, S_IFREG | 04755);
	ck_assert_uint_eq(st.st_uid, 1234);
	ck_assert_uint_eq(st.st_gid, 5678);
	SYS(lstat(tpath("dst/sticky"), &st));
	ck_assert_uint_eq(st.st_mode, S_IFDIR | 01777);
	SYS(lstat(tpath("dst/file"), &st));
	ck_assert_int_eq(st.st_mtim.tv_nsec, 123456789);
	ck_assert_uint_eq(st.st_mode, S_IFREG | (acl ? 0640 : 0644));
	SYS(lstat(tpath("dst/null"), &st));
	ck_assert(S_ISCHR(st.st_mode));
	ck_assert_uint_eq(st.st_rdev, makedev(1, 3));
	SYS(lstat(tpath("dst/sock"), &st));
	ck_assert(S_ISSOCK(st.st_mode));
	SYS(lstat(tpath("dst/fifo"), &st));
	ck_assert_uint_eq(st.st_mode, S_IFIFO | 0620);
	ck_assert_int_eq(lgetxattr(tpath("dst/rel"), "trusted.link", NULL, 0), 1);
	if (acl)
		ck_assert_int_eq(lgetxattr(tpath("dst/file"), "system.posix_acl_access", NULL, 0),
				 (ssize_t)sizeof(struct acl_xattr));
}
END_TEST

/* ---- 4. a mount point inside ---- */

START_TEST(test_copy_tree_mount_point)
{
	struct copy_options o = { .lock_timeout_ns = SEC };
	struct copy_stats stats;
	struct errbuf eb = { "" };
	struct stat st;
	int r;


	make_dir("src", 0755);
	make_file("src/f", "f", 1);
	make_dir("src/mnt", 0755);
	mount_tmpfs("src/mnt");
	make_file("src/mnt/inside", "not ours", 8);

	r = copy_into("dst", NULL, &o, &stats, &eb);
	ck_assert_msg(r == 0, "copy_tree: %d (%s)", r, eb.msg);
	SYS(lstat(tpath("dst/mnt"), &st));
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(count_entries(tpath("dst/mnt")), 0);
	assert_content(tpath("dst/f"), "f");
	ck_assert_uint_eq(stats.entries, 3);
	assert_content(tpath("src/mnt/inside"), "not ours");
}
END_TEST

/* ---- 5. sharing the files that did not change with the previous copy ---- */

START_TEST(test_copy_tree_base)
{
	static const char *const same[] = { "a", "b", "dir/c" };
	_cleanup_inomap_ struct inomap *m2 = NULL;
	struct copy_options o = { .lock_timeout_ns = SEC };
	struct copy_stats stats;
	struct inomap_record buf;
	const struct inomap_record *rec;
	struct errbuf eb = { "" };
	int r;


	make_dir("src", 0755);
	make_dir("src/dir", 0755);
	make_file("src/a", "alpha", 5);
	make_file("src/b", "", 0);
	make_file("src/dir/c", "gamma", 5);
	make_file("src/d", "delta", 5);
	r = copy_into("dst1", NULL, &o, &stats, &eb);
	ck_assert_msg(r == 0, "copy_tree: %d (%s)", r, eb.msg);
	ck_assert_uint_eq(stats.linked, 0);

	append_file("src/d", "+more");
	r = copy_into("dst2", "dst1", &o, &stats, &eb);
	ck_assert_msg(r == 0, "copy_tree: %d (%s)", r, eb.msg);
	ck_assert_uint_eq(stats.linked, 3);
	ck_assert_uint_eq(stats.entries, 6);

	for (size_t i = 0; i < ARRAY_SIZE(same); i++) {
		char p1[PATH_MAX], p2[PATH_MAX];

		snprintf(p1, sizeof(p1), "dst1/%s", same[i]);
		snprintf(p2, sizeof(p2), "dst2/%s", same[i]);
		ck_assert_uint_eq(ino_of(p1), ino_of(p2));
	}
	ck_assert_uint_ne(ino_of("dst1/d"), ino_of("dst2/d"));
	/* the previous copy stays as it was */
	assert_content(tpath("dst1/d"), "delta");
	assert_content(tpath("dst2/d"), "delta+more");

	/* a shared file's inode maps to the original in the new map too */
	m2 = open_map("dst2");
	rec = inomap_find(m2, ino_of("dst2/a"), &buf);
	ck_assert_ptr_nonnull(rec);
	ck_assert_uint_eq(rec->ino, ino_of("src/a"));
}
END_TEST

/* ---- 5b. refreshing an earlier copy in place ---- */

/* Refreshes tmp/<dst> (made by copy_into) from tmp/src and commits its new map. */
static int refresh_into(const char *dst, struct copy_stats *stats, struct errbuf *eb)
{
	_cleanup_close_ int src = open_dir("src"), to = open_dir(dst), top = open_dir(".");
	_cleanup_inomap_writer_ struct inomap_writer *w = NULL;
	_cleanup_inomap_ struct inomap *earlier = open_map(dst);
	struct copy_options o = { .refresh = true, .lock_timeout_ns = SEC };
	char map[NAME_MAX];
	int r;

	ck_assert_int_eq(inomap_writer_new(&w), 0);
	r = copy_tree(src, to, -1, earlier, w, &o, stats, eb);
	if (r == 0) {
		snprintf(map, sizeof(map), "%s.map", dst);
		ck_assert_int_eq(inomap_writer_commit(w, top, map), 0);
	}
	return r;
}

/*
 * src and dst compared entry by entry, but for src/mnt, a mount point whose
 * copy is empty: the same names at the top, each the same beneath.
 */
static void compare_beside_mount(const struct inomap *m, int *count)
{
	static const char *const top[] = { "a", "c", "d", "x", "dir", "h2", "g1", "sym", "new" };
	struct stat st;

	ck_assert_int_eq(count_entries(tpath("dst")), (int)ARRAY_SIZE(top) + 1);
	for (size_t i = 0; i < ARRAY_SIZE(top); i++) {
		char a[PATH_MAX], b[PATH_MAX];

		snprintf(a, sizeof(a), "%s", tpath("src"));
		snprintf(a + strlen(a), sizeof(a) - strlen(a), "/%s", top[i]);
		snprintf(b, sizeof(b), "%s", tpath("dst"));
		snprintf(b + strlen(b), sizeof(b) - strlen(b), "/%s", top[i]);
		compare_entry(a, b, m, count);
	}
	SYS(lstat(tpath("dst/mnt"), &st));
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(count_entries(tpath("dst/mnt")), 0);
}

START_TEST(test_copy_tree_refresh)
{
	_cleanup_inomap_ struct inomap *m = NULL;
	struct copy_options o = { .lock_timeout_ns = SEC };
	struct copy_stats stats;
	struct errbuf eb = { "" };
	ino_t kept_a, kept_e, kept_h, old_c;
	int count = 0, r;

	make_dir("src", 0755);
	make_dir("src/dir", 0755);
	make_dir("src/gone", 0755);
	make_dir("src/mnt", 0755);
	make_file("src/a", "alpha", 5);
	make_file("src/c", "gamma", 5);
	make_file("src/d", "delta", 5);
	make_file("src/x", "will be a directory", 19);
	make_file("src/dir/e", "epsilon", 7);
	make_file("src/dir/h1", "linked", 6);
	make_file("src/gone/f", "phi", 3);
	SYS(link(tpath("src/dir/h1"), tpath("src/h2")));
	make_file("src/g1", "grows a name", 12);
	SYS(symlink("a", tpath("src/sym")));
	SYS(setxattr(tpath("src/dir"), "user.old", "1", 1, 0));

	/* an older copy, then one based on it: most of its files are that copy's */
	r = copy_into("older", NULL, &o, &stats, &eb);
	ck_assert_msg(r == 0, "copy_tree: %d (%s)", r, eb.msg);
	r = copy_into("dst", "older", &o, &stats, &eb);
	ck_assert_msg(r == 0, "copy_tree: %d (%s)", r, eb.msg);
	ck_assert_uint_eq(ino_of("dst/c"), ino_of("older/c"));
	kept_a = ino_of("dst/a");
	kept_e = ino_of("dst/dir/e");
	kept_h = ino_of("dst/h2");
	old_c = ino_of("dst/c");

	/* every kind of change */
	make_file("src/c.new", "GAMMA", 5);
	SYS(rename(tpath("src/c.new"), tpath("src/c"))); /* replaced */
	append_file("src/d", "+more");                  /* changed in place */
	SYS(unlink(tpath("src/x")));
	make_dir("src/x", 0700);                         /* a file became a directory */
	make_file("src/x/inside", "in", 2);
	SYS(unlink(tpath("src/gone/f")));
	SYS(rmdir(tpath("src/gone")));                   /* a directory is gone */
	SYS(link(tpath("src/g1"), tpath("src/dir/g2"))); /* a file got a second name */
	SYS(unlink(tpath("src/sym")));
	SYS(symlink("dir/e", tpath("src/sym")));         /* a symlink points elsewhere */
	SYS(removexattr(tpath("src/dir"), "user.old"));  /* a directory lost an xattr */
	SYS(setxattr(tpath("src/dir"), "user.new", "2", 1, 0));
	make_file("src/new", "nu", 2);                   /* a file is new */
	mount_tmpfs("src/mnt");                          /* a directory became a mount point */
	make_file("src/mnt/inside", "not ours", 8);

	r = refresh_into("dst", &stats, &eb);
	ck_assert_msg(r == 0, "refresh: %d (%s)", r, eb.msg);
	m = open_map("dst");
	compare_beside_mount(m, &count);
	ck_assert_int_eq(count, 13);
	ck_assert_uint_eq(stats.entries, 15);

	/* what did not change is kept as it was, inode and all; the rest is new */
	ck_assert_uint_eq(ino_of("dst/a"), kept_a);
	ck_assert_uint_eq(ino_of("dst/dir/e"), kept_e);
	ck_assert_uint_eq(ino_of("dst/h2"), kept_h);
	ck_assert_uint_eq(ino_of("dst/dir/h1"), kept_h);
	ck_assert_uint_eq(stats.linked, 4); /* a, dir/e, and h1 and h2, one file of two names */
	ck_assert_uint_ne(ino_of("dst/c"), old_c);
	ck_assert_uint_eq(ino_of("dst/dir/g2"), ino_of("dst/g1"));
	ck_assert_int_eq(count_entries(tpath("dst/mnt")), 0);
	ck_assert_int_eq(getxattr(tpath("dst/dir"), "user.old", NULL, 0), -1);

	/* the older copy, whose files the refreshed one shared, is untouched */
	assert_content(tpath("older/c"), "gamma");
	assert_content(tpath("older/d"), "delta");
	ck_assert_uint_eq(ino_of("older/c"), old_c);
	ck_assert_int_eq(count_entries(tpath("older/gone")), 1);

	/* nothing changed since: a second refresh keeps every file */
	r = refresh_into("dst", &stats, &eb);
	ck_assert_msg(r == 0, "refresh: %d (%s)", r, eb.msg);
	ck_assert_uint_eq(stats.linked, 10); /* every name of a regular file */
	inomap_close(m);
	m = open_map("dst");
	count = 0;
	compare_beside_mount(m, &count);
	ck_assert_int_eq(count, 13);
}
END_TEST

/* ---- 6. a file that keeps changing ---- */

static void make_big_file(const char *rel)
{
	char *data = calloc(1, MIB);

	ck_assert_ptr_nonnull(data);
	make_file(rel, data, MIB);
	free(data);
}

START_TEST(test_copy_tree_inconsistent)
{
	struct problems p = { 0 };
	struct copy_options o = {
		.lock_timeout_ns = 200 * MSEC,
		.problem = on_problem,
		.userdata = &p,
	};
	struct copy_stats stats;
	struct errbuf eb = { "" };
	struct stat st;
	int r;


	make_dir("src", 0755);
	make_big_file("src/hot");
	make_file("src/calm", "calm", 4);
	start_writer("src/hot", false, 0);
	r = copy_into("dst", NULL, &o, &stats, &eb);
	stop_writer();

	assert_writer_seen();
	ck_assert_msg(r == 0, "copy_tree: %d (%s)", r, eb.msg);
	ck_assert_int_eq(p.n, 1);
	ck_assert_str_eq(p.path, "hot");
	/* the writer takes no lock, so the copier gets its shared lock and still sees changes */
	ck_assert_msg(strstr(p.what, "kept changing") && strstr(p.what, "under a shared lock"),
		      "the problem: %s", p.what);
	ck_assert_uint_eq(stats.inconsistent, 1);
	ck_assert_uint_eq(stats.files, 2);
	SYS(lstat(tpath("dst/hot"), &st));
	ck_assert_int_eq(st.st_size, MIB);
	assert_content(tpath("dst/calm"), "calm");
}
END_TEST

/* ---- 7. locks ---- */

/* A writer that changes the file only under its exclusive flock, and lets go
 * after 300 ms: the copier waits for its shared lock and copies the last state. */
START_TEST(test_copy_tree_waits_for_lock)
{
	struct problems p = { 0 };
	struct copy_options o = {
		.lock_timeout_ns = 2 * SEC,
		.problem = on_problem,
		.userdata = &p,
	};
	struct copy_stats stats;
	struct errbuf eb = { "" };
	int64_t done;
	int r;


	make_dir("src", 0755);
	make_big_file("src/db");
	start_writer("src/db", true, 300 * MSEC);
	r = copy_into("dst", NULL, &o, &stats, &eb);
	done = now_ns();
	stop_writer();

	assert_writer_seen();
	ck_assert_msg(r == 0, "copy_tree: %d (%s)", r, eb.msg);
	ck_assert_msg(p.n == 0, "problem with '%s': %s", p.path, p.what);
	ck_assert_uint_eq(stats.inconsistent, 0);
	ck_assert_msg(done >= busy.until_ns, "the copy ended %jd ms before the lock was released",
		      (intmax_t)((busy.until_ns - done) / MSEC));
	assert_same_content(tpath("src/db"), tpath("dst/db"));
}
END_TEST

/* The exclusive flock held all along: the copier gives up after lock_timeout and says why. */
START_TEST(test_copy_tree_lock_timeout)
{
	const int64_t timeout = 200 * MSEC;
	struct problems p = { 0 };
	struct copy_options o = {
		.lock_timeout_ns = timeout,
		.problem = on_problem,
		.userdata = &p,
	};
	struct copy_stats stats;
	struct errbuf eb = { "" };
	int64_t start, took;
	int r;


	make_dir("src", 0755);
	make_big_file("src/db");
	start_writer("src/db", true, 0);
	start = now_ns();
	r = copy_into("dst", NULL, &o, &stats, &eb);
	took = now_ns() - start;
	stop_writer();

	assert_writer_seen();
	ck_assert_msg(r == 0, "copy_tree: %d (%s)", r, eb.msg);
	ck_assert_int_eq(p.n, 1);
	ck_assert_str_eq(p.path, "db");
	ck_assert_msg(strstr(p.what, "no shared lock could be taken"), "the problem: %s", p.what);
	ck_assert_uint_eq(stats.inconsistent, 1);
	ck_assert_int_ge(took, timeout);
	ck_assert_int_lt(took, timeout + SEC);
}
END_TEST

/* ---- 8. the deadline ---- */

START_TEST(test_copy_tree_deadline)
{
	struct copy_options o = { .lock_timeout_ns = SEC, .deadline_ns = now_ns() - 1 };
	struct copy_stats stats;
	struct errbuf eb = { "" };


	make_dir("src", 0755);
	make_dir("src/dir", 0755);
	make_file("src/dir/f", "f", 1);
	ck_assert_int_eq(copy_into("dst", NULL, &o, &stats, &eb), -ETIME);
	/* it stops before the first entry, in the volume's root */
	ck_assert_msg(strstr(eb.msg, "'.'"), "the message names no path: %s", eb.msg);
	ck_assert_uint_eq(stats.entries, 1);
	ck_assert_int_eq(count_entries(tpath("dst")), 0);
}
END_TEST

/* ---- 9. rmtree_at ---- */

/* One of each kind of entry in the directory `dir`. */
static void fill_dir(int dir)
{
	_cleanup_close_ int fd = openat(dir, "file", O_WRONLY | O_CREAT | O_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "x", 1), 1);
	SYS(mkdirat(dir, "empty-dir", 0));
	SYS(mknodat(dir, "fifo", S_IFIFO | 0600, 0));
	SYS(mknodat(dir, "sock", S_IFSOCK | 0600, 0));
	SYS(mknodat(dir, "null", S_IFCHR | 0600, makedev(1, 3)));
	SYS(symlinkat("..", dir, "up"));
	SYS(symlinkat(tmp, dir, "out")); /* not to be followed: tmp/keep stays */
}

START_TEST(test_rmtree_deep)
{
	_cleanup_close_ int top = open_dir("."), fd = -1;
	struct stat st;


	make_dir("keep", 0755);
	make_file("keep/file", "keep", 4);
	make_dir("deep", 0755);
	fd = open_dir("deep");
	for (int level = 0; level < 200; level++) {
		int next;

		if (level % 20 == 0)
			fill_dir(fd);
		SYS(mkdirat(fd, "d", level % 7 == 0 ? 0 : 0755));
		next = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		ck_assert_int_ge(next, 0);
		close(fd);
		fd = next;
	}
	fill_dir(fd);

	ck_assert_int_eq(rmtree_at(top, "deep"), 0);
	ck_assert_int_eq(fstatat(top, "deep", &st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0, -ENOENT);
	assert_content(tpath("keep/file"), "keep");
	ck_assert_int_eq(rmtree_at(top, "missing"), 0);
	/* a single file, and a symlink to a directory: the name goes, never the target */
	SYS(symlink("keep", tpath("link")));
	ck_assert_int_eq(rmtree_at(top, "link"), 0);
	ck_assert_int_eq(count_entries(tpath("keep")), 1);
	ck_assert_int_eq(rmtree_at(top, "keep"), 0);
	ck_assert_int_eq(count_entries(tmp), 0);
}
END_TEST

START_TEST(test_rmtree_mount)
{
	_cleanup_close_ int top = open_dir(".");


	make_dir("tree", 0755);
	make_file("tree/before", "b", 1);
	make_dir("tree/sub", 0755);
	make_dir("tree/sub/mnt", 0755);
	make_file("tree/sub/other", "o", 1);
	mount_tmpfs("tree/sub/mnt");
	make_file("tree/sub/mnt/inside", "inside", 6);

	ck_assert_int_eq(rmtree_at(top, "tree"), -EXDEV);
	assert_content(tpath("tree/sub/mnt/inside"), "inside");
	/* what is beside the mount goes all the same */
	ck_assert_int_eq(access(tpath("tree/before"), F_OK), -1);
	ck_assert_int_eq(access(tpath("tree/sub/other"), F_OK), -1);
}
END_TEST

/* ---- 10. copy_links ---- */

#define N_LINKS 10000

/* Original inode numbers far apart and alike in their low bits, hard on a hash table. */
static uint64_t orig_ino(int i)
{
	return (uint64_t)(i + 1) << 24;
}

START_TEST(test_copy_links)
{
	_cleanup_close_ int dir = -1;
	struct copy_links *l = NULL;
	ino_t *inos = calloc(N_LINKS, sizeof(*inos));
	char name[32];
	int fd = -1;

	ck_assert_ptr_nonnull(inos);
	make_dir("many", 0755);
	dir = open_dir("many");
	ck_assert_int_eq(copy_links_new(&l), 0);
	ck_assert_int_eq(copy_links_find(l, orig_ino(0), dir, &fd), -ENOENT);

	for (int i = 0; i < N_LINKS; i++) {
		struct stat st;

		snprintf(name, sizeof(name), "%d", i);
		fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		fast_assert_int_eq(fd >= 0, 1);
		fast_assert_int_eq(fstat(fd, &st), 0);
		close(fd);
		inos[i] = st.st_ino;
		fast_assert_int_eq(copy_links_add(l, orig_ino(i), dir, name), 0);
	}
	for (int i = 0; i < N_LINKS; i++) {
		struct stat st;

		fd = -1;
		fast_assert_int_eq(copy_links_find(l, orig_ino(i), dir, &fd), 0);
		fast_assert_int_eq(fcntl(fd, F_GETFL) & O_PATH, O_PATH);
		fast_assert_int_eq(fstat(fd, &st), 0);
		close(fd);
		fast_assert_uint_eq(st.st_ino, inos[i]);
	}
	ck_assert_int_eq(copy_links_find(l, orig_ino(N_LINKS), dir, &fd), -ENOENT);
	ck_assert_int_eq(copy_links_find(l, 3, dir, &fd), -ENOENT);
	ck_assert_int_eq(copy_links_add(l, 0, dir, "0"), -EINVAL);
	ck_assert_int_eq(copy_links_add(l, 5, dir, "no-such-file"), -ENOENT);
	copy_links_free(l);
	free(inos);
}
END_TEST

static void add_test(Suite *s, const TTest *t)
{
	TCase *tc = tcase_create(t->name);

	/* unchecked: run by the runner, so that a failed test is cleaned up too */
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, t);
	suite_add_tcase(s, tc);
}

Suite *copy_suite(void);

Suite *copy_suite(void)
{
	Suite *s = suite_create("copy");

	add_test(s, test_open_beneath);
	add_test(s, test_open_beneath_plain);
	add_test(s, test_copy_data_holes);
	add_test(s, test_copy_data_empty);
	add_test(s, test_copy_data_no_reflink);
	add_test(s, test_copy_tree_everything);
	add_test(s, test_copy_tree_mount_point);
	add_test(s, test_copy_tree_base);
	add_test(s, test_copy_tree_refresh);
	add_test(s, test_copy_tree_inconsistent);
	add_test(s, test_copy_tree_waits_for_lock);
	add_test(s, test_copy_tree_lock_timeout);
	add_test(s, test_copy_tree_deadline);
	add_test(s, test_rmtree_deep);
	add_test(s, test_rmtree_mount);
	add_test(s, test_copy_links);
	return s;
}
