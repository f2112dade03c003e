// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for manifests stored in the catalog (manifest-store.c), the
 * index walk (walk.c, index.c) of snapshots and of copies with their inode
 * maps, diff and verify of directories. Trees are made in a temporary
 * directory; the generation method is given its list of changed inodes by
 * the test, as the btrfs provider would.
 */
#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "catalog.h"
#include "fast-assert.h"

Suite *store_suite(void);

static char dir[PATH_MAX], db[PATH_MAX], tree[PATH_MAX], tree2[PATH_MAX];
static struct catalog *cat;

#define path_printf(buf, ...) \
	ck_assert_int_lt(snprintf(buf, sizeof(buf), __VA_ARGS__), (int)sizeof(buf))

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/stillfs-unit-store.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	path_printf(db, "%s/catalog.db", dir);
	path_printf(tree, "%s/tree", dir);
	path_printf(tree2, "%s/tree2", dir);
	ck_assert_int_eq(catalog_open(db, CATALOG_CREATE, &cat), 0);
}

static void teardown(void)
{
	catalog_free(cat);
	cat = NULL;
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_file(const char *root, const char *rel, const char *content)
{
	char p[PATH_MAX];
	FILE *f;

	path_printf(p, "%s/%s", root, rel);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(content, f);
	ck_assert_int_eq(fclose(f), 0);
}

static void make_dir(const char *root, const char *rel)
{
	char p[PATH_MAX];

	path_printf(p, "%s/%s", root, rel);
	ck_assert_int_eq(mkdir(p, 0755), 0);
}

/* A small tree: nested directories, files, a symlink, a hard link, an empty directory. */
static void make_tree(const char *root)
{
	char p[PATH_MAX], q[PATH_MAX];

	ck_assert_int_eq(mkdir(root, 0755), 0);
	make_dir(root, "a");
	make_dir(root, "a/b");
	make_dir(root, "a.b");
	make_dir(root, "empty");
	for (int i = 0; i < 30; i++) {
		char rel[64], content[64];

		snprintf(rel, sizeof(rel), "a/b/file%02d", i);
		snprintf(content, sizeof(content), "content of file %d\n", i);
		write_file(root, rel, content);
	}
	write_file(root, "a/x", "x\n");
	write_file(root, "a.b/y", "y\n");
	write_file(root, "top", "top\n");
	path_printf(p, "%s/link", root);
	ck_assert_int_eq(symlink("a/x", p), 0);
	path_printf(p, "%s/top", root);
	path_printf(q, "%s/hard", root);
	ck_assert_int_eq(link(p, q), 0);
}

static int64_t new_set_of(const char *provider)
{
	const struct catalog_volume_spec vol = { "/vol", "vol", provider, "/.stillfs", NULL };
	struct process_id owner;
	struct catalog_set *s = NULL;
	int64_t seq;

	ck_assert_int_eq(process_id_get(getpid(), &owner), 0);
	ck_assert_int_eq(catalog_set_begin(cat, NULL, &vol, 1, &owner, &s), 0);
	seq = s->seq;
	ck_assert_int_eq(catalog_set_update_state(cat, seq, CATALOG_SET_COMPLETE, NULL), 0);
	catalog_set_free(s);
	return seq;
}

static int64_t new_set(void)
{
	return new_set_of("btrfs");
}

static void index_tree(int64_t seq, const char *root, enum catalog_index_method method,
		       int64_t base, const struct u64set *changed, struct catalog_manifest *ret)
{
	struct catalog_index_options o = {
		.method = method,
		.base_set_seq = base,
		.changed = changed,
	};
	struct errbuf eb = { 0 };
	int r = catalog_index_volume(cat, seq, 0, root, &o, ret, &eb);

	ck_assert_msg(r == 0, "index of '%s' failed: %d %s", root, r, eb.msg);
}

/* Entries in a manifest, and every path found again by lookup. */
START_TEST(test_round_trip_and_find)
{
	struct catalog_manifest m;
	struct catalog_manifest_reader *r = NULL, *f = NULL;
	struct manifest_entry e, g;
	char prev[PATH_MAX] = "";
	size_t prev_len = 0;
	uint64_t n = 0, ord;
	int64_t seq;
	int k;

	make_tree(tree);
	seq = new_set();
	index_tree(seq, tree, CATALOG_INDEX_FULL, 0, NULL, &m);
	ck_assert(m.complete);
	/* root, a, a/b, 30 files, a/x, a.b, a.b/y, empty, hard, link, top */
	ck_assert_uint_eq(m.entries, 40);
	ck_assert_uint_eq(m.files, 34);
	ck_assert_uint_eq(m.read_files, 34);

	ck_assert_int_eq(catalog_manifest_reader_new(cat, seq, 0, &r), 0);
	ck_assert_int_eq(catalog_manifest_reader_new(cat, seq, 0, &f), 0);
	while ((k = catalog_manifest_reader_next(r, &e)) > 0) {
		if (n > 0)
			ck_assert_int_lt(manifest_path_cmp(prev, prev_len, e.path, e.path_len), 0);
		memcpy(prev, e.path, e.path_len);
		prev_len = e.path_len;
		ck_assert_uint_eq(catalog_manifest_reader_ordinal(r), n);
		ck_assert_int_eq(catalog_manifest_reader_find(f, prev, prev_len, &g, &ord), 1);
		ck_assert_uint_eq(ord, n);
		ck_assert_uint_eq(g.ino, e.ino);
		n++;
	}
	ck_assert_int_eq(k, 0);
	ck_assert_uint_eq(n, m.entries);
	ck_assert_int_eq(catalog_manifest_reader_find(f, "a/c", 3, &g, NULL), 0);
	ck_assert_int_eq(catalog_manifest_reader_find(f, "zzz", 3, &g, NULL), 0);
	ck_assert_int_eq(catalog_manifest_reader_find(f, "a/b/file", 8, &g, NULL), 0);
	ck_assert_int_eq(catalog_manifest_reader_find(f, "", 0, &g, NULL), 1);
	ck_assert_int_eq(g.type, MANIFEST_DIR);
	ck_assert_int_eq(catalog_manifest_reader_find(f, "link", 4, &g, NULL), 1);
	ck_assert_int_eq(g.type, MANIFEST_LNK);
	ck_assert_uint_eq(g.target_len, 3);
	ck_assert_int_eq(memcmp(g.target, "a/x", 3), 0);
	catalog_manifest_reader_free(r);
	catalog_manifest_reader_free(f);
	ck_assert_int_eq(catalog_manifest_check(cat, seq, 0, NULL), 0);

	/* a set's manifests go with it */
	ck_assert_int_eq(catalog_set_remove(cat, seq), 0);
	ck_assert_int_eq(catalog_manifest_get(cat, seq, 0, &m), -ENOENT);
	ck_assert_int_eq(catalog_manifest_check(cat, seq, 0, NULL), -ENOENT);
}
END_TEST

/* Many entries over many blocks, written and read back through the catalog. */
START_TEST(test_many_blocks)
{
	struct catalog_manifest_writer *w = NULL;
	struct catalog_manifest_reader *r = NULL;
	struct catalog_manifest_totals t = { 0 };
	struct catalog_manifest m;
	struct manifest_entry e;
	char path[64];
	int64_t seq = new_set();
	const uint64_t n = 20000;
	uint64_t i = 0;
	int k;

	ck_assert_int_eq(catalog_manifest_writer_new(cat, seq, 0, CATALOG_INDEX_FULL, 0, NULL, &w), 0);
	for (i = 0; i < n; i++) {
		e = (struct manifest_entry){ .type = MANIFEST_REG, .mode = 0644, .size = i, .ino = i + 256, .nlink = 1 };
		snprintf(path, sizeof(path), "d%03" PRIu64 "/file%08" PRIu64, i / 1000, i);
		e.path = path;
		e.path_len = strlen(path);
		e.flags = MANIFEST_HAS_CONTENT;
		memcpy(e.content, &i, sizeof(i));
		fast_assert_int_eq(catalog_manifest_writer_add(w, &e), 0);
	}
	ck_assert_int_eq(catalog_manifest_writer_finish(w, &t), 0);
	catalog_manifest_writer_free(w);
	ck_assert_int_eq(catalog_manifest_get(cat, seq, 0, &m), 0);
	ck_assert_uint_eq(m.entries, n);
	ck_assert_uint_gt(m.blocks, 10);

	ck_assert_int_eq(catalog_manifest_reader_new(cat, seq, 0, &r), 0);
	for (i = 0; (k = catalog_manifest_reader_next(r, &e)) > 0; i++) {
		uint64_t v;

		fast_assert_uint_eq(e.size, i);
		memcpy(&v, e.content, sizeof(v));
		fast_assert_uint_eq(v, i);
	}
	ck_assert_int_eq(k, 0);
	ck_assert_uint_eq(i, n);
	catalog_manifest_reader_free(r);
}
END_TEST

static void write_entries(int64_t seq, int n, struct catalog_manifest_writer **ret_unfinished)
{
	struct catalog_manifest_writer *w = NULL;
	struct catalog_manifest_totals t = { 0 };
	char path[32];

	ck_assert_int_eq(catalog_manifest_writer_new(cat, seq, 0, CATALOG_INDEX_FULL, 0, NULL, &w), 0);
	for (int i = 0; i < n; i++) {
		struct manifest_entry e = { .type = MANIFEST_DIR, .mode = 0755, .nlink = 1 };

		path[0] = 0;
		if (i)
			snprintf(path, sizeof(path), "d%04d", i);
		e.path = path;
		e.path_len = strlen(path);
		ck_assert_int_eq(catalog_manifest_writer_add(w, &e), 0);
	}
	if (ret_unfinished) {
		*ret_unfinished = w;
		return;
	}
	ck_assert_int_eq(catalog_manifest_writer_finish(w, &t), 0);
	catalog_manifest_writer_free(w);
}

/*
 * A manifest in progress is never read; the complete one it will replace
 * stays readable until it does; an unfinished writer leaves nothing.
 */
START_TEST(test_unfinished)
{
	struct catalog_manifest_writer *w = NULL, *w2 = NULL;
	struct catalog_manifest_reader *r = NULL;
	struct catalog_manifest m;
	int64_t seq = new_set();

	write_entries(seq, 1, &w);
	ck_assert_int_eq(catalog_manifest_get(cat, seq, 0, &m), -ENOENT);
	ck_assert_int_eq(catalog_manifest_reader_new(cat, seq, 0, &r), -ENOENT);
	/* one builder per volume at a time */
	ck_assert_int_eq(catalog_manifest_writer_new(cat, seq, 0, CATALOG_INDEX_FULL, 0, NULL, &w2),
			 -EBUSY);
	catalog_manifest_writer_free(w);
	ck_assert_int_eq(catalog_manifest_get(cat, seq, 0, &m), -ENOENT);

	write_entries(seq, 10, NULL);
	ck_assert_int_eq(catalog_manifest_get(cat, seq, 0, &m), 0);
	ck_assert_uint_eq(m.entries, 10);
	/* a second index in progress, then abandoned: the first stays whole */
	write_entries(seq, 20, &w);
	ck_assert_int_eq(catalog_manifest_check(cat, seq, 0, NULL), 0);
	ck_assert_int_eq(catalog_manifest_get(cat, seq, 0, &m), 0);
	ck_assert_uint_eq(m.entries, 10);
	catalog_manifest_writer_free(w);
	ck_assert_int_eq(catalog_manifest_check(cat, seq, 0, NULL), 0);
	/* finished, it takes the old one's place */
	write_entries(seq, 30, NULL);
	ck_assert_int_eq(catalog_manifest_get(cat, seq, 0, &m), 0);
	ck_assert_uint_eq(m.entries, 30);
	ck_assert_int_eq(catalog_manifest_check(cat, seq, 0, NULL), 0);
}
END_TEST

static void raw_exec(const char *sql);

/* A manifest in progress stays while its indexing process lives, and goes after. */
START_TEST(test_abandoned)
{
	struct catalog_manifest_writer *w = NULL;
	struct catalog_manifest m;
	unsigned removed = 99;
	int64_t seq = new_set();
	pid_t child;
	char sql[256];

	ck_assert_int_eq(catalog_manifest_writer_new(cat, seq, 0, CATALOG_INDEX_FULL, 0, NULL, &w), 0);
	ck_assert_int_eq(catalog_manifest_remove_abandoned(cat, &removed), 0);
	ck_assert_uint_eq(removed, 0);

	/* the same row, owned by a process that has exited */
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(child, NULL, 0), child);
	snprintf(sql, sizeof(sql), "UPDATE manifest SET owner_pid = %d", (int)child);
	raw_exec(sql);
	ck_assert_int_eq(catalog_manifest_remove_abandoned(cat, &removed), 0);
	ck_assert_uint_eq(removed, 1);
	ck_assert_int_eq(catalog_manifest_get(cat, seq, 0, &m), -ENOENT);
	catalog_manifest_writer_free(w);
	/* an abandoned build does not stand in the way of the next */
	write_entries(seq, 1, &w);
	snprintf(sql, sizeof(sql), "UPDATE manifest SET owner_pid = %d", (int)child);
	raw_exec(sql);
	write_entries(seq, 5, NULL);
	ck_assert_int_eq(catalog_manifest_get(cat, seq, 0, &m), 0);
	ck_assert_uint_eq(m.entries, 5);
	catalog_manifest_writer_free(w);
}
END_TEST

