// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for catalog/: opening and creating catalogs, the life of a set,
 * lookups, and what happens with files that are not (or no longer) catalogs.
 * Each test works in its own temporary directory. Where a test needs a state
 * the API cannot make (two ids sharing a prefix, a corrupt row), it edits the
 * database with SQLite directly.
 */
#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog.h"

#define NSEC INT64_C(1000000000)
#define ALL_STATES ((1u << _CATALOG_SET_STATE_MAX) - 1)

static char dir[PATH_MAX];
static char db[PATH_MAX];
static struct process_id owner;
/* seconds handed out by begin_set() so that sets need not wait for the clock */
static int64_t next_past;

static const struct catalog_volume_spec vols[] = {
	{"/srv", "srv", "btrfs", "/srv/.stillfs", NULL},
	{"/var/lib/postgresql", "var-lib-postgresql", "btrfs", "/var/lib/.stillfs",
	 "5d7d4c3e-0f3e-4f7c-9a53-2c8e6a1b9d01"},
};

static const struct catalog_volume_spec other_vols[] = {
	{"/home", "home", "btrfs", "/home/.stillfs", NULL},
};

/* snprintf() that fails the test instead of cutting a path short */
#define path_printf(buf, ...)                                                                      \
	ck_assert_int_lt(snprintf(buf, sizeof(buf), __VA_ARGS__), (int)sizeof(buf))

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/stillfs-unit-catalog.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	path_printf(db, "%s/catalog.db", dir);
	ck_assert_int_eq(process_id_get(getpid(), &owner), 0);
	next_past = 0;
}

static void teardown(void)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* --- direct access to the database, for states the API cannot make --- */

static sqlite3 *raw_open(void)
{
	sqlite3 *h = NULL;

	ck_assert_int_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(h, 10000);
	return h;
}

static void raw_exec(const char *fmt, ...)
{
	sqlite3 *h = raw_open();
	char *sql, *err = NULL;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	sql = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	ck_assert_ptr_nonnull(sql);
	rc = sqlite3_exec(h, sql, NULL, NULL, &err);
	ck_assert_msg(rc == SQLITE_OK, "'%s' failed: %s", sql, err ? err : "?");
	sqlite3_free(sql);
	sqlite3_close(h);
}

