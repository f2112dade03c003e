// SPDX-License-Identifier: GPL-2.0-or-later
/* Pins (the set a view shows as current/) and leases (sets made for one run). */
#include "catalog-internal.h"

static int exec_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	return rc == SQLITE_DONE ? 0 : catalog_errno(rc);
}

int catalog_pin_set(struct catalog *c, const char *view, int64_t seq)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	if (!view || view[0] != '/')
		return -EINVAL;
	r = catalog_prepare(c,
			    "INSERT INTO pin (view, set_seq, pinned_ns) VALUES (?1, ?2, ?3) "
			    "ON CONFLICT (view) DO UPDATE SET pinned_ns = CASE "
			    "WHEN set_seq = ?2 THEN pinned_ns ELSE ?3 END, set_seq = ?2",
			    &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, view, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq);
	sqlite3_bind_int64(st, 3, time_now_ns());
	r = exec_done(st);
	/* a foreign key that fails means the set is gone */
	return r == -EEXIST ? -ENOENT : r;
}

int catalog_pin_clear(struct catalog *c, const char *view)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = catalog_prepare(c, "DELETE FROM pin WHERE view = ?", &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, view, -1, SQLITE_STATIC);
	return exec_done(st);
}

int catalog_pin_get(struct catalog *c, const char *view, int64_t *ret_seq,
		    int64_t *ret_pinned_ns)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	r = catalog_prepare(c, "SELECT set_seq, pinned_ns FROM pin WHERE view = ?", &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, view, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return catalog_errno(rc);
	*ret_seq = sqlite3_column_int64(st, 0);
	if (ret_pinned_ns)
		*ret_pinned_ns = sqlite3_column_int64(st, 1);
	return *ret_seq > 0 ? 0 : -EBADMSG;
}

int catalog_pin_views(struct catalog *c, int64_t seq, char ***ret)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	char **v = calloc(1, sizeof(*v));
	size_t n = 0;
	int r, rc;

	if (!v)
		return -ENOMEM;
	r = catalog_prepare(c, "SELECT view FROM pin WHERE set_seq = ? ORDER BY view", &st);
	if (r < 0)
		goto fail;
	sqlite3_bind_int64(st, 1, seq);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);
		char **grown;

		if (!t) {
			r = -EBADMSG;
			goto fail;
		}
		grown = reallocarray(v, n + 2, sizeof(*v));
		if (!grown) {
			r = -ENOMEM;
			goto fail;
		}
		v = grown;
		v[n + 1] = NULL;
		v[n] = strdup((const char *)t);
		if (!v[n]) {
			r = -ENOMEM;
			goto fail;
		}
		n++;
	}
	if (rc != SQLITE_DONE) {
		r = catalog_errno(rc);
		goto fail;
	}
	*ret = v;
	return 0;
fail:
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return r;
}

int catalog_lease_set(struct catalog *c, int64_t seq, const struct process_id *owner)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = catalog_prepare(c,
			    "INSERT OR REPLACE INTO lease (set_seq, owner_pid, owner_start, "
			    "owner_boot) VALUES (?, ?, ?, ?)",
			    &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_int64(st, 2, owner->pid);
	sqlite3_bind_int64(st, 3, (int64_t)owner->start_time);
	sqlite3_bind_text(st, 4, owner->boot_id, -1, SQLITE_STATIC);
	r = exec_done(st);
	return r == -EEXIST ? -ENOENT : r;
}

int catalog_lease_clear(struct catalog *c, int64_t seq)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = catalog_prepare(c, "DELETE FROM lease WHERE set_seq = ?", &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, seq);
	return exec_done(st);
}

int catalog_lease_get(struct catalog *c, int64_t seq, struct process_id *ret)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	const unsigned char *boot;
	int r, rc;

	r = catalog_prepare(c,
			    "SELECT owner_pid, owner_start, owner_boot FROM lease WHERE set_seq = ?",
			    &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, seq);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return catalog_errno(rc);
	boot = sqlite3_column_text(st, 2);
	if (!boot || strlen((const char *)boot) >= BOOT_ID_LEN)
		return -EBADMSG;
	ret->pid = (pid_t)sqlite3_column_int64(st, 0);
	ret->start_time = (uint64_t)sqlite3_column_int64(st, 1);
	strcpy(ret->boot_id, (const char *)boot);
	return 0;
}
