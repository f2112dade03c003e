// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * stillfs-sqlite-check: verifies a database written by stillfs-sqlite-writer,
 * normally one restored from a snapshot set. It copies DB and its -wal and
 * -journal files (where present) into a private temporary directory, so that
 * SQLite may recover them there as it would after a crash, and never changes
 * DB itself (which may sit on the read-only view). Then it requires:
 *
 *   - PRAGMA integrity_check answers ok;
 *   - commits numbers its transactions without gaps, each transaction's rows
 *     in t number exactly the growth of total it recorded, no row belongs to
 *     a transaction missing from commits, and t holds exactly the total of
 *     the last commit: the database holds what one committed transaction left;
 *   - every payload matches its "check" and has a size the writer uses;
 *   - with --rows-per-txn N, every transaction added exactly N rows.
 *
 * Exit 0 when consistent, 1 when not (or when it cannot check), 2 on usage.
 */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

#define PAYLOAD_MIN 100
#define PAYLOAD_MAX 8192
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
#define COPY_BUFFER (1024 * 1024)

/* The files of one database besides the main one that recovery may need. */
static const char *const companions[] = {"", "-wal", "-journal"};
/* What SQLite may add to the copy while checking it. */
static const char *const leftovers[] = {"", "-wal", "-journal", "-shm"};

struct scratch {
	char *dir;  /* the private temporary directory, NULL until made */
	char *name; /* the database's file name inside dir */
};

static void scratch_release(struct scratch *s)
{
	if (s->dir) {
		for (size_t i = 0; s->name && i < ARRAY_SIZE(leftovers); i++) {
			_cleanup_free_ char *p = NULL;

			if (asprintf(&p, "%s/%s%s", s->dir, s->name, leftovers[i]) >= 0)
				(void)unlink(p);
		}
		if (rmdir(s->dir) < 0)
			log_warning_errno(-errno, "cannot remove temporary directory '%s'", s->dir);
	}
	free(s->dir);
	free(s->name);
	s->dir = s->name = NULL;
}

/* Copies src to dst (created, must not exist). Returns -ENOENT if src does not exist. */
static int copy_file(const char *src, const char *dst)
{
	_cleanup_close_ int in = -1, out = -1;
	_cleanup_free_ char *buf = NULL;

	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		return -errno;
	buf = malloc(COPY_BUFFER);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(in, buf, COPY_BUFFER);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		for (ssize_t done = 0; done < n;) {
			ssize_t m = write(out, buf + done, (size_t)(n - done));

			if (m < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			done += m;
		}
	}
	if (fsync(out) < 0)
		return -errno;
	return 0;
}

