// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for the parts of fs/ that need no FUSE session: the inode number
 * layout, the node table with its file handles, the descriptor cache, the
 * read buffers and direct reads, finding a listed file through its
 * directory, fetching small files ahead of their reader, and the passthrough additions to the FUSE protocol, checked byte
 * by byte against the layout of protocol 7.40 (Linux 6.9).
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bufpool.h"
#include "dir-reply.h"
#include "direct-read.h"
#include "fdcache.h"
#include "fetchahead.h"
#include "ino.h"
#include "node.h"
#include "passthrough-wire.h"
#include "statpool.h"
#include "target.h"
#include "fast-assert.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* --- inode numbers --- */

static const uint64_t sets[] = {1, 2, 3, 1000, INO_SET_MAX - 1, INO_SET_MAX};
static const uint64_t vols[] = {0, 1, 2, 31, INO_VOL_MAX - 1, INO_VOL_MAX};
static const uint64_t files[] = {
	0, 1, 2, 3, 256, 12345678, UINT64_C(1) << 32, INO_FILE_MAX - 1, INO_FILE_MAX};

START_TEST(test_ino_layout)
{
	ck_assert_uint_eq(1 + INO_SET_BITS + INO_VOL_BITS + INO_FILE_BITS, 64);
	ck_assert_uint_eq(INO_SET_MAX, 131071);
	ck_assert_uint_eq(INO_VOL_SYNTHETIC, 63);
	ck_assert_uint_eq(INO_VOL_MAX, 62);
	ck_assert_uint_eq(INO_FILE_MAX, UINT64_C(1099511627775));
}
END_TEST

START_TEST(test_ino_round_trip)
{
	for (size_t s = 0; s < ARRAY_SIZE(sets); s++)
		for (size_t v = 0; v < ARRAY_SIZE(vols); v++)
			for (size_t f = 0; f < ARRAY_SIZE(files); f++) {
				struct ino_parts p;
				uint64_t ino = 0;

				ck_assert_int_eq(ino_encode(sets[s], vols[v], files[f], &ino), 0);
				ck_assert_uint_ne(ino, INO_ROOT);
				ck_assert_uint_ne(ino, 0);
				ck_assert_int_eq(ino_decode(ino, &p), INO_KIND_FILE);
				ck_assert_uint_eq(p.set, sets[s]);
				ck_assert_uint_eq(p.vol, vols[v]);
				ck_assert_uint_eq(p.file, files[f]);
			}
}
END_TEST

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Different parts never give the same number: the view's hard-link rule rests on it. */
START_TEST(test_ino_distinct)
{
	const size_t n = 16 * 64 * 16;
	uint64_t *all = malloc(n * sizeof(*all));
	size_t k = 0;

	ck_assert_ptr_nonnull(all);
	for (uint64_t s = 1; s <= 16; s++)
		for (uint64_t v = 0; v <= INO_VOL_SYNTHETIC; v++)
			for (uint64_t f = 0; f < 16; f++) {
				uint64_t file = f < 8 ? f : INO_FILE_MAX - (f - 8);

				fast_assert_int_eq(ino_encode(s, v, file, &all[k]), 0);
				fast_assert_uint_ne(all[k], INO_ROOT);
				k++;
			}
	fast_assert_uint_eq(k, n);
	qsort(all, n, sizeof(*all), cmp_u64);
	for (size_t i = 1; i < n; i++)
		fast_assert_uint_ne(all[i], all[i - 1]);
	free(all);
}
END_TEST

START_TEST(test_ino_limits)
{
	uint64_t ino = 4242;

	ck_assert_int_eq(ino_encode(INO_SET_MAX + 1, 0, 0, &ino), -EOVERFLOW);
	ck_assert_int_eq(ino_encode(UINT64_MAX, 0, 0, &ino), -EOVERFLOW);
	/* set numbers start at 1, which keeps every number away from the root's */
	ck_assert_int_eq(ino_encode(0, 0, 1, &ino), -EOVERFLOW);
	ck_assert_int_eq(ino_encode(1, INO_VOL_SYNTHETIC + 1, 0, &ino), -EOVERFLOW);
	ck_assert_int_eq(ino_encode(1, UINT64_MAX, 0, &ino), -EOVERFLOW);
	ck_assert_int_eq(ino_encode(1, 0, INO_FILE_MAX + 1, &ino), -EOVERFLOW);
	ck_assert_int_eq(ino_encode(1, 0, UINT64_MAX, &ino), -EOVERFLOW);
	ck_assert_uint_eq(ino, 4242);

	/* the history never reaches into current/'s namespace (bit 63) */
	ck_assert_int_eq(ino_encode(INO_SET_MAX, INO_VOL_SYNTHETIC, INO_FILE_MAX, &ino), 0);
	ck_assert_uint_eq(ino, UINT64_MAX >> 1);
	ck_assert_int_eq(ino_encode(1, 0, 0, &ino), 0);
	ck_assert_uint_eq(ino, UINT64_C(1) << 46);
}
END_TEST

START_TEST(test_ino_current)
{
	struct ino_parts p;
	uint64_t ino = 0, st = 0;

	/* node ids of current/ carry the set, and decode as current/ entries */
	ck_assert_int_eq(ino_encode_current(7, 2, 300, &ino), 0);
	ck_assert_uint_eq(ino & INO_CURRENT_BIT, INO_CURRENT_BIT);
	ck_assert_int_eq(ino_decode(ino, &p), INO_KIND_CURRENT_FILE);
	ck_assert_uint_eq(p.set, 7);
	ck_assert_uint_eq(p.vol, 2);
	ck_assert_uint_eq(p.file, 300);
	/* current/ itself, with or without a set pinned */
	ck_assert_int_eq(ino_encode_current(0, INO_VOL_SYNTHETIC, INO_SYN_CURRENT, &ino), 0);
	ck_assert_int_eq(ino_decode(ino, &p), INO_KIND_CURRENT);
	ck_assert_int_eq(ino_encode_current(9, INO_VOL_SYNTHETIC, INO_SYN_CURRENT, &ino), 0);
	ck_assert_int_eq(ino_decode(ino, &p), INO_KIND_CURRENT);
	ck_assert_uint_eq(p.set, 9);
	ck_assert_int_eq(ino_encode_current(0, 1, 300, &ino), -EOVERFLOW);
	/* what stat shows depends on the volume and the file only, never on the set */
	ck_assert_int_eq(ino_current_st(5, 300, &st), 0);
	ck_assert_uint_eq(st, INO_CURRENT_BIT | UINT64_C(5) << 40 | 300);
	ck_assert_int_eq(ino_current_st(0, 300, &st), -EOVERFLOW);
	ck_assert_int_eq(ino_current_st(INO_VOLKEY_MAX + 1, 300, &st), -EOVERFLOW);
	ck_assert_int_eq(ino_current_st(1, INO_FILE_MAX + 1, &st), -EOVERFLOW);
}
END_TEST

START_TEST(test_ino_synthetic)
{
	struct ino_parts p;
	uint64_t setdir, latest, ino;

	for (size_t s = 0; s < ARRAY_SIZE(sets); s++) {
		ck_assert_int_eq(ino_encode(sets[s], INO_VOL_SYNTHETIC, INO_SYN_SETDIR, &setdir),
				 0);
		ck_assert_int_eq(ino_encode(sets[s], INO_VOL_SYNTHETIC, INO_SYN_LATEST, &latest),
				 0);
		ck_assert_uint_ne(setdir, latest);

		ck_assert_int_eq(ino_decode(setdir, &p), INO_KIND_SETDIR);
		ck_assert_uint_eq(p.set, sets[s]);
		ck_assert_uint_eq(p.vol, INO_VOL_SYNTHETIC);
		ck_assert_uint_eq(p.file, INO_SYN_SETDIR);

		ck_assert_int_eq(ino_decode(latest, &p), INO_KIND_LATEST);
		ck_assert_uint_eq(p.set, sets[s]);
		ck_assert_uint_eq(p.file, INO_SYN_LATEST);

		/* other file parts of the synthetic volume name nothing */
		for (uint64_t f = 0; f < 16; f++) {
			if (f == INO_SYN_SETDIR || f == INO_SYN_LATEST)
				continue;
			ck_assert_int_eq(ino_encode(sets[s], INO_VOL_SYNTHETIC, f, &ino), 0);
			ck_assert_int_eq(ino_decode(ino, &p), INO_KIND_INVALID);
		}
		ck_assert_int_eq(ino_encode(sets[s], INO_VOL_SYNTHETIC, INO_FILE_MAX, &ino), 0);
		ck_assert_int_eq(ino_decode(ino, &p), INO_KIND_INVALID);

		/* the same file part in a real volume is a file */
		ck_assert_int_eq(ino_encode(sets[s], INO_VOL_MAX, INO_SYN_SETDIR, &ino), 0);
		ck_assert_int_eq(ino_decode(ino, &p), INO_KIND_FILE);
	}
}
END_TEST

