// SPDX-License-Identifier: GPL-2.0-or-later
/* Files of a set that a copy provider could not copy as of one instant. */
#include <limits.h>

#include "catalog-internal.h"

static bool problem_valid(const struct catalog_set_problem *p)
{
	return p->path && p->path[0] != '\0' && p->path[0] != '/' && p->what;
}

int catalog_set_add_problems(struct catalog *c, int64_t seq, const struct catalog_set_problem *p,
			     size_t n)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t n_volumes = 0, next = 0;
	int r;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!problem_valid(&p[i]))
			return -EINVAL;
	r = catalog_exec(c, "BEGIN IMMEDIATE");
	if (r < 0)
		return r;
	/* read inside the transaction */
	r = catalog_query_int64(c, "SELECT count(*) FROM set_volume WHERE set_seq = ?", seq,
				&n_volumes);
	if (r < 0)
		goto fail;
	/* every set has a volume: none means no set */
	if (n_volumes == 0) {
		r = -ENOENT;
		goto fail;
	}
	/* after every problem recorded before */
	r = catalog_query_int64(c,
				"SELECT coalesce(max(idx) + 1, 0) FROM set_problem WHERE set_seq = ?",
				seq, &next);
	if (r < 0)
		goto fail;
	r = catalog_prepare(c,
			    "INSERT INTO set_problem (set_seq, idx, vol_idx, path, what) "
			    "VALUES (?, ?, ?, ?, ?)",
			    &st);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(p[i].path);

		if ((int64_t)p[i].volume >= n_volumes || len > INT_MAX) {
			r = -EINVAL;
			goto fail;
		}
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, seq);
		sqlite3_bind_int64(st, 2, next + (int64_t)i);
		sqlite3_bind_int64(st, 3, p[i].volume);
		sqlite3_bind_blob(st, 4, p[i].path, (int)len, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, p[i].what, -1, SQLITE_STATIC);
		r = catalog_step_done(st);
		if (r < 0)
			goto fail;
	}
	return catalog_exec(c, "COMMIT");
fail:
	catalog_exec(c, "ROLLBACK");
	return r;
}

/* A path as stored: any bytes but NUL, not empty, not absolute. Copies it with a NUL. */
static int path_dup(sqlite3_stmt *st, int col, char **ret)
{
	const void *b = sqlite3_column_blob(st, col);
	int len = sqlite3_column_bytes(st, col);
	char *s;

	if (!b) {
		if (sqlite3_errcode(sqlite3_db_handle(st)) == SQLITE_NOMEM)
			return -ENOMEM;
		return -EBADMSG;
	}
	if (len <= 0 || memchr(b, '\0', (size_t)len) || ((const char *)b)[0] == '/')
		return -EBADMSG;
	s = malloc((size_t)len + 1);
	if (!s)
		return -ENOMEM;
	memcpy(s, b, (size_t)len);
	s[len] = '\0';
	*ret = s;
	return 0;
}

static int text_dup(sqlite3_stmt *st, int col, char **ret)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	if (!t) {
		if (sqlite3_errcode(sqlite3_db_handle(st)) == SQLITE_NOMEM)
			return -ENOMEM;
		return -EBADMSG;
	}
	*ret = strdup((const char *)t);
	return *ret ? 0 : -ENOMEM;
}

int catalog_set_load_problems(struct catalog *c, struct catalog_set *s)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	r = catalog_prepare(c,
			    "SELECT vol_idx, path, what FROM set_problem WHERE set_seq = ? "
			    "ORDER BY idx",
			    &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, s->seq);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct catalog_set_problem *p;
		int64_t vol = sqlite3_column_int64(st, 0);
		void *grown = reallocarray(s->problems, s->n_problems + 1, sizeof(*s->problems));

		if (!grown)
			return -ENOMEM;
		s->problems = grown;
		p = &s->problems[s->n_problems++];
		memset(p, 0, sizeof(*p));
		if (vol < 0 || (uint64_t)vol >= s->n_volumes)
			return -EBADMSG;
		p->volume = (unsigned)vol;
		if ((r = path_dup(st, 1, &p->path)) < 0 || (r = text_dup(st, 2, &p->what)) < 0)
			return r;
	}
	return rc == SQLITE_DONE ? 0 : catalog_errno(rc);
}

void catalog_set_release_problems(struct catalog_set *s)
{
	for (size_t i = 0; i < s->n_problems; i++) {
		free(s->problems[i].path);
		free(s->problems[i].what);
	}
	free(s->problems);
}