/* Copies the database and its companions into a fresh s->dir; *ret_path names the copy. */
static int scratch_fill(struct scratch *s, const char *db, char **ret_path)
{
	const char *tmp = getenv("TMPDIR");
	const char *slash = strrchr(db, '/');
	_cleanup_free_ char *templ = NULL, *copy = NULL;
	int r;

	s->name = strdup(slash ? slash + 1 : db);
	if (!s->name)
		return -ENOMEM;
	if (s->name[0] == '\0')
		return log_error_errno(-EINVAL, "'%s' does not name a file", db);
	if (asprintf(&templ, "%s/stillfs-sqlite-check.XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
		return -ENOMEM;
	if (!mkdtemp(templ))
		return log_error_errno(-errno, "cannot make a temporary directory '%s'", templ);
	s->dir = TAKE_PTR(templ);

	for (size_t i = 0; i < ARRAY_SIZE(companions); i++) {
		_cleanup_free_ char *src = NULL, *dst = NULL;

		if (asprintf(&src, "%s%s", db, companions[i]) < 0 ||
		    asprintf(&dst, "%s/%s%s", s->dir, s->name, companions[i]) < 0)
			return -ENOMEM;
		r = copy_file(src, dst);
		if (r == -ENOENT && i > 0)
			continue;
		if (r < 0)
			return log_error_errno(r, "cannot copy '%s' to '%s'", src, dst);
	}
	if (asprintf(&copy, "%s/%s", s->dir, s->name) < 0)
		return -ENOMEM;
	*ret_path = TAKE_PTR(copy);
	return 0;
}

static void fnv1a64_sql(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const unsigned char *p = sqlite3_value_blob(argv[0]);
	int len = sqlite3_value_bytes(argv[0]);
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (int i = 0; i < len; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	sqlite3_result_int64(ctx, (sqlite3_int64)h);
}

static int sql_fail(sqlite3 *db, const char *what)
{
	return log_error_errno(-EIO, "%s: %s", what, sqlite3_errmsg(db));
}

/*
 * Runs a query expected to yield at most one row of up to 4 integers. Returns
 * 1 and fills ret[] when it yields a row, 0 when it yields none.
 */
static int sql_row(sqlite3 *db, const char *sql, int64_t ret[], int n)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return sql_fail(db, sql);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		for (int i = 0; i < n; i++)
			ret[i] = sqlite3_column_int64(st, i);
		r = 1;
	} else if (rc == SQLITE_DONE) {
		r = 0;
	} else {
		r = sql_fail(db, sql);
	}
	sqlite3_finalize(st);
	return r;
}

/* Returns 1 when integrity_check says ok, 0 after printing what it found. */
static int check_integrity(sqlite3 *db, const char *db_name)
{
	sqlite3_stmt *st = NULL;
	int rows = 0, ok = 0, rc;

	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check(20)", -1, &st, NULL) != SQLITE_OK)
		return sql_fail(db, "PRAGMA integrity_check");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *msg = (const char *)sqlite3_column_text(st, 0);

		rows++;
		if (msg && streq(msg, "ok"))
			ok = 1;
		else
			log_error("'%s': integrity_check: %s", db_name, msg ? msg : "(null)");
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sql_fail(db, "PRAGMA integrity_check");
	return ok && rows == 1;
}

/* Per commit, the rows it says it added against the rows of t that carry its number. */
#define DELTAS_SQL                                                                                 \
	"WITH c AS (SELECT txn, total - coalesce(lag(total) OVER (ORDER BY txn), 0) AS delta"      \
	"           FROM commits),"                                                                \
	"     g AS (SELECT txn, count(*) AS n FROM t GROUP BY txn) "

static int check_consistency(sqlite3 *db, const char *db_name, int64_t rows_per_txn)
{
	int64_t v[4];
	int64_t ncommits, first, last, total, rows, dmin, dmax;
	int r;

	r = sql_row(db,
		    "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
		    " AND name IN ('t', 'commits')",
		    v, 1);
	if (r < 0)
		return r;
	if (v[0] != 2) {
		log_error("'%s' is inconsistent: tables t and commits are missing", db_name);
		return 0;
	}

	r = sql_row(db,
		    "SELECT count(*), coalesce(min(txn), 0), coalesce(max(txn), 0) FROM commits", v,
		    3);
	if (r < 0)
		return r;
	ncommits = v[0], first = v[1], last = v[2];
	if (ncommits > 0 && last - first + 1 != ncommits) {
		log_error("'%s' is inconsistent: commits holds %" PRId64
			  " transactions numbered %" PRId64 "-%" PRId64,
			  db_name, ncommits, first, last);
		return 0;
	}
	r = sql_row(db,
		    "SELECT coalesce((SELECT total FROM commits ORDER BY txn DESC LIMIT 1), 0),"
		    " (SELECT count(*) FROM t)",
		    v, 2);
	if (r < 0)
		return r;
	total = v[0], rows = v[1];
	if (rows != total) {
		log_error("'%s' is inconsistent: t holds %" PRId64 " rows but the last commit"
			  " (transaction %" PRId64 ") recorded a total of %" PRId64,
			  db_name, rows, last, total);
		return 0;
	}

	r = sql_row(db,
		    DELTAS_SQL "SELECT c.txn, c.delta, coalesce(g.n, 0) FROM c"
			       " LEFT JOIN g USING (txn) WHERE g.n IS NOT c.delta LIMIT 1",
		    v, 3);
	if (r < 0)
		return r;
	if (r > 0) {
		log_error("'%s' is inconsistent: transaction %" PRId64 " recorded %" PRId64
			  " new rows but t holds %" PRId64 " rows of it",
			  db_name, v[0], v[1], v[2]);
		return 0;
	}
	r = sql_row(db,
		    "SELECT txn, count(*) FROM t WHERE txn NOT IN (SELECT txn FROM commits)"
		    " GROUP BY txn LIMIT 1",
		    v, 2);
	if (r < 0)
		return r;
	if (r > 0) {
		log_error("'%s' is inconsistent: t holds %" PRId64 " rows of transaction %" PRId64
			  ", which never committed",
			  db_name, v[1], v[0]);
		return 0;
	}

	r = sql_row(
		db,
		"SELECT id, txn, length(payload) FROM t WHERE \"check\" IS NOT"
		" stillfs_fnv1a64(payload) OR typeof(payload) != 'blob' OR length(payload)"
		" NOT BETWEEN " STRINGIFY(PAYLOAD_MIN) " AND " STRINGIFY(PAYLOAD_MAX) " LIMIT 1",
		v, 3);
	if (r < 0)
		return r;
	if (r > 0) {
		log_error("'%s' is inconsistent: row %" PRId64 " (transaction %" PRId64 ", %" PRId64
			  " bytes) does not match its check value",
			  db_name, v[0], v[1], v[2]);
		return 0;
	}

	r = sql_row(db, DELTAS_SQL "SELECT coalesce(min(delta), 0), coalesce(max(delta), 0) FROM c",
		    v, 2);
	if (r < 0)
		return r;
	dmin = v[0], dmax = v[1];
	if (rows_per_txn > 0 && ncommits > 0 &&
	    (dmin != rows_per_txn || dmax != rows_per_txn || rows != rows_per_txn * ncommits)) {
		log_error("'%s' is inconsistent: transactions added %" PRId64 "-%" PRId64
			  " rows each, expected %" PRId64 " (%" PRId64 " rows in %" PRId64
			  " commits)",
			  db_name, dmin, dmax, rows_per_txn, rows, ncommits);
		return 0;
	}

	if (dmin == dmax)
		printf("consistent: %" PRId64 " commits (transactions %" PRId64 "-%" PRId64
		       "), %" PRId64 " rows, %" PRId64 " per transaction\n",
		       ncommits, first, last, rows, dmin);
	else
		printf("consistent: %" PRId64 " commits (transactions %" PRId64 "-%" PRId64
		       "), %" PRId64 " rows\n",
		       ncommits, first, last, rows);
	return 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: stillfs-sqlite-check [--rows-per-txn N] DB\n"
		   "\n"
		   "Checks a database written by stillfs-sqlite-writer, working on a private\n"
		   "copy of DB and its -wal and -journal files (DB itself is never changed):\n"
		   "PRAGMA integrity_check must answer ok, and the rows must be exactly those\n"
		   "of the committed transactions. Exit 0 if consistent, 1 if not.\n"
		   "\n"
		   "  --rows-per-txn N  also require every transaction to have added N rows\n"
		   "  -h, --help        show this help\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{"rows-per-txn", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	_cleanup_(scratch_release) struct scratch scratch = {};
	_cleanup_free_ char *copy = NULL;
	int64_t rows_per_txn = 0;
	sqlite3 *db = NULL;
	const char *path;
	int c, r;

	log_set_program("stillfs-sqlite-check");
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case 'n': {
			char *end;

			errno = 0;
			rows_per_txn = strtoll(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || rows_per_txn <= 0) {
				log_error("invalid --rows-per-txn '%s'", optarg);
				return 2;
			}
			break;
		}
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

	r = scratch_fill(&scratch, path, &copy);
	if (r < 0) {
		if (r == -ENOMEM)
			log_error("out of memory");
		return 1;
	}

	if (sqlite3_open_v2(copy, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		log_error("cannot open the copy of '%s': %s", path,
			  db ? sqlite3_errmsg(db) : "out of memory");
		r = -EIO;
		goto out;
	}
	sqlite3_extended_result_codes(db, 1);
	if (sqlite3_create_function(db, "stillfs_fnv1a64", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
				    NULL, fnv1a64_sql, NULL, NULL) != SQLITE_OK) {
		r = sql_fail(db, "cannot register stillfs_fnv1a64()");
		goto out;
	}

	r = check_integrity(db, path);
	if (r == 1)
		r = check_consistency(db, path, rows_per_txn);
out:
	if (db)
		sqlite3_close(db);
	return r == 1 ? 0 : 1;
}