static void raw_exec(const char *sql)
{
	sqlite3 *h = NULL;

	ck_assert_int_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(h, 10000);
	ck_assert_msg(sqlite3_exec(h, sql, NULL, NULL, NULL) == SQLITE_OK, "%s: %s", sql,
		      sqlite3_errmsg(h));
	sqlite3_close(h);
}

static const char *const damages[] = {
	/* a flipped byte in the payload */
	"UPDATE manifest_block SET data = substr(data, 1, 40) || X'FF' || substr(data, 42)",
	/* a block gone, the count kept */
	"DELETE FROM manifest_block WHERE block = 0",
	/* a block gone with the count lowered: the whole's digest and entry count disagree */
	"DELETE FROM manifest_block WHERE block = (SELECT max(block) FROM manifest_block);"
	"UPDATE manifest SET blocks = blocks - 1",
	/* the digest of the whole */
	"UPDATE manifest SET digest = zeroblob(16)",
	/* the recorded count */
	"UPDATE manifest SET entries = entries + 1",
	/* a lookup key that does not name the block's first entry */
	"UPDATE manifest_block SET first_key = X'7A'",
	/* a block's data cut short */
	"UPDATE manifest_block SET data = substr(data, 1, length(data) - 3)",
	/* a block's first ordinal */
	"UPDATE manifest_block SET first_entry = first_entry + 1 WHERE block = 1",
	/* two blocks swapped */
	"UPDATE manifest_block SET block = -1 WHERE block = 0;"
	"UPDATE manifest_block SET block = 0 WHERE block = 1;"
	"UPDATE manifest_block SET block = 1 WHERE block = -1",
};

