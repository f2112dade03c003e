// SPDX-License-Identifier: GPL-2.0-or-later
/* Snapshot sets and their volumes: intent, commit, lookup, removal. */
#include <stdio.h>
#include <sys/random.h>

#include "catalog-internal.h"

static const char *const state_names[_CATALOG_SET_STATE_MAX] = {
	[CATALOG_SET_CREATING] = "creating",
	[CATALOG_SET_COMPLETE] = "complete",
	[CATALOG_SET_FAILED] = "failed",
	[CATALOG_SET_DELETING] = "deleting",
};

const char *catalog_set_state_to_string(enum catalog_set_state state)
{
	if ((unsigned)state >= _CATALOG_SET_STATE_MAX)
		return NULL;
	return state_names[state];
}

int catalog_set_state_from_string(const char *s, enum catalog_set_state *ret)
{
	for (unsigned i = 0; i < _CATALOG_SET_STATE_MAX; i++)
		if (s && streq(s, state_names[i])) {
			*ret = (enum catalog_set_state)i;
			return 0;
		}
	return -EINVAL;
}

static void volume_release(struct catalog_volume *v)
{
	free(v->path);
	free(v->name);
	free(v->provider);
	free(v->storage);
	free(v->snapshot);
	free(v->origin_uuid);
	free(v->snapshot_uuid);
}

void catalog_set_free(struct catalog_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n_volumes; i++)
		volume_release(&set->volumes[i]);
	free(set->volumes);
	catalog_set_release_run(set);
	catalog_set_release_problems(set);
	free(set->label);
	free(set->reason);
	free(set);
}

void catalog_sets_free(struct catalog_set **sets, size_t n)
{
	if (!sets)
		return;
	for (size_t i = 0; i < n; i++)
		catalog_set_free(sets[i]);
	free(sets);
}

static int column_strdup(sqlite3_stmt *st, int col, char **ret)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	if (!t) {
		if (sqlite3_errcode(sqlite3_db_handle(st)) == SQLITE_NOMEM)
			return -ENOMEM;
		*ret = NULL;
		return 0;
	}
	*ret = strdup((const char *)t);
	return *ret ? 0 : -ENOMEM;
}

static int column_required(sqlite3_stmt *st, int col, char **ret)
{
	int r = column_strdup(st, col, ret);

	if (r == 0 && !*ret)
		return -EBADMSG;
	return r;
}

static int id_new(char ret[CATALOG_ID_LEN])
{
	uint32_t v;

	if (getrandom(&v, sizeof(v), 0) != sizeof(v))
		return -errno;
	snprintf(ret, CATALOG_ID_LEN, "%08x", v);
	return 0;
}

static int volume_key_get(struct catalog *c, const char *path, int64_t *ret)
{
	_cleanup_stmt_ sqlite3_stmt *ins = NULL, *sel = NULL;
	int r, rc;

	r = catalog_prepare(c, "INSERT OR IGNORE INTO volume (path) VALUES (?)", &ins);
	if (r < 0)
		return r;
	sqlite3_bind_text(ins, 1, path, -1, SQLITE_STATIC);
	rc = sqlite3_step(ins);
	if (rc != SQLITE_DONE)
		return catalog_errno(rc);
	r = catalog_prepare(c, "SELECT key FROM volume WHERE path = ?", &sel);
	if (r < 0)
		return r;
	sqlite3_bind_text(sel, 1, path, -1, SQLITE_STATIC);
	rc = sqlite3_step(sel);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? -EBADMSG : catalog_errno(rc);
	*ret = sqlite3_column_int64(sel, 0);
	return 0;
}

static int token_taken(struct catalog *c, const char *token, bool *ret)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	r = catalog_prepare(c, "SELECT 1 FROM snapshot_set WHERE token = ?", &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, token, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return catalog_errno(rc);
	*ret = rc == SQLITE_ROW;
	return 0;
}

