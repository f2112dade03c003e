// SPDX-License-Identifier: GPL-2.0-or-later
/* How a set was made: its writers and their phases, the hold, its consistency. */
#include "catalog-internal.h"

static bool one_of(const char *s, const char *const *names)
{
	for (; s && *names; names++)
		if (streq(s, *names))
			return true;
	return false;
}

static const char *const phase_names[] = { "prepare", "freeze", "thaw", "post", "abort", NULL };
static const char *const result_names[] = { "ok", "failed", "vetoed", "timed-out", NULL };
static const char *const kind_names[] = { "hook", "session", NULL };
static const char *const consistency_names[] = { "application", "crash", NULL };

static int bind_exec(struct catalog *c, const char *sql, int64_t seq)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = catalog_prepare(c, sql, &st);

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, seq);
	return catalog_step_done(st);
}

static int insert_writer(struct catalog *c, int64_t seq, size_t idx, const struct catalog_writer *w)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL, *ph = NULL;
	int r;

	r = catalog_prepare(c,
			    "INSERT INTO set_writer (set_seq, idx, name, path, kind) "
			    "VALUES (?, ?, ?, ?, ?)",
			    &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_int64(st, 2, (int64_t)idx);
	sqlite3_bind_text(st, 3, w->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, w->path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, w->kind, -1, SQLITE_STATIC);
	r = catalog_step_done(st);
	if (r < 0)
		return r;
	r = catalog_prepare(c,
			    "INSERT INTO writer_phase (set_seq, writer_idx, seq, phase, result, "
			    "message, duration_ns) VALUES (?, ?, ?, ?, ?, ?, ?)",
			    &ph);
	if (r < 0)
		return r;
	for (size_t i = 0; i < w->n_phases; i++) {
		const struct catalog_writer_phase *p = &w->phases[i];

		sqlite3_reset(ph);
		sqlite3_clear_bindings(ph);
		sqlite3_bind_int64(ph, 1, seq);
		sqlite3_bind_int64(ph, 2, (int64_t)idx);
		sqlite3_bind_int64(ph, 3, (int64_t)i);
		sqlite3_bind_text(ph, 4, p->phase, -1, SQLITE_STATIC);
		sqlite3_bind_text(ph, 5, p->result, -1, SQLITE_STATIC);
		if (p->message && p->message[0])
			sqlite3_bind_text(ph, 6, p->message, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ph, 7, p->duration_ns);
		r = catalog_step_done(ph);
		if (r < 0)
			return r;
	}
	return 0;
}

static int update_status(struct catalog *c, int64_t seq, const struct catalog_writer *w)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	const struct catalog_writer_phase *last;
	int r;

	if (w->n_phases == 0)
		return 0;
	last = &w->phases[w->n_phases - 1];
	r = catalog_prepare(c,
			    "INSERT OR REPLACE INTO writer_status (path, name, kind, phase, result, "
			    "message, when_ns, set_id) "
			    "SELECT ?, ?, ?, ?, ?, ?, ?, id FROM snapshot_set WHERE seq = ?",
			    &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, w->path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, w->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, w->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, last->phase, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, last->result, -1, SQLITE_STATIC);
	/* the message that matters is the first thing that went wrong, else the last word */
	for (size_t i = 0; i < w->n_phases; i++)
		if (!streq(w->phases[i].result, "ok")) {
			last = &w->phases[i];
			sqlite3_bind_text(st, 4, last->phase, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 5, last->result, -1, SQLITE_STATIC);
			break;
		}
	if (last->message && last->message[0])
		sqlite3_bind_text(st, 6, last->message, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, time_now_ns());
	sqlite3_bind_int64(st, 8, seq);
	return catalog_step_done(st);
}

static int validate_run(const struct catalog_run *run)
{
	if (!one_of(run->consistency, consistency_names))
		return -EINVAL;
	for (size_t i = 0; i < run->n_writers; i++) {
		const struct catalog_writer *w = &run->writers[i];

		if (!w->name || !w->path || !one_of(w->kind, kind_names))
			return -EINVAL;
		for (size_t j = 0; j < w->n_phases; j++)
			if (!one_of(w->phases[j].phase, phase_names) ||
			    !one_of(w->phases[j].result, result_names))
				return -EINVAL;
	}
	return 0;
}

/* Inserts one row (seq, idx, text) per item of `list` with `sql`. */
static int insert_texts(struct catalog *c, const char *sql, int64_t seq, char *const *list,
			size_t n)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = catalog_prepare(c, sql, &st);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, seq);
		sqlite3_bind_int64(st, 2, (int64_t)i);
		sqlite3_bind_text(st, 3, list[i], -1, SQLITE_STATIC);
		r = catalog_step_done(st);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Inside a transaction: the set's frozen filesystems become `mount_points`. */