/* Each kind of damage is found by a whole read: -EBADMSG, never entries taken as good. */
START_TEST(test_damage_detected)
{
	struct catalog_manifest_writer *w = NULL;
	struct catalog_manifest_totals t = { 0 };
	struct manifest_entry e;
	char path[64], *damage = NULL;
	int64_t seq = new_set();

	ck_assert_int_eq(catalog_manifest_writer_new(cat, seq, 0, CATALOG_INDEX_FULL, 0, NULL, &w), 0);
	for (int i = 0; i < 5000; i++) {
		e = (struct manifest_entry){ .type = MANIFEST_REG, .mode = 0644, .ino = (uint64_t)i, .nlink = 1 };
		snprintf(path, sizeof(path), "file%08d", i);
		e.path = path;
		e.path_len = strlen(path);
		ck_assert_int_eq(catalog_manifest_writer_add(w, &e), 0);
	}
	ck_assert_int_eq(catalog_manifest_writer_finish(w, &t), 0);
	catalog_manifest_writer_free(w);
	ck_assert_int_eq(catalog_manifest_check(cat, seq, 0, NULL), 0);

	raw_exec(damages[_i]);
	ck_assert_int_eq(catalog_manifest_check(cat, seq, 0, &damage), -EBADMSG);
	ck_assert_ptr_nonnull(damage);
	free(damage);
}
END_TEST