/* Inside the write transaction: picks a time whose token no set holds yet. */
static int pick_time(struct catalog *c, int64_t *ret_ns, char token[GMT_TOKEN_LEN])
{
	for (int tries = 0; tries < 5; tries++) {
		int64_t now = time_now_ns();
		bool taken = false;
		int r;

		r = gmt_token_format((time_t)(now / 1000000000), token, GMT_TOKEN_LEN);
		if (r < 0)
			return r;
		r = token_taken(c, token, &taken);
		if (r < 0)
			return r;
		if (!taken) {
			*ret_ns = now;
			return 0;
		}
		/* sleep into the next second; the write lock keeps others waiting meanwhile */
		struct timespec ts = { 0, 1000000000 - now % 1000000000 + 1000000 };
		nanosleep(&ts, NULL);
	}
	return -EBUSY;
}

static int insert_set(struct catalog *c, const char *id, int64_t now, const char *token,
		      const char *label, const struct process_id *owner, int64_t *ret_seq)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	r = catalog_prepare(c,
			    "INSERT INTO snapshot_set (id, created_ns, token, label, state, "
			    "owner_pid, owner_start, owner_boot) "
			    "VALUES (?, ?, ?, ?, 'creating', ?, ?, ?)",
			    &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_text(st, 3, token, -1, SQLITE_STATIC);
	if (label)
		sqlite3_bind_text(st, 4, label, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, owner->pid);
	sqlite3_bind_int64(st, 6, (int64_t)owner->start_time);
	sqlite3_bind_text(st, 7, owner->boot_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return catalog_errno(rc);
	*ret_seq = sqlite3_last_insert_rowid(c->db);
	return 0;
}

static int insert_volume(struct catalog *c, int64_t seq, unsigned idx,
			 const struct catalog_volume_spec *v)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t key = 0;
	int r, rc;

	r = volume_key_get(c, v->path, &key);
	if (r < 0)
		return r;
	r = catalog_prepare(c,
			    "INSERT INTO set_volume (set_seq, idx, volume_key, name, provider, "
			    "storage, origin_uuid) VALUES (?, ?, ?, ?, ?, ?, ?)",
			    &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_int(st, 2, (int)idx);
	sqlite3_bind_int64(st, 3, key);
	sqlite3_bind_text(st, 4, v->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, v->provider, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, v->storage, -1, SQLITE_STATIC);
	if (v->origin_uuid)
		sqlite3_bind_text(st, 7, v->origin_uuid, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	return rc == SQLITE_DONE ? 0 : catalog_errno(rc);
}


int catalog_set_begin(struct catalog *c, const char *label,
		      const struct catalog_volume_spec *vols, size_t n_vols,
		      const struct process_id *owner, struct catalog_set **ret)
{
	char id[CATALOG_ID_LEN], token[GMT_TOKEN_LEN];
	int64_t now = 0, seq = 0;
	int r;

	if (n_vols == 0)
		return -EINVAL;
	r = catalog_exec(c, "BEGIN IMMEDIATE");
	if (r < 0)
		return r;
	r = pick_time(c, &now, token);
	if (r < 0)
		goto fail;
	for (int tries = 0;; tries++) {
		r = id_new(id);
		if (r < 0)
			goto fail;
		r = insert_set(c, id, now, token, label, owner, &seq);
		if (r != -EEXIST || tries > 16)
			break;
	}
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < n_vols; i++) {
		r = insert_volume(c, seq, (unsigned)i, &vols[i]);
		if (r < 0)
			goto fail;
	}
	r = catalog_exec(c, "COMMIT");
	if (r < 0)
		goto fail;
	return catalog_set_get_seq(c, seq, ret);
fail:
	catalog_exec(c, "ROLLBACK");
	return r;
}

int catalog_volume_set_snapshot(struct catalog *c, int64_t seq, unsigned index,
				const char *snapshot, const char *snapshot_uuid)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	r = catalog_prepare(c,
			    "UPDATE set_volume SET snapshot = ?, snapshot_uuid = ? "
			    "WHERE set_seq = ? AND idx = ?",
			    &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, snapshot, -1, SQLITE_STATIC);
	if (snapshot_uuid)
		sqlite3_bind_text(st, 2, snapshot_uuid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, seq);
	sqlite3_bind_int(st, 4, (int)index);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return catalog_errno(rc);
	return sqlite3_changes(c->db) == 1 ? 0 : -ENOENT;
}