static int replace_frozen_fs(struct catalog *c, int64_t seq, char *const *mount_points, size_t n)
{
	int r = bind_exec(c, "DELETE FROM set_frozen_fs WHERE set_seq = ?", seq);

	if (r < 0)
		return r;
	return insert_texts(c, "INSERT INTO set_frozen_fs (set_seq, idx, mount_point) VALUES (?, ?, ?)",
			    seq, mount_points, n);
}

int catalog_set_record_run(struct catalog *c, int64_t seq, const struct catalog_run *run)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = validate_run(run);
	if (r < 0)
		return r;
	r = catalog_exec(c, "BEGIN IMMEDIATE");
	if (r < 0)
		return r;
	if ((r = bind_exec(c, "DELETE FROM writer_phase WHERE set_seq = ?", seq)) < 0 ||
	    (r = bind_exec(c, "DELETE FROM set_writer WHERE set_seq = ?", seq)) < 0 ||
	    (r = bind_exec(c, "DELETE FROM set_hold WHERE set_seq = ?", seq)) < 0)
		goto fail;
	r = catalog_prepare(c, "UPDATE snapshot_set SET consistency = ?, hold_ns = ? WHERE seq = ?",
			    &st);
	if (r < 0)
		goto fail;
	sqlite3_bind_text(st, 1, run->consistency, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, run->hold_ns);
	sqlite3_bind_int64(st, 3, seq);
	r = catalog_step_done(st);
	if (r < 0)
		goto fail;
	if (sqlite3_changes(sqlite3_db_handle(st)) != 1) {
		r = -ENOENT;
		goto fail;
	}
	r = insert_texts(c, "INSERT INTO set_hold (set_seq, idx, cgroup) VALUES (?, ?, ?)", seq,
			 run->holds, run->n_holds);
	if (r < 0)
		goto fail;
	r = replace_frozen_fs(c, seq, run->frozen_fs, run->n_frozen_fs);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < run->n_writers; i++) {
		r = insert_writer(c, seq, i, &run->writers[i]);
		if (r < 0)
			goto fail;
		r = update_status(c, seq, &run->writers[i]);
		if (r < 0)
			goto fail;
	}
	return catalog_exec(c, "COMMIT");
fail:
	catalog_exec(c, "ROLLBACK");
	return r;
}

int catalog_set_record_frozen_fs(struct catalog *c, int64_t seq, char *const *mount_points,
				 size_t n)
{
	int r = catalog_exec(c, "BEGIN IMMEDIATE");

	if (r < 0)
		return r;
	r = replace_frozen_fs(c, seq, mount_points, n);
	if (r < 0) {
		catalog_exec(c, "ROLLBACK");
		return r;
	}
	return catalog_exec(c, "COMMIT");
}

static int text_dup(sqlite3_stmt *st, int col, bool required, char **ret)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	if (!t) {
		*ret = NULL;
		return required ? -EBADMSG : 0;
	}
	*ret = strdup((const char *)t);
	return *ret ? 0 : -ENOMEM;
}

static int load_phases(struct catalog *c, int64_t seq, size_t idx, struct catalog_writer *w)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	r = catalog_prepare(c,
			    "SELECT phase, result, message, duration_ns FROM writer_phase "
			    "WHERE set_seq = ? AND writer_idx = ? ORDER BY seq",
			    &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_int64(st, 2, (int64_t)idx);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct catalog_writer_phase *p;
		void *grown = reallocarray(w->phases, w->n_phases + 1, sizeof(*w->phases));

		if (!grown)
			return -ENOMEM;
		w->phases = grown;
		p = &w->phases[w->n_phases++];
		memset(p, 0, sizeof(*p));
		if ((r = text_dup(st, 0, true, &p->phase)) < 0 ||
		    (r = text_dup(st, 1, true, &p->result)) < 0 ||
		    (r = text_dup(st, 2, false, &p->message)) < 0)
			return r;
		if (!one_of(p->phase, phase_names) || !one_of(p->result, result_names))
			return -EBADMSG;
		p->duration_ns = sqlite3_column_int64(st, 3);
	}
	return rc == SQLITE_DONE ? 0 : catalog_errno(rc);
}

/* Reads the texts that `sql` selects for set `seq`, in order, appending to *list. */
static int load_texts(struct catalog *c, const char *sql, int64_t seq, char ***list, size_t *n)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	r = catalog_prepare(c, sql, &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, seq);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char **grown = reallocarray(*list, *n + 1, sizeof(**list));

		if (!grown)
			return -ENOMEM;
		*list = grown;
		grown[*n] = NULL;
		r = text_dup(st, 0, true, &grown[*n]);
		(*n)++;
		if (r < 0)
			return r;
	}
	return rc == SQLITE_DONE ? 0 : catalog_errno(rc);
}