static void touch_content(const char *root, const char *rel, const char *content)
{
	struct stat st;
	struct timespec ts[2];
	char p[PATH_MAX];

	path_printf(p, "%s/%s", root, rel);
	ck_assert_int_eq(stat(p, &st), 0);
	write_file(root, rel, content);
	/* mtime put back; ctime still moves */
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	ck_assert_int_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
}

static ino_t ino_of(const char *root, const char *rel)
{
	struct stat st;
	char p[PATH_MAX];

	path_printf(p, "%s/%s", root, rel);
	ck_assert_int_eq(lstat(p, &st), 0);
	return st.st_ino;
}

/* stat: only what changed is read; generation: only what the list names is looked at. */
START_TEST(test_incremental_methods)
{
	struct catalog_manifest m1, m2, m3, mf;
	struct u64set *changed = u64set_new();
	int64_t s1, s2, s3, s4;

	ck_assert_ptr_nonnull(changed);
	make_tree(tree);
	s1 = new_set();
	index_tree(s1, tree, CATALOG_INDEX_FULL, 0, NULL, &m1);
	ck_assert_uint_eq(m1.read_files, 34);

	/* same size, mtime put back: ctime tells */
	touch_content(tree, "a/b/file07", "CONTENT of file 7\n");
	write_file(tree, "a/new", "new\n");
	s2 = new_set();
	index_tree(s2, tree, CATALOG_INDEX_STAT, s1, NULL, &m2);
	ck_assert_uint_eq(m2.entries, m1.entries + 1);
	ck_assert_uint_eq(m2.read_files, 2);

	s4 = new_set();
	index_tree(s4, tree, CATALOG_INDEX_FULL, 0, NULL, &mf);
	ck_assert_mem_eq(m2.digest, mf.digest, MANIFEST_DIGEST_LEN);

	/* generation: the changed file and the directory that gained an entry */
	ck_assert_int_ge(u64set_add(changed, ino_of(tree, "a/b/file07")), 0);
	ck_assert_int_ge(u64set_add(changed, ino_of(tree, "a")), 0);
	ck_assert_int_ge(u64set_add(changed, ino_of(tree, "a/new")), 0);
	s3 = new_set();
	index_tree(s3, tree, CATALOG_INDEX_GENERATION, s1, changed, &m3);
	ck_assert_uint_eq(m3.read_files, 2);
	ck_assert_mem_eq(m3.digest, mf.digest, MANIFEST_DIGEST_LEN);
	ck_assert_uint_eq(m3.base_set_seq, s1);

	u64set_free(changed);
}
END_TEST