int catalog_set_update_state(struct catalog *c, int64_t seq, enum catalog_set_state state,
			     const char *reason)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	bool done = state == CATALOG_SET_COMPLETE || state == CATALOG_SET_FAILED;
	int r, rc;

	if (!catalog_set_state_to_string(state))
		return -EINVAL;
	r = catalog_prepare(c,
			    "UPDATE snapshot_set SET state = ?, reason = ?, "
			    "completed_ns = CASE WHEN ? THEN ? ELSE completed_ns END WHERE seq = ?",
			    &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, catalog_set_state_to_string(state), -1, SQLITE_STATIC);
	if (reason)
		sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, done);
	sqlite3_bind_int64(st, 4, time_now_ns());
	sqlite3_bind_int64(st, 5, seq);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return catalog_errno(rc);
	return sqlite3_changes(c->db) == 1 ? 0 : -ENOENT;
}

int catalog_set_transition(struct catalog *c, int64_t seq, enum catalog_set_state from,
			   enum catalog_set_state to, const char *reason)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	if (!catalog_set_state_to_string(from) || !catalog_set_state_to_string(to))
		return -EINVAL;
	r = catalog_prepare(c,
			    "UPDATE snapshot_set SET state = ?, reason = coalesce(?, reason) "
			    "WHERE seq = ? AND state = ?",
			    &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, catalog_set_state_to_string(to), -1, SQLITE_STATIC);
	if (reason)
		sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, seq);
	sqlite3_bind_text(st, 4, catalog_set_state_to_string(from), -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return catalog_errno(rc);
	if (sqlite3_changes(c->db) == 1)
		return 0;
	sqlite3_finalize(st);
	st = NULL;
	r = catalog_prepare(c, "SELECT 1 FROM snapshot_set WHERE seq = ?", &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, seq);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return -ESTALE;
	return rc == SQLITE_DONE ? -ENOENT : catalog_errno(rc);
}

int catalog_snapshot_owned(struct catalog *c, const char *path, bool *ret)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	r = catalog_prepare(c, "SELECT 1 FROM set_volume WHERE snapshot = ? LIMIT 1", &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return catalog_errno(rc);
	*ret = rc == SQLITE_ROW;
	return 0;
}

int catalog_set_remove(struct catalog *c, int64_t seq)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	r = catalog_prepare(c, "DELETE FROM snapshot_set WHERE seq = ?", &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, seq);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return catalog_errno(rc);
	return sqlite3_changes(c->db) == 1 ? 0 : -ENOENT;
}

#define SET_COLUMNS                                                                                \
	"seq, id, created_ns, token, label, state, reason, owner_pid, owner_start, owner_boot, "  \
	"completed_ns, consistency, hold_ns"

