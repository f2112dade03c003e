/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Private to catalog/: the handle and the SQLite adapter helpers. */
#pragma once

#include <sqlite3.h>

#include "catalog.h"

struct catalog {
	sqlite3 *db;
	char *path;
	char uuid[37];
	bool readonly;
};

/* Maps an SQLite result code to a negative errno value. */
int catalog_errno(int sqlite_rc);

/* Runs SQL without results. Returns 0 or -errno. */
int catalog_exec(struct catalog *c, const char *sql);

/* Prepares a statement; returns 0 or -errno. Finalize with sqlite3_finalize(). */
int catalog_prepare(struct catalog *c, const char *sql, sqlite3_stmt **ret);
/* Steps a statement that returns no row: 0 or -errno. */
int catalog_step_done(sqlite3_stmt *st);
/* The integer in the first column of the first row of `sql`, with `arg` bound
 * to its parameter if it has one; -ENODATA when there is no row. */
int catalog_query_int64(struct catalog *c, const char *sql, int64_t arg, int64_t *ret);

/* Loads and frees what catalog_set_record_run() recorded (run.c). */
int catalog_set_load_run(struct catalog *c, struct catalog_set *s);
void catalog_set_release_run(struct catalog_set *s);

/* Loads and frees the set's problems (problem.c); load after the volumes. */
int catalog_set_load_problems(struct catalog *c, struct catalog_set *s);
void catalog_set_release_problems(struct catalog_set *s);

/*
 * catalog_manifest_reader_next() and catalog_manifest_check() with the reason
 * for a failure described in *eb, as diff and verify report it.
 */
int manifest_reader_next_eb(struct catalog_manifest_reader *r, struct manifest_entry *ret,
			    struct errbuf *eb);
int manifest_check_eb(struct catalog *c, int64_t seq, unsigned vol_idx, struct errbuf *eb);

/* Brings the schema to CATALOG_SCHEMA_VERSION from `version`, in one transaction. */
int catalog_schema_migrate(struct catalog *c, int version);

static inline void sqlite3_stmt_finalizep(sqlite3_stmt **s)
{
	sqlite3_finalize(*s);
}
#define _cleanup_stmt_ _cleanup_(sqlite3_stmt_finalizep)