struct collected {
	char lines[64][160];
	int n;
};

static int collect_change(void *userdata, const struct catalog_change *ch)
{
	static const char *const kinds[] = { "added", "removed", "modified", "metadata", "renamed" };
	struct collected *c = userdata;
	char fields[96];

	ck_assert_int_lt(c->n, 64);
	catalog_fields_format(ch->fields, fields, sizeof(fields));
	snprintf(c->lines[c->n++], sizeof(c->lines[0]), "%s %.*s%s%.*s %s", kinds[ch->kind],
		 (int)ch->path_len, ch->path, ch->to ? " -> " : "", (int)ch->to_len,
		 ch->to ? ch->to : "", fields);
	return 0;
}

static bool has_line(const struct collected *c, const char *line)
{
	for (int i = 0; i < c->n; i++)
		if (streq(c->lines[i], line))
			return true;
	return false;
}

START_TEST(test_diff)
{
	struct catalog_manifest m1, m2;
	struct collected c = { 0 };
	struct errbuf eb = { 0 };
	char p[PATH_MAX], q[PATH_MAX];
	struct timespec keep[2];
	struct stat st;
	int64_t s1, s2;

	make_tree(tree);
	s1 = new_set();
	index_tree(s1, tree, CATALOG_INDEX_FULL, 0, NULL, &m1);

	/* directory mtimes are put back, so that only the named changes remain */
	path_printf(p, "%s/a/b", tree);
	ck_assert_int_eq(stat(p, &st), 0);
	keep[0] = st.st_atim;
	keep[1] = st.st_mtim;
	touch_content(tree, "a/b/file03", "CONTENT of file 3\n");
	path_printf(p, "%s/a/b/file04", tree);
	ck_assert_int_eq(chmod(p, 0600), 0);
	path_printf(p, "%s/a/b/file05", tree);
	ck_assert_int_eq(unlink(p), 0);
	path_printf(p, "%s/a/b/file06", tree);
	path_printf(q, "%s/a/b/moved06", tree);
	ck_assert_int_eq(rename(p, q), 0);
	path_printf(p, "%s/a/b", tree);
	path_printf(q, "%s/a/c", tree);
	ck_assert_int_eq(utimensat(AT_FDCWD, p, keep, 0), 0);
	path_printf(p, "%s/a", tree);
	ck_assert_int_eq(stat(p, &st), 0);
	keep[0] = st.st_atim;
	keep[1] = st.st_mtim;
	path_printf(p, "%s/a/b", tree);
	ck_assert_int_eq(rename(p, q), 0);
	path_printf(p, "%s/a", tree);
	ck_assert_int_eq(utimensat(AT_FDCWD, p, keep, 0), 0);

	s2 = new_set();
	index_tree(s2, tree, CATALOG_INDEX_STAT, s1, NULL, &m2);
	ck_assert_int_eq(catalog_diff_volume(cat, s1, 0, s2, 0, collect_change, &c, &eb), 0);
	for (int i = 0; i < c.n; i++)
		fprintf(stderr, "diff: %s\n", c.lines[i]);
	ck_assert(has_line(&c, "renamed a/b -> a/c "));
	ck_assert(has_line(&c, "renamed a/b/file06 -> a/c/moved06 "));
	ck_assert(has_line(&c, "removed a/b/file05 "));
	ck_assert(has_line(&c, "modified a/c/file03 content"));
	ck_assert(has_line(&c, "metadata a/c/file04 mode"));
	ck_assert_int_eq(c.n, 5);
}
END_TEST