/* Reads one row of SET_COLUMNS, validating what came from disk. */
static int set_from_row(sqlite3_stmt *st, struct catalog_set **ret)
{
	_cleanup_catalog_set_ struct catalog_set *s = calloc(1, sizeof(*s));
	const unsigned char *id, *token, *state, *boot;
	time_t sec;
	int r;

	if (!s)
		return -ENOMEM;
	s->seq = sqlite3_column_int64(st, 0);
	id = sqlite3_column_text(st, 1);
	s->created_ns = sqlite3_column_int64(st, 2);
	token = sqlite3_column_text(st, 3);
	state = sqlite3_column_text(st, 5);
	boot = sqlite3_column_text(st, 9);
	if (s->seq <= 0 || !id || strlen((const char *)id) != CATALOG_ID_LEN - 1 ||
	    strspn((const char *)id, "0123456789abcdef") != CATALOG_ID_LEN - 1 || !token ||
	    gmt_token_parse((const char *)token, &sec) < 0 || !boot ||
	    strlen((const char *)boot) >= BOOT_ID_LEN ||
	    catalog_set_state_from_string((const char *)state, &s->state) < 0)
		return -EBADMSG;
	strcpy(s->id, (const char *)id);
	strcpy(s->token, (const char *)token);
	r = column_strdup(st, 4, &s->label);
	if (r < 0)
		return r;
	r = column_strdup(st, 6, &s->reason);
	if (r < 0)
		return r;
	s->owner.pid = (pid_t)sqlite3_column_int64(st, 7);
	s->owner.start_time = (uint64_t)sqlite3_column_int64(st, 8);
	strcpy(s->owner.boot_id, (const char *)boot);
	s->completed_ns = sqlite3_column_int64(st, 10);
	r = column_strdup(st, 11, &s->consistency);
	if (r < 0)
		return r;
	if (s->consistency && !streq(s->consistency, "application") &&
	    !streq(s->consistency, "crash"))
		return -EBADMSG;
	s->hold_ns = sqlite3_column_int64(st, 12);
	*ret = TAKE_PTR(s);
	return 0;
}

static int set_load_volumes(struct catalog *c, struct catalog_set *s)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	size_t n = 0, cap = 0;
	int r, rc;

	r = catalog_prepare(c,
			    "SELECT idx, volume_key, v.path, name, provider, storage, snapshot, "
			    "origin_uuid, snapshot_uuid FROM set_volume "
			    "JOIN volume v ON v.key = volume_key WHERE set_seq = ? ORDER BY idx",
			    &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, s->seq);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct catalog_volume *v;

		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			void *p = reallocarray(s->volumes, ncap, sizeof(*s->volumes));

			if (!p)
				return -ENOMEM;
			s->volumes = p;
			cap = ncap;
		}
		v = &s->volumes[n];
		memset(v, 0, sizeof(*v));
		s->n_volumes = ++n;
		if (sqlite3_column_int64(st, 0) != (int64_t)(n - 1))
			return -EBADMSG;
		v->index = (unsigned)(n - 1);
		v->volume_key = sqlite3_column_int64(st, 1);
		if ((r = column_required(st, 2, &v->path)) < 0 ||
		    (r = column_required(st, 3, &v->name)) < 0 ||
		    (r = column_required(st, 4, &v->provider)) < 0 ||
		    (r = column_required(st, 5, &v->storage)) < 0 ||
		    (r = column_strdup(st, 6, &v->snapshot)) < 0 ||
		    (r = column_strdup(st, 7, &v->origin_uuid)) < 0 ||
		    (r = column_strdup(st, 8, &v->snapshot_uuid)) < 0)
			return r;
		if (v->path[0] != '/' || v->name[0] == '\0' || strchr(v->name, '/') ||
		    (v->snapshot && v->snapshot[0] != '/'))
			return -EBADMSG;
	}
	if (rc != SQLITE_DONE)
		return catalog_errno(rc);
	if (n == 0)
		return -EBADMSG;
	return 0;
}

static int set_query_one(struct catalog *c, sqlite3_stmt *st, struct catalog_set **ret)
{
	_cleanup_catalog_set_ struct catalog_set *s = NULL;
	int r, rc;

	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return catalog_errno(rc);
	r = set_from_row(st, &s);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return -ENOTUNIQ;
	if (rc != SQLITE_DONE)
		return catalog_errno(rc);
	r = set_load_volumes(c, s);
	if (r < 0)
		return r;
	r = catalog_set_load_run(c, s);
	if (r < 0)
		return r;
	r = catalog_set_load_problems(c, s);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(s);
	return 0;
}

