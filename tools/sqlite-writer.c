// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * stillfs-sqlite-writer: keeps a SQLite database busy, the way an application
 * does while a backup runs, so that a set taken meanwhile can be shown to hold
 * a database that opens and holds exactly what some committed transaction
 * left. Each transaction k inserts N rows into t (random payloads of
 * 100 B-8 KiB, each with its FNV-1a checksum in "check") and one row
 * commits(k, total rows after k). stillfs-sqlite-check verifies a copy.
 *
 * It talks to SQLite directly rather than through catalog/: it is a load
 * generator for a user's database, not a user of the catalog.
 */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define PAYLOAD_MIN 100
#define PAYLOAD_MAX 8192
#define BUSY_TIMEOUT_MS 10000

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, txn INTEGER NOT NULL,"
	" payload BLOB NOT NULL, \"check\" INTEGER);"
	"CREATE TABLE IF NOT EXISTS commits(txn INTEGER PRIMARY KEY, total INTEGER NOT NULL);";

enum journal {
	JOURNAL_WAL,
	JOURNAL_DELETE,
};

struct writer {
	sqlite3 *db;
	sqlite3_stmt *insert_row;
	sqlite3_stmt *insert_commit;
	uint64_t rng;
	unsigned rows_per_txn;
	int64_t last_txn; /* the last committed transaction, 0 before the first */
	int64_t total;	  /* rows in t after last_txn */
	unsigned char payload[PAYLOAD_MAX];
};

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* The value of "check": 64-bit FNV-1a of the payload, as SQLite's signed integer. */
static sqlite3_int64 payload_check(const unsigned char *p, size_t len)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return (sqlite3_int64)h;
}

/* Logs SQLite's message for the failed step and returns -EIO. */
static int sql_fail(sqlite3 *db, const char *what)
{
	return log_error_errno(-EIO, "%s: %s", what, sqlite3_errmsg(db));
}

static int sql_exec(sqlite3 *db, const char *sql)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return sql_fail(db, sql);
	return 0;
}

/* Runs a PRAGMA that answers with one text row and checks the answer. */
static int sql_pragma_expect(sqlite3 *db, const char *sql, const char *expect)
{
	sqlite3_stmt *st = NULL;
	const char *got;
	int r = 0;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return sql_fail(db, sql);
	if (sqlite3_step(st) != SQLITE_ROW) {
		r = sql_fail(db, sql);
		goto out;
	}
	got = (const char *)sqlite3_column_text(st, 0);
	if (!got || sqlite3_stricmp(got, expect) != 0)
		r = log_error_errno(-EINVAL, "%s answered '%s', expected '%s'", sql,
				    got ? got : "(null)", expect);
out:
	sqlite3_finalize(st);
	return r;
}

static int sql_int64(sqlite3 *db, const char *sql, int64_t *ret)
{
	sqlite3_stmt *st = NULL;
	int r = 0;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return sql_fail(db, sql);
	if (sqlite3_step(st) != SQLITE_ROW) {
		r = sql_fail(db, sql);
		goto out;
	}
	*ret = sqlite3_column_int64(st, 0);
out:
	sqlite3_finalize(st);
	return r;
}

static void writer_release(struct writer *w)
{
	sqlite3_finalize(w->insert_row);
	sqlite3_finalize(w->insert_commit);
	w->insert_row = w->insert_commit = NULL;
	if (w->db && sqlite3_close(w->db) != SQLITE_OK)
		log_warning("cannot close the database: %s", sqlite3_errmsg(w->db));
	w->db = NULL;
}

/*
 * Opens (creating if needed) the database, sets its journal and locking mode,
 * and picks up numbering where an earlier run stopped. With `exclusive` the
 * first write takes the lock that then stays held until the writer exits.
 */