struct problems {
	char lines[64][160];
	int n;
};

static int collect_problem(void *userdata, const struct catalog_problem *p)
{
	static const char *const kinds[] = { "missing", "extra", "content", "metadata" };
	struct problems *c = userdata;
	char fields[96];

	ck_assert_int_lt(c->n, 64);
	catalog_fields_format(p->fields, fields, sizeof(fields));
	snprintf(c->lines[c->n++], sizeof(c->lines[0]), "%s %.*s %s", kinds[p->kind],
		 (int)p->path_len, p->path, fields);
	return 0;
}

START_TEST(test_verify_dir)
{
	struct catalog_manifest m;
	struct problems c = { 0 };
	struct catalog_verify_volume v = { .vol_idx = 0, .copy_path = tree2, .prefix = "" };
	struct catalog_verify_options o = { .fn = collect_problem, .userdata = &c };
	struct catalog_verify_stats st;
	struct errbuf eb = { 0 };
	char cmd[3 * PATH_MAX], p[PATH_MAX];
	int64_t s1;

	make_tree(tree);
	s1 = new_set();
	index_tree(s1, tree, CATALOG_INDEX_FULL, 0, NULL, &m);
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", tree, tree2);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(catalog_verify_dir(cat, s1, &v, 1, &o, &st, &eb), 0);
	ck_assert_int_eq(c.n, 0);
	ck_assert_uint_eq(st.checked, m.entries);

	touch_content(tree2, "a/x", "X\n");
	path_printf(p, "%s/a.b/y", tree2);
	ck_assert_int_eq(unlink(p), 0);
	write_file(tree2, "extra", "extra\n");
	path_printf(p, "%s/top", tree2);
	ck_assert_int_eq(chmod(p, 0600), 0);
	ck_assert_int_eq(catalog_verify_dir(cat, s1, &v, 1, &o, &st, &eb), 0);
	for (int i = 0; i < c.n; i++)
		fprintf(stderr, "verify: %s\n", c.lines[i]);
	ck_assert(has_line((struct collected *)&c, "content a/x content"));
	ck_assert(has_line((struct collected *)&c, "missing a.b/y "));
	ck_assert(has_line((struct collected *)&c, "extra extra "));
	/* top and hard are one file: both names show the mode */
	ck_assert(has_line((struct collected *)&c, "metadata top mode"));
	ck_assert(has_line((struct collected *)&c, "metadata hard mode"));
	/* a.b lost an entry, the copy's root gained one: their mtimes */
	ck_assert(has_line((struct collected *)&c, "metadata a.b mtime"));
	ck_assert(has_line((struct collected *)&c, "metadata . mtime") ||
		  has_line((struct collected *)&c, "metadata  mtime"));
	ck_assert_int_eq(c.n, 7);
	ck_assert_uint_eq(st.missing, 1);
	ck_assert_uint_eq(st.extra, 1);
	ck_assert_uint_eq(st.content, 1);
	ck_assert_uint_eq(st.metadata, 4);

	c.n = 0;
	o.ignore = CATALOG_FIELD_MODE | CATALOG_FIELD_MTIME;
	ck_assert_int_eq(catalog_verify_dir(cat, s1, &v, 1, &o, &st, &eb), 0);
	ck_assert_int_eq(c.n, 3);
}
END_TEST

/*
 * A copy's inode map (see inomap.h), made by walking the copy: every file's
 * original number is its own plus MAP_INO_OFFSET, its ctime and link count
 * made up too, so that an index that ignored the map could not match.
 */
#define MAP_INO_OFFSET UINT64_C(1000000000)
static struct inomap_writer *map_writer;
static const char *map_skip;    /* a path left out of the map */
static const char *map_touched; /* a path whose original ctime differs */

static struct inomap_record map_record_of(const char *path, const struct stat *st)
{
	return (struct inomap_record){
		.copy_ino = (uint64_t)st->st_ino,
		.ino = (uint64_t)st->st_ino + MAP_INO_OFFSET,
		.ctime_sec = 1000000 + (int64_t)st->st_ino +
			     (map_touched && streq(path, map_touched) ? 1 : 0),
		.ctime_nsec = (uint32_t)(st->st_ino % 1000),
		.nlink = (uint32_t)st->st_nlink + 100,
	};
}

static int map_add(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	struct inomap_record r = map_record_of(path, st);

	if (map_skip && streq(path, map_skip))
		return 0;
	/* hard links are met once per name: the same record twice */
	ck_assert_int_eq(inomap_writer_add(map_writer, &r), 0);
	return 0;
}