START_TEST(test_ino_root_and_invalid)
{
	struct ino_parts p;

	ck_assert_int_eq(ino_decode(INO_ROOT, &p), INO_KIND_ROOT);
	/* no set: nothing but the root */
	ck_assert_int_eq(ino_decode(0, &p), INO_KIND_INVALID);
	ck_assert_int_eq(ino_decode(2, &p), INO_KIND_INVALID);
	ck_assert_int_eq(ino_decode(INO_FILE_MAX, &p), INO_KIND_INVALID);
	ck_assert_int_eq(ino_decode((UINT64_C(1) << 46) - 1, &p), INO_KIND_INVALID);
	ck_assert_uint_eq(p.set, 0);
	ck_assert_uint_eq(p.vol, INO_VOL_SYNTHETIC);
	ck_assert_uint_eq(p.file, INO_FILE_MAX);
	ck_assert_int_eq(ino_decode(UINT64_MAX, &p), INO_KIND_INVALID);
	ck_assert_uint_eq(p.set, INO_SET_MAX);
}
END_TEST

/* --- the node table --- */

static struct node_handle handle_of(uint64_t i)
{
	struct node_handle h = {.bytes = 8 + (unsigned)(i % 25), .type = (int)(i % 7) + 1};

	for (unsigned k = 0; k < h.bytes; k++)
		h.data[k] = (unsigned char)(i >> (8 * (k % 8))) ^ (unsigned char)k;
	return h;
}

static void assert_handle_eq(const struct node_handle *a, const struct node_handle *b)
{
	fast_assert_uint_eq(a->bytes, b->bytes);
	fast_assert_int_eq(a->type, b->type);
	fast_assert_mem_eq(a->data, b->data, a->bytes);
}

/* The handle the table holds for a node known by its handle. */
static int node_handle_of(struct node_table *t, uint64_t id, struct node_handle *ret)
{
	char name[NAME_MAX + 1];

	return node_table_handle(t, id, ret, name, NULL);
}

START_TEST(test_node_ref_forget)
{
	struct node_table *t = NULL;
	struct node_handle h = handle_of(7), other = handle_of(8), got;
	const uint64_t id = (UINT64_C(5) << 46) | 77;

	ck_assert_int_eq(node_table_new(&t), 0);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(node_table_size(t), 0);
	ck_assert_int_eq(node_handle_of(t, id, &got), -ESTALE);

	ck_assert_int_eq(node_table_ref(t, id, &h), 0);
	ck_assert_uint_eq(node_table_size(t), 1);
	/* a second lookup keeps the handle recorded first */
	ck_assert_int_eq(node_table_ref(t, id, &other), 0);
	ck_assert_int_eq(node_table_ref(t, id, &other), 0);
	ck_assert_uint_eq(node_table_size(t), 1);
	ck_assert_int_eq(node_handle_of(t, id, &got), 0);
	assert_handle_eq(&got, &h);

	/* three lookups: the node stays until all three are forgotten */
	node_table_forget(t, id, 1);
	ck_assert_int_eq(node_handle_of(t, id, &got), 0);
	node_table_forget(t, id, 1);
	ck_assert_uint_eq(node_table_size(t), 1);
	node_table_forget(t, id, 1);
	ck_assert_uint_eq(node_table_size(t), 0);
	ck_assert_int_eq(node_handle_of(t, id, &got), -ESTALE);

	/* forgetting more than was looked up, or what is unknown, is harmless */
	ck_assert_int_eq(node_table_ref(t, id, &h), 0);
	ck_assert_int_eq(node_table_ref(t, id, &h), 0);
	node_table_forget(t, id, 5);
	ck_assert_uint_eq(node_table_size(t), 0);
	node_table_forget(t, id, 1);
	node_table_forget(t, 12345, UINT64_MAX);
	ck_assert_uint_eq(node_table_size(t), 0);

	/* one big forget drops all lookups at once, as the kernel sends at unmount */
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(node_table_ref(t, id, &h), 0);
	node_table_forget(t, id, 10);
	ck_assert_uint_eq(node_table_size(t), 0);

	node_table_free(t);
	node_table_free(NULL);
}
END_TEST

START_TEST(test_node_listed)
{
	struct node_table *t = NULL;
	struct node_handle dh = handle_of(11), fh = handle_of(12), got;
	struct node_dir *dir = NULL;
	char name[NAME_MAX + 1], longest[NAME_MAX + 2];
	uint64_t dir_id = 0;

	ck_assert_int_eq(node_table_new(&t), 0);
	ck_assert_int_eq(node_dir_new(3, &dh, &dir), 0);

	/* a listed node gives its directory's handle and node id, and its name */
	ck_assert_int_eq(node_table_ref_listed(t, 7, dir, "file.txt"), 0);
	ck_assert_int_eq(node_table_handle(t, 7, &got, name, &dir_id), NODE_LISTED);
	assert_handle_eq(&got, &dh);
	ck_assert_str_eq(name, "file.txt");
	ck_assert_uint_eq(dir_id, 3);

	/* the lister may go first: the node keeps the directory */
	node_dir_unref(dir);
	ck_assert_int_eq(node_table_handle(t, 7, &got, name, NULL), NODE_LISTED);
	assert_handle_eq(&got, &dh);

	/* a second lookup, listed again or by handle, adds a reference only */
	ck_assert_int_eq(node_table_ref(t, 7, &fh), 0);
	ck_assert_int_eq(node_table_handle(t, 7, &got, name, NULL), NODE_LISTED);

	/* once its handle is found, that is what it gives, and it keeps its references */
	node_table_set_handle(t, 7, &fh);
	ck_assert_int_eq(node_table_handle(t, 7, &got, name, NULL), 0);
	assert_handle_eq(&got, &fh);
	node_table_set_handle(t, 7, &dh);
	ck_assert_int_eq(node_table_handle(t, 7, &got, name, NULL), 0);
	assert_handle_eq(&got, &fh);
	node_table_forget(t, 7, 1);
	ck_assert_uint_eq(node_table_size(t), 1);
	node_table_forget(t, 7, 1);
	ck_assert_uint_eq(node_table_size(t), 0);
	node_table_set_handle(t, 7, &fh);
	ck_assert_uint_eq(node_table_size(t), 0);

	/* names up to NAME_MAX; the directory goes with its last node */
	memset(longest, 'n', sizeof(longest) - 1);
	longest[NAME_MAX + 1] = '\0';
	ck_assert_int_eq(node_dir_new(3, &dh, &dir), 0);
	ck_assert_int_eq(node_table_ref_listed(t, 8, dir, longest), -ENAMETOOLONG);
	longest[NAME_MAX] = '\0';
	ck_assert_int_eq(node_table_ref_listed(t, 8, dir, longest), 0);
	ck_assert_int_eq(node_table_ref_listed(t, 9, dir, ""), 0);
	node_dir_unref(dir);
	ck_assert_int_eq(node_table_handle(t, 8, &got, name, NULL), NODE_LISTED);
	ck_assert_str_eq(name, longest);
	node_table_forget(t, 8, 1);
	ck_assert_int_eq(node_table_handle(t, 9, &got, name, NULL), NODE_LISTED);
	assert_handle_eq(&got, &dh);
	ck_assert_str_eq(name, "");
	node_table_free(t);
	node_dir_unref(NULL);
}
END_TEST