static int64_t raw_int(const char *sql)
{
	sqlite3 *h = raw_open();
	sqlite3_stmt *st = NULL;
	int64_t v;

	ck_assert_int_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

/* Returns the first column of the first row as a string; free() it. */
static char *raw_text(const char *sql)
{
	sqlite3 *h = raw_open();
	sqlite3_stmt *st = NULL;
	const unsigned char *t;
	char *v;

	ck_assert_int_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	t = sqlite3_column_text(st, 0);
	ck_assert_ptr_nonnull(t);
	v = strdup((const char *)t);
	ck_assert_ptr_nonnull(v);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

/* Makes a plain SQLite database at db (rollback journal, as most programs leave it). */
static void raw_create(const char *sql)
{
	sqlite3 *h = NULL;
	char *err = NULL;
	int rc;

	ck_assert_int_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
			 SQLITE_OK);
	rc = sqlite3_exec(h, sql, NULL, NULL, &err);
	ck_assert_msg(rc == SQLITE_OK, "'%s' failed: %s", sql, err ? err : "?");
	sqlite3_close(h);
}

/* --- files --- */

static void *read_all(const char *path, size_t *ret_len)
{
	struct stat st;
	unsigned char *buf;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*ret_len = (size_t)st.st_size;
	return buf;
}

static void write_all(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* Size of the file beside db with this suffix ("-wal"), or -1 when there is none. */
static off_t side_size(const char *suffix)
{
	char p[PATH_MAX];
	struct stat st;

	path_printf(p, "%s%s", db, suffix);
	return stat(p, &st) == 0 ? st.st_size : -1;
}

static bool side_exists(const char *suffix)
{
	return side_size(suffix) >= 0;
}

/*
 * Opens db in every mode, expecting `expected` (or `also`) each time, and
 * checks that the file keeps its bytes and gains no journal with content
 * beside it. (A read-only SQLite connection to a database in WAL mode leaves
 * an empty -wal file and a -shm index behind, as every reader may.)
 */
static void assert_open_refused_unchanged(int expected, int also)
{
	static const unsigned flags[] = {0, CATALOG_CREATE, CATALOG_READONLY};
	size_t len_before, len_after;
	void *before = read_all(db, &len_before), *after;

	for (size_t i = 0; i < ARRAY_SIZE(flags); i++) {
		struct catalog *c = NULL;
		int r = catalog_open(db, flags[i], &c);

		if (r != also)
			ck_assert_int_eq(r, expected);
		ck_assert_ptr_null(c);
	}
	after = read_all(db, &len_after);
	ck_assert_uint_eq(len_after, len_before);
	ck_assert_msg(memcmp(before, after, len_before) == 0, "the file was modified");
	ck_assert_int_le(side_size("-wal"), 0);
	ck_assert_msg(!side_exists("-journal"), "a -journal file was left beside it");
	free(before);
	free(after);
}

static void assert_open_fails_unchanged(int expected)
{
	assert_open_refused_unchanged(expected, expected);
}

/* --- catalog helpers --- */

static struct catalog *open_new(void)
{
	struct catalog *c = NULL;

	ck_assert_int_eq(catalog_open(db, CATALOG_CREATE, &c), 0);
	ck_assert_ptr_nonnull(c);
	return c;
}

static struct catalog *open_flags(unsigned flags)
{
	struct catalog *c = NULL;

	ck_assert_int_eq(catalog_open(db, flags, &c), 0);
	ck_assert_ptr_nonnull(c);
	return c;
}

/*
 * Begins a set and moves it to a past second of its own, so that the next
 * set begun in this second need not wait for the clock (the tests of that
 * wait begin their sets with catalog_set_begin() directly).
 */
static struct catalog_set *begin_set_vols(struct catalog *c, const char *label,
					  const struct catalog_volume_spec *v, size_t n)
{
	struct catalog_set *s = NULL;
	int64_t sec = 1577836800 + 3600 * next_past++;
	char tok[GMT_TOKEN_LEN];

	ck_assert_int_eq(catalog_set_begin(c, label, v, n, &owner, &s), 0);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(gmt_token_format((time_t)sec, tok, sizeof(tok)), 0);
	raw_exec("UPDATE snapshot_set SET token = %Q, created_ns = %lld WHERE seq = %lld", tok,
		 (long long)(sec * NSEC), (long long)s->seq);
	strcpy(s->token, tok);
	s->created_ns = sec * NSEC;
	return s;
}

static struct catalog_set *begin_set(struct catalog *c, const char *label)
{
	return begin_set_vols(c, label, vols, ARRAY_SIZE(vols));
}

static bool is_lower_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static void assert_str_or_null(const char *got, const char *expected)
{
	if (!expected)
		ck_assert_ptr_null(got);
	else
		ck_assert_str_eq(got, expected);
}

static void assert_set_eq(const struct catalog_set *a, const struct catalog_set *b)
{
	ck_assert_int_eq(a->seq, b->seq);
	ck_assert_str_eq(a->id, b->id);
	ck_assert_int_eq(a->created_ns, b->created_ns);
	ck_assert_str_eq(a->token, b->token);
	assert_str_or_null(a->label, b->label);
	ck_assert_int_eq(a->state, b->state);
	assert_str_or_null(a->reason, b->reason);
	ck_assert_int_eq(a->owner.pid, b->owner.pid);
	ck_assert_uint_eq(a->owner.start_time, b->owner.start_time);
	ck_assert_str_eq(a->owner.boot_id, b->owner.boot_id);
	ck_assert_int_eq(a->completed_ns, b->completed_ns);
	ck_assert_uint_eq(a->n_volumes, b->n_volumes);
	for (size_t i = 0; i < a->n_volumes; i++) {
		const struct catalog_volume *x = &a->volumes[i], *y = &b->volumes[i];

		ck_assert_uint_eq(x->index, y->index);
		ck_assert_int_eq(x->volume_key, y->volume_key);
		ck_assert_str_eq(x->path, y->path);
		ck_assert_str_eq(x->name, y->name);
		ck_assert_str_eq(x->provider, y->provider);
		ck_assert_str_eq(x->storage, y->storage);
		assert_str_or_null(x->snapshot, y->snapshot);
		assert_str_or_null(x->origin_uuid, y->origin_uuid);
		assert_str_or_null(x->snapshot_uuid, y->snapshot_uuid);
	}
	ck_assert_uint_eq(a->n_problems, b->n_problems);
	for (size_t i = 0; i < a->n_problems; i++) {
		ck_assert_uint_eq(a->problems[i].volume, b->problems[i].volume);
		ck_assert_str_eq(a->problems[i].path, b->problems[i].path);
		ck_assert_str_eq(a->problems[i].what, b->problems[i].what);
	}
}

static struct catalog_set *get_ok(struct catalog *c, const char *key)
{
	struct catalog_set *s = NULL;

	ck_assert_int_eq(catalog_set_get(c, key, &s), 0);
	ck_assert_ptr_nonnull(s);
	return s;
}

static void assert_get_fails(struct catalog *c, const char *key, int expected)
{
	struct catalog_set *s = NULL;

	ck_assert_int_eq(catalog_set_get(c, key, &s), expected);
	ck_assert_ptr_null(s);
}

static size_t list_count(struct catalog *c, unsigned mask)
{
	struct catalog_set **sets = NULL;
	size_t n = 0;

	ck_assert_int_eq(catalog_set_list(c, mask, &sets, &n), 0);
	catalog_sets_free(sets, n);
	return n;
}

/* --- opening and creating --- */

START_TEST(test_create_and_reopen)
{
	struct catalog *c;
	struct stat st;
	char uuid[37];

	c = open_new();
	ck_assert_int_eq(strlen(catalog_uuid(c)), 36);
	strcpy(uuid, catalog_uuid(c));
	catalog_free(c);

	ck_assert_int_eq(stat(db, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);

	c = open_flags(0);
	ck_assert_str_eq(catalog_uuid(c), uuid);
	catalog_free(c);

	/* CREATE on an existing catalog opens it */
	c = open_new();
	ck_assert_str_eq(catalog_uuid(c), uuid);
	catalog_free(c);
	catalog_free(NULL);
}
END_TEST

START_TEST(test_create_makes_directory)
{
	struct catalog *c = NULL;
	char sub[PATH_MAX];
	struct stat st;

	path_printf(sub, "%s/a/b", dir);
	path_printf(db, "%s/catalog.db", sub);
	ck_assert_int_eq(catalog_open(db, 0, &c), -ENOENT);
	ck_assert(!exists(sub));

	c = open_new();
	catalog_free(c);
	ck_assert_int_eq(stat(sub, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(st.st_mode & 07777, 0700);
}
END_TEST

START_TEST(test_open_missing)
{
	struct catalog *c = NULL;

	ck_assert_int_eq(catalog_open(db, 0, &c), -ENOENT);
	ck_assert_ptr_null(c);
	ck_assert(!exists(db));
	ck_assert_int_eq(catalog_open(db, CATALOG_READONLY, &c), -ENOENT);
	ck_assert_ptr_null(c);
	ck_assert(!exists(db));
	ck_assert(!side_exists("-wal"));
	ck_assert(!side_exists("-shm"));
	ck_assert(!side_exists("-journal"));
}
END_TEST

START_TEST(test_open_directory)
{
	struct catalog *c = NULL;

	ck_assert_int_eq(mkdir(db, 0700), 0);
	ck_assert_int_eq(catalog_open(db, CATALOG_CREATE, &c), -EISDIR);
	ck_assert_ptr_null(c);
}
END_TEST

START_TEST(test_readonly)
{
	struct catalog *c, *ro;
	struct catalog_set *s, *got, *fresh = NULL;
	struct catalog_set **sets = NULL;
	char **paths = NULL;
	size_t n = 0;
	int r;

	c = open_new();
	s = begin_set(c, "before");
	catalog_free(c);

	ro = open_flags(CATALOG_READONLY);
	got = get_ok(ro, s->id);
	assert_set_eq(got, s);
	catalog_set_free(got);
	ck_assert_int_eq(catalog_set_list(ro, ALL_STATES, &sets, &n), 0);
	ck_assert_uint_eq(n, 1);
	catalog_sets_free(sets, n);

	/* writing through a read-only handle fails and changes nothing */
	r = catalog_set_begin(ro, NULL, vols, ARRAY_SIZE(vols), &owner, &fresh);
	ck_assert_int_eq(r, -EROFS);
	ck_assert_ptr_null(fresh);
	ck_assert_int_eq(catalog_set_update_state(ro, s->seq, CATALOG_SET_COMPLETE, NULL), -EROFS);
	ck_assert_int_eq(catalog_set_remove(ro, s->seq), -EROFS);
	ck_assert_int_eq(catalog_storage_add(ro, "/srv/.stillfs", "btrfs"), -EROFS);
	ck_assert_int_eq(catalog_storage_list(ro, &paths), 0);
	ck_assert_ptr_null(paths[0]);
	free(paths);
	catalog_free(ro);

	c = open_flags(0);
	got = get_ok(c, s->id);
	assert_set_eq(got, s);
	ck_assert_uint_eq(list_count(c, ALL_STATES), 1);
	catalog_set_free(got);
	catalog_free(c);
	catalog_set_free(s);
}
END_TEST

/* Reads a whole fixture file into memory; free() it. */
static char *fixture(const char *name)
{
	char path[PATH_MAX];
	char *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", STILLFS_FIXTURES, name);
	f = fopen(path, "re");
	ck_assert_msg(f != NULL, "cannot open fixture '%s'", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(fread(buf, 1, (size_t)n, f), n);
	fclose(f);
	return buf;
}

START_TEST(test_migrate_from_v1)
{
	struct catalog *c = NULL;
	struct catalog_set *s = NULL;
	char *sql = fixture("catalog-v1.sql");

	/* a catalog as the first stillfs left it, with one complete set */
	raw_create(sql);
	free(sql);
	ck_assert_int_eq(raw_int("PRAGMA user_version"), 1);

	/* even a reader brings it up to date, once, and keeps every set */
	ck_assert_int_eq(catalog_open(db, CATALOG_READONLY, &c), 0);
	ck_assert_int_eq(raw_int("PRAGMA user_version"), CATALOG_SCHEMA_VERSION);
	ck_assert_str_eq(catalog_uuid(c), "11111111-2222-4333-8444-555555555555");
	ck_assert_int_eq(catalog_set_get(c, "0123abcd", &s), 0);
	ck_assert_int_eq(s->state, CATALOG_SET_COMPLETE);
	ck_assert_str_eq(s->label, "old");
	ck_assert_str_eq(s->volumes[0].path, "/srv");
	/* what older versions did not record reads as not recorded */
	ck_assert_ptr_null(s->consistency);
	ck_assert_int_eq(s->hold_ns, -1);
	ck_assert_uint_eq(s->n_writers, 0);
	catalog_set_free(s);
	catalog_free(c);

	/* and a writer can use it as any other */
	ck_assert_int_eq(catalog_open(db, 0, &c), 0);
	ck_assert_int_eq(catalog_pin_set(c, "/run/view", 1), 0);
	catalog_free(c);
}
END_TEST

START_TEST(test_migrate_from_v4)
{
	static const struct catalog_set_problem late[] = {
		{1, "base/16384/2619", "kept changing while copied under a shared lock"},
	};
	struct catalog *c = NULL;
	struct catalog_set *s = NULL, **sets = NULL;
	const struct catalog_writer *w;
	int64_t pin_seq = 0, pinned_ns = 0;
	struct process_id lease;
	char *sql = fixture("catalog-v4.sql");
	size_t n = 0;

	/* a catalog of the last release without problems: a set with a run, a failed one */
	raw_create(sql);
	free(sql);
	ck_assert_int_eq(raw_int("PRAGMA user_version"), 4);

	ck_assert_int_eq(catalog_open(db, CATALOG_READONLY, &c), 0);
	ck_assert_int_eq(raw_int("PRAGMA user_version"), CATALOG_SCHEMA_VERSION);
	ck_assert_str_eq(catalog_uuid(c), "11111111-2222-4333-8444-555555555555");
	ck_assert_int_eq(catalog_set_list(c, ALL_STATES, &sets, &n), 0);
	ck_assert_uint_eq(n, 2);

	s = sets[0];
	ck_assert_str_eq(s->id, "0123abcd");
	ck_assert_int_eq(s->state, CATALOG_SET_COMPLETE);
	ck_assert_str_eq(s->label, "nightly");
	ck_assert_int_eq(s->completed_ns, INT64_C(1795316800100000000));
	ck_assert_uint_eq(s->n_volumes, 2);
	ck_assert_str_eq(s->volumes[0].path, "/srv");
	ck_assert_str_eq(s->volumes[1].path, "/var/lib/postgresql");
	ck_assert_str_eq(s->volumes[1].snapshot_uuid, "s2");
	ck_assert_str_eq(s->consistency, "application");
	ck_assert_int_eq(s->hold_ns, 2500000);
	ck_assert_uint_eq(s->n_holds, 1);
	ck_assert_str_eq(s->holds[0], "/system.slice/postgresql.service");
	ck_assert_uint_eq(s->n_writers, 1);
	w = &s->writers[0];
	ck_assert_str_eq(w->name, "postgres");
	ck_assert_uint_eq(w->n_phases, 3);
	ck_assert_str_eq(w->phases[1].phase, "freeze");
	ck_assert_str_eq(w->phases[1].message, "checkpoint done");
	/* a set older than problems has none */
	ck_assert_uint_eq(s->n_problems, 0);
	ck_assert_ptr_null(s->problems);

	s = sets[1];
	ck_assert_str_eq(s->id, "4567cdef");
	ck_assert_int_eq(s->state, CATALOG_SET_FAILED);
	ck_assert_str_eq(s->reason, "writer 'postgres' timed out at freeze");
	ck_assert_ptr_null(s->consistency);
	ck_assert_uint_eq(s->n_problems, 0);
	catalog_sets_free(sets, n);

	ck_assert_int_eq(catalog_pin_get(c, "/run/stillfs/view", &pin_seq, &pinned_ns), 0);
	ck_assert_int_eq(pin_seq, 1);
	ck_assert_int_eq(catalog_lease_get(c, 2, &lease), 0);
	ck_assert_int_eq(lease.pid, 2);
	catalog_free(c);

	/* a writer records problems of an old set, and they go with it */
	ck_assert_int_eq(catalog_open(db, 0, &c), 0);
	ck_assert_int_eq(catalog_set_add_problems(c, 1, late, ARRAY_SIZE(late)), 0);
	s = get_ok(c, "0123abcd");
	ck_assert_uint_eq(s->n_problems, 1);
	ck_assert_uint_eq(s->problems[0].volume, 1);
	ck_assert_str_eq(s->problems[0].path, "base/16384/2619");
	catalog_set_free(s);
	ck_assert_int_eq(catalog_set_remove(c, 1), 0);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM set_problem"), 0);
	catalog_free(c);
}
END_TEST

START_TEST(test_fresh_schema)
{
	struct catalog *c, *other;
	char *app, *uuid, *mode, other_db[PATH_MAX];
	char saved[PATH_MAX];

	c = open_new();
	ck_assert_int_eq(raw_int("PRAGMA user_version"), CATALOG_SCHEMA_VERSION);
	app = raw_text("SELECT value FROM meta WHERE key = 'application'");
	ck_assert_str_eq(app, "stillfs");
	uuid = raw_text("SELECT value FROM meta WHERE key = 'uuid'");
	ck_assert_str_eq(uuid, catalog_uuid(c));
	/* a random (version 4, RFC 4122 variant) UUID in lowercase text */
	ck_assert_int_eq(strlen(uuid), 36);
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			ck_assert_int_eq(uuid[i], '-');
		else
			ck_assert_msg(is_lower_hex((char[]){uuid[i], 0}, 1), "uuid '%s'", uuid);
	}
	ck_assert_int_eq(uuid[14], '4');
	ck_assert_ptr_nonnull(strchr("89ab", uuid[19]));
	mode = raw_text("PRAGMA journal_mode");
	ck_assert_str_eq(mode, "wal");

	/* another catalog has another identity */
	strcpy(saved, db);
	path_printf(other_db, "%s/other.db", dir);
	strcpy(db, other_db);
	other = open_new();
	ck_assert_str_ne(catalog_uuid(other), catalog_uuid(c));
	catalog_free(other);
	strcpy(db, saved);

	free(app);
	free(uuid);
	free(mode);
	catalog_free(c);
}
END_TEST

/* --- sets --- */

START_TEST(test_state_names)
{
	enum catalog_set_state st;

	for (unsigned i = 0; i < _CATALOG_SET_STATE_MAX; i++) {
		const char *name = catalog_set_state_to_string((enum catalog_set_state)i);

		ck_assert_ptr_nonnull(name);
		ck_assert_int_eq(catalog_set_state_from_string(name, &st), 0);
		ck_assert_int_eq(st, i);
	}
	ck_assert_str_eq(catalog_set_state_to_string(CATALOG_SET_COMPLETE), "complete");
	ck_assert_ptr_null(catalog_set_state_to_string(_CATALOG_SET_STATE_MAX));
	ck_assert_ptr_null(catalog_set_state_to_string((enum catalog_set_state) - 1));
	st = CATALOG_SET_DELETING;
	ck_assert_int_eq(catalog_set_state_from_string("weird", &st), -EINVAL);
	ck_assert_int_eq(catalog_set_state_from_string("Complete", &st), -EINVAL);
	ck_assert_int_eq(catalog_set_state_from_string("", &st), -EINVAL);
	ck_assert_int_eq(catalog_set_state_from_string(NULL, &st), -EINVAL);
	ck_assert_int_eq(st, CATALOG_SET_DELETING);
}
END_TEST

START_TEST(test_set_lifecycle)
{
	struct catalog *c = open_new();
	struct catalog_set *s = NULL, *got, *other;
	char tok[GMT_TOKEN_LEN];
	int64_t before, after, completed;

	before = time_now_ns();
	ck_assert_int_eq(catalog_set_begin(c, "nightly", vols, ARRAY_SIZE(vols), &owner, &s), 0);
	after = time_now_ns();

	ck_assert_int_ge(s->seq, 1);
	ck_assert_msg(is_lower_hex(s->id, CATALOG_ID_LEN - 1), "id '%s'", s->id);
	ck_assert_int_ge(s->created_ns, before);
	ck_assert_int_le(s->created_ns, after);
	ck_assert_int_eq(gmt_token_format((time_t)(s->created_ns / NSEC), tok, sizeof(tok)), 0);
	ck_assert_str_eq(s->token, tok);
	ck_assert_str_eq(s->label, "nightly");
	ck_assert_int_eq(s->state, CATALOG_SET_CREATING);
	ck_assert_ptr_null(s->reason);
	ck_assert_int_eq(s->owner.pid, owner.pid);
	ck_assert_uint_eq(s->owner.start_time, owner.start_time);
	ck_assert_str_eq(s->owner.boot_id, owner.boot_id);
	ck_assert_int_eq(s->completed_ns, 0);
	ck_assert_uint_eq(s->n_volumes, ARRAY_SIZE(vols));
	for (size_t i = 0; i < s->n_volumes; i++) {
		const struct catalog_volume *v = &s->volumes[i];

		ck_assert_uint_eq(v->index, i);
		ck_assert_int_gt(v->volume_key, 0);
		ck_assert_str_eq(v->path, vols[i].path);
		ck_assert_str_eq(v->name, vols[i].name);
		ck_assert_str_eq(v->provider, vols[i].provider);
		ck_assert_str_eq(v->storage, vols[i].storage);
		ck_assert_ptr_null(v->snapshot);
		assert_str_or_null(v->origin_uuid, vols[i].origin_uuid);
		ck_assert_ptr_null(v->snapshot_uuid);
	}
	ck_assert_int_ne(s->volumes[0].volume_key, s->volumes[1].volume_key);

	/* what begin returned is what the catalog holds */
	got = get_ok(c, s->id);
	assert_set_eq(got, s);
	catalog_set_free(got);

	/* snapshot paths, then identities */
	ck_assert_int_eq(catalog_volume_set_snapshot(c, s->seq, 0, "/srv/.stillfs/1", NULL), 0);
	ck_assert_int_eq(catalog_volume_set_snapshot(c, s->seq, 1, "/var/lib/.stillfs/1",
						     "8a9c6f3e-58a5-4d1c-b4bb-0c0b1d2e3f40"),
			 0);
	ck_assert_int_eq(catalog_volume_set_snapshot(c, s->seq, 2, "/x", NULL), -ENOENT);
	ck_assert_int_eq(catalog_volume_set_snapshot(c, s->seq + 100, 0, "/x", NULL), -ENOENT);
	got = get_ok(c, s->id);
	ck_assert_str_eq(got->volumes[0].snapshot, "/srv/.stillfs/1");
	ck_assert_ptr_null(got->volumes[0].snapshot_uuid);
	ck_assert_str_eq(got->volumes[1].snapshot, "/var/lib/.stillfs/1");
	ck_assert_str_eq(got->volumes[1].snapshot_uuid, "8a9c6f3e-58a5-4d1c-b4bb-0c0b1d2e3f40");
	catalog_set_free(got);

	/* complete records the time */
	before = time_now_ns();
	ck_assert_int_eq(catalog_set_update_state(c, s->seq, CATALOG_SET_COMPLETE, NULL), 0);
	after = time_now_ns();
	got = get_ok(c, s->token);
	ck_assert_int_eq(got->state, CATALOG_SET_COMPLETE);
	ck_assert_ptr_null(got->reason);
	ck_assert_int_ge(got->completed_ns, before);
	ck_assert_int_le(got->completed_ns, after);
	completed = got->completed_ns;
	catalog_set_free(got);

	/* deleting keeps the completion time; failed records a reason */
	ck_assert_int_eq(catalog_set_update_state(c, s->seq, CATALOG_SET_DELETING, NULL), 0);
	got = get_ok(c, s->id);
	ck_assert_int_eq(got->state, CATALOG_SET_DELETING);
	ck_assert_int_eq(got->completed_ns, completed);
	catalog_set_free(got);
	ck_assert_int_eq(catalog_set_update_state(c, s->seq, CATALOG_SET_FAILED,
						  "writer 'postgres' timed out in freeze"),
			 0);
	got = get_ok(c, s->id);
	ck_assert_int_eq(got->state, CATALOG_SET_FAILED);
	ck_assert_str_eq(got->reason, "writer 'postgres' timed out in freeze");
	catalog_set_free(got);

	ck_assert_int_eq(catalog_set_update_state(c, s->seq, _CATALOG_SET_STATE_MAX, NULL),
			 -EINVAL);
	ck_assert_int_eq(catalog_set_update_state(c, s->seq + 100, CATALOG_SET_COMPLETE, NULL),
			 -ENOENT);

	/* a second set of the same volumes shares their keys; no label is NULL */
	other = begin_set(c, NULL);
	ck_assert_ptr_null(other->label);
	ck_assert_int_gt(other->seq, s->seq);
	ck_assert_int_eq(other->volumes[0].volume_key, s->volumes[0].volume_key);
	ck_assert_int_eq(other->volumes[1].volume_key, s->volumes[1].volume_key);

	/* removal takes the volumes with it and leaves the other set */
	ck_assert_int_eq(catalog_set_remove(c, s->seq), 0);
	assert_get_fails(c, s->id, -ENOENT);
	assert_get_fails(c, s->token, -ENOENT);
	ck_assert_int_eq(catalog_set_remove(c, s->seq), -ENOENT);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM set_volume"), ARRAY_SIZE(vols));
	got = get_ok(c, other->id);
	assert_set_eq(got, other);
	catalog_set_free(got);

	/* a set needs at least one volume */
	catalog_set_free(s);
	s = NULL;
	ck_assert_int_eq(catalog_set_begin(c, NULL, vols, 0, &owner, &s), -EINVAL);
	ck_assert_ptr_null(s);
	ck_assert_uint_eq(list_count(c, ALL_STATES), 1);

	catalog_set_free(other);
	catalog_free(c);
}
END_TEST

START_TEST(test_ids_unique)
{
	struct catalog *c = open_new();
	struct catalog_set *sets[64];
	const size_t n = ARRAY_SIZE(sets);

	for (size_t i = 0; i < n; i++) {
		sets[i] = begin_set(c, NULL);
		ck_assert_msg(is_lower_hex(sets[i]->id, CATALOG_ID_LEN - 1), "id '%s'",
			      sets[i]->id);
		for (size_t j = 0; j < i; j++) {
			ck_assert_str_ne(sets[i]->id, sets[j]->id);
			ck_assert_int_ne(sets[i]->seq, sets[j]->seq);
		}
	}
	/* seq never goes back, even after the newest set is removed */
	ck_assert_int_eq(catalog_set_remove(c, sets[n - 1]->seq), 0);
	{
		struct catalog_set *s = begin_set(c, NULL);

		ck_assert_int_gt(s->seq, sets[n - 1]->seq);
		catalog_set_free(s);
	}
	for (size_t i = 0; i < n; i++)
		catalog_set_free(sets[i]);
	catalog_free(c);
}
END_TEST

START_TEST(test_get_by_key)
{
	struct catalog *c = open_new();
	struct catalog_set *a = begin_set(c, "a"), *b = begin_set(c, "b"), *e = begin_set(c, "e");
	struct catalog_set *got;
	char prefix[CATALOG_ID_LEN];

	raw_exec("UPDATE snapshot_set SET id = 'abcd1234' WHERE seq = %lld", (long long)a->seq);
	raw_exec("UPDATE snapshot_set SET id = 'abcd5678' WHERE seq = %lld", (long long)b->seq);
	raw_exec("UPDATE snapshot_set SET id = 'ef012345' WHERE seq = %lld", (long long)e->seq);

	/* full id, every unique prefix of 4 or more, the token */
	for (size_t len = 4; len <= CATALOG_ID_LEN - 1; len++) {
		snprintf(prefix, sizeof(prefix), "%.*s", (int)len, "ef012345");
		got = get_ok(c, prefix);
		ck_assert_int_eq(got->seq, e->seq);
		ck_assert_str_eq(got->id, "ef012345");
		catalog_set_free(got);
	}
	got = get_ok(c, e->token);
	ck_assert_int_eq(got->seq, e->seq);
	catalog_set_free(got);

	/* a prefix two ids share is ambiguous; one more digit decides */
	assert_get_fails(c, "abcd", -ENOTUNIQ);
	got = get_ok(c, "abcd1");
	ck_assert_int_eq(got->seq, a->seq);
	catalog_set_free(got);
	got = get_ok(c, "abcd5678");
	ck_assert_int_eq(got->seq, b->seq);
	ck_assert_str_eq(got->label, "b");
	catalog_set_free(got);

	/* what names no set */
	assert_get_fails(c, "abc", -ENOENT); /* too short to be a prefix */
	assert_get_fails(c, "", -ENOENT);
	assert_get_fails(c, "abcd12345", -ENOENT); /* longer than an id */
	assert_get_fails(c, "ffff", -ENOENT);
	assert_get_fails(c, "abcd9999", -ENOENT);
	assert_get_fails(c, "abcx", -ENOENT);
	assert_get_fails(c, "%", -ENOENT);
	assert_get_fails(c, "abc%", -ENOENT);
	assert_get_fails(c, "@GMT-2099.01.01-00.00.00", -ENOENT);
	assert_get_fails(c, "@GMT-2020.01.01-00.00", -ENOENT);

	catalog_set_free(a);
	catalog_set_free(b);
	catalog_set_free(e);
	catalog_free(c);
}
END_TEST

/*
 * Two sets begun in one second cannot share the token that names them in
 * the view: the second waits for the next second.
 */
START_TEST(test_same_second_tokens)
{
	struct catalog *c = open_new();
	struct catalog_set *s1 = NULL, *s2 = NULL, *got;
	time_t sec1, sec2;
	int64_t now, before2;

	/* start near the beginning of a second, so that both begins fall into it */
	now = time_now_ns();
	if (now % NSEC > NSEC / 4) {
		struct timespec ts = {0, (long)(NSEC - now % NSEC + 1000000)};

		nanosleep(&ts, NULL);
	}
	ck_assert_int_eq(catalog_set_begin(c, "one", vols, 1, &owner, &s1), 0);
	before2 = time_now_ns();
	ck_assert_int_eq(catalog_set_begin(c, "two", vols, 1, &owner, &s2), 0);

	ck_assert_str_ne(s1->token, s2->token);
	ck_assert_int_eq(gmt_token_parse(s1->token, &sec1), 0);
	ck_assert_int_eq(gmt_token_parse(s2->token, &sec2), 0);
	ck_assert_int_eq(sec1, s1->created_ns / NSEC);
	ck_assert_int_eq(sec2, s2->created_ns / NSEC);
	if (before2 / NSEC == sec1)
		ck_assert_int_eq(sec2, sec1 + 1);
	else
		ck_assert_int_gt(sec2, sec1);

	got = get_ok(c, s2->token);
	ck_assert_str_eq(got->label, "two");
	catalog_set_free(got);
	got = get_ok(c, s1->token);
	ck_assert_str_eq(got->label, "one");
	catalog_set_free(got);

	catalog_set_free(s1);
	catalog_set_free(s2);
	catalog_free(c);
}
END_TEST

START_TEST(test_list_masks)
{
	struct catalog *c = open_new();
	struct catalog_set *s[_CATALOG_SET_STATE_MAX], **sets = NULL;
	size_t n = 99;

	ck_assert_int_eq(catalog_set_list(c, ALL_STATES, &sets, &n), 0);
	ck_assert_uint_eq(n, 0);
	catalog_sets_free(sets, n);

	for (unsigned i = 0; i < _CATALOG_SET_STATE_MAX; i++) {
		s[i] = begin_set(c, NULL);
		ck_assert_int_eq(
			catalog_set_update_state(c, s[i]->seq, (enum catalog_set_state)i, NULL), 0);
	}

	for (unsigned i = 0; i < _CATALOG_SET_STATE_MAX; i++) {
		ck_assert_int_eq(catalog_set_list(c, 1u << i, &sets, &n), 0);
		ck_assert_uint_eq(n, 1);
		ck_assert_int_eq(sets[0]->seq, s[i]->seq);
		ck_assert_int_eq(sets[0]->state, i);
		ck_assert_uint_eq(sets[0]->n_volumes, ARRAY_SIZE(vols));
		catalog_sets_free(sets, n);
	}

	ck_assert_int_eq(catalog_set_list(c, ALL_STATES, &sets, &n), 0);
	ck_assert_uint_eq(n, _CATALOG_SET_STATE_MAX);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(sets[i]->seq, s[i]->seq); /* oldest first */
	catalog_sets_free(sets, n);

	ck_assert_uint_eq(list_count(c, 0), 0);
	ck_assert_uint_eq(list_count(c, 1u << CATALOG_SET_COMPLETE | 1u << CATALOG_SET_FAILED), 2);

	for (unsigned i = 0; i < _CATALOG_SET_STATE_MAX; i++)
		catalog_set_free(s[i]);
	catalog_free(c);
}
END_TEST

START_TEST(test_storage)
{
	struct catalog *c = open_new();
	char **paths = NULL;

	ck_assert_int_eq(catalog_storage_list(c, &paths), 0);
	ck_assert_ptr_nonnull(paths);
	ck_assert_ptr_null(paths[0]);
	free(paths);

	ck_assert_int_eq(catalog_storage_add(c, "/srv/.stillfs", "btrfs"), 0);
	ck_assert_int_eq(catalog_storage_add(c, "/home/.stillfs", "btrfs"), 0);
	ck_assert_int_eq(catalog_storage_add(c, "/srv/.stillfs", "btrfs"), 0);
	catalog_free(c);

	c = open_flags(CATALOG_READONLY);
	ck_assert_int_eq(catalog_storage_list(c, &paths), 0);
	ck_assert_str_eq(paths[0], "/home/.stillfs");
	ck_assert_str_eq(paths[1], "/srv/.stillfs");
	ck_assert_ptr_null(paths[2]);
	for (size_t i = 0; paths[i]; i++)
		free(paths[i]);
	free(paths);
	catalog_free(c);
}
END_TEST

START_TEST(test_data_version)
{
	struct catalog *a = open_new(), *b = open_flags(0), *ro = open_flags(CATALOG_READONLY);
	struct catalog_set *s;
	int64_t v1 = 0, v2 = 0, r1 = 0, r2 = 0;

	ck_assert_int_eq(catalog_data_version(a, &v1), 0);
	ck_assert_int_eq(catalog_data_version(ro, &r1), 0);
	ck_assert_int_eq(catalog_data_version(a, &v2), 0);
	ck_assert_int_eq(v2, v1);

	s = begin_set(b, "from b");
	ck_assert_int_eq(catalog_data_version(a, &v2), 0);
	ck_assert_int_ne(v2, v1);
	ck_assert_int_eq(catalog_data_version(ro, &r2), 0);
	ck_assert_int_ne(r2, r1);

	/* and again for an update, now that a has seen the first change */
	v1 = v2;
	r1 = r2;
	ck_assert_int_eq(catalog_set_update_state(b, s->seq, CATALOG_SET_COMPLETE, NULL), 0);
	ck_assert_int_eq(catalog_data_version(a, &v2), 0);
	ck_assert_int_ne(v2, v1);
	ck_assert_int_eq(catalog_data_version(ro, &r2), 0);
	ck_assert_int_ne(r2, r1);

	catalog_set_free(s);
	catalog_free(ro);
	catalog_free(b);
	catalog_free(a);
}
END_TEST

/* --- files that kept changing while copied --- */

START_TEST(test_run_holds)
{
	static char *const holds[] = { "/sys/fs/cgroup/app", "/sys/fs/cgroup/db" };
	static char *const frozen[] = { "/srv", "/var/lib/postgresql" };
	struct catalog *c = open_new();
	struct catalog_set *s = begin_set(c, "held"), *got;
	struct catalog_run run = {
		.consistency = "crash",
		.hold_ns = 1234567,
		.holds = holds,
		.n_holds = ARRAY_SIZE(holds),
		.frozen_fs = frozen,
		.n_frozen_fs = ARRAY_SIZE(frozen),
	};

	/* nothing recorded yet */
	ck_assert_int_eq(s->hold_ns, -1);
	ck_assert_uint_eq(s->n_holds, 0);
	ck_assert_uint_eq(s->n_frozen_fs, 0);

	/* the filesystems about to be frozen, recorded before the run */
	ck_assert_int_eq(catalog_set_record_frozen_fs(c, s->seq, frozen + 1, 1), 0);
	got = get_ok(c, s->id);
	ck_assert_uint_eq(got->n_frozen_fs, 1);
	ck_assert_str_eq(got->frozen_fs[0], frozen[1]);
	ck_assert_uint_eq(got->n_holds, 0);
	catalog_set_free(got);

	ck_assert_int_eq(catalog_set_record_run(c, s->seq, &run), 0);
	got = get_ok(c, s->id);
	ck_assert_str_eq(got->consistency, "crash");
	ck_assert_int_eq(got->hold_ns, 1234567);
	ck_assert_uint_eq(got->n_holds, 2);
	ck_assert_str_eq(got->holds[0], holds[0]);
	ck_assert_str_eq(got->holds[1], holds[1]);
	ck_assert_uint_eq(got->n_frozen_fs, 2);
	ck_assert_str_eq(got->frozen_fs[0], frozen[0]);
	ck_assert_str_eq(got->frozen_fs[1], frozen[1]);
	catalog_set_free(got);

	/* recording again replaces: a freeze without cgroups */
	run.n_holds = 0;
	run.n_frozen_fs = 1;
	ck_assert_int_eq(catalog_set_record_run(c, s->seq, &run), 0);
	got = get_ok(c, s->id);
	ck_assert_uint_eq(got->n_holds, 0);
	ck_assert_uint_eq(got->n_frozen_fs, 1);
	ck_assert_str_eq(got->frozen_fs[0], frozen[0]);
	catalog_set_free(got);

	/* an unknown set is refused */
	ck_assert_int_eq(catalog_set_record_run(c, s->seq + 1000, &run), -ENOENT);
	catalog_set_free(s);
	catalog_free(c);
}
END_TEST

static void assert_problems_eq(const struct catalog_set *s, const struct catalog_set_problem *p,
			       size_t n)
{
	ck_assert_uint_eq(s->n_problems, n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(s->problems[i].volume, p[i].volume);
		ck_assert_str_eq(s->problems[i].path, p[i].path);
		ck_assert_str_eq(s->problems[i].what, p[i].what);
	}
}

START_TEST(test_problems)
{
	/* not in path or volume order: they read back in the order added */
	static const struct catalog_set_problem first[] = {
		{1, "pg_wal/000000010000000000000001", "kept changing while copied"},
		{0, "www/index.html", "kept changing under a shared lock"},
		{1, "base/1/1259", "kept changing under a shared lock"},
	};
	static const struct catalog_set_problem second[] = {
		{0, "logs/a.log", "kept growing while copied"},
	};
	struct catalog_set_problem all[ARRAY_SIZE(first) + ARRAY_SIZE(second)];
	struct catalog *c = open_new(), *ro;
	struct catalog_set *s = begin_set(c, "copied"), *other = begin_set(c, "other"), *got;
	struct catalog_set **sets = NULL;
	size_t n = 0;

	memcpy(all, first, sizeof(first));
	memcpy(all + ARRAY_SIZE(first), second, sizeof(second));

	/* a new set has none */
	ck_assert_uint_eq(s->n_problems, 0);
	ck_assert_ptr_null(s->problems);

	ck_assert_int_eq(catalog_set_add_problems(c, s->seq, first, ARRAY_SIZE(first)), 0);
	got = get_ok(c, s->id);
	assert_problems_eq(got, first, ARRAY_SIZE(first));
	catalog_set_free(got);

	/* a second call adds after the first */
	ck_assert_int_eq(catalog_set_add_problems(c, s->seq, second, ARRAY_SIZE(second)), 0);
	ck_assert_int_eq(catalog_set_get_seq(c, s->seq, &got), 0);
	assert_problems_eq(got, all, ARRAY_SIZE(all));
	catalog_set_free(got);

	/* list reads them too, each with its own set; a reader sees them */
	ro = open_flags(CATALOG_READONLY);
	ck_assert_int_eq(catalog_set_list(ro, ALL_STATES, &sets, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(sets[0]->seq, s->seq);
	assert_problems_eq(sets[0], all, ARRAY_SIZE(all));
	ck_assert_uint_eq(sets[1]->n_problems, 0);
	catalog_sets_free(sets, n);
	ck_assert_int_eq(catalog_set_add_problems(ro, other->seq, first, 1), -EROFS);
	catalog_free(ro);

	/* nothing to add is a no-op, even for a set that does not exist */
	ck_assert_int_eq(catalog_set_add_problems(c, s->seq, NULL, 0), 0);
	ck_assert_int_eq(catalog_set_add_problems(c, s->seq + 100, NULL, 0), 0);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM set_problem"), ARRAY_SIZE(all));

	/* they vanish with their set and leave the other's */
	ck_assert_int_eq(catalog_set_add_problems(c, other->seq, second, 1), 0);
	ck_assert_int_eq(catalog_set_remove(c, s->seq), 0);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM set_problem"), 1);
	got = get_ok(c, other->id);
	assert_problems_eq(got, second, 1);
	catalog_set_free(got);

	catalog_set_free(s);
	catalog_set_free(other);
	catalog_free(c);
}
END_TEST

/* A path may hold any byte but NUL, and reads back as it was. */
START_TEST(test_problem_odd_paths)
{
	static const struct catalog_set_problem odd[] = {
		{0, "line\nbreak", "kept changing"},
		{0, "tab\there\\back\x01\x7f", "kept changing"},
		{1, "latin1-\xe9t\xe9/\xff\xfe not utf-8", "kept changing"},
		{1, "\xc3\xa9t\xc3\xa9 ' \" %s", "it said \"no\"\n"},
		{0, " ", "x"},
	};
	struct catalog *c = open_new();
	struct catalog_set *s = begin_set(c, NULL), *got, **sets = NULL;
	size_t n = 0;

	ck_assert_int_eq(catalog_set_add_problems(c, s->seq, odd, ARRAY_SIZE(odd)), 0);
	catalog_free(c);

	c = open_flags(CATALOG_READONLY);
	got = get_ok(c, s->id);
	assert_problems_eq(got, odd, ARRAY_SIZE(odd));
	for (size_t i = 0; i < ARRAY_SIZE(odd); i++)
		ck_assert_uint_eq(strlen(got->problems[i].path), strlen(odd[i].path));
	catalog_set_free(got);
	ck_assert_int_eq(catalog_set_list(c, ALL_STATES, &sets, &n), 0);
	ck_assert_uint_eq(n, 1);
	assert_problems_eq(sets[0], odd, ARRAY_SIZE(odd));
	catalog_sets_free(sets, n);

	catalog_set_free(s);
	catalog_free(c);
}
END_TEST

/* What is refused records nothing, not even the good problems beside it. */
START_TEST(test_problems_refused)
{
	static const struct catalog_set_problem good = {0, "a", "kept changing"};
	static const struct {
		const char *what;
		struct catalog_set_problem p;
	} bad[] = {
		{"no path", {0, NULL, "x"}},
		{"empty path", {0, "", "x"}},
		{"absolute path", {0, "/etc/passwd", "x"}},
		{"no reason", {0, "a", NULL}},
		{"no such volume", {2, "a", "x"}},
		{"far volume", {UINT_MAX, "a", "x"}},
	};
	struct catalog *c = open_new();
	struct catalog_set *s = begin_set(c, NULL), *got;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct catalog_set_problem two[] = {good, bad[i].p};

		ck_assert_msg(catalog_set_add_problems(c, s->seq, two, 2) == -EINVAL,
			      "%s was not refused", bad[i].what);
	}
	ck_assert_int_eq(catalog_set_add_problems(c, s->seq + 100, &good, 1), -ENOENT);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM set_problem"), 0);
	got = get_ok(c, s->id);
	ck_assert_uint_eq(got->n_problems, 0);
	catalog_set_free(got);

	catalog_set_free(s);
	catalog_free(c);
}
END_TEST

/* --- files that are not catalogs --- */

START_TEST(test_random_bytes)
{
	static const size_t sizes[] = {2, 10, 100, 4096, 65536};
	unsigned char one = 0x5a;

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		unsigned char *buf = malloc(sizes[i]);

		ck_assert_ptr_nonnull(buf);
		ck_assert_int_eq(getrandom(buf, sizes[i], 0), (ssize_t)sizes[i]);
		/* a file that happens to start like a database would be another test */
		buf[0] = buf[0] == 'S' ? 'T' : buf[0];
		write_all(db, buf, sizes[i]);
		assert_open_fails_unchanged(-EBADMSG);
		free(buf);
	}
	/* SQLite takes a one-byte file for an empty database: refused all the same */
	write_all(db, &one, 1);
	assert_open_refused_unchanged(-EBADMSG, -EMEDIUMTYPE);
}
END_TEST

START_TEST(test_empty_file)
{
	struct stat st;

	write_all(db, "", 0);
	assert_open_fails_unchanged(-EMEDIUMTYPE);
	ck_assert_int_eq(stat(db, &st), 0);
	ck_assert_int_eq(st.st_size, 0);
}
END_TEST

START_TEST(test_foreign_database)
{
	raw_create("CREATE TABLE contacts (name TEXT, phone TEXT);"
		   "INSERT INTO contacts VALUES ('ada', '555-0100');");
	ck_assert_int_eq(raw_int("PRAGMA user_version"), 0);
	assert_open_fails_unchanged(-EMEDIUMTYPE);
}
END_TEST

/* Many programs number their schema with user_version too. */
START_TEST(test_foreign_database_versioned)
{
	raw_create("CREATE TABLE contacts (name TEXT, phone TEXT);"
		   "INSERT INTO contacts VALUES ('ada', '555-0100');"
		   "PRAGMA user_version = 1;");
	assert_open_fails_unchanged(-EMEDIUMTYPE);
}
END_TEST

START_TEST(test_foreign_meta)
{
	raw_create("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
		   "INSERT INTO meta VALUES ('application', 'other'), ('uuid', 'x');"
		   "PRAGMA user_version = 1;");
	assert_open_fails_unchanged(-EMEDIUMTYPE);
}
END_TEST

START_TEST(test_newer_schema)
{
	struct catalog *c = open_new();
	struct catalog_set *s = begin_set(c, NULL);

	catalog_set_free(s);
	catalog_free(c);
	raw_exec("PRAGMA user_version = %d", CATALOG_SCHEMA_VERSION + 1);
	/* the last connection has closed: the WAL is folded into the file and removed */
	ck_assert(!side_exists("-wal"));
	assert_open_fails_unchanged(-EPROTONOSUPPORT);
}
END_TEST

/* Fills a catalog with enough sets to span many pages, and closes it. */
static void fill_catalog(void)
{
	struct catalog *c = open_new();
	struct catalog_set *s = begin_set(c, "first");

	ck_assert_int_eq(catalog_storage_add(c, "/srv/.stillfs", "btrfs"), 0);
	raw_exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) "
		 "INSERT INTO snapshot_set (id, created_ns, token, label, state, owner_pid, "
		 "owner_start, owner_boot) SELECT printf('%%08x', 1048576 + i), i * 1000000000, "
		 "printf('@GMT-2001.01.%%02d-%%02d.%%02d.%%02d', 1 + i / 86400, i / 3600 %% 24, "
		 "i / 60 %% 60, i %% 60), hex(randomblob(120)), 'complete', 1, 1, 'boot' FROM n");
	raw_exec("INSERT INTO set_volume (set_seq, idx, volume_key, name, provider, storage, "
		 "snapshot) SELECT seq, 0, %lld, 'srv', 'btrfs', '/srv/.stillfs', "
		 "'/srv/.stillfs/' || id FROM snapshot_set WHERE seq > %lld",
		 (long long)s->volumes[0].volume_key, (long long)s->seq);
	ck_assert_uint_eq(list_count(c, ALL_STATES), 3001);
	catalog_set_free(s);
	catalog_free(c);
	ck_assert(!side_exists("-wal"));
}

/* A damaged file makes open or the first full read fail with -EBADMSG, never crash. */
static void assert_damaged(void)
{
	struct catalog *c = NULL;
	struct catalog_set **sets = NULL;
	size_t n = 0;
	int r;

	r = catalog_open(db, 0, &c);
	if (r < 0) {
		ck_assert_int_eq(r, -EBADMSG);
		ck_assert_ptr_null(c);
		return;
	}
	r = catalog_set_list(c, ALL_STATES, &sets, &n);
	ck_assert_int_eq(r, -EBADMSG);
	catalog_free(c);
}

START_TEST(test_truncated)
{
	size_t len;
	void *data;

	fill_catalog();
	data = read_all(db, &len);
	ck_assert_uint_gt(len, 100000);
	ck_assert_int_eq(truncate(db, (off_t)(len / 2)), 0);
	assert_damaged();
	free(data);
}
END_TEST

START_TEST(test_second_half_zeroed)
{
	unsigned char *data;
	size_t len;

	fill_catalog();
	data = read_all(db, &len);
	memset(data + len / 2, 0, len - len / 2);
	write_all(db, data, len);
	assert_damaged();
	free(data);
}
END_TEST

/* --- rows that break the rules, as a damaged or hand-edited catalog may hold --- */

static const struct {
	const char *what;
	const char *sql; /* %lld is the seq of the damaged set */
	bool by_token;	 /* look it up by token rather than id */
} corruptions[] = {
	{"token", "UPDATE snapshot_set SET token = 'garbage' WHERE seq = %lld", false},
	{"token date",
	 "UPDATE snapshot_set SET token = '@GMT-2026.02.30-00.00.00' WHERE seq = %lld", false},
	{"state",
	 "PRAGMA ignore_check_constraints = ON;"
	 "UPDATE snapshot_set SET state = 'weird' WHERE seq = %lld",
	 false},
	{"id length", "UPDATE snapshot_set SET id = 'abc' WHERE seq = %lld", true},
	{"id not hex", "UPDATE snapshot_set SET id = 'ab/../..' WHERE seq = %lld", true},
	{"id control characters",
	 "UPDATE snapshot_set SET id = char(27, 91, 50, 74, 97, 98, 99, 100) WHERE seq = %lld",
	 true},
	{"owner boot id",
	 "UPDATE snapshot_set SET owner_boot = printf('%%0100d', 0) WHERE seq = %lld", false},
	{"seq", "UPDATE snapshot_set SET seq = -seq WHERE seq = %lld", false},
	{"volume name with slash",
	 "UPDATE set_volume SET name = 'srv/../etc' WHERE set_seq = %lld AND idx = 1", false},
	{"empty volume name", "UPDATE set_volume SET name = '' WHERE set_seq = %lld AND idx = 0",
	 false},
	{"relative snapshot",
	 "UPDATE set_volume SET snapshot = 'srv/.stillfs/1' WHERE set_seq = %lld AND idx = 0",
	 false},
	{"relative volume path",
	 "UPDATE volume SET path = 'srv' WHERE key = "
	 "(SELECT volume_key FROM set_volume WHERE set_seq = %lld AND idx = 0)",
	 false},
	{"index gap", "UPDATE set_volume SET idx = 5 WHERE set_seq = %lld AND idx = 1", false},
	{"no volumes", "DELETE FROM set_volume WHERE set_seq = %lld", false},
	{"problem of no volume",
	 "INSERT INTO set_problem (set_seq, idx, vol_idx, path, what) "
	 "VALUES (%lld, 0, 2, 'a', 'x')",
	 false},
	{"problem path with NUL",
	 "INSERT INTO set_problem (set_seq, idx, vol_idx, path, what) "
	 "VALUES (%lld, 0, 0, x'610062', 'x')",
	 false},
	{"absolute problem path",
	 "INSERT INTO set_problem (set_seq, idx, vol_idx, path, what) "
	 "VALUES (%lld, 0, 0, '/a', 'x')",
	 false},
	{"empty problem path",
	 "INSERT INTO set_problem (set_seq, idx, vol_idx, path, what) "
	 "VALUES (%lld, 0, 0, x'', 'x')",
	 false},
};

START_TEST(test_corrupt_row)
{
	struct catalog *c = open_new();
	struct catalog_set *bad = begin_set(c, "bad"),
			   *good = begin_set_vols(c, "good", other_vols, 1);
	struct catalog_set *got = NULL, **sets = NULL;
	size_t n = 0;

	ck_assert_int_eq(catalog_volume_set_snapshot(c, bad->seq, 0, "/srv/.stillfs/1", NULL), 0);
	raw_exec(corruptions[_i].sql, (long long)bad->seq);

	ck_assert_msg(catalog_set_get(c, corruptions[_i].by_token ? bad->token : bad->id, &got) ==
			      -EBADMSG,
		      "corrupt %s was not refused", corruptions[_i].what);
	ck_assert_ptr_null(got);
	ck_assert_int_eq(catalog_set_list(c, ALL_STATES, &sets, &n), -EBADMSG);

	/* the set beside it still reads */
	got = get_ok(c, good->id);
	assert_set_eq(got, good);
	catalog_set_free(got);

	catalog_set_free(bad);
	catalog_set_free(good);
	catalog_free(c);
}
END_TEST

static Suite *catalog_suite(void)
{
	Suite *s = suite_create("catalog");
	TCase *tc;

	tc = tcase_create("open");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_create_and_reopen);
	tcase_add_test(tc, test_create_makes_directory);
	tcase_add_test(tc, test_open_missing);
	tcase_add_test(tc, test_open_directory);
	tcase_add_test(tc, test_readonly);
	tcase_add_test(tc, test_fresh_schema);
	tcase_add_test(tc, test_migrate_from_v1);
	tcase_add_test(tc, test_migrate_from_v4);
	suite_add_tcase(s, tc);

	tc = tcase_create("sets");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_state_names);
	tcase_add_test(tc, test_set_lifecycle);
	tcase_add_test(tc, test_ids_unique);
	tcase_add_test(tc, test_get_by_key);
	tcase_add_test(tc, test_same_second_tokens);
	tcase_add_test(tc, test_list_masks);
	tcase_add_test(tc, test_storage);
	tcase_add_test(tc, test_data_version);
	tcase_add_test(tc, test_run_holds);
	tcase_add_test(tc, test_problems);
	tcase_add_test(tc, test_problem_odd_paths);
	tcase_add_test(tc, test_problems_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("damage");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_random_bytes);
	tcase_add_test(tc, test_empty_file);
	tcase_add_test(tc, test_foreign_database);
	tcase_add_test(tc, test_foreign_database_versioned);
	tcase_add_test(tc, test_foreign_meta);
	tcase_add_test(tc, test_newer_schema);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_second_half_zeroed);
	tcase_add_loop_test(tc, test_corrupt_row, 0, (int)ARRAY_SIZE(corruptions));
	suite_add_tcase(s, tc);
	return s;
}

Suite *manifest_suite(void);
Suite *archive_suite(void);
Suite *store_suite(void);

int main(void)
{
	SRunner *sr = srunner_create(catalog_suite());
	int failed;

	srunner_add_suite(sr, manifest_suite());
	srunner_add_suite(sr, archive_suite());
	srunner_add_suite(sr, store_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