static int writer_open(struct writer *w, const char *path, enum journal journal, bool exclusive)
{
	int64_t count;
	int r;

	if (sqlite3_open_v2(path, &w->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		r = log_error_errno(-EIO, "cannot open database '%s': %s", path,
				    w->db ? sqlite3_errmsg(w->db) : "out of memory");
		return r;
	}
	sqlite3_extended_result_codes(w->db, 1);
	sqlite3_busy_timeout(w->db, BUSY_TIMEOUT_MS);

	/* before the journal mode, so that WAL keeps its index in memory, not in -shm */
	if (exclusive) {
		r = sql_pragma_expect(w->db, "PRAGMA locking_mode=EXCLUSIVE", "exclusive");
		if (r < 0)
			return r;
	}
	r = sql_pragma_expect(w->db,
			      journal == JOURNAL_WAL ? "PRAGMA journal_mode=WAL"
						     : "PRAGMA journal_mode=DELETE",
			      journal == JOURNAL_WAL ? "wal" : "delete");
	if (r < 0)
		return r;
	r = sql_exec(w->db, "PRAGMA synchronous=FULL");
	if (r < 0)
		return r;

	r = sql_exec(w->db, exclusive ? "BEGIN EXCLUSIVE" : "BEGIN IMMEDIATE");
	if (r < 0)
		return r;
	r = sql_exec(w->db, schema_sql);
	if (r < 0)
		goto rollback;
	r = sql_int64(w->db, "SELECT coalesce(max(txn), 0) FROM commits", &w->last_txn);
	if (r < 0)
		goto rollback;
	r = sql_int64(w->db,
		      "SELECT coalesce((SELECT total FROM commits ORDER BY txn DESC LIMIT 1), 0)",
		      &w->total);
	if (r < 0)
		goto rollback;
	r = sql_int64(w->db, "SELECT count(*) FROM t", &count);
	if (r < 0)
		goto rollback;
	if (count != w->total) {
		r = log_error_errno(-EUCLEAN,
				    "database '%s' holds %" PRId64 " rows but its last commit"
				    " recorded %" PRId64 "; refusing to add to it",
				    path, count, w->total);
		goto rollback;
	}
	r = sql_exec(w->db, "COMMIT");
	if (r < 0)
		goto rollback;

	if (sqlite3_prepare_v2(w->db, "INSERT INTO t(txn, payload, \"check\") VALUES (?, ?, ?)", -1,
			       &w->insert_row, NULL) != SQLITE_OK)
		return sql_fail(w->db, "cannot prepare the row insert");
	if (sqlite3_prepare_v2(w->db, "INSERT INTO commits(txn, total) VALUES (?, ?)", -1,
			       &w->insert_commit, NULL) != SQLITE_OK)
		return sql_fail(w->db, "cannot prepare the commit insert");
	return 0;

rollback:
	sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

static int step_done(sqlite3 *db, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return sql_fail(db, what);
	return 0;
}

/* Commits transaction last_txn + 1: rows_per_txn rows and its commits row. */
static int writer_commit_one(struct writer *w)
{
	int64_t txn = w->last_txn + 1;
	int64_t total;
	int r;

	if (__builtin_add_overflow(w->total, (int64_t)w->rows_per_txn, &total))
		return log_error_errno(-EOVERFLOW, "row count overflows");

	r = sql_exec(w->db, "BEGIN IMMEDIATE");
	if (r < 0)
		return r;
	for (unsigned i = 0; i < w->rows_per_txn; i++) {
		size_t len = PAYLOAD_MIN + splitmix64(&w->rng) % (PAYLOAD_MAX - PAYLOAD_MIN + 1);

		for (size_t off = 0; off < len; off += 8) {
			uint64_t v = splitmix64(&w->rng);

			memcpy(w->payload + off, &v, len - off < 8 ? len - off : 8);
		}
		sqlite3_bind_int64(w->insert_row, 1, txn);
		sqlite3_bind_blob(w->insert_row, 2, w->payload, (int)len, SQLITE_STATIC);
		sqlite3_bind_int64(w->insert_row, 3, payload_check(w->payload, len));
		r = step_done(w->db, w->insert_row, "cannot insert a row");
		if (r < 0)
			goto rollback;
	}
	sqlite3_bind_int64(w->insert_commit, 1, txn);
	sqlite3_bind_int64(w->insert_commit, 2, total);
	r = step_done(w->db, w->insert_commit, "cannot record the commit");
	if (r < 0)
		goto rollback;
	r = sql_exec(w->db, "COMMIT");
	if (r < 0)
		goto rollback;

	w->last_txn = txn;
	w->total = total;
	return 0;

rollback:
	sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

static int touch_ready(const char *path)
{
	_cleanup_close_ int fd = -1;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (dprintf(fd, "%d\n", (int)getpid()) < 0)
		return -EIO;
	return 0;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: stillfs-sqlite-writer [OPTIONS] DB\n"
		   "\n"
		   "Keeps writing to the SQLite database DB (created if missing) until SIGTERM or\n"
		   "SIGINT, so that snapshot sets can be taken while it is busy. Transaction k\n"
		   "inserts N rows into t(id, txn, payload, check) with random payloads of\n"
		   "100 B-8 KiB and records commits(k, total rows). Check a copy of the database\n"
		   "with stillfs-sqlite-check.\n"
		   "\n"
		   "  --journal wal|delete  journal mode (default wal)\n"
		   "  --exclusive           PRAGMA locking_mode=EXCLUSIVE: hold the database lock\n"
		   "                        for the writer's whole life\n"
		   "  --rows-per-txn N      rows inserted by each transaction (default 10)\n"
		   "  --transactions N      stop after N transactions (default 0: never)\n"
		   "  --ready FILE          create FILE once the first transaction has committed\n"
		   "  -h, --help            show this help\n");
}

int main(int argc, char **argv)
{
	enum {
		OPT_JOURNAL = 256,
		OPT_EXCLUSIVE,
		OPT_ROWS,
		OPT_TRANSACTIONS,
		OPT_READY,
	};
	static const struct option options[] = {
		{"journal", required_argument, NULL, OPT_JOURNAL},
		{"exclusive", no_argument, NULL, OPT_EXCLUSIVE},
		{"rows-per-txn", required_argument, NULL, OPT_ROWS},
		{"transactions", required_argument, NULL, OPT_TRANSACTIONS},
		{"ready", required_argument, NULL, OPT_READY},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	struct writer w = {.rows_per_txn = 10};
	enum journal journal = JOURNAL_WAL;
	unsigned long rows = 10, limit = 0, done = 0;
	const char *ready = NULL, *path;
	bool exclusive = false;
	int c, r;

	log_set_program("stillfs-sqlite-writer");
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case OPT_JOURNAL:
			if (streq(optarg, "wal"))
				journal = JOURNAL_WAL;
			else if (streq(optarg, "delete"))
				journal = JOURNAL_DELETE;
			else {
				log_error("unknown journal mode '%s' (wal or delete)", optarg);
				return 2;
			}
			break;
		case OPT_EXCLUSIVE:
			exclusive = true;
			break;
		case OPT_ROWS:
			if (parse_uint(optarg, 1000000, &rows) < 0 || rows == 0) {
				log_error("invalid --rows-per-txn '%s' (1-1000000)", optarg);
				return 2;
			}
			break;
		case OPT_TRANSACTIONS:
			if (parse_uint(optarg, ULONG_MAX, &limit) < 0) {
				log_error("invalid --transactions '%s'", optarg);
				return 2;
			}
			break;
		case OPT_READY:
			ready = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		usage(stderr);
		return 2;
	}
	path = argv[optind];
	w.rows_per_txn = (unsigned)rows;
	w.rng = (uint64_t)time_now_ns() ^ ((uint64_t)getpid() << 32);

	r = stop_signals_install();
	if (r < 0) {
		log_error_errno(r, "cannot install signal handlers");
		return 1;
	}

	r = writer_open(&w, path, journal, exclusive);
	if (r < 0)
		goto out;

	while (!stop_requested() && (limit == 0 || done < limit)) {
		r = writer_commit_one(&w);
		if (r < 0)
			goto out;
		if (done++ == 0 && ready) {
			r = touch_ready(ready);
			if (r < 0) {
				log_error_errno(r, "cannot create ready file '%s'", ready);
				goto out;
			}
		}
	}
	log_info("stopped after %lu transactions; '%s' holds %" PRId64
		 " rows, up to transaction %" PRId64,
		 done, path, w.total, w.last_txn);
out:
	writer_release(&w);
	return r < 0 ? 1 : 0;
}