static void make_map(const char *container, const char *copy)
{
	int dfd = open(container, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	ck_assert_int_ge(dfd, 0);
	ck_assert_int_eq(inomap_writer_new(&map_writer), 0);
	ck_assert_int_eq(nftw(copy, map_add, 16, FTW_PHYS), 0);
	ck_assert_int_eq(inomap_writer_commit(map_writer, dfd, INOMAP_FILE), 0);
	inomap_writer_free(map_writer);
	map_writer = NULL;
	close(dfd);
}

static int index_copy(int64_t seq, const char *root, enum catalog_index_method method,
		      int64_t base, struct catalog_manifest *ret, struct errbuf *eb)
{
	struct catalog_index_options o = { .method = method, .base_set_seq = base };

	return catalog_index_volume(cat, seq, 0, root, &o, ret, eb);
}

/* The index of a copy records the original's identity, from the map beside it. */
START_TEST(test_index_copy)
{
	char container[PATH_MAX], copy[PATH_MAX], p[PATH_MAX + 64], skip[PATH_MAX + 64];
	struct catalog_manifest m1, m2;
	struct catalog_manifest_reader *r = NULL;
	struct manifest_entry e;
	struct errbuf eb = { 0 };
	uint64_t n = 0;
	int64_t s1, s2;
	int k;

	path_printf(container, "%s/c", dir);
	path_printf(copy, "%s/c/" INOMAP_TREE, dir);
	ck_assert_int_eq(mkdir(container, 0755), 0);
	make_tree(copy);
	make_map(container, copy);

	s1 = new_set_of("copy");
	k = index_copy(s1, copy, CATALOG_INDEX_FULL, 0, &m1, &eb);
	ck_assert_msg(k == 0, "index of the copy failed: %d %s", k, eb.msg);
	ck_assert_uint_eq(m1.entries, 40);
	ck_assert_int_eq(catalog_manifest_reader_new(cat, s1, 0, &r), 0);
	while ((k = catalog_manifest_reader_next(r, &e)) > 0) {
		struct inomap_record want;
		struct stat st;

		snprintf(p, sizeof(p), "%s%s%.*s", copy, e.path_len ? "/" : "", (int)e.path_len,
			 e.path);
		ck_assert_int_eq(lstat(p, &st), 0);
		want = map_record_of(p, &st);
		ck_assert_uint_eq(e.ino, want.ino);
		ck_assert_int_eq(e.ctime_sec, want.ctime_sec);
		ck_assert_uint_eq(e.ctime_nsec, want.ctime_nsec);
		ck_assert_uint_eq(e.nlink, want.nlink);
		/* what the copy keeps is recorded as it is */
		ck_assert_int_eq(e.mtime_sec, st.st_mtim.tv_sec);
		ck_assert_uint_eq(e.mode & 07777, st.st_mode & 07777);
		n++;
	}
	ck_assert_int_eq(k, 0);
	ck_assert_uint_eq(n, 40);
	catalog_manifest_reader_free(r);

	/* stat compares the original's ctimes: one changed, one file read again */
	snprintf(p, sizeof(p), "%s/a/x", copy);
	map_touched = p;
	make_map(container, copy);
	map_touched = NULL;
	s2 = new_set_of("copy");
	k = index_copy(s2, copy, CATALOG_INDEX_STAT, s1, &m2, &eb);
	ck_assert_msg(k == 0, "incremental index of the copy failed: %d %s", k, eb.msg);
	ck_assert_uint_eq(m2.entries, 40);
	ck_assert_uint_eq(m2.read_files, 1);

	/* a file missing from the map fails the index, naming it */
	snprintf(skip, sizeof(skip), "%s/a/b/file03", copy);
	map_skip = skip;
	make_map(container, copy);
	map_skip = NULL;
	eb.msg[0] = 0;
	k = index_copy(new_set_of("copy"), copy, CATALOG_INDEX_FULL, 0, &m2, &eb);
	ck_assert_int_eq(k, -EIO);
	ck_assert_msg(strstr(eb.msg, "a/b/file03") && strstr(eb.msg, "inode map"), "%s", eb.msg);

	/* no map: no index */
	snprintf(p, sizeof(p), "%s/" INOMAP_FILE, container);
	ck_assert_int_eq(unlink(p), 0);
	eb.msg[0] = 0;
	k = index_copy(new_set_of("copy"), copy, CATALOG_INDEX_FULL, 0, &m2, &eb);
	ck_assert_int_eq(k, -ENOENT);
	ck_assert_msg(strstr(eb.msg, "inode map"), "%s", eb.msg);

	/* a damaged map: refused, and not as a damaged base (-EBADMSG) */
	write_file(container, INOMAP_FILE, "not a map");
	eb.msg[0] = 0;
	k = index_copy(new_set_of("copy"), copy, CATALOG_INDEX_FULL, 0, &m2, &eb);
	ck_assert_int_eq(k, -EIO);
	ck_assert_msg(strstr(eb.msg, "damaged"), "%s", eb.msg);

	/* another provider's tree is recorded as it is, whatever lies beside it */
	s2 = new_set();
	k = index_copy(s2, copy, CATALOG_INDEX_FULL, 0, &m2, &eb);
	ck_assert_msg(k == 0, "index failed: %d %s", k, eb.msg);
	ck_assert_int_eq(catalog_manifest_reader_new(cat, s2, 0, &r), 0);
	ck_assert_int_eq(catalog_manifest_reader_next(r, &e), 1);
	ck_assert_uint_eq(e.path_len, 0);
	ck_assert_uint_eq(e.ino, ino_of(copy, "."));
	catalog_manifest_reader_free(r);
}
END_TEST

/* Large files are read by a second thread: the digest is the same as in one piece. */
START_TEST(test_hasher_sizes)
{
	static const size_t sizes[] = { 0, 1, 1048575, 1048576, 1048577, 2097152, 5767169, 4194304 };
	struct manifest_hasher *h = NULL;
	size_t max = 5767169;
	unsigned char *data = malloc(max);
	char p[PATH_MAX];

	ck_assert_ptr_nonnull(data);
	for (size_t i = 0; i < max; i++)
		data[i] = (unsigned char)(i * 2654435761u >> 13);
	ck_assert_int_eq(manifest_hasher_new(&h), 0);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		uint8_t got[MANIFEST_DIGEST_LEN];
		XXH128_canonical_t want;
		uint64_t n = 0;
		FILE *f;
		int fd;

		path_printf(p, "%s/data%zu", dir, k);
		f = fopen(p, "w");
		ck_assert_ptr_nonnull(f);
		ck_assert_uint_eq(fwrite(data, 1, sizes[k], f), sizes[k]);
		ck_assert_int_eq(fclose(f), 0);
		fd = open(p, O_RDONLY | O_CLOEXEC);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(manifest_hasher_fd(h, fd, got, &n), 0);
		close(fd);
		ck_assert_uint_eq(n, sizes[k]);
		XXH128_canonicalFromHash(&want, XXH3_128bits(data, sizes[k]));
		ck_assert_mem_eq(got, want.digest, MANIFEST_DIGEST_LEN);
	}
	/* a descriptor that cannot be read: the error, and the hasher still works */
	{
		uint8_t got[MANIFEST_DIGEST_LEN];
		int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(manifest_hasher_fd(h, fd, got, NULL), -EISDIR);
		close(fd);
	}
	manifest_hasher_free(h);
	free(data);
}
END_TEST

