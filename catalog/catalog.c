// SPDX-License-Identifier: GPL-2.0-or-later
/* Opening, checking and closing the catalog database. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "catalog-internal.h"

#define BUSY_TIMEOUT_MS 30000

int catalog_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
	case SQLITE_FORMAT:
		return -EBADMSG;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CANTOPEN:
		return errno > 0 ? -errno : -EACCES;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_TOOBIG:
		return -E2BIG;
	default:
		return -EIO;
	}
}

int catalog_exec(struct catalog *c, const char *sql)
{
	return catalog_errno(sqlite3_exec(c->db, sql, NULL, NULL, NULL));
}

int catalog_prepare(struct catalog *c, const char *sql, sqlite3_stmt **ret)
{
	return catalog_errno(sqlite3_prepare_v2(c->db, sql, -1, ret, NULL));
}

int catalog_step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	return rc == SQLITE_DONE ? 0 : catalog_errno(rc);
}

int catalog_query_int64(struct catalog *c, const char *sql, int64_t arg, int64_t *ret)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	r = catalog_prepare(c, sql, &st);
	if (r < 0)
		return r;
	if (sqlite3_bind_parameter_count(st) > 0)
		sqlite3_bind_int64(st, 1, arg);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? -ENODATA : catalog_errno(rc);
	*ret = sqlite3_column_int64(st, 0);
	return 0;
}

static int meta_get(struct catalog *c, const char *key, char *buf, size_t size)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	const unsigned char *v;
	int r, rc;

	r = catalog_prepare(c, "SELECT value FROM meta WHERE key = ?", &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? -ENODATA : catalog_errno(rc);
	v = sqlite3_column_text(st, 0);
	if (!v || strlen((const char *)v) >= size)
		return -EBADMSG;
	strcpy(buf, (const char *)v);
	return 0;
}

/* Whether the database says it is a stillfs catalog; reads only. Returns 0 or -errno. */
static int check_application(struct catalog *c)
{
	int64_t n = 0;
	char app[32];
	int r;

	/* another program's database may number its schema with user_version too */
	r = catalog_query_int64(
		c, "SELECT count(*) FROM pragma_table_info('meta') WHERE name IN ('key', 'value')",
		0, &n);
	if (r < 0)
		return r;
	if (n != 2)
		return -EMEDIUMTYPE;
	r = meta_get(c, "application", app, sizeof(app));
	if (r == -ENODATA || (r == 0 && !streq(app, "stillfs")))
		return -EMEDIUMTYPE;
	return r;
}

static int meta_init(struct catalog *c)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	uint8_t b[16];
	char uuid[37];
	int r, rc;

	if (getrandom(b, sizeof(b), 0) != sizeof(b))
		return -errno;
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(uuid, sizeof(uuid),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
		 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
		 b[15]);
	r = catalog_prepare(c,
			    "INSERT INTO meta (key, value) VALUES ('application', 'stillfs'), "
			    "('uuid', ?)",
			    &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, uuid, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	return catalog_errno(rc);
}

static int mkdir_parents(const char *path)
{
	_cleanup_free_ char *dir = strdup(path);
	char *slash;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Checks what is at `path` before SQLite sees it: SQLite would create or accept too much. */
static int probe_file(const char *path, unsigned flags, bool *ret_exists)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (stat(path, &st) < 0) {
		if (errno != ENOENT)
			return -errno;
		if (!(flags & CATALOG_CREATE))
			return -ENOENT;
		*ret_exists = false;
		return 0;
	}
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EMEDIUMTYPE;
	fd = open(path, ((flags & CATALOG_READONLY) ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* an empty file is not a catalog someone made: never adopt it */
	if (st.st_size == 0)
		return -EMEDIUMTYPE;
	*ret_exists = true;
	return 0;
}

int catalog_open(const char *path, unsigned flags, struct catalog **ret)
{
	struct catalog *c;
	bool exists = false, readonly = flags & CATALOG_READONLY;
	int64_t version = 0, tables = 0;
	int r, oflags;

	r = probe_file(path, flags, &exists);
	if (r < 0)
		return r;
	if (!exists) {
		r = mkdir_parents(path);
		if (r < 0)
			return r;
	}

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->readonly = readonly;
	c->path = strdup(path);
	if (!c->path) {
		r = -ENOMEM;
		goto fail;
	}

	oflags = SQLITE_OPEN_FULLMUTEX | (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE);
	if (!exists)
		oflags |= SQLITE_OPEN_CREATE;
	r = catalog_errno(sqlite3_open_v2(path, &c->db, oflags, NULL));
	if (r < 0 || !c->db) {
		r = r < 0 ? r : -ENOMEM;
		goto fail;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);

	/* the first read of the header tells a database from anything else */
	r = catalog_query_int64(c, "PRAGMA user_version", 0, &version);
	if (r < 0)
		goto fail;
	r = catalog_query_int64(c, "SELECT count(*) FROM sqlite_master", 0, &tables);
	if (r < 0)
		goto fail;
	if (version > CATALOG_SCHEMA_VERSION) {
		r = -EPROTONOSUPPORT;
		goto fail;
	}
	if (version == 0 && (exists || tables > 0)) {
		r = -EMEDIUMTYPE;
		goto fail;
	}
	/* before the journal mode is set, which would write to someone else's file */
	if (exists) {
		r = check_application(c);
		if (r < 0)
			goto fail;
	}

	if (!readonly) {
		r = catalog_exec(c, "PRAGMA journal_mode = WAL");
		if (r < 0)
			goto fail;
		r = catalog_exec(c, "PRAGMA synchronous = FULL");
		if (r < 0)
			goto fail;
	}
	r = catalog_exec(c, "PRAGMA foreign_keys = ON");
	if (r < 0)
		goto fail;

	if (version < CATALOG_SCHEMA_VERSION) {
		if (readonly) {
			/* a catalog of an older stillfs: bring it up to date once, then read */
			catalog_free(c);
			r = catalog_open(path, flags & ~(unsigned)CATALOG_READONLY, &c);
			if (r < 0)
				return r;
			catalog_free(c);
			return catalog_open(path, flags, ret);
		}
		r = catalog_schema_migrate(c, (int)version);
		if (r < 0)
			goto fail;
	}
	if (!exists) {
		r = meta_init(c);
		if (r < 0)
			goto fail;
		if (chmod(path, 0600) < 0) {
			r = -errno;
			goto fail;
		}
	}

	r = check_application(c);
	if (r < 0)
		goto fail;
	r = meta_get(c, "uuid", c->uuid, sizeof(c->uuid));
	if (r == -ENODATA)
		r = -EBADMSG;
	if (r < 0)
		goto fail;

	*ret = c;
	return 0;
fail:
	catalog_free(c);
	if (!exists) {
		/* a catalog we began to make and could not finish is removed whole */
		char side[PATH_MAX];

		unlink(path);
		snprintf(side, sizeof(side), "%s-wal", path);
		unlink(side);
		snprintf(side, sizeof(side), "%s-shm", path);
		unlink(side);
	}
	return r;
}

void catalog_free(struct catalog *c)
{
	if (!c)
		return;
	sqlite3_close_v2(c->db);
	free(c->path);
	free(c);
}

const char *catalog_uuid(const struct catalog *c)
{
	return c->uuid;
}

const char *catalog_path(const struct catalog *c)
{
	return c->path;
}

int catalog_data_version(struct catalog *c, int64_t *ret)
{
	return catalog_query_int64(c, "PRAGMA data_version", 0, ret);
}