START_TEST(test_node_handle_copy)
{
	struct node_table *t = NULL;
	struct node_handle h = handle_of(3), keep = handle_of(3), got;

	ck_assert_int_eq(node_table_new(&t), 0);
	ck_assert_int_eq(node_table_ref(t, 42, &h), 0);

	/* the table holds its own copy */
	memset(h.data, 0xee, sizeof(h.data));
	h.bytes = 1;
	ck_assert_int_eq(node_handle_of(t, 42, &got), 0);
	assert_handle_eq(&got, &keep);

	/* and hands out copies */
	memset(got.data, 0, sizeof(got.data));
	ck_assert_int_eq(node_handle_of(t, 42, &got), 0);
	assert_handle_eq(&got, &keep);

	/* a handle of the largest size */
	h.bytes = NODE_HANDLE_MAX;
	h.type = 0x4d;
	for (unsigned k = 0; k < NODE_HANDLE_MAX; k++)
		h.data[k] = (unsigned char)(0xa0 + k);
	ck_assert_int_eq(node_table_ref(t, 43, &h), 0);
	ck_assert_int_eq(node_handle_of(t, 43, &got), 0);
	assert_handle_eq(&got, &h);

	node_table_free(t);
}
END_TEST

static uint64_t id_of(uint64_t i)
{
	uint64_t ino = 0;

	/* spread over sets, volumes and files as a real walk would */
	fast_assert_int_eq(ino_encode(1 + i % 5, i % 3, 256 + i, &ino), 0);
	return ino;
}

START_TEST(test_node_many)
{
	const uint64_t n = 100000;
	struct node_table *t = NULL;
	struct node_handle h, got;

	fast_assert_int_eq(node_table_new(&t), 0);
	for (uint64_t i = 0; i < n; i++) {
		h = handle_of(i);
		fast_assert_int_eq(node_table_ref(t, id_of(i), &h), 0);
	}
	fast_assert_uint_eq(node_table_size(t), n);

	/* every node is found with its own handle after the table grew */
	for (uint64_t i = 0; i < n; i++) {
		h = handle_of(i);
		fast_assert_int_eq(node_handle_of(t, id_of(i), &got), 0);
		assert_handle_eq(&got, &h);
	}
	fast_assert_int_eq(node_handle_of(t, id_of(n), &got), -ESTALE);

	/* a second lookup of the even ones; forgetting once leaves just those */
	for (uint64_t i = 0; i < n; i += 2)
		fast_assert_int_eq(node_table_ref(t, id_of(i), &h), 0);
	fast_assert_uint_eq(node_table_size(t), n);
	for (uint64_t i = 0; i < n; i++)
		node_table_forget(t, id_of(i), 1);
	fast_assert_uint_eq(node_table_size(t), n / 2);
	for (uint64_t i = 0; i < n; i++) {
		int r = node_handle_of(t, id_of(i), &got);

		fast_assert_int_eq(r, i % 2 ? -ESTALE : 0);
	}
	for (uint64_t i = 0; i < n; i += 2)
		node_table_forget(t, id_of(i), 1);
	fast_assert_uint_eq(node_table_size(t), 0);

	/* the emptied table takes nodes again */
	h = handle_of(1);
	fast_assert_int_eq(node_table_ref(t, id_of(1), &h), 0);
	fast_assert_uint_eq(node_table_size(t), 1);
	node_table_free(t);
}
END_TEST

/* --- file handles on a real filesystem --- */

static char dir[PATH_MAX];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/stillfs-unit-fs.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Returns false (after saying why) when this filesystem or process cannot use handles. */
static bool handles_supported(int r, const char *what)
{
	if (r == -EOPNOTSUPP || r == -ENOTSUP || r == -ENOSYS || r == -EPERM) {
		fprintf(stderr, "test-fs: skipping %s: %s on '%s'\n", what, strerror(-r), dir);
		return false;
	}
	return true;
}

/* Writes `text` into a new file `name` of directory `dfd`. */
static void make_file(int dfd, const char *name, const char *text)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(close(fd), 0);
}

START_TEST(test_handle_open)
{
	static const char content[] = "stillfs handle test\n";
	struct node_table *t = NULL;
	struct node_handle h, hd, hl, copy;
	struct stat st, st2;
	char buf[64];
	int dfd, fd, r;
	ssize_t n;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dfd, 0);
	make_file(dfd, "file", content);
	ck_assert_int_eq(symlinkat("file", dfd, "link"), 0);

	r = node_handle_at(dfd, "file", &h);
	if (!handles_supported(r, "name_to_handle_at"))
		goto out;
	ck_assert_int_eq(r, 0);
	ck_assert_uint_gt(h.bytes, 0);
	ck_assert_uint_le(h.bytes, NODE_HANDLE_MAX);

	/* the handle goes through the table and opens the same file */
	ck_assert_int_eq(node_table_new(&t), 0);
	ck_assert_int_eq(node_table_ref(t, 99, &h), 0);
	ck_assert_int_eq(node_handle_of(t, 99, &copy), 0);
	node_table_free(t);
	fd = node_handle_open(dfd, &copy, O_RDONLY);
	if (!handles_supported(fd < 0 ? fd : 0, "open_by_handle_at"))
		goto out;
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstatat(dfd, "file", &st, AT_SYMLINK_NOFOLLOW), 0);
	ck_assert_int_eq(fstat(fd, &st2), 0);
	ck_assert_uint_eq(st2.st_ino, st.st_ino);
	ck_assert_uint_eq(st2.st_dev, st.st_dev);
	n = read(fd, buf, sizeof(buf) - 1);
	ck_assert_int_eq(n, (ssize_t)strlen(content));
	buf[n] = '\0';
	ck_assert_str_eq(buf, content);
	ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
	close(fd);

	/* the empty name is the directory itself */
	ck_assert_int_eq(node_handle_at(dfd, "", &hd), 0);
	fd = node_handle_open(dfd, &hd, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st2), 0);
	ck_assert(S_ISDIR(st2.st_mode));
	ck_assert_int_eq(fstat(dfd, &st), 0);
	ck_assert_uint_eq(st2.st_ino, st.st_ino);
	close(fd);

	/* a symlink is not followed */
	ck_assert_int_eq(node_handle_at(dfd, "link", &hl), 0);
	ck_assert(hl.bytes != h.bytes || memcmp(hl.data, h.data, h.bytes) != 0);
	fd = node_handle_open(dfd, &hl, O_PATH);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st2), 0);
	ck_assert(S_ISLNK(st2.st_mode));
	close(fd);

	ck_assert_int_eq(node_handle_at(dfd, "missing", &hl), -ENOENT);

	/* a file that is gone is stale, never some other file */
	ck_assert_int_eq(unlinkat(dfd, "file", 0), 0);
	ck_assert_int_eq(node_handle_open(dfd, &h, O_RDONLY), -ESTALE);
out:
	close(dfd);
}
END_TEST

/* Opens the listed node `id` through target_open() and checks it is `name` of `subfd`. */
static void assert_opens(struct view *v, struct target *t, uint64_t id, int subfd,
			 const char *name)
{
	struct stat want, got;
	int fd;

	t->id = id;
	fd = target_open(v, t, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstatat(subfd, name, &want, 0), 0);
	ck_assert_int_eq(fstat(fd, &got), 0);
	ck_assert_uint_eq(got.st_ino, want.st_ino);
	close(fd);
}

/* A view of directory `dir` as a volume, with the files of its subdirectory "sub" listed. */
struct listed_fixture {
	struct view v;
	struct view_volume vol;
	struct target t;
	int dfd, subfd;
};