int catalog_set_get_seq(struct catalog *c, int64_t seq, struct catalog_set **ret)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = catalog_prepare(c, "SELECT " SET_COLUMNS " FROM snapshot_set WHERE seq = ?", &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, seq);
	return set_query_one(c, st, ret);
}

static bool is_hex_prefix(const char *s)
{
	size_t n = strlen(s);

	if (n < 4 || n > CATALOG_ID_LEN - 1)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int catalog_set_get(struct catalog *c, const char *id, struct catalog_set **ret)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	time_t sec;
	int r;

	if (gmt_token_parse(id, &sec) == 0) {
		r = catalog_prepare(c, "SELECT " SET_COLUMNS " FROM snapshot_set WHERE token = ?",
				    &st);
		if (r < 0)
			return r;
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		return set_query_one(c, st, ret);
	}
	if (!is_hex_prefix(id))
		return -ENOENT;
	r = catalog_prepare(c,
			    "SELECT " SET_COLUMNS " FROM snapshot_set "
			    "WHERE substr(id, 1, length(?1)) = ?1 ORDER BY id = ?1 DESC LIMIT 2",
			    &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	/* an exact match wins over a longer id that shares the prefix */
	if (strlen(id) == CATALOG_ID_LEN - 1) {
		sqlite3_finalize(st);
		st = NULL;
		r = catalog_prepare(c, "SELECT " SET_COLUMNS " FROM snapshot_set WHERE id = ?",
				    &st);
		if (r < 0)
			return r;
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	}
	return set_query_one(c, st, ret);
}

int catalog_set_list(struct catalog *c, unsigned state_mask, struct catalog_set ***ret_sets,
		     size_t *ret_n)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct catalog_set **sets = NULL;
	size_t n = 0, cap = 0;
	int r, rc;

	r = catalog_prepare(c, "SELECT " SET_COLUMNS " FROM snapshot_set ORDER BY seq", &st);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct catalog_set *s;

		r = set_from_row(st, &s);
		if (r < 0)
			goto fail;
		if (!(state_mask & (1u << s->state))) {
			catalog_set_free(s);
			continue;
		}
		r = set_load_volumes(c, s);
		if (r == 0)
			r = catalog_set_load_run(c, s);
		if (r == 0)
			r = catalog_set_load_problems(c, s);
		if (r < 0) {
			catalog_set_free(s);
			goto fail;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			void *p = reallocarray(sets, ncap, sizeof(*sets));

			if (!p) {
				catalog_set_free(s);
				r = -ENOMEM;
				goto fail;
			}
			sets = p;
			cap = ncap;
		}
		sets[n++] = s;
	}
	if (rc != SQLITE_DONE) {
		r = catalog_errno(rc);
		goto fail;
	}
	*ret_sets = sets;
	*ret_n = n;
	return 0;
fail:
	catalog_sets_free(sets, n);
	return r;
}

int catalog_storage_add(struct catalog *c, const char *path, const char *provider)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	r = catalog_prepare(c, "INSERT OR IGNORE INTO storage (path, provider) VALUES (?, ?)",
			    &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, provider, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	return rc == SQLITE_DONE ? 0 : catalog_errno(rc);
}

int catalog_storage_list(struct catalog *c, char ***ret)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	char **v = NULL;
	size_t n = 0;
	int r, rc;

	r = catalog_prepare(c, "SELECT path FROM storage ORDER BY path", &st);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char **p = reallocarray(v, n + 2, sizeof(*v));

		if (!p) {
			r = -ENOMEM;
			goto fail;
		}
		v = p;
		v[n + 1] = NULL;
		r = column_required(st, 0, &v[n]);
		if (r < 0)
			goto fail;
		n++;
	}
	if (rc != SQLITE_DONE) {
		r = catalog_errno(rc);
		goto fail;
	}
	if (!v) {
		v = calloc(1, sizeof(*v));
		if (!v)
			return -ENOMEM;
	}
	*ret = v;
	return 0;
fail:
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
	return r;
}