START_TEST(test_fields)
{
	unsigned f;
	char buf[96];

	ck_assert_int_eq(catalog_fields_parse("owner,group,xattrs", &f), 0);
	ck_assert_uint_eq(f, CATALOG_FIELD_OWNER | CATALOG_FIELD_GROUP | CATALOG_FIELD_XATTRS);
	catalog_fields_format(f, buf, sizeof(buf));
	ck_assert_str_eq(buf, "owner,group,xattrs");
	ck_assert_int_eq(catalog_fields_parse("owner,atime", &f), -EINVAL);
	ck_assert_int_eq(catalog_fields_parse("", &f), -EINVAL);
	ck_assert_str_eq(catalog_field_name(CATALOG_FIELD_LINKS), "links");
}
END_TEST

Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("manifests");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_round_trip_and_find);
	tcase_add_test(tc, test_many_blocks);
	tcase_add_test(tc, test_unfinished);
	tcase_add_test(tc, test_abandoned);
	tcase_add_loop_test(tc, test_damage_detected, 0, (int)(sizeof(damages) / sizeof(damages[0])));
	tcase_add_test(tc, test_incremental_methods);
	tcase_add_test(tc, test_diff);
	tcase_add_test(tc, test_verify_dir);
	tcase_add_test(tc, test_index_copy);
	tcase_add_test(tc, test_fields);
	tcase_add_test(tc, test_hasher_sizes);
	suite_add_tcase(s, tc);
	return s;
}
