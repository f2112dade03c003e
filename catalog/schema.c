// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The catalog's schema and its migrations. Version N of the schema is reached
 * by applying migrations[0..N-1] in order; a released migration never changes,
 * a new version appends one. PRAGMA user_version holds the version.
 */
#include <stdio.h>

#include "catalog-internal.h"

static const char *const migrations[] = {
	/* 1: sets, their volumes, and the storage directories they use */
	"CREATE TABLE meta ("
	"  key TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL);"
	"CREATE TABLE volume ("
	"  key INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  path TEXT NOT NULL UNIQUE);"
	"CREATE TABLE snapshot_set ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  id TEXT NOT NULL UNIQUE,"
	"  created_ns INTEGER NOT NULL,"
	"  token TEXT NOT NULL UNIQUE,"
	"  label TEXT,"
	"  state TEXT NOT NULL CHECK (state IN ('creating', 'complete', 'failed', 'deleting')),"
	"  reason TEXT,"
	"  owner_pid INTEGER NOT NULL,"
	"  owner_start INTEGER NOT NULL,"
	"  owner_boot TEXT NOT NULL,"
	"  completed_ns INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE set_volume ("
	"  set_seq INTEGER NOT NULL REFERENCES snapshot_set(seq) ON DELETE CASCADE,"
	"  idx INTEGER NOT NULL,"
	"  volume_key INTEGER NOT NULL REFERENCES volume(key),"
	"  name TEXT NOT NULL,"
	"  provider TEXT NOT NULL,"
	"  storage TEXT NOT NULL,"
	"  snapshot TEXT,"
	"  origin_uuid TEXT,"
	"  snapshot_uuid TEXT,"
	"  PRIMARY KEY (set_seq, idx));"
	"CREATE TABLE storage ("
	"  path TEXT PRIMARY KEY,"
	"  provider TEXT NOT NULL);",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == CATALOG_SCHEMA_VERSION,
	       "one migration per schema version");

int catalog_schema_migrate(struct catalog *c, int version)
{
	char sql[64];
	int r;

	if (version == CATALOG_SCHEMA_VERSION)
		return 0;
	r = catalog_exec(c, "BEGIN IMMEDIATE");
	if (r < 0)
		return r;
	for (int v = version; v < CATALOG_SCHEMA_VERSION; v++) {
		r = catalog_exec(c, migrations[v]);
		if (r < 0)
			goto fail;
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", CATALOG_SCHEMA_VERSION);
	r = catalog_exec(c, sql);
	if (r < 0)
		goto fail;
	return catalog_exec(c, "COMMIT");
fail:
	catalog_exec(c, "ROLLBACK");
	return r;
}
