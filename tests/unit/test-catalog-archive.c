// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for the digests of catalog/manifest-digest.c and for reading
 * archives as manifest entries (catalog/manifest-archive.c).
 *
 * The archive tests build a small tree in a temporary directory, archive it
 * with the tar programs people use (GNU tar in its pax and GNU formats,
 * bsdtar, gzip-compressed) and check that each member reads back as what the
 * filesystem holds: the same metadata, content digest and xattr digest
 * (ACLs included) that a manifest of the tree would record. Parts the
 * machine cannot do (no bsdtar, a filesystem without user xattrs or ACLs) are
 * skipped with a message. Edge cases of member names and devices use tar
 * files written byte by byte.
 */
#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <xxhash.h>

#include "macro.h"
#include "manifest.h"

Suite *archive_suite(void);

static char dir[PATH_MAX];
static char tree[PATH_MAX];

#define path_printf(buf, ...)                                                                      \
	ck_assert_int_lt(snprintf(buf, sizeof(buf), __VA_ARGS__), (int)sizeof(buf))

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");

	path_printf(dir, "%s/stillfs-unit-archive.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* the paths go to the shell in single quotes */
	ck_assert_ptr_null(strchr(dir, '\''));
	path_printf(tree, "%s/tree", dir);
}

static void teardown(void)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Runs a shell command; returns its exit status (-1 when it did not exit). */
static int run(const char *fmt, ...) _printf_(1, 2);
static int run(const char *fmt, ...)
{
	char cmd[4 * PATH_MAX];
	va_list ap;
	int n, status;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	ck_assert_int_lt(n, (int)sizeof(cmd));
	status = system(cmd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool have_gnu_tar(void)
{
	return run("tar --version 2>/dev/null | grep -q 'GNU tar'") == 0;
}

static bool have_program(const char *name)
{
	return run("command -v %s >/dev/null 2>&1", name) == 0;
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

static void *random_bytes(size_t len)
{
	unsigned char *p = malloc(len);

	ck_assert_ptr_nonnull(p);
	for (size_t done = 0; done < len;) {
		ssize_t n = getrandom(p + done, len - done, 0);

		ck_assert_int_gt(n, 0);
		done += (size_t)n;
	}
	return p;
}

static void digest_of(const void *data, size_t len, uint8_t ret[MANIFEST_DIGEST_LEN])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits(data, len));
	memcpy(ret, c.digest, MANIFEST_DIGEST_LEN);
}

static void assert_digest_eq(const uint8_t *got, const uint8_t *expected, const char *what)
{
	char g[2 * MANIFEST_DIGEST_LEN + 1], e[2 * MANIFEST_DIGEST_LEN + 1];

	if (memcmp(got, expected, MANIFEST_DIGEST_LEN) == 0)
		return;
	manifest_digest_hex(got, g);
	manifest_digest_hex(expected, e);
	ck_abort_msg("%s: digest %s, expected %s", what, g, e);
}

/* --- digests --- */

START_TEST(test_digest_hex)
{
	uint8_t d[MANIFEST_DIGEST_LEN];
	char hex[2 * MANIFEST_DIGEST_LEN + 1];

	for (size_t i = 0; i < sizeof(d); i++)
		d[i] = (uint8_t)(i * 17 + 0x0f);
	manifest_digest_hex(d, hex);
	ck_assert_str_eq(hex, "0f2031425364758697a8b9cadbecfd0e");
}
END_TEST

START_TEST(test_content_digest)
{
	static const size_t sizes[] = {0, 1, 4096, 1024 * 1024, 3 * 1024 * 1024 + 17};
	uint8_t got[MANIFEST_DIGEST_LEN], expected[MANIFEST_DIGEST_LEN];
	char path[PATH_MAX];

	path_printf(path, "%s/file", dir);
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		unsigned char *data = random_bytes(sizes[i] + 1);
		uint64_t bytes = 12345;
		int fd;

		write_file(path, data, sizes[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(manifest_content_digest_fd(fd, got, &bytes), 0);
		ck_assert_uint_eq(bytes, sizes[i]);
		digest_of(data, sizes[i], expected);
		assert_digest_eq(got, expected, "whole file");

		/* from the current offset on */
		if (sizes[i] > 100) {
			ck_assert_int_eq(lseek(fd, 100, SEEK_SET), 100);
			ck_assert_int_eq(manifest_content_digest_fd(fd, got, &bytes), 0);
			ck_assert_uint_eq(bytes, sizes[i] - 100);
			digest_of(data + 100, sizes[i] - 100, expected);
			assert_digest_eq(got, expected, "from offset 100");
		}
		close(fd);
		free(data);
	}
}
END_TEST

/* A pipe takes no read-ahead advice and comes in short reads: same digest. */
START_TEST(test_content_digest_pipe)
{
	uint8_t got[MANIFEST_DIGEST_LEN], expected[MANIFEST_DIGEST_LEN];
	unsigned char *data = random_bytes(40000);
	uint64_t bytes = 0;
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(write(p[1], data, 40000), 40000);
	close(p[1]);
	ck_assert_int_eq(manifest_content_digest_fd(p[0], got, &bytes), 0);
	close(p[0]);
	ck_assert_uint_eq(bytes, 40000);
	digest_of(data, 40000, expected);
	assert_digest_eq(got, expected, "pipe");
	free(data);

	ck_assert_int_eq(manifest_content_digest_fd(-1, got, &bytes), -EBADF);
}
END_TEST

START_TEST(test_xattr_digest_layout)
{
	/* the value of "user.b" holds a NUL and the high byte sorts after 'z' */
	struct manifest_xattr items[] = {
		{"user.\xe9", "e", 1},
		{"user.b", "x\0y", 3},
		{"system.posix_acl_access", "\x02\x00\x00\x00", 4},
		{"user.a", "", 0},
		{"user.z", "zz", 2},
	};
	static const unsigned char expected_bytes[] =
		"system.posix_acl_access\0" "\0\0\0\x04" "\x02\x00\x00\x00"
		"user.a\0" "\0\0\0\0"
		"user.b\0" "\0\0\0\x03" "x\0y"
		"user.z\0" "\0\0\0\x02" "zz"
		"user.\xe9\0" "\0\0\0\x01" "e";
	uint8_t got[MANIFEST_DIGEST_LEN], expected[MANIFEST_DIGEST_LEN];

	/* sizeof counts the literal's own terminating NUL */
	digest_of(expected_bytes, sizeof(expected_bytes) - 1, expected);
	manifest_xattr_digest(items, ARRAY_SIZE(items), got);
	assert_digest_eq(got, expected, "hand-assembled");
	/* sorted in place, by bytes */
	ck_assert_str_eq(items[0].name, "system.posix_acl_access");
	ck_assert_str_eq(items[4].name, "user.\xe9");

	/* no xattrs: the digest of nothing */
	digest_of("", 0, expected);
	manifest_xattr_digest(NULL, 0, got);
	assert_digest_eq(got, expected, "empty");
}
END_TEST

START_TEST(test_xattr_digest_order)
{
	static const struct manifest_xattr base[] = {
		{"user.one", "1", 1},
		{"user.two", "22", 2},
		{"user.three", "333", 3},
		{"trusted.x", "", 0},
	};
	struct manifest_xattr items[ARRAY_SIZE(base)];
	uint8_t first[MANIFEST_DIGEST_LEN], got[MANIFEST_DIGEST_LEN];

	memcpy(items, base, sizeof(base));
	manifest_xattr_digest(items, ARRAY_SIZE(items), first);
	/* every rotation and its reverse */
	for (size_t r = 0; r < ARRAY_SIZE(base); r++) {
		for (size_t i = 0; i < ARRAY_SIZE(base); i++)
			items[i] = base[(i + r) % ARRAY_SIZE(base)];
		manifest_xattr_digest(items, ARRAY_SIZE(items), got);
		assert_digest_eq(got, first, "rotation");
		for (size_t i = 0; i < ARRAY_SIZE(base); i++)
			items[ARRAY_SIZE(base) - 1 - i] = base[(i + r) % ARRAY_SIZE(base)];
		manifest_xattr_digest(items, ARRAY_SIZE(items), got);
		assert_digest_eq(got, first, "reversed rotation");
	}

	/* a value moved from one name to another is a different set */
	memcpy(items, base, sizeof(base));
	items[0].value = "22";
	items[0].size = 2;
	items[1].value = "1";
	items[1].size = 1;
	manifest_xattr_digest(items, ARRAY_SIZE(items), got);
	ck_assert_msg(memcmp(got, first, MANIFEST_DIGEST_LEN) != 0, "swapped values digest equal");

	/* the length field keeps "ab"+"c" apart from "a"+"bc" */
	{
		struct manifest_xattr x1[] = {{"user.a", "ab", 2}, {"user.b", "c", 1}};
		struct manifest_xattr x2[] = {{"user.a", "a", 1}, {"user.b", "bc", 2}};
		uint8_t d1[MANIFEST_DIGEST_LEN], d2[MANIFEST_DIGEST_LEN];

		manifest_xattr_digest(x1, 2, d1);
		manifest_xattr_digest(x2, 2, d2);
		ck_assert_msg(memcmp(d1, d2, MANIFEST_DIGEST_LEN) != 0, "ambiguous layout");
	}
}
END_TEST

/* Whether the filesystem of `path` keeps user xattrs on regular files. */
static bool user_xattrs_supported(const char *path)
{
	if (setxattr(path, "user.stillfs.probe", "1", 1, 0) < 0) {
		ck_assert_msg(errno == ENOTSUP || errno == EPERM || errno == EACCES,
			      "setxattr probe: %s", strerror(errno));
		return false;
	}
	ck_assert_int_eq(removexattr(path, "user.stillfs.probe"), 0);
	return true;
}

START_TEST(test_xattr_digest_at)
{
	uint8_t got[MANIFEST_DIGEST_LEN], expected[MANIFEST_DIGEST_LEN], zero[MANIFEST_DIGEST_LEN];
	struct manifest_xattr items[] = {{"user.b", "two", 3}, {"user.a", "", 0}};
	char path[PATH_MAX], big[3000];
	int dfd, pfd;

	memset(zero, 0, sizeof(zero));
	path_printf(path, "%s/file", dir);
	write_file(path, "x", 1);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dfd, 0);

	/* none: 0 and a zeroed digest */
	memset(got, 0xaa, sizeof(got));
	ck_assert_int_eq(manifest_xattr_digest_at(dfd, "file", got), 0);
	ck_assert_mem_eq(got, zero, sizeof(zero));
	ck_assert_int_eq(manifest_xattr_digest_at(dfd, "missing", got), -ENOENT);

	/* a fifo is never opened: opening one without a writer would block */
	path_printf(path, "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(manifest_xattr_digest_at(dfd, "fifo", got), 0);

	path_printf(path, "%s/file", dir);
	if (!user_xattrs_supported(path)) {
		fprintf(stderr, "test_xattr_digest_at: %s refuses user xattrs, skipped\n", dir);
		close(dfd);
		return;
	}
	ck_assert_int_eq(setxattr(path, "user.b", "two", 3, 0), 0);
	ck_assert_int_eq(setxattr(path, "user.a", "", 0, 0), 0);
	manifest_xattr_digest(items, ARRAY_SIZE(items), expected);
	ck_assert_int_eq(manifest_xattr_digest_at(dfd, "file", got), 1);
	assert_digest_eq(got, expected, "file");

	/* a symlink is not followed: its own (absent) xattrs count */
	path_printf(path, "%s/link", dir);
	ck_assert_int_eq(symlink("file", path), 0);
	ck_assert_int_eq(manifest_xattr_digest_at(dfd, "link", got), 0);

	/* the directory itself, by "" and ".", also through O_PATH and AT_FDCWD */
	ck_assert_int_eq(setxattr(dir, "user.b", "two", 3, 0), 0);
	ck_assert_int_eq(setxattr(dir, "user.a", "", 0, 0), 0);
	ck_assert_int_eq(manifest_xattr_digest_at(dfd, "", got), 1);
	assert_digest_eq(got, expected, "directory by \"\"");
	memset(got, 0, sizeof(got));
	ck_assert_int_eq(manifest_xattr_digest_at(dfd, ".", got), 1);
	assert_digest_eq(got, expected, "directory by \".\"");
	pfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(pfd, 0);
	memset(got, 0, sizeof(got));
	ck_assert_int_eq(manifest_xattr_digest_at(pfd, "", got), 1);
	assert_digest_eq(got, expected, "directory through O_PATH");
	memset(got, 0, sizeof(got));
	ck_assert_int_eq(manifest_xattr_digest_at(pfd, "file", got), 1);
	assert_digest_eq(got, expected, "file through O_PATH");
	close(pfd);
	memset(got, 0, sizeof(got));
	ck_assert_int_eq(manifest_xattr_digest_at(AT_FDCWD, dir, got), 1);
	assert_digest_eq(got, expected, "AT_FDCWD");

	/* a value of more than a page */
	memset(big, 'v', sizeof(big));
	path_printf(path, "%s/file", dir);
	ck_assert_int_eq(setxattr(path, "user.big", big, sizeof(big), 0), 0);
	{
		struct manifest_xattr three[] = {
			{"user.b", "two", 3}, {"user.a", "", 0}, {"user.big", big, sizeof(big)}};

		manifest_xattr_digest(three, ARRAY_SIZE(three), expected);
	}
	ck_assert_int_eq(manifest_xattr_digest_at(dfd, "file", got), 1);
	assert_digest_eq(got, expected, "large value");
	close(dfd);
}
END_TEST

START_TEST(test_entry_from_stat)
{
	static const uint8_t pattern[MANIFEST_DIGEST_LEN] = {1, 2, 3};
	struct manifest_entry e;
	char path[PATH_MAX];
	struct stat st;

	/* path, target, digests and flags are left alone */
	memset(&e, 0, sizeof(e));
	e.path = "keep";
	e.path_len = 4;
	e.target = "t";
	e.target_len = 1;
	e.flags = MANIFEST_HAS_CONTENT;
	memcpy(e.content, pattern, sizeof(pattern));
	memcpy(e.xattrs, pattern, sizeof(pattern));

	path_printf(path, "%s/file", dir);
	write_file(path, "hello", 5);
	ck_assert_int_eq(chmod(path, 04751), 0);
	ck_assert_int_eq(utimensat(AT_FDCWD, path,
				   (struct timespec[]){{0, UTIME_OMIT}, {1600000000, 123456789}}, 0),
			 0);
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert_int_eq(manifest_entry_from_stat(&st, &e), 0);
	ck_assert_int_eq(e.type, MANIFEST_REG);
	ck_assert_uint_eq(e.mode, 04751);
	ck_assert_uint_eq(e.uid, st.st_uid);
	ck_assert_uint_eq(e.gid, st.st_gid);
	ck_assert_uint_eq(e.size, 5);
	ck_assert_int_eq(e.mtime_sec, 1600000000);
	ck_assert_uint_eq(e.mtime_nsec, 123456789);
	ck_assert_int_eq(e.ctime_sec, st.st_ctim.tv_sec);
	ck_assert_uint_eq(e.ctime_nsec, st.st_ctim.tv_nsec);
	ck_assert_uint_eq(e.ino, st.st_ino);
	ck_assert_uint_eq(e.nlink, 1);
	ck_assert_uint_eq(e.rdev, 0);
	ck_assert_str_eq(e.path, "keep");
	ck_assert_uint_eq(e.path_len, 4);
	ck_assert_str_eq(e.target, "t");
	ck_assert_uint_eq(e.flags, MANIFEST_HAS_CONTENT);
	ck_assert_mem_eq(e.content, pattern, sizeof(pattern));
	ck_assert_mem_eq(e.xattrs, pattern, sizeof(pattern));

	/* a directory's size is the filesystem's business: 0 */
	ck_assert_int_eq(lstat(dir, &st), 0);
	ck_assert_int_gt(st.st_size, 0);
	ck_assert_int_eq(manifest_entry_from_stat(&st, &e), 0);
	ck_assert_int_eq(e.type, MANIFEST_DIR);
	ck_assert_uint_eq(e.size, 0);
	ck_assert_uint_eq(e.mode, st.st_mode & 07777);

	/* a symlink's size is its target's length, as lstat says */
	path_printf(path, "%s/link", dir);
	ck_assert_int_eq(symlink("a/b/c", path), 0);
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert_int_eq(manifest_entry_from_stat(&st, &e), 0);
	ck_assert_int_eq(e.type, MANIFEST_LNK);
	ck_assert_uint_eq(e.size, 5);

	path_printf(path, "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(path, 0640), 0);
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert_int_eq(manifest_entry_from_stat(&st, &e), 0);
	ck_assert_int_eq(e.type, MANIFEST_FIFO);
	ck_assert_uint_eq(e.mode, 0640);
	ck_assert_uint_eq(e.size, 0);

	/* devices and sockets, made up rather than made */
	memset(&st, 0, sizeof(st));
	st.st_mode = S_IFCHR | 0666;
	st.st_rdev = makedev(1, 3);
	st.st_size = 99;
	ck_assert_int_eq(manifest_entry_from_stat(&st, &e), 0);
	ck_assert_int_eq(e.type, MANIFEST_CHR);
	ck_assert_uint_eq(e.rdev, makedev(1, 3));
	ck_assert_uint_eq(e.size, 0);
	st.st_mode = S_IFBLK | 0660;
	st.st_rdev = makedev(259, 65536 + 7);
	ck_assert_int_eq(manifest_entry_from_stat(&st, &e), 0);
	ck_assert_int_eq(e.type, MANIFEST_BLK);
	ck_assert_uint_eq(major(e.rdev), 259);
	ck_assert_uint_eq(minor(e.rdev), 65536 + 7);
	st.st_mode = S_IFSOCK | 0777;
	ck_assert_int_eq(manifest_entry_from_stat(&st, &e), 0);
	ck_assert_int_eq(e.type, MANIFEST_SOCK);
	ck_assert_uint_eq(e.rdev, 0);

	/* an unknown type is refused and nothing written */
	st.st_mode = 0170000 | 0644;
	e.type = 'x';
	e.mode = 1;
	ck_assert_int_eq(manifest_entry_from_stat(&st, &e), -EINVAL);
	ck_assert_int_eq(e.type, 'x');
	ck_assert_uint_eq(e.mode, 1);
	st.st_mode = 0644;
	ck_assert_int_eq(manifest_entry_from_stat(&st, &e), -EINVAL);
}
END_TEST

/* --- archives made by tar programs --- */

/* What the tree holds, and what each entry carries. */
static const struct tree_entry {
	const char *path;
	bool user_xattrs; /* gets user xattrs (when the filesystem takes them) */
	bool acl;         /* gets an ACL (when setfacl works) */
} tree_entries[] = {
	{"", true, false},
	{"empty", false, true},
	{"data", true, false},
	{"hard", true, false}, /* a hard link to data */
	{"sparse", false, false},
	{"link", false, false},
	{"sub", true, false},
	{"sub/inner", false, false},
	{"fifo", false, false},
	{"acl-dir", false, true},
	{"acl-dir/child", false, true},
	{"acl-dir/subdir", false, true},
};

#define SPARSE_SIZE (3 * 1024 * 1024)
#define SPARSE_DATA_AT (1024 * 1024 + 512)

static bool tree_xattrs; /* the tree holds user xattrs */
static bool tree_acls;   /* ... and ACLs */

static void tree_path(char *buf, size_t size, const char *rel)
{
	ck_assert_int_lt(snprintf(buf, size, "%s%s%s", tree, rel[0] ? "/" : "", rel), (int)size);
}

static void make_tree(void)
{
	char p[PATH_MAX], q[PATH_MAX];
	unsigned char *data = random_bytes(300000);
	int fd;

	ck_assert_int_eq(mkdir(tree, 0755), 0);
	tree_path(p, sizeof(p), "empty");
	write_file(p, "", 0);
	tree_path(p, sizeof(p), "data");
	write_file(p, data, 300000);
	ck_assert_int_eq(chmod(p, 04750), 0);
	tree_path(q, sizeof(q), "hard");
	ck_assert_int_eq(link(p, q), 0);

	/* a hole at the start, data, and a hole to the end */
	tree_path(p, sizeof(p), "sparse");
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, data, 8192, SPARSE_DATA_AT), 8192);
	ck_assert_int_eq(ftruncate(fd, SPARSE_SIZE), 0);
	close(fd);

	tree_path(p, sizeof(p), "link");
	ck_assert_int_eq(symlink("sub/inner", p), 0);
	tree_path(p, sizeof(p), "sub");
	ck_assert_int_eq(mkdir(p, 02750), 0);
	ck_assert_int_eq(chmod(p, 02750), 0);
	tree_path(p, sizeof(p), "sub/inner");
	write_file(p, "inner\n", 6);
	ck_assert_int_eq(chmod(p, 0640), 0);
	tree_path(p, sizeof(p), "fifo");
	ck_assert_int_eq(mkfifo(p, 0620), 0);
	free(data);

	tree_xattrs = user_xattrs_supported(tree);
	if (tree_xattrs) {
		for (size_t i = 0; i < ARRAY_SIZE(tree_entries); i++) {
			if (!tree_entries[i].user_xattrs)
				continue;
			tree_path(p, sizeof(p), tree_entries[i].path);
			ck_assert_int_eq(setxattr(p, "user.stillfs.one", "1", 1, 0), 0);
			ck_assert_int_eq(setxattr(p, "user.stillfs.bin", "\0\xff\n", 3, 0), 0);
		}
	} else
		fprintf(stderr, "%s refuses user xattrs: archives are checked without\n", dir);

	/*
	 * ACLs, where setfacl works: an access ACL with a mask on a file (the
	 * mode's group bits then show the mask), a default ACL on a directory
	 * and what its new entries inherit from it.
	 */
	tree_acls = run("command -v setfacl >/dev/null && cd '%s' && "
			"setfacl -m u:1234:rw,g:5678:r empty && mkdir acl-dir && "
			"setfacl -d -m u:1234:rwx,g:5678:rx,o::- acl-dir && "
			"touch acl-dir/child && mkdir acl-dir/subdir",
			tree) == 0;
	if (!tree_acls) {
		fprintf(stderr, "setfacl failed in %s: archives are checked without ACLs\n", dir);
		run("cd '%s' && mkdir -p acl-dir/subdir && touch acl-dir/child", tree);
	}

	/* times with nanoseconds, to see which archives keep them */
	for (size_t i = 0; i < ARRAY_SIZE(tree_entries); i++) {
		struct timespec ts[2] = {{1500000000, 1}, {1600000000 + (time_t)i, 123456789}};

		tree_path(p, sizeof(p), tree_entries[i].path);
		ck_assert_int_eq(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
	}
}

enum xattrs_kept {
	KEEPS_NONE,
	KEEPS_ACLS, /* ACLs only, without user xattrs */
	KEEPS_ALL,
};

static const struct flavor {
	const char *name;
	const char *program; /* needed, besides the shell */
	const char *command; /* run with -C tree -cf archive . */
	enum xattrs_kept xattrs;
	enum {
		NSEC_KEPT,
		NSEC_LOST,
		NSEC_SOMETIMES, /* bsdtar keeps them only in a pax header it writes anyway */
	} nsec;
	bool ctime; /* holds ctime */
} flavors[] = {
	{"gnu-posix", "tar", "tar --format=posix --xattrs --acls --sparse", KEEPS_ALL, NSEC_KEPT,
	 true},
	{"gnu-posix-acls", "tar", "tar --format=posix --acls", KEEPS_ACLS, NSEC_KEPT, true},
	{"gnu-gnu", "tar", "tar --format=gnu --sparse", KEEPS_NONE, NSEC_LOST, false},
	{"gnu-posix-gzip", "tar", "tar --format=posix --xattrs --acls -z", KEEPS_ALL, NSEC_KEPT,
	 true},
	{"bsdtar", "bsdtar", "bsdtar --xattrs --acls", KEEPS_ALL, NSEC_SOMETIMES, false},
	{"bsdtar-gzip", "bsdtar", "bsdtar --xattrs --acls -z", KEEPS_ALL, NSEC_SOMETIMES, false},
};

static bool flavor_available(const struct flavor *f)
{
	if (streq(f->program, "tar") ? !have_gnu_tar() : !have_program(f->program)) {
		fprintf(stderr, "%s: no %s here, skipped\n", f->name, f->program);
		return false;
	}
	return true;
}

static size_t tree_index(const char *path, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(tree_entries); i++)
		if (strlen(tree_entries[i].path) == len && memcmp(tree_entries[i].path, path, len) == 0)
			return i;
	ck_abort_msg("unexpected member '%.*s'", (int)len, path);
	return 0;
}

/* Checks one member against the file it was made from. */
static void check_member(const struct flavor *f, int tfd, const struct manifest_entry *m,
			 const char *hardlink, size_t hardlink_len)
{
	const char *rel = tree_entries[tree_index(m->path, m->path_len)].path;
	const char *name = rel[0] ? rel : ".";
	struct manifest_entry fs = {0};
	char what[PATH_MAX];
	uint8_t xd[MANIFEST_DIGEST_LEN];
	struct stat st;
	int r;

	path_printf(what, "%s '%s'", f->name, rel);
	ck_assert_int_eq(fstatat(tfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
	ck_assert_int_eq(manifest_entry_from_stat(&st, &fs), 0);

	ck_assert_msg(m->type == fs.type, "%s '%s': type %c, expected %c", f->name, rel, m->type,
		      fs.type);
	ck_assert_msg(m->mode == fs.mode, "%s '%s': mode %o, expected %o", f->name, rel, m->mode,
		      fs.mode);
	ck_assert_uint_eq(m->uid, fs.uid);
	ck_assert_uint_eq(m->gid, fs.gid);
	ck_assert_int_eq(m->mtime_sec, fs.mtime_sec);
	if (f->nsec == NSEC_LOST)
		ck_assert_uint_eq(m->mtime_nsec, 0);
	else if (f->nsec == NSEC_SOMETIMES)
		ck_assert_msg(m->mtime_nsec == 0 || m->mtime_nsec == fs.mtime_nsec,
			      "%s '%s': mtime_nsec %u", f->name, rel, m->mtime_nsec);
	else
		ck_assert_msg(m->mtime_nsec == fs.mtime_nsec, "%s '%s': mtime_nsec %u, expected %u",
			      f->name, rel, m->mtime_nsec, fs.mtime_nsec);
	if (f->ctime) {
		ck_assert_int_eq(m->ctime_sec, fs.ctime_sec);
		ck_assert_uint_eq(m->ctime_nsec, fs.ctime_nsec);
	}
	ck_assert_uint_eq(m->ino, 0);
	ck_assert_uint_eq(m->nlink, 0);
	ck_assert_uint_eq(m->rdev, 0);

	if (hardlink) {
		/* data and hard are one file; whichever comes second links to the first */
		const char *other = streq(rel, "data") ? "hard" : "data";

		ck_assert_msg(streq(rel, "data") || streq(rel, "hard"), "%s: '%s' is a hard link",
			      f->name, rel);
		ck_assert_uint_eq(hardlink_len, strlen(other));
		ck_assert_mem_eq(hardlink, other, hardlink_len);
		ck_assert_uint_eq(m->flags, 0);
		ck_assert_uint_eq(m->size, 0);
		return;
	}

	ck_assert_msg(m->size == fs.size, "%s '%s': size %ju, expected %ju", f->name, rel,
		      (uintmax_t)m->size, (uintmax_t)fs.size);
	if (m->type == MANIFEST_LNK) {
		ck_assert_uint_eq(m->target_len, strlen("sub/inner"));
		ck_assert_mem_eq(m->target, "sub/inner", m->target_len);
	} else
		ck_assert_ptr_null(m->target);

	if (m->type == MANIFEST_REG) {
		uint8_t cd[MANIFEST_DIGEST_LEN];
		uint64_t bytes;
		int fd = openat(tfd, name, O_RDONLY | O_CLOEXEC);

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(manifest_content_digest_fd(fd, cd, &bytes), 0);
		close(fd);
		ck_assert_uint_eq(bytes, m->size);
		ck_assert_msg(m->flags & MANIFEST_HAS_CONTENT, "%s '%s': no content digest",
			      f->name, rel);
		assert_digest_eq(m->content, cd, what);
	} else
		ck_assert_msg(!(m->flags & MANIFEST_HAS_CONTENT), "%s '%s': content digest",
			      f->name, rel);

	r = manifest_xattr_digest_at(tfd, rel, xd);
	ck_assert_int_ge(r, 0);
	switch (f->xattrs) {
	case KEEPS_NONE:
		ck_assert_msg(!(m->flags & MANIFEST_HAS_XATTRS), "%s '%s': xattrs", f->name, rel);
		return;
	case KEEPS_ACLS:
		/* the entries with user xattrs cannot match */
		if (tree_xattrs && tree_entries[tree_index(m->path, m->path_len)].user_xattrs)
			return;
		break;
	case KEEPS_ALL:
		break;
	}
	ck_assert_msg(!!(m->flags & MANIFEST_HAS_XATTRS) == (r > 0),
		      "%s '%s': xattrs flag %d, the file has %s", f->name, rel,
		      !!(m->flags & MANIFEST_HAS_XATTRS), r > 0 ? "some" : "none");
	if (r > 0)
		assert_digest_eq(m->xattrs, xd, what);
}

START_TEST(test_archive_flavor)
{
	const struct flavor *f = &flavors[_i];
	bool seen[ARRAY_SIZE(tree_entries)] = {false};
	struct manifest_archive *a = NULL;
	struct manifest_entry m;
	const char *hardlink;
	size_t hardlink_len, n = 0, hardlinks = 0;
	char archive[PATH_MAX];
	int tfd, r;

	if (!flavor_available(f))
		return;
	make_tree();
	path_printf(archive, "%s/%s.tar", dir, f->name);
	ck_assert_msg(run("%s -C '%s' -cf '%s' .", f->command, tree, archive) == 0, "%s: archiving failed", f->name);
	tfd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(tfd, 0);

	ck_assert_int_eq(manifest_archive_open(archive, &a), 0);
	while ((r = manifest_archive_next(a, &m, &hardlink, &hardlink_len)) > 0) {
		size_t i = tree_index(m.path, m.path_len);

		ck_assert_msg(!seen[i], "%s: '%s' twice", f->name, tree_entries[i].path);
		seen[i] = true;
		check_member(f, tfd, &m, hardlink, hardlink_len);
		hardlinks += hardlink != NULL;
		n++;
	}
	ck_assert_msg(r == 0, "%s: %d (%s)", f->name, r, manifest_archive_error(a));
	ck_assert_uint_eq(n, ARRAY_SIZE(tree_entries));
	ck_assert_uint_eq(hardlinks, 1);
	/* the end stays the end */
	ck_assert_int_eq(manifest_archive_next(a, &m, &hardlink, &hardlink_len), 0);
	manifest_archive_free(a);
	close(tfd);
}
END_TEST

/* Expects the archive to be refused with -EBADMSG, at open or at some member. */
static void assert_damaged(const char *path)
{
	struct manifest_archive *a = NULL;
	struct manifest_entry m;
	const char *hl;
	size_t hll;
	int r;

	r = manifest_archive_open(path, &a);
	if (r < 0) {
		ck_assert_int_eq(r, -EBADMSG);
		ck_assert_ptr_null(a);
		return;
	}
	while ((r = manifest_archive_next(a, &m, &hl, &hll)) > 0)
		;
	ck_assert_msg(r == -EBADMSG, "%s: %d instead of -EBADMSG", path, r);
	ck_assert_ptr_nonnull(manifest_archive_error(a));
	/* and stays refused */
	ck_assert_int_eq(manifest_archive_next(a, &m, &hl, &hll), -EBADMSG);
	manifest_archive_free(a);
}

static size_t file_size(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return (size_t)st.st_size;
}

START_TEST(test_truncated)
{
	char src[PATH_MAX], whole[PATH_MAX], gz[PATH_MAX], cut[PATH_MAX];
	unsigned char *data = random_bytes(200000);
	size_t len;

	if (!have_gnu_tar()) {
		fprintf(stderr, "test_truncated: no GNU tar, skipped\n");
		free(data);
		return;
	}
	path_printf(src, "%s/src", dir);
	ck_assert_int_eq(mkdir(src, 0755), 0);
	path_printf(whole, "%s/src/big", dir);
	write_file(whole, data, 200000);
	free(data);
	path_printf(whole, "%s/whole.tar", dir);
	path_printf(gz, "%s/whole.tar.gz", dir);
	path_printf(cut, "%s/cut", dir);
	ck_assert_int_eq(run("tar --format=posix -C '%s' -cf '%s' big", src, whole), 0);
	ck_assert_int_eq(run("gzip -c '%s' > '%s'", whole, gz), 0);

	/* cut in the middle of the data, on a block boundary and off one, and in a header */
	len = file_size(whole);
	{
		const size_t cuts[] = {len / 2, 100 * 512, 100 * 512 + 3, 1536 + 100, 300};

		for (size_t i = 0; i < ARRAY_SIZE(cuts); i++) {
			ck_assert_int_eq(run("head -c %zu '%s' > '%s'", cuts[i], whole, cut), 0);
			assert_damaged(cut);
		}
	}
	ck_assert_int_eq(run("head -c %zu '%s' > '%s'", file_size(gz) / 2, gz, cut), 0);
	assert_damaged(cut);

	/* random bytes are not an archive */
	data = random_bytes(4096);
	write_file(cut, data, 4096);
	free(data);
	assert_damaged(cut);
}
END_TEST

START_TEST(test_open_errors)
{
	struct manifest_archive *a = NULL;
	struct manifest_entry m;
	const char *hl;
	size_t hll;
	char path[PATH_MAX];

	path_printf(path, "%s/missing.tar", dir);
	ck_assert_int_eq(manifest_archive_open(path, &a), -ENOENT);
	ck_assert_ptr_null(a);
	manifest_archive_free(NULL);

	/* an empty file is an empty archive */
	path_printf(path, "%s/empty.tar", dir);
	write_file(path, "", 0);
	ck_assert_int_eq(manifest_archive_open(path, &a), 0);
	ck_assert_int_eq(manifest_archive_next(a, &m, &hl, &hll), 0);
	manifest_archive_free(a);
}
END_TEST

/* --- tar files written byte by byte --- */

struct member {
	const char *name;
	char typeflag;
	const char *link;
	const char *data;
	unsigned devmajor, devminor;
};

static void octal(char *field, size_t size, unsigned long long v)
{
	ck_assert_int_lt(snprintf(field, size, "%0*llo", (int)size - 1, v), (int)size);
}

/* Writes a ustar archive of `members` (names up to 99 bytes). */
static void write_ustar(const char *path, const struct member *members, size_t n)
{
	FILE *fp = fopen(path, "we");
	static const char zeros[1024];

	ck_assert_ptr_nonnull(fp);
	for (size_t i = 0; i < n; i++) {
		const struct member *m = &members[i];
		size_t size = m->data ? strlen(m->data) : 0;
		char h[512];
		unsigned sum = 0;

		memset(h, 0, sizeof(h));
		ck_assert_uint_lt(strlen(m->name), 100);
		memcpy(h, m->name, strlen(m->name));
		octal(h + 100, 8, m->typeflag == '5' ? 0755 : 0644);
		octal(h + 108, 8, 1000);
		octal(h + 116, 8, 1000);
		octal(h + 124, 12, size);
		octal(h + 136, 12, 1600000000);
		h[156] = m->typeflag;
		if (m->link) {
			ck_assert_uint_lt(strlen(m->link), 100);
			memcpy(h + 157, m->link, strlen(m->link));
		}
		memcpy(h + 257, "ustar", 6);
		memcpy(h + 263, "00", 2);
		octal(h + 329, 8, m->devmajor);
		octal(h + 337, 8, m->devminor);
		/* the checksum counts its own field as spaces */
		memset(h + 148, ' ', 8);
		for (size_t j = 0; j < sizeof(h); j++)
			sum += (unsigned char)h[j];
		octal(h + 148, 7, sum);
		ck_assert_uint_eq(fwrite(h, 1, sizeof(h), fp), sizeof(h));
		if (size > 0) {
			ck_assert_uint_eq(fwrite(m->data, 1, size, fp), size);
			ck_assert_uint_eq(fwrite(zeros, 1, (512 - size % 512) % 512, fp),
					  (512 - size % 512) % 512);
		}
	}
	ck_assert_uint_eq(fwrite(zeros, 1, sizeof(zeros), fp), sizeof(zeros));
	ck_assert_int_eq(fclose(fp), 0);
}

START_TEST(test_member_names)
{
	static const struct member members[] = {
		{"./", '5', NULL, NULL, 0, 0},
		{"/abs/file", '0', NULL, "x", 0, 0},
		{"./dir/", '5', NULL, NULL, 0, 0},
		{"dir//two", '0', NULL, "yy", 0, 0},
		{"./dir/.hidden..", '0', NULL, "", 0, 0},
		{"./dir/link", '1', "./abs/file", NULL, 0, 0},
		{"tty", '3', NULL, NULL, 4, 300},
		{"disk", '4', NULL, NULL, 8, 17},
		{"pipe", '6', NULL, NULL, 0, 0},
		{"sym", '2', "../outside", NULL, 0, 0},
	};
	static const struct {
		const char *path;
		char type;
		uint64_t size;
		const char *hardlink;
	} expected[] = {
		{"", 'd', 0, NULL},
		{"abs/file", 'f', 1, NULL},
		{"dir", 'd', 0, NULL},
		{"dir//two", 'f', 2, NULL},
		{"dir/.hidden..", 'f', 0, NULL},
		{"dir/link", 'f', 0, "abs/file"},
		{"tty", 'c', 0, NULL},
		{"disk", 'b', 0, NULL},
		{"pipe", 'p', 0, NULL},
		{"sym", 'l', 10, NULL},
	};
	struct manifest_archive *a = NULL;
	struct manifest_entry m;
	const char *hl;
	size_t hll, i = 0;
	char path[PATH_MAX];
	int r;

	path_printf(path, "%s/names.tar", dir);
	write_ustar(path, members, ARRAY_SIZE(members));
	ck_assert_int_eq(manifest_archive_open(path, &a), 0);
	while ((r = manifest_archive_next(a, &m, &hl, &hll)) > 0) {
		ck_assert_uint_lt(i, ARRAY_SIZE(expected));
		ck_assert_msg(m.path_len == strlen(expected[i].path) &&
				      memcmp(m.path, expected[i].path, m.path_len) == 0,
			      "member %zu: '%.*s', expected '%s'", i, (int)m.path_len, m.path,
			      expected[i].path);
		ck_assert_int_eq(m.type, expected[i].type);
		ck_assert_uint_eq(m.size, expected[i].size);
		ck_assert_uint_eq(m.uid, 1000);
		ck_assert_int_eq(m.mtime_sec, 1600000000);
		ck_assert_uint_eq(m.mtime_nsec, 0);
		ck_assert_int_eq(m.ctime_sec, 0);
		if (expected[i].hardlink) {
			ck_assert_ptr_nonnull(hl);
			ck_assert_uint_eq(hll, strlen(expected[i].hardlink));
			ck_assert_mem_eq(hl, expected[i].hardlink, hll);
		} else
			ck_assert_ptr_null(hl);
		if (m.type == 'c')
			ck_assert_uint_eq(m.rdev, makedev(4, 300));
		else if (m.type == 'b')
			ck_assert_uint_eq(m.rdev, makedev(8, 17));
		else
			ck_assert_uint_eq(m.rdev, 0);
		if (m.type == 'l')
			ck_assert_mem_eq(m.target, "../outside", 10);
		if (m.type == 'f' && !hl) {
			uint8_t d[MANIFEST_DIGEST_LEN];

			digest_of(members[i].data, strlen(members[i].data), d);
			assert_digest_eq(m.content, d, expected[i].path);
		}
		i++;
	}
	ck_assert_msg(r == 0, "%d (%s)", r, manifest_archive_error(a));
	ck_assert_uint_eq(i, ARRAY_SIZE(expected));
	manifest_archive_free(a);
}
END_TEST

/* Names that would leave the root, or name nothing: refused at that member. */
static const struct member bad_members[] = {
	{"../x", '0', NULL, "x", 0, 0},
	{"a/../b", '0', NULL, "x", 0, 0},
	{"..", '5', NULL, NULL, 0, 0},
	{"./..", '5', NULL, NULL, 0, 0},
	{"a/..", '5', NULL, NULL, 0, 0},
	{"/", '5', NULL, NULL, 0, 0},
	{"x", '1', "../y", NULL, 0, 0},
	{"x", '1', "/", NULL, 0, 0},
};

START_TEST(test_member_names_refused)
{
	struct member members[2] = {{"ok", '0', NULL, "fine", 0, 0}};
	struct manifest_archive *a = NULL;
	struct manifest_entry m;
	const char *hl;
	size_t hll;
	char path[PATH_MAX];

	members[1] = bad_members[_i];
	path_printf(path, "%s/bad.tar", dir);
	write_ustar(path, members, 2);
	ck_assert_int_eq(manifest_archive_open(path, &a), 0);
	ck_assert_int_eq(manifest_archive_next(a, &m, &hl, &hll), 1);
	ck_assert_mem_eq(m.path, "ok", 2);
	ck_assert_msg(manifest_archive_next(a, &m, &hl, &hll) == -EBADMSG, "'%s' -> '%s' accepted",
		      bad_members[_i].name, bad_members[_i].link ? bad_members[_i].link : "");
	ck_assert_ptr_nonnull(manifest_archive_error(a));
	ck_assert_int_eq(manifest_archive_next(a, &m, &hl, &hll), -EBADMSG);
	manifest_archive_free(a);
}
END_TEST

START_TEST(test_stdin)
{
	static const struct member members[] = {{"only", '0', NULL, "content", 0, 0}};
	struct manifest_archive *a = NULL;
	struct manifest_entry m;
	const char *hl;
	size_t hll;
	char path[PATH_MAX];
	int fd, saved;

	path_printf(path, "%s/in.tar", dir);
	write_ustar(path, members, 1);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	saved = dup(STDIN_FILENO);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(dup2(fd, STDIN_FILENO), STDIN_FILENO);
	close(fd);

	ck_assert_int_eq(manifest_archive_open("-", &a), 0);
	ck_assert_int_eq(manifest_archive_next(a, &m, &hl, &hll), 1);
	ck_assert_uint_eq(m.path_len, 4);
	ck_assert_mem_eq(m.path, "only", 4);
	ck_assert_uint_eq(m.size, 7);
	ck_assert_int_eq(manifest_archive_next(a, &m, &hl, &hll), 0);
	manifest_archive_free(a);

	ck_assert_int_eq(dup2(saved, STDIN_FILENO), STDIN_FILENO);
	close(saved);
}
END_TEST

Suite *archive_suite(void)
{
	Suite *s = suite_create("archive");
	TCase *tc;

	tc = tcase_create("digest");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_digest_hex);
	tcase_add_test(tc, test_content_digest);
	tcase_add_test(tc, test_content_digest_pipe);
	tcase_add_test(tc, test_xattr_digest_layout);
	tcase_add_test(tc, test_xattr_digest_order);
	tcase_add_test(tc, test_xattr_digest_at);
	tcase_add_test(tc, test_entry_from_stat);
	suite_add_tcase(s, tc);

	tc = tcase_create("archive");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_archive_flavor, 0, (int)ARRAY_SIZE(flavors));
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_open_errors);
	tcase_add_test(tc, test_member_names);
	tcase_add_loop_test(tc, test_member_names_refused, 0, (int)ARRAY_SIZE(bad_members));
	tcase_add_test(tc, test_stdin);
	suite_add_tcase(s, tc);
	return s;
}
