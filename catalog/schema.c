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
	/* 2: how a set was made: writers, the hold, the consistency level */
	"ALTER TABLE snapshot_set ADD COLUMN consistency TEXT"
	"  CHECK (consistency IN ('application', 'crash'));"
	"ALTER TABLE snapshot_set ADD COLUMN hold_ns INTEGER NOT NULL DEFAULT -1;"
	"CREATE TABLE set_hold ("
	"  set_seq INTEGER NOT NULL REFERENCES snapshot_set(seq) ON DELETE CASCADE,"
	"  idx INTEGER NOT NULL,"
	"  cgroup TEXT NOT NULL,"
	"  PRIMARY KEY (set_seq, idx));"
	"CREATE TABLE set_writer ("
	"  set_seq INTEGER NOT NULL REFERENCES snapshot_set(seq) ON DELETE CASCADE,"
	"  idx INTEGER NOT NULL,"
	"  name TEXT NOT NULL,"
	"  path TEXT NOT NULL,"
	"  kind TEXT NOT NULL CHECK (kind IN ('hook', 'session')),"
	"  PRIMARY KEY (set_seq, idx));"
	"CREATE TABLE writer_phase ("
	"  set_seq INTEGER NOT NULL,"
	"  writer_idx INTEGER NOT NULL,"
	"  seq INTEGER NOT NULL,"
	"  phase TEXT NOT NULL CHECK (phase IN ('prepare', 'freeze', 'thaw', 'post', 'abort')),"
	"  result TEXT NOT NULL CHECK (result IN ('ok', 'failed', 'vetoed', 'timed-out')),"
	"  message TEXT,"
	"  duration_ns INTEGER NOT NULL,"
	"  PRIMARY KEY (set_seq, writer_idx, seq),"
	"  FOREIGN KEY (set_seq, writer_idx) REFERENCES set_writer(set_seq, idx)"
	"    ON DELETE CASCADE);"
	"CREATE TABLE writer_status ("
	"  path TEXT PRIMARY KEY,"
	"  name TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  phase TEXT NOT NULL,"
	"  result TEXT NOT NULL,"
	"  message TEXT,"
	"  when_ns INTEGER NOT NULL,"
	"  set_id TEXT NOT NULL);",
	/* 3: the set each view shows as current/, and sets leased to one run */
	"CREATE TABLE pin ("
	"  view TEXT PRIMARY KEY,"
	"  set_seq INTEGER NOT NULL REFERENCES snapshot_set(seq) ON DELETE CASCADE,"
	"  pinned_ns INTEGER NOT NULL);"
	"CREATE TABLE lease ("
	"  set_seq INTEGER PRIMARY KEY REFERENCES snapshot_set(seq) ON DELETE CASCADE,"
	"  owner_pid INTEGER NOT NULL,"
	"  owner_start INTEGER NOT NULL,"
	"  owner_boot TEXT NOT NULL);",
	/*
	 * 4: manifests. Blocks are those of manifest.h; first_key is the path of
	 * a block's first entry with '/' as byte 0, so that SQLite's byte order
	 * of keys is the manifest's path order and a path's block is found by
	 * the index.
	 */
	"CREATE TABLE manifest ("
	"  set_seq INTEGER NOT NULL REFERENCES snapshot_set(seq) ON DELETE CASCADE,"
	"  vol_idx INTEGER NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('building', 'complete')),"
	"  method TEXT NOT NULL CHECK (method IN ('full', 'stat', 'generation')),"
	"  base_set_seq INTEGER,"
	"  generation INTEGER,"
	"  started_ns INTEGER NOT NULL,"
	"  finished_ns INTEGER NOT NULL DEFAULT 0,"
	"  entries INTEGER NOT NULL DEFAULT 0,"
	"  blocks INTEGER NOT NULL DEFAULT 0,"
	"  files INTEGER NOT NULL DEFAULT 0,"
	"  bytes INTEGER NOT NULL DEFAULT 0,"
	"  read_files INTEGER NOT NULL DEFAULT 0,"
	"  read_bytes INTEGER NOT NULL DEFAULT 0,"
	"  digest BLOB,"
	"  owner_pid INTEGER NOT NULL,"
	"  owner_start INTEGER NOT NULL,"
	"  owner_boot TEXT NOT NULL,"
	"  PRIMARY KEY (set_seq, vol_idx));"
	"CREATE TABLE manifest_block ("
	"  set_seq INTEGER NOT NULL,"
	"  vol_idx INTEGER NOT NULL,"
	"  block INTEGER NOT NULL,"
	"  first_entry INTEGER NOT NULL,"
	"  first_key BLOB NOT NULL,"
	"  data BLOB NOT NULL,"
	"  PRIMARY KEY (set_seq, vol_idx, block),"
	"  FOREIGN KEY (set_seq, vol_idx) REFERENCES manifest(set_seq, vol_idx)"
	"    ON DELETE CASCADE);"
	"CREATE INDEX manifest_block_key ON manifest_block (set_seq, vol_idx, first_key);",
	/*
	 * 5: files a copy provider could not copy as of one instant, in the
	 * order found. A path is a BLOB: it may hold any bytes but NUL.
	 */
	"CREATE TABLE set_problem ("
	"  set_seq INTEGER NOT NULL REFERENCES snapshot_set(seq) ON DELETE CASCADE,"
	"  idx INTEGER NOT NULL,"
	"  vol_idx INTEGER NOT NULL,"
	"  path BLOB NOT NULL,"
	"  what TEXT NOT NULL,"
	"  PRIMARY KEY (set_seq, idx),"
	"  FOREIGN KEY (set_seq, vol_idx) REFERENCES set_volume(set_seq, idx)"
	"    ON DELETE CASCADE);",
	/* 6: filesystems frozen during the hold (--freeze-fs), by mount point */
	"CREATE TABLE set_frozen_fs ("
	"  set_seq INTEGER NOT NULL REFERENCES snapshot_set(seq) ON DELETE CASCADE,"
	"  idx INTEGER NOT NULL,"
	"  mount_point TEXT NOT NULL,"
	"  PRIMARY KEY (set_seq, idx));",
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