int catalog_set_load_run(struct catalog *c, struct catalog_set *s)
{
	_cleanup_stmt_ sqlite3_stmt *wr = NULL;
	int r, rc;

	r = load_texts(c, "SELECT cgroup FROM set_hold WHERE set_seq = ? ORDER BY idx", s->seq,
		       &s->holds, &s->n_holds);
	if (r < 0)
		return r;
	r = load_texts(c, "SELECT mount_point FROM set_frozen_fs WHERE set_seq = ? ORDER BY idx",
		       s->seq, &s->frozen_fs, &s->n_frozen_fs);
	if (r < 0)
		return r;

	r = catalog_prepare(c,
			    "SELECT idx, name, path, kind FROM set_writer WHERE set_seq = ? "
			    "ORDER BY idx",
			    &wr);
	if (r < 0)
		return r;
	sqlite3_bind_int64(wr, 1, s->seq);
	while ((rc = sqlite3_step(wr)) == SQLITE_ROW) {
		struct catalog_writer *w;
		void *grown = reallocarray(s->writers, s->n_writers + 1, sizeof(*s->writers));

		if (!grown)
			return -ENOMEM;
		s->writers = grown;
		w = &s->writers[s->n_writers++];
		memset(w, 0, sizeof(*w));
		if ((r = text_dup(wr, 1, true, &w->name)) < 0 ||
		    (r = text_dup(wr, 2, true, &w->path)) < 0 ||
		    (r = text_dup(wr, 3, true, &w->kind)) < 0)
			return r;
		if (!one_of(w->kind, kind_names))
			return -EBADMSG;
		r = load_phases(c, s->seq, (size_t)sqlite3_column_int64(wr, 0), w);
		if (r < 0)
			return r;
	}
	return rc == SQLITE_DONE ? 0 : catalog_errno(rc);
}

void catalog_set_release_run(struct catalog_set *s)
{
	for (size_t i = 0; i < s->n_holds; i++)
		free(s->holds[i]);
	free(s->holds);
	for (size_t i = 0; i < s->n_frozen_fs; i++)
		free(s->frozen_fs[i]);
	free(s->frozen_fs);
	for (size_t i = 0; i < s->n_writers; i++) {
		struct catalog_writer *w = &s->writers[i];

		for (size_t j = 0; j < w->n_phases; j++) {
			free(w->phases[j].phase);
			free(w->phases[j].result);
			free(w->phases[j].message);
		}
		free(w->phases);
		free(w->name);
		free(w->path);
		free(w->kind);
	}
	free(s->writers);
	free(s->consistency);
}

void catalog_writer_status_free(struct catalog_writer_status *s, size_t n)
{
	for (size_t i = 0; s && i < n; i++) {
		free(s[i].path);
		free(s[i].name);
		free(s[i].kind);
		free(s[i].phase);
		free(s[i].result);
		free(s[i].message);
	}
	free(s);
}

int catalog_writer_status_list(struct catalog *c, struct catalog_writer_status **ret,
			       size_t *ret_n)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct catalog_writer_status *v = NULL;
	size_t n = 0;
	int r, rc;

	r = catalog_prepare(c,
			    "SELECT path, name, kind, phase, result, message, when_ns, set_id "
			    "FROM writer_status ORDER BY name, path",
			    &st);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct catalog_writer_status *e;
		const unsigned char *id;
		void *grown = reallocarray(v, n + 1, sizeof(*v));

		if (!grown) {
			r = -ENOMEM;
			goto fail;
		}
		v = grown;
		e = &v[n++];
		memset(e, 0, sizeof(*e));
		if ((r = text_dup(st, 0, true, &e->path)) < 0 ||
		    (r = text_dup(st, 1, true, &e->name)) < 0 ||
		    (r = text_dup(st, 2, true, &e->kind)) < 0 ||
		    (r = text_dup(st, 3, true, &e->phase)) < 0 ||
		    (r = text_dup(st, 4, true, &e->result)) < 0 ||
		    (r = text_dup(st, 5, false, &e->message)) < 0)
			goto fail;
		e->when_ns = sqlite3_column_int64(st, 6);
		id = sqlite3_column_text(st, 7);
		if (!id || strlen((const char *)id) != CATALOG_ID_LEN - 1) {
			r = -EBADMSG;
			goto fail;
		}
		memcpy(e->set_id, id, CATALOG_ID_LEN);
	}
	if (rc != SQLITE_DONE) {
		r = catalog_errno(rc);
		goto fail;
	}
	*ret = v;
	*ret_n = n;
	return 0;
fail:
	catalog_writer_status_free(v, n);
	return r;
}