/* Nodes 51 "a", 52 "b" and 53 "c" (a symlink) listed in "sub" (node 50). False when handles cannot be used here. */
static bool listed_fixture_make(struct listed_fixture *x)
{
	struct node_handle dh;
	struct node_dir *nd = NULL;
	int r;

	memset(x, 0, sizeof(*x));
	x->vol.root_ino = UINT64_MAX;
	x->t = (struct target){ .kind = INO_KIND_FILE, .vol = &x->vol, .p.file = 1 };
	x->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(x->dfd, 0);
	ck_assert_int_eq(mkdirat(x->dfd, "sub", 0755), 0);
	x->subfd = openat(x->dfd, "sub", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(x->subfd, 0);
	make_file(x->subfd, "a", "first\n");
	make_file(x->subfd, "b", "second\n");
	ck_assert_int_eq(symlinkat("a", x->subfd, "c"), 0);
	r = node_handle_at(x->dfd, "sub", &dh);
	if (!handles_supported(r, "name_to_handle_at"))
		return false;
	ck_assert_int_eq(r, 0);
	x->vol.fd = x->dfd;
	ck_assert_int_eq(node_table_new(&x->v.nodes), 0);
	ck_assert_int_eq(fdcache_new(8, &x->v.files), 0);
	ck_assert_int_eq(node_dir_new(50, &dh, &nd), 0);
	ck_assert_int_eq(node_table_ref_listed(x->v.nodes, 51, nd, "a"), 0);
	ck_assert_int_eq(node_table_ref_listed(x->v.nodes, 52, nd, "b"), 0);
	ck_assert_int_eq(node_table_ref_listed(x->v.nodes, 53, nd, "c"), 0);
	node_dir_unref(nd);
	return true;
}

static void listed_fixture_free(struct listed_fixture *x)
{
	fdcache_free(x->v.files);
	node_table_free(x->v.nodes);
	fetchahead_free(x->v.fetch);
	close(x->subfd);
	close(x->dfd);
}

/* Whether node `id` is still known by its listing alone. */
static bool still_listed(struct listed_fixture *x, uint64_t id)
{
	struct node_handle h;
	char name[NAME_MAX + 1];

	return node_table_handle(x->v.nodes, id, &h, name, NULL) == NODE_LISTED;
}

/* A listed file is found by name in its directory, through a descriptor of the
 * directory that stays in the view's cache for the directory's other files. */
START_TEST(test_target_listed)
{
	struct listed_fixture x;
	struct node_handle h;
	int r;

	if (!listed_fixture_make(&x))
		goto out;
	/* the first file found opens its directory and keeps it */
	x.t.id = 51;
	r = target_handle(&x.v, &x.t, &h);
	if (!handles_supported(r, "open_by_handle_at"))
		goto out;
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(fdcache_count(x.v.files), 1);
	/* the next finds it there; each opens its own file */
	assert_opens(&x.v, &x.t, 52, x.subfd, "b");
	ck_assert_uint_eq(fdcache_count(x.v.files), 1);
	assert_opens(&x.v, &x.t, 51, x.subfd, "a");
	/* once found, a node opens by its own handle, without the directory */
	ck_assert(!still_listed(&x, 52));
	fdcache_expire(x.v.files, 0);
	assert_opens(&x.v, &x.t, 52, x.subfd, "b");
	ck_assert_uint_eq(fdcache_count(x.v.files), 0);
out:
	listed_fixture_free(&x);
}
END_TEST

/* Waits (3 s at most) until the fetching has handled more than `before` notes. */
static void wait_handled(struct fetchahead *f, uint64_t before)
{
	for (int waited = 0; fetchahead_handled(f) == before; waited++) {
		ck_assert_int_lt(waited, 3000);
		usleep(1000);
	}
}

/* An O_PATH descriptor of a listed file leaves it listed, and a symlink is not followed;
 * reading a listed file's data tells the fetching ahead. */
START_TEST(test_target_path)
{
	struct listed_fixture x;
	struct stat want, got;
	int fd;

	if (!listed_fixture_make(&x))
		goto out;
	x.t.id = 51;
	fd = target_open_path(&x.v, &x.t);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstatat(x.subfd, "a", &want, 0), 0);
	ck_assert_int_eq(fstat(fd, &got), 0);
	ck_assert_uint_eq(got.st_ino, want.st_ino);
	close(fd);
	ck_assert(still_listed(&x, 51));
	x.t.id = 53;
	fd = target_open_path(&x.v, &x.t);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &got), 0);
	ck_assert(S_ISLNK(got.st_mode));
	close(fd);
	/* reading the data gives the node its handle, and the fetching ahead hears of it */
	ck_assert_int_eq(fetchahead_new(&x.v.fetch), 0);
	x.t.id = 51;
	x.t.p.file = want.st_ino;
	fd = target_open_data(&x.v, &x.t, O_RDONLY | O_CLOEXEC);
	if (!handles_supported(fd, "open_by_handle_at"))
		goto out;
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert(!still_listed(&x, 51));
	wait_handled(x.v.fetch, 0);
	/* by its handle now */
	fd = target_open_path(&x.v, &x.t);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &got), 0);
	ck_assert_uint_eq(got.st_ino, want.st_ino);
	close(fd);
out:
	listed_fixture_free(&x);
}
END_TEST

/* fdcache: open_fn opens /dev/null and counts, or fails with *fail */
struct opener {
	int opened;
	int fail;
	bool emfile_once; /* the next open runs out of descriptors */
	pthread_mutex_t lock;
};

static int open_null(void *userdata)
{
	struct opener *o = userdata;
	int fd;

	if (o->fail)
		return o->fail;
	if (o->emfile_once) {
		o->emfile_once = false;
		return -EMFILE;
	}
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	pthread_mutex_lock(&o->lock);
	o->opened++;
	pthread_mutex_unlock(&o->lock);
	return fd;
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static int count_open_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		n += fd_open(fd);
	return n;
}

START_TEST(test_fdcache_reuse)
{
	struct opener o = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct fdcache *c;
	int a, b;

	ck_assert_int_eq(fdcache_new(4, &c), 0);
	a = fdcache_get(c, 7, open_null, &o);
	ck_assert_int_ge(a, 0);
	/* shared while in use, and after */
	b = fdcache_get(c, 7, open_null, &o);
	ck_assert_int_eq(a, b);
	fdcache_put(c, 7, a);
	fdcache_put(c, 7, b);
	ck_assert(fd_open(a));
	b = fdcache_get(c, 7, open_null, &o);
	ck_assert_int_eq(a, b);
	fdcache_put(c, 7, b);
	ck_assert_int_eq(o.opened, 1);
	ck_assert_uint_eq(fdcache_count(c), 1);

	/* a failed open is reported and nothing is kept */
	o.fail = -ENOENT;
	ck_assert_int_eq(fdcache_get(c, 8, open_null, &o), -ENOENT);
	ck_assert_uint_eq(fdcache_count(c), 1);
	fdcache_free(c);
	ck_assert(!fd_open(a));
}
END_TEST

START_TEST(test_fdcache_bounded)
{
	struct opener o = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct fdcache *c;
	int fd[4];

	ck_assert_int_eq(fdcache_new(2, &c), 0);
	/* all slots busy: the third is not kept, and closes when handed back */
	for (int i = 0; i < 3; i++)
		fd[i] = fdcache_get(c, (uint64_t)i + 1, open_null, &o);
	ck_assert_uint_eq(fdcache_count(c), 2);
	fdcache_put(c, 3, fd[2]);
	ck_assert(!fd_open(fd[2]));
	ck_assert(fd_open(fd[0]) && fd_open(fd[1]));

	/* the idle descriptor used longest ago makes room */
	fdcache_put(c, 1, fd[0]);
	usleep(1000);
	fdcache_put(c, 2, fd[1]);
	fd[3] = fdcache_get(c, 4, open_null, &o);
	ck_assert(fd_open(fd[1]));
	ck_assert_uint_eq(fdcache_count(c), 2);
	fdcache_put(c, 4, fd[3]);
	o.opened = 0;
	fdcache_put(c, 2, fdcache_get(c, 2, open_null, &o));
	ck_assert_int_eq(o.opened, 0);
	fdcache_put(c, 1, fdcache_get(c, 1, open_null, &o));
	ck_assert_int_eq(o.opened, 1);
	fdcache_free(c);
}
END_TEST

START_TEST(test_fdcache_expire)
{
	struct opener o = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct fdcache *c;
	int idle, busy;

	ck_assert_int_eq(fdcache_new(4, &c), 0);
	idle = fdcache_get(c, 1, open_null, &o);
	busy = fdcache_get(c, 2, open_null, &o);
	fdcache_put(c, 1, idle);
	fdcache_expire(c, 60000);
	ck_assert_uint_eq(fdcache_count(c), 2);
	usleep(5000);
	fdcache_expire(c, 1);
	/* only the idle one goes; the one in use stays until handed back */
	ck_assert(!fd_open(idle));
	ck_assert(fd_open(busy));
	ck_assert_uint_eq(fdcache_count(c), 1);
	fdcache_put(c, 2, busy);
	usleep(5000);
	fdcache_expire(c, 1);
	ck_assert_uint_eq(fdcache_count(c), 0);
	ck_assert(!fd_open(busy));

	/* out of descriptors: the idle ones are closed and the open tried again */
	idle = fdcache_get(c, 1, open_null, &o);
	fdcache_put(c, 1, idle);
	busy = fdcache_get(c, 2, open_null, &o);
	o.emfile_once = true;
	int fd = fdcache_get(c, 3, open_null, &o);
	ck_assert_int_ge(fd, 0);
	ck_assert(!fd_open(idle) || idle == fd);
	ck_assert(fd_open(busy));
	ck_assert_uint_eq(fdcache_count(c), 2);
	fdcache_put(c, 3, fd);
	fdcache_put(c, 2, busy);
	fdcache_free(c);
}
END_TEST

struct churn {
	struct fdcache *c;
	struct opener *o;
	unsigned int seed;
	int bad;
};

static void *churn_main(void *arg)
{
	struct churn *ch = arg;

	for (int i = 0; i < 20000; i++) {
		uint64_t id = (uint64_t)(rand_r(&ch->seed) % 6) + 1;
		int fd = fdcache_get(ch->c, id, open_null, ch->o);

		if (fd < 0 || !fd_open(fd))
			ch->bad++;
		else
			fdcache_put(ch->c, id, fd);
	}
	return NULL;
}

START_TEST(test_fdcache_threads)
{
	struct opener o = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct churn ch[8];
	pthread_t th[8];
	struct fdcache *c;
	int before = count_open_fds();

	ck_assert_int_eq(fdcache_new(4, &c), 0);
	for (int i = 0; i < 8; i++) {
		ch[i] = (struct churn){ .c = c, .o = &o, .seed = (unsigned int)i + 1 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, churn_main, &ch[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(ch[i].bad, 0);
	}
	ck_assert_uint_le(fdcache_count(c), 4);
	fdcache_free(c);
	/* every descriptor opened was closed: cached, uncached or raced */
	ck_assert_int_eq(count_open_fds(), before);
}
END_TEST

/* --- read buffers --- */

START_TEST(test_bufpool_reuse)
{
	struct bufpool *p;
	char *a, *b;

	ck_assert_int_eq(bufpool_new((1u << 20) + 4096, 2, &p), 0);
	ck_assert_uint_eq(bufpool_size(p), (1u << 20) + 4096);
	a = bufpool_get(p);
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq((uintptr_t)a % DIRECT_READ_ALIGN, 0);
	memset(a, 0xa5, bufpool_size(p));
	ck_assert_uint_eq(bufpool_count(p), 0);
	bufpool_put(p, a);
	ck_assert_uint_eq(bufpool_count(p), 1);
	b = bufpool_get(p);
	ck_assert_ptr_eq(b, a);
	ck_assert_uint_eq(bufpool_count(p), 0);
	bufpool_put(p, b);
	bufpool_put(p, NULL);
	ck_assert_uint_eq(bufpool_count(p), 1);
	bufpool_free(p);
}
END_TEST

START_TEST(test_bufpool_bounded)
{
	struct bufpool *p;
	void *b[3];

	ck_assert_int_eq(bufpool_new(8192, 2, &p), 0);
	for (int i = 0; i < 3; i++) {
		b[i] = bufpool_get(p);
		ck_assert_ptr_nonnull(b[i]);
		for (int j = 0; j < i; j++)
			ck_assert_ptr_ne(b[i], b[j]);
	}
	for (int i = 0; i < 3; i++)
		bufpool_put(p, b[i]);
	/* the third was unmapped, not kept */
	ck_assert_uint_eq(bufpool_count(p), 2);
	bufpool_free(p);
}
END_TEST

struct pool_user {
	struct bufpool *p;
	unsigned char id;
	int bad;
};

/* Each thread fills what it holds with its own number: a buffer handed to
 * two threads at once would show the other's. */
static void *pool_user_main(void *arg)
{
	struct pool_user *u = arg;
	size_t size = bufpool_size(u->p);

	for (int i = 0; i < 2000; i++) {
		unsigned char *b = bufpool_get(u->p);

		if (!b) {
			u->bad++;
			continue;
		}
		b[0] = b[size / 2] = b[size - 1] = u->id;
		sched_yield();
		if (b[0] != u->id || b[size / 2] != u->id || b[size - 1] != u->id)
			u->bad++;
		bufpool_put(u->p, b);
	}
	return NULL;
}

START_TEST(test_bufpool_threads)
{
	struct pool_user u[8];
	pthread_t th[8];
	struct bufpool *p;

	ck_assert_int_eq(bufpool_new(16384, 4, &p), 0);
	for (int i = 0; i < 8; i++) {
		u[i] = (struct pool_user){ .p = p, .id = (unsigned char)(i + 1) };
		ck_assert_int_eq(pthread_create(&th[i], NULL, pool_user_main, &u[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(u[i].bad, 0);
	}
	ck_assert_uint_le(bufpool_count(p), 4);
	bufpool_free(p);
}
END_TEST

/* --- direct reads --- */

#define DR_SIZE ((3u << 20) + 123)

static unsigned char dr_byte(size_t i)
{
	return (unsigned char)(i * 7 + (i >> 12));
}

/* A file of DR_SIZE bytes in the test's directory, none of it in the page cache; returns it open. */
static int dr_file(void)
{
	unsigned char *data = malloc(DR_SIZE);
	char path[PATH_MAX + 8];
	int fd;

	ck_assert_ptr_nonnull(data);
	for (size_t i = 0; i < DR_SIZE; i++)
		data[i] = dr_byte(i);
	snprintf(path, sizeof(path), "%s/data", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, DR_SIZE), (ssize_t)DR_SIZE);
	free(data);
	ck_assert_int_eq(fsync(fd), 0);
	ck_assert_int_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	return fd;
}

/* Pages of the file in the page cache. */
static size_t dr_cached_pages(int fd)
{
	size_t pages = (DR_SIZE + 4095) / 4096, n = 0;
	unsigned char *vec = malloc(pages);
	void *map = mmap(NULL, DR_SIZE, PROT_READ, MAP_SHARED, fd, 0);

	ck_assert_ptr_nonnull(vec);
	ck_assert_ptr_ne(map, MAP_FAILED);
	ck_assert_int_eq(mincore(map, DR_SIZE, vec), 0);
	for (size_t i = 0; i < pages; i++)
		n += vec[i] & 1;
	munmap(map, DR_SIZE);
	free(vec);
	return n;
}

static const struct {
	off_t off;
	size_t size;
} dr_cases[] = {
	{ 0, 1u << 20 },                 /* a READ of the kernel's readahead */
	{ 4096, 8192 },                  /* aligned, small */
	{ 1, 100 },                      /* inside one page */
	{ 4095, 2 },                     /* across a page boundary */
	{ (1 << 20) - 1, 1u << 20 },     /* unaligned, one page more in the span */
	{ 3 << 20, 1u << 20 },           /* across the end of the file */
	{ (3 << 20) + 100, 23 },         /* up to the last byte */
	{ (3 << 20) + 123, 10 },         /* at the end of the file */
	{ 5 << 20, 4096 },               /* past it */
	{ 8192, 0 },                     /* nothing */
};

static void dr_check_all(int fd)
{
	for (size_t c = 0; c < ARRAY_SIZE(dr_cases); c++) {
		off_t off = dr_cases[c].off;
		size_t size = dr_cases[c].size, skip = 99, len = 99, want;
		size_t span = direct_read_span(off, size);
		char *buf = NULL;

		want = (size_t)off >= DR_SIZE ? 0 : DR_SIZE - (size_t)off < size ? DR_SIZE - (size_t)off : size;
		ck_assert_uint_eq(span % DIRECT_READ_ALIGN, 0);
		ck_assert_uint_ge(span, (size_t)off % DIRECT_READ_ALIGN + size);
		ck_assert_int_eq(posix_memalign((void **)&buf, DIRECT_READ_ALIGN, span ? span : 1), 0);
		ck_assert_int_eq(direct_read(fd, buf, size, off, &skip, &len), 0);
		ck_assert_msg(len == want, "case %zu: %zu bytes, not %zu", c, len, want);
		if (len > 0)
			ck_assert_uint_eq(skip, (size_t)off % DIRECT_READ_ALIGN);
		for (size_t i = 0; i < len; i++)
			fast_assert_uint_eq((unsigned char)buf[skip + i], dr_byte((size_t)off + i));
		free(buf);
	}
}

START_TEST(test_direct_read_buffered)
{
	int fd = dr_file();

	dr_check_all(fd);
	close(fd);
}
END_TEST

START_TEST(test_direct_read_direct)
{
	int fd = dr_file();

	if (!direct_read_enable(fd)) {
		fprintf(stderr, "test-fs: skipping direct reads: refused on '%s'\n", dir);
		close(fd);
		return;
	}
	ck_assert(fcntl(fd, F_GETFL) & O_DIRECT);
	dr_check_all(fd);
	/* still direct, and nothing was read into the page cache */
	ck_assert(fcntl(fd, F_GETFL) & O_DIRECT);
	ck_assert_uint_eq(dr_cached_pages(fd), 0);
	close(fd);
}
END_TEST

/* A direct read the filesystem refuses (here: a buffer off the alignment it
 * needs) is done again as an ordinary one, and the descriptor stays so. */
START_TEST(test_direct_read_refused)
{
	int fd = dr_file();
	char *buf = NULL;
	size_t skip, len;

	if (!direct_read_enable(fd)) {
		fprintf(stderr, "test-fs: skipping direct reads: refused on '%s'\n", dir);
		close(fd);
		return;
	}
	ck_assert_int_eq(posix_memalign((void **)&buf, DIRECT_READ_ALIGN, 3 * 4096), 0);
	ck_assert_int_eq(direct_read(fd, buf + 1, 4096, 4096, &skip, &len), 0);
	ck_assert_uint_eq(skip, 0);
	ck_assert_uint_eq(len, 4096);
	for (size_t i = 0; i < len; i++)
		fast_assert_uint_eq((unsigned char)buf[1 + i], dr_byte(4096 + i));
	ck_assert(!(fcntl(fd, F_GETFL) & O_DIRECT));
	free(buf);
	close(fd);
}
END_TEST

/* --- passthrough on the wire (offsets and values of Linux's uapi fuse.h, 7.40) --- */

static void put32(unsigned char *p, size_t off, uint32_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

static uint32_t get32(const void *p, size_t off)
{
	uint32_t v;

	memcpy(&v, (const char *)p + off, sizeof(v));
	return v;
}

/* an INIT request as the kernel writes it: fuse_in_header (40 bytes, opcode at
 * 4) then fuse_init_in (64 bytes, flags at 12, flags2 at 16) */
static size_t init_request(unsigned char *buf, uint32_t opcode, uint32_t flags, uint32_t flags2)
{
	memset(buf, 0, 104);
	put32(buf, 0, 104);
	put32(buf, 4, opcode);
	put32(buf, 40, 7);
	put32(buf, 44, 41);
	put32(buf, 40 + 12, flags);
	put32(buf, 40 + 16, flags2);
	return 104;
}

START_TEST(test_passthrough_init_offers)
{
	unsigned char buf[128];
	const uint32_t ext = 1U << 30; /* FUSE_INIT_EXT */
	size_t n;

	n = init_request(buf, 26, ext, 1U << 5);
	ck_assert(pt_wire_init_offers(buf, n));
	/* with other flags around it */
	n = init_request(buf, 26, ext | 0x3fffffff, 0xffffffff);
	ck_assert(pt_wire_init_offers(buf, n));
	/* flags2 counts only with FUSE_INIT_EXT */
	n = init_request(buf, 26, 0x3fffffff, 1U << 5);
	ck_assert(!pt_wire_init_offers(buf, n));
	/* every flag but passthrough */
	n = init_request(buf, 26, 0xffffffff, ~(1U << 5));
	ck_assert(!pt_wire_init_offers(buf, n));
	/* not an INIT (26): a LOOKUP (1) with the same bits */
	n = init_request(buf, 1, ext, 1U << 5);
	ck_assert(!pt_wire_init_offers(buf, n));
	/* cut short */
	n = init_request(buf, 26, ext, 1U << 5);
	ck_assert(!pt_wire_init_offers(buf, n - 1));
	ck_assert(!pt_wire_init_offers(buf, 0));
}
END_TEST

START_TEST(test_passthrough_amend_init)
{
	struct fuse_init_out out;
	unsigned char before[sizeof(out)];

	ck_assert_uint_eq(sizeof(out), 64);
	memset(&out, 0, sizeof(out));
	out.major = 7;
	out.minor = 38;
	out.flags = 0x1234;
	out.flags2 = 0x1;
	out.max_write = 1 << 20;
	memcpy(before, &out, sizeof(out));
	pt_wire_amend_init(&out);
	/* flags at 12 gain FUSE_INIT_EXT, flags2 at 32 gain bit 5 (37 - 32) */
	ck_assert_uint_eq(get32(&out, 12), 0x1234 | (1U << 30));
	ck_assert_uint_eq(get32(&out, 32), 0x1 | (1U << 5));
	/* max_stack_depth at 36 */
	ck_assert_uint_eq(get32(&out, 36), PT_STACK_DEPTH);
	ck_assert_uint_eq(PT_STACK_DEPTH, 1);
	/* nothing else changes */
	for (size_t i = 0; i < sizeof(out); i++)
		if (i < 12 || (i >= 16 && i < 32) || i >= 40)
			ck_assert_msg(((unsigned char *)&out)[i] == before[i], "byte %zu changed", i);
}
END_TEST

START_TEST(test_passthrough_amend_open)
{
	struct fuse_open_out out;

	ck_assert_uint_eq(sizeof(out), 16);
	memset(&out, 0, sizeof(out));
	out.fh = UINT64_C(0x0102030405060708);
	out.open_flags = 1U << 3; /* FOPEN_NONSEEKABLE, kept */
	pt_wire_amend_open(&out, 0x7654321);
	ck_assert_uint_eq(out.fh, UINT64_C(0x0102030405060708));
	/* open_flags at 8 gain FOPEN_PASSTHROUGH (bit 7), backing_id at 12 */
	ck_assert_uint_eq(get32(&out, 8), (1U << 3) | (1U << 7));
	ck_assert_uint_eq(get32(&out, 12), 0x7654321);
}
END_TEST

START_TEST(test_passthrough_ioctls)
{
	/* _IOW(229, 1, 16 bytes) and _IOW(229, 2, 4 bytes) */
	ck_assert_uint_eq(sizeof(struct pt_backing_map), 16);
	ck_assert_uint_eq(PT_DEV_IOC_BACKING_OPEN, 0x4010e501);
	ck_assert_uint_eq(PT_DEV_IOC_BACKING_CLOSE, 0x4004e502);
}
END_TEST

START_TEST(test_dir_reply_references)
{
	struct node_table *t = NULL;
	struct node_handle h = handle_of(3);
	struct dir_reply r = { 0 };

	ck_assert_int_eq(node_table_new(&t), 0);
	ck_assert_int_eq(dir_reply_start(&r, 4096, 17), 0);
	ck_assert_uint_ge(r.cap, 4096);
	ck_assert_int_eq(r.off, 17);

	/* entries of a reply the kernel got keep their references */
	for (uint64_t id = 1; id <= 100; id++) {
		ck_assert_int_eq(node_table_ref(t, id, &h), 0);
		ck_assert_int_eq(dir_reply_add_id(&r, id), 0);
	}
	ck_assert_uint_eq(r.n_ids, 100);
	dir_reply_sent(&r);
	ck_assert_uint_eq(r.n_ids, 0);
	dir_reply_drop(&r, t);
	ck_assert_uint_eq(node_table_size(t), 100);

	/* a reply that never reaches the kernel gives back exactly its own */
	ck_assert_int_eq(dir_reply_start(&r, 65536, 99), 0);
	ck_assert_uint_ge(r.cap, 65536);
	for (uint64_t id = 51; id <= 150; id++) {
		ck_assert_int_eq(node_table_ref(t, id, &h), 0);
		ck_assert_int_eq(dir_reply_add_id(&r, id), 0);
	}
	r.used = 1000;
	ck_assert_uint_eq(node_table_size(t), 150);
	dir_reply_drop(&r, t);
	ck_assert_uint_eq(r.used, 0);
	ck_assert_uint_eq(r.n_ids, 0);
	ck_assert_uint_eq(node_table_size(t), 100);
	for (uint64_t id = 1; id <= 100; id++)
		node_table_forget(t, id, 1);
	ck_assert_uint_eq(node_table_size(t), 0);

	/* a smaller reply reuses the buffer; start empties the last one */
	r.err = -EIO;
	ck_assert_int_eq(dir_reply_start(&r, 512, 0), 0);
	ck_assert_uint_ge(r.cap, 65536);
	ck_assert_int_eq(r.err, 0);
	dir_reply_release(&r);
	ck_assert_ptr_null(r.buf);
	ck_assert_ptr_null(r.ids);
	node_table_free(t);
}
END_TEST

#define STAT_NAMES 300

/* A directory of STAT_NAMES files of distinct sizes, f0 ... f299, and a batch over them. */
struct stat_fixture {
	int dfd;
	char names[STAT_NAMES + 1][16];
	const char *ptrs[STAT_NAMES + 1];
	struct stat st[STAT_NAMES + 1];
	int err[STAT_NAMES + 1];
};

static void stat_fixture_make(struct stat_fixture *f)
{
	f->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(f->dfd, 0);
	for (int i = 0; i < STAT_NAMES; i++) {
		snprintf(f->names[i], sizeof(f->names[i]), "f%d", i);
		f->ptrs[i] = f->names[i];
		if (faccessat(f->dfd, f->names[i], F_OK, 0) < 0) {
			int fd = openat(f->dfd, f->names[i], O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

			ck_assert_int_ge(fd, 0);
			ck_assert_int_eq(ftruncate(fd, i), 0);
			close(fd);
		}
	}
	/* the last name is missing */
	snprintf(f->names[STAT_NAMES], sizeof(f->names[0]), "missing");
	f->ptrs[STAT_NAMES] = f->names[STAT_NAMES];
}

static void stat_fixture_check(struct stat_fixture *f)
{
	for (int i = 0; i < STAT_NAMES; i++) {
		fast_assert_int_eq(f->err[i], 0);
		fast_assert_int_eq(f->st[i].st_size, i);
		fast_assert_uint_eq(f->st[i].st_mode & S_IFMT, S_IFREG);
	}
	fast_assert_int_eq(f->err[STAT_NAMES], ENOENT);
}

static void stat_fixture_run(struct statpool *p, struct stat_fixture *f)
{
	struct stat_batch b = { f->dfd, f->ptrs, f->st, f->err, STAT_NAMES + 1 };

	memset(f->st, 0, sizeof(f->st));
	memset(f->err, 0xff, sizeof(f->err));
	statpool_run(p, &b);
}

START_TEST(test_statpool_batch)
{
	struct statpool *p = NULL;
	struct stat_fixture f;

	stat_fixture_make(&f);
	/* alone */
	stat_fixture_run(NULL, &f);
	stat_fixture_check(&f);
	/* with the helper, many times over: each batch is whole when run returns */
	ck_assert_int_eq(statpool_new(&p), 0);
	for (int i = 0; i < 200; i++) {
		stat_fixture_run(p, &f);
		stat_fixture_check(&f);
	}
	/* an empty batch, and one of one name */
	statpool_run(p, &(struct stat_batch){ f.dfd, f.ptrs, f.st, f.err, 0 });
	f.err[0] = -1;
	statpool_run(p, &(struct stat_batch){ f.dfd, f.ptrs, f.st, f.err, 1 });
	ck_assert_int_eq(f.err[0], 0);
	statpool_free(p);
	statpool_free(NULL);
	close(f.dfd);
}
END_TEST

static void *stat_thread(void *arg)
{
	struct statpool *p = arg;
	struct stat_fixture *f = malloc(sizeof(*f));

	ck_assert_ptr_nonnull(f);
	stat_fixture_make(f);
	for (int i = 0; i < 100; i++) {
		stat_fixture_run(p, f);
		stat_fixture_check(f);
	}
	close(f->dfd);
	free(f);
	return NULL;
}

START_TEST(test_statpool_threads)
{
	struct statpool *p = NULL;
	struct stat_fixture f;
	pthread_t th[4];

	/* the files first, so that the threads only read */
	stat_fixture_make(&f);
	close(f.dfd);
	ck_assert_int_eq(statpool_new(&p), 0);
	/* four listers at once: one has the helper at a time, the others go alone */
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, stat_thread, p), 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
	statpool_free(p);
}
END_TEST

/* --- fetching small files ahead --- */

#define FETCH_FILES 40

struct fetch_fixture {
	int dfd;                            /* the directory */
	char names[FETCH_FILES + 8][NAME_MAX + 1]; /* its entries, in listing order */
	uint64_t ino[FETCH_FILES + 8];
	bool regular[FETCH_FILES + 8];
	bool small[FETCH_FILES + 8];       /* a regular file that may be fetched */
	size_t n;
};

/* A directory of small files among a larger one, an empty one, a symlink and a subdirectory. */
static void fetch_fixture_make(struct fetch_fixture *x)
{
	char name[32];
	DIR *d;
	struct dirent *e;
	int fd;

	memset(x, 0, sizeof(*x));
	ck_assert_int_eq(mkdirat(AT_FDCWD, dir, 0755) == 0 || errno == EEXIST, 1);
	x->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(x->dfd, 0);
	for (int i = 0; i < FETCH_FILES; i++) {
		snprintf(name, sizeof(name), "f%02d", i);
		make_file(x->dfd, name, "fetched ahead\n");
	}
	fd = openat(x->dfd, "big", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, FETCHAHEAD_FILE_MAX + 1), 0);
	close(fd);
	make_file(x->dfd, "empty", "");
	ck_assert_int_eq(symlinkat("f00", x->dfd, "link"), 0);
	ck_assert_int_eq(mkdirat(x->dfd, "sub", 0755), 0);
	/* the order the directory lists them in, which the fetching follows */
	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		ck_assert_uint_lt(x->n, ARRAY_SIZE(x->names));
		ck_assert_int_eq(fstatat(x->dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW), 0);
		strcpy(x->names[x->n], e->d_name);
		x->ino[x->n] = st.st_ino;
		x->regular[x->n] = S_ISREG(st.st_mode);
		x->small[x->n] = S_ISREG(st.st_mode) && st.st_size > 0 &&
				 st.st_size <= FETCHAHEAD_FILE_MAX;
		x->n++;
	}
	closedir(d);
	ck_assert_uint_eq(x->n, FETCH_FILES + 4);
}

static struct ino_parts fetch_parts(const struct fetch_fixture *x, size_t i)
{
	return (struct ino_parts){ 1, 0, x->ino[i] };
}

/* Notes entry i as read (through an O_PATH descriptor, as the view has) and waits until it is handled. */
static void fetch_note(struct fetchahead *f, const struct fetch_fixture *x, size_t i)
{
	struct ino_parts p = fetch_parts(x, i);
	uint64_t before = fetchahead_handled(f);
	int pathfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);

	ck_assert_int_ge(pathfd, 0);
	fetchahead_note(f, 50, pathfd, x->names[i], &p);
	close(pathfd);
	wait_handled(f, before);
}

/*
 * Entries after `from` held as fetched: the small ones among the next `ahead`
 * regular files (the larger and empty ones hold their place, unfetched), and
 * nothing else.
 */
static void fetch_check(struct fetchahead *f, const struct fetch_fixture *x, size_t from,
			unsigned int ahead)
{
	unsigned int regular = 0;

	for (size_t i = 0; i < x->n; i++) {
		struct ino_parts p = fetch_parts(x, i);
		bool within = i > from && x->regular[i] && regular < ahead;

		regular += within;
		ck_assert_msg(fetchahead_has(f, &p) == (within && x->small[i]),
			      "entry %zu '%s' (read up to %zu)", i, x->names[i], from);
	}
}

/* Regular files after entry i, at most 32 (how far the fetching goes ahead). */
static unsigned int fetch_ahead_of(const struct fetch_fixture *x, size_t i)
{
	unsigned int n = 0;

	while (++i < x->n)
		n += x->regular[i];
	return n < 32 ? n : 32;
}

/* The first small file at or after entry i. */
static size_t fetch_small_from(const struct fetch_fixture *x, size_t i)
{
	while (i < x->n && !x->small[i])
		i++;
	ck_assert_uint_lt(i, x->n);
	return i;
}

/* Small regular files after the one read, up to 32 ahead, follow their reader. */
START_TEST(test_fetchahead_follows)
{
	struct fetch_fixture x;
	struct fetchahead *f = NULL;
	struct ino_parts other;
	size_t first, later;

	fetch_fixture_make(&x);
	ck_assert_int_eq(fetchahead_new(&f), 0);
	first = fetch_small_from(&x, 0);
	fetch_note(f, &x, first);
	fetch_check(f, &x, first, fetch_ahead_of(&x, first));
	ck_assert_uint_ge(fetchahead_fetched(f), 30);

	/* the reader moves on three files: the ring moves with it */
	later = fetch_small_from(&x, fetch_small_from(&x, fetch_small_from(&x, first + 1) + 1) + 1);
	fetch_note(f, &x, later);
	fetch_check(f, &x, later, fetch_ahead_of(&x, later));

	/* the same file numbers in another set or volume were not fetched */
	other = fetch_parts(&x, fetch_small_from(&x, later + 1));
	other.set = 2;
	ck_assert(!fetchahead_has(f, &other));
	other.set = 1;
	other.vol = 1;
	ck_assert(!fetchahead_has(f, &other));
	fetchahead_free(f);
	fetchahead_free(NULL);
	close(x.dfd);
}
END_TEST

/* A reader out of the listing's order stops the fetching for the directory. */
START_TEST(test_fetchahead_out_of_order)
{
	struct fetch_fixture x;
	struct fetchahead *f = NULL;
	size_t last, first;

	fetch_fixture_make(&x);
	ck_assert_int_eq(fetchahead_new(&f), 0);
	/* the last small file first: nothing after it is small... */
	last = x.n - 1;
	while (!x.small[last])
		last--;
	first = fetch_small_from(&x, 0);
	ck_assert_uint_lt(first, last);
	fetch_note(f, &x, last);
	fetch_check(f, &x, last, 0);
	/* ...and then one before it, which the listing has passed: given up */
	fetch_note(f, &x, first);
	fetch_check(f, &x, first, 0);
	fetch_note(f, &x, fetch_small_from(&x, first + 1));
	fetch_check(f, &x, first, 0);
	fetchahead_free(f);
	close(x.dfd);
}
END_TEST

/* A reader that passes many fetched files unread (an incremental backup) stops the fetching. */
START_TEST(test_fetchahead_passed)
{
	struct fetch_fixture x;
	struct fetchahead *f = NULL;
	size_t first, far;

	fetch_fixture_make(&x);
	ck_assert_int_eq(fetchahead_new(&f), 0);
	first = fetch_small_from(&x, 0);
	fetch_note(f, &x, first);
	/* the 20th small file after it: 19 fetched ones passed unread */
	far = first;
	for (int k = 0; k < 20; k++)
		far = fetch_small_from(&x, far + 1);
	fetch_note(f, &x, far);
	fetch_check(f, &x, far, 0);
	/* and it stays stopped */
	fetch_note(f, &x, fetch_small_from(&x, far + 1));
	fetch_check(f, &x, far, 0);
	fetchahead_free(f);
	close(x.dfd);
}
END_TEST

static Suite *fs_suite(void)
{
	Suite *s = suite_create("fs");
	TCase *tc;

	tc = tcase_create("ino");
	tcase_add_test(tc, test_ino_layout);
	tcase_add_test(tc, test_ino_round_trip);
	tcase_add_test(tc, test_ino_distinct);
	tcase_add_test(tc, test_ino_limits);
	tcase_add_test(tc, test_ino_current);
	tcase_add_test(tc, test_ino_synthetic);
	tcase_add_test(tc, test_ino_root_and_invalid);
	suite_add_tcase(s, tc);

	tc = tcase_create("node");
	tcase_add_test(tc, test_node_ref_forget);
	tcase_add_test(tc, test_node_handle_copy);
	tcase_add_test(tc, test_node_listed);
	tcase_add_test(tc, test_node_many);
	suite_add_tcase(s, tc);

	tc = tcase_create("dir reply");
	tcase_add_test(tc, test_dir_reply_references);
	suite_add_tcase(s, tc);

	tc = tcase_create("fdcache");
	tcase_add_test(tc, test_fdcache_reuse);
	tcase_add_test(tc, test_fdcache_bounded);
	tcase_add_test(tc, test_fdcache_expire);
	tcase_add_test(tc, test_fdcache_threads);
	suite_add_tcase(s, tc);

	tc = tcase_create("bufpool");
	tcase_add_test(tc, test_bufpool_reuse);
	tcase_add_test(tc, test_bufpool_bounded);
	tcase_add_test(tc, test_bufpool_threads);
	suite_add_tcase(s, tc);

	tc = tcase_create("direct read");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_direct_read_buffered);
	tcase_add_test(tc, test_direct_read_direct);
	tcase_add_test(tc, test_direct_read_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("statpool");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_statpool_batch);
	tcase_add_test(tc, test_statpool_threads);
	suite_add_tcase(s, tc);

	tc = tcase_create("handle");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_handle_open);
	tcase_add_test(tc, test_target_listed);
	tcase_add_test(tc, test_target_path);
	suite_add_tcase(s, tc);

	tc = tcase_create("fetchahead");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_fetchahead_follows);
	tcase_add_test(tc, test_fetchahead_out_of_order);
	tcase_add_test(tc, test_fetchahead_passed);
	suite_add_tcase(s, tc);

	tc = tcase_create("passthrough");
	tcase_add_test(tc, test_passthrough_init_offers);
	tcase_add_test(tc, test_passthrough_amend_init);
	tcase_add_test(tc, test_passthrough_amend_open);
	tcase_add_test(tc, test_passthrough_ioctls);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fs_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
