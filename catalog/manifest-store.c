// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Manifests in the catalog: a row per manifest with its totals and digest,
 * and its blocks as BLOBs. Blocks are committed in batches while a manifest
 * is built, so a long index never holds the write lock for long; readers load
 * one block at a time and trust nothing they have not checked.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "catalog-internal.h"

/* Blocks stored per transaction while building (4 MiB of manifest). */
#define BLOCKS_PER_COMMIT 64

static const char *const method_names[_CATALOG_INDEX_METHOD_MAX] = {
	[CATALOG_INDEX_FULL] = "full",
	[CATALOG_INDEX_STAT] = "stat",
	[CATALOG_INDEX_GENERATION] = "generation",
};

const char *catalog_index_method_to_string(enum catalog_index_method m)
{
	if ((unsigned)m >= _CATALOG_INDEX_METHOD_MAX)
		return NULL;
	return method_names[m];
}

static int method_from_string(const char *s, enum catalog_index_method *ret)
{
	for (unsigned i = 0; i < _CATALOG_INDEX_METHOD_MAX; i++)
		if (s && streq(s, method_names[i])) {
			*ret = (enum catalog_index_method)i;
			return 0;
		}
	return -EBADMSG;
}

/* The block lookup key: the path with '/' as 0, so byte order is path order. */
static char *path_key(const char *path, size_t len)
{
	char *k = malloc(len ? len : 1);

	if (!k)
		return NULL;
	for (size_t i = 0; i < len; i++)
		k[i] = path[i] == '/' ? 0 : path[i];
	return k;
}

#define MANIFEST_COLUMNS                                                                   \
	"set_seq, vol_idx, state, method, base_set_seq, generation, started_ns, finished_ns, " \
	"entries, blocks, files, bytes, read_files, read_bytes, digest"

static int manifest_from_row(sqlite3_stmt *st, struct catalog_manifest *ret)
{
	struct catalog_manifest m = { 0 };
	const char *state = (const char *)sqlite3_column_text(st, 2);
	const void *digest;
	int r;

	m.set_seq = sqlite3_column_int64(st, 0);
	m.vol_idx = (unsigned)sqlite3_column_int64(st, 1);
	if (!state)
		return -EBADMSG;
	m.complete = streq(state, "complete");
	r = method_from_string((const char *)sqlite3_column_text(st, 3), &m.method);
	if (r < 0)
		return r;
	m.base_set_seq = sqlite3_column_int64(st, 4);
	m.has_generation = sqlite3_column_type(st, 5) != SQLITE_NULL;
	m.generation = (uint64_t)sqlite3_column_int64(st, 5);
	m.started_ns = sqlite3_column_int64(st, 6);
	m.finished_ns = sqlite3_column_int64(st, 7);
	m.entries = (uint64_t)sqlite3_column_int64(st, 8);
	m.blocks = (uint64_t)sqlite3_column_int64(st, 9);
	m.files = (uint64_t)sqlite3_column_int64(st, 10);
	m.bytes = (uint64_t)sqlite3_column_int64(st, 11);
	m.read_files = (uint64_t)sqlite3_column_int64(st, 12);
	m.read_bytes = (uint64_t)sqlite3_column_int64(st, 13);
	digest = sqlite3_column_blob(st, 14);
	if (m.complete) {
		if (!digest || sqlite3_column_bytes(st, 14) != MANIFEST_DIGEST_LEN)
			return -EBADMSG;
		memcpy(m.digest, digest, MANIFEST_DIGEST_LEN);
	}
	*ret = m;
	return 0;
}

int catalog_manifest_get(struct catalog *c, int64_t seq, unsigned vol_idx,
			 struct catalog_manifest *ret)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	r = catalog_prepare(c,
			    "SELECT " MANIFEST_COLUMNS
			    " FROM manifest WHERE set_seq = ? AND vol_idx = ?",
			    &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_int64(st, 2, vol_idx);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return catalog_errno(rc);
	return manifest_from_row(st, ret);
}

int catalog_manifest_find_base(struct catalog *c, int64_t seq, unsigned vol_idx,
			       struct catalog_manifest *ret)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	r = catalog_prepare(c,
			    "SELECT m.set_seq, m.vol_idx FROM manifest m"
			    " JOIN set_volume sv ON sv.set_seq = m.set_seq AND sv.idx = m.vol_idx"
			    " JOIN snapshot_set s ON s.seq = m.set_seq"
			    " WHERE m.state = 'complete' AND s.state = 'complete' AND m.set_seq < ?1"
			    " AND sv.volume_key = (SELECT volume_key FROM set_volume"
			    "   WHERE set_seq = ?1 AND idx = ?2)"
			    " ORDER BY m.set_seq DESC LIMIT 1",
			    &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_int64(st, 2, vol_idx);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return catalog_errno(rc);
	return catalog_manifest_get(c, sqlite3_column_int64(st, 0),
				    (unsigned)sqlite3_column_int64(st, 1), ret);
}

/*
 * A manifest being built is kept under a key of its own, -1 - vol_idx, so
 * that the volume's complete manifest stays readable until the new one
 * replaces it in one transaction.
 */
static int64_t building_key(unsigned vol_idx)
{
	return -1 - (int64_t)vol_idx;
}

static int remove_key(struct catalog *c, int64_t seq, int64_t key)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = catalog_prepare(c, "DELETE FROM manifest WHERE set_seq = ? AND vol_idx = ?", &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_int64(st, 2, key);
	return catalog_errno(sqlite3_step(st));
}

int catalog_manifest_remove(struct catalog *c, int64_t seq, unsigned vol_idx)
{
	int r = remove_key(c, seq, vol_idx);

	return r < 0 ? r : remove_key(c, seq, building_key(vol_idx));
}

/* The owner recorded in columns col.. (pid, start, boot) of a manifest row is alive. */
static bool owner_alive(sqlite3_stmt *st, int col)
{
	struct process_id owner = {
		.pid = (pid_t)sqlite3_column_int64(st, col),
		.start_time = (uint64_t)sqlite3_column_int64(st, col + 1),
	};
	const unsigned char *boot = sqlite3_column_text(st, col + 2);

	/* an unreadable owner cannot be shown alive */
	if (!boot || strlen((const char *)boot) >= sizeof(owner.boot_id))
		return false;
	strcpy(owner.boot_id, (const char *)boot);
	return process_id_alive(&owner);
}

int catalog_manifest_remove_abandoned(struct catalog *c, unsigned *ret_removed)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct {
		int64_t seq;
		int64_t key;
	} gone[64];
	unsigned n = 0, removed = 0;
	int r, rc;

	r = catalog_prepare(c,
			    "SELECT set_seq, vol_idx, owner_pid, owner_start, owner_boot "
			    "FROM manifest WHERE state = 'building'",
			    &st);
	if (r < 0)
		return r;
	/* a batch at a time: removing while the query runs is not allowed */
	for (;;) {
		n = 0;
		while (n < ARRAY_SIZE(gone) && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (owner_alive(st, 2))
				continue;
			gone[n].seq = sqlite3_column_int64(st, 0);
			gone[n].key = sqlite3_column_int64(st, 1);
			n++;
		}
		if (n < ARRAY_SIZE(gone) && rc != SQLITE_DONE && rc != SQLITE_ROW)
			return catalog_errno(rc);
		sqlite3_reset(st);
		for (unsigned i = 0; i < n; i++) {
			r = remove_key(c, gone[i].seq, gone[i].key);
			if (r < 0)
				return r;
			removed++;
		}
		if (n < ARRAY_SIZE(gone))
			break;
	}
	if (ret_removed)
		*ret_removed = removed;
	return 0;
}

/* Writing */

struct catalog_manifest_writer {
	struct catalog *c;
	int64_t seq;
	unsigned vol_idx;
	int64_t key; /* where it is built */
	struct manifest_encoder *enc;
	sqlite3_stmt *insert;
	uint64_t blocks;
	uint64_t entries_flushed;
	unsigned uncommitted;
	bool in_transaction;
	bool finished;
};

static int writer_flush(void *userdata, const struct manifest_block_info *b)
{
	struct catalog_manifest_writer *w = userdata;
	_cleanup_free_ char *key = NULL;
	int r, rc;

	if (b->size > INT_MAX)
		return -E2BIG;
	key = path_key(b->first_path, b->first_path_len);
	if (!key)
		return -ENOMEM;
	if (!w->in_transaction) {
		r = catalog_exec(w->c, "BEGIN IMMEDIATE");
		if (r < 0)
			return r;
		w->in_transaction = true;
	}
	sqlite3_reset(w->insert);
	sqlite3_bind_int64(w->insert, 1, w->seq);
	sqlite3_bind_int64(w->insert, 2, w->key);
	sqlite3_bind_int64(w->insert, 3, (int64_t)w->blocks);
	sqlite3_bind_int64(w->insert, 4, (int64_t)w->entries_flushed);
	sqlite3_bind_blob(w->insert, 5, key, (int)b->first_path_len, SQLITE_STATIC);
	sqlite3_bind_blob(w->insert, 6, b->data, (int)b->size, SQLITE_STATIC);
	rc = sqlite3_step(w->insert);
	sqlite3_clear_bindings(w->insert);
	if (rc != SQLITE_DONE)
		return catalog_errno(rc);
	w->blocks++;
	w->entries_flushed += b->n_entries;
	if (++w->uncommitted >= BLOCKS_PER_COMMIT) {
		r = catalog_exec(w->c, "COMMIT");
		if (r < 0)
			return r;
		w->in_transaction = false;
		w->uncommitted = 0;
	}
	return 0;
}

/* Frees the building key of a manifest whose builder is gone; -EBUSY while it lives. */
static int take_building_key(struct catalog *c, int64_t seq, int64_t key)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	r = catalog_prepare(c,
			    "SELECT owner_pid, owner_start, owner_boot FROM manifest "
			    "WHERE set_seq = ? AND vol_idx = ?",
			    &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_int64(st, 2, key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return catalog_errno(rc);
	if (owner_alive(st, 0))
		return -EBUSY;
	sqlite3_finalize(TAKE_PTR(st));
	return remove_key(c, seq, key);
}

int catalog_manifest_writer_new(struct catalog *c, int64_t seq, unsigned vol_idx,
				enum catalog_index_method method, int64_t base_set_seq,
				const uint64_t *generation, struct catalog_manifest_writer **ret)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct catalog_manifest_writer *w;
	struct process_id owner;
	int r;

	if (!catalog_index_method_to_string(method))
		return -EINVAL;
	r = process_id_get(getpid(), &owner);
	if (r < 0)
		return r;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->c = c;
	w->seq = seq;
	w->vol_idx = vol_idx;
	w->key = building_key(vol_idx);

	r = catalog_exec(c, "BEGIN IMMEDIATE");
	if (r < 0)
		goto fail;
	r = take_building_key(c, seq, w->key);
	if (r >= 0)
		r = catalog_prepare(c,
				    "INSERT INTO manifest (set_seq, vol_idx, state, method, "
				    "base_set_seq, generation, started_ns, owner_pid, owner_start, "
				    "owner_boot) VALUES (?, ?, 'building', ?, ?, ?, ?, ?, ?, ?)",
				    &st);
	if (r >= 0) {
		sqlite3_bind_int64(st, 1, seq);
		sqlite3_bind_int64(st, 2, w->key);
		sqlite3_bind_text(st, 3, catalog_index_method_to_string(method), -1, SQLITE_STATIC);
		if (base_set_seq > 0)
			sqlite3_bind_int64(st, 4, base_set_seq);
		if (generation)
			sqlite3_bind_int64(st, 5, (int64_t)*generation);
		sqlite3_bind_int64(st, 6, time_now_ns());
		sqlite3_bind_int64(st, 7, owner.pid);
		sqlite3_bind_int64(st, 8, (int64_t)owner.start_time);
		sqlite3_bind_text(st, 9, owner.boot_id, -1, SQLITE_STATIC);
		r = catalog_errno(sqlite3_step(st));
	}
	if (r < 0) {
		catalog_exec(c, "ROLLBACK");
		goto fail;
	}
	r = catalog_exec(c, "COMMIT");
	if (r < 0) {
		catalog_exec(c, "ROLLBACK");
		goto fail;
	}
	failpoint("index-after-intent");
	/* from here on, freeing the writer removes the row again */
	r = catalog_prepare(c,
			    "INSERT INTO manifest_block (set_seq, vol_idx, block, first_entry, "
			    "first_key, data) VALUES (?, ?, ?, ?, ?, ?)",
			    &w->insert);
	if (r >= 0)
		r = manifest_encoder_new(writer_flush, w, &w->enc);
	if (r < 0) {
		catalog_manifest_writer_free(w);
		return r;
	}
	*ret = w;
	return 0;
fail:
	free(w);
	return r;
}

int catalog_manifest_writer_add(struct catalog_manifest_writer *w, const struct manifest_entry *e)
{
	if (w->finished)
		return -EINVAL;
	return manifest_encoder_add(w->enc, e);
}

/* In the finishing transaction: the new manifest takes the place of the old one. */
static int swap_in(struct catalog_manifest_writer *w)
{
	static const char *const sql[] = {
		"DELETE FROM manifest WHERE set_seq = ?1 AND vol_idx = ?2",
		"UPDATE manifest_block SET vol_idx = ?2 WHERE set_seq = ?1 AND vol_idx = ?3",
		"UPDATE manifest SET vol_idx = ?2 WHERE set_seq = ?1 AND vol_idx = ?3",
	};
	int r;

	/* the blocks move before their manifest row: checked at commit */
	r = catalog_exec(w->c, "PRAGMA defer_foreign_keys = ON");
	for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(sql); i++) {
		_cleanup_stmt_ sqlite3_stmt *st = NULL;

		r = catalog_prepare(w->c, sql[i], &st);
		if (r < 0)
			break;
		sqlite3_bind_int64(st, 1, w->seq);
		sqlite3_bind_int64(st, 2, w->vol_idx);
		sqlite3_bind_int64(st, 3, w->key);
		r = catalog_errno(sqlite3_step(st));
	}
	return r;
}

int catalog_manifest_writer_finish(struct catalog_manifest_writer *w,
				   const struct catalog_manifest_totals *t)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	uint8_t digest[MANIFEST_DIGEST_LEN];
	int r;

	if (w->finished)
		return -EINVAL;
	r = manifest_encoder_finish(w->enc);
	if (r < 0)
		return r;
	manifest_encoder_digest(w->enc, digest);
	if (!w->in_transaction) {
		r = catalog_exec(w->c, "BEGIN IMMEDIATE");
		if (r < 0)
			return r;
		w->in_transaction = true;
	}
	r = catalog_prepare(w->c,
			    "UPDATE manifest SET state = 'complete', finished_ns = ?, entries = ?, "
			    "blocks = ?, files = ?, bytes = ?, read_files = ?, read_bytes = ?, "
			    "digest = ? WHERE set_seq = ? AND vol_idx = ? AND state = 'building'",
			    &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, time_now_ns());
	sqlite3_bind_int64(st, 2, (int64_t)manifest_encoder_entries(w->enc));
	sqlite3_bind_int64(st, 3, (int64_t)w->blocks);
	sqlite3_bind_int64(st, 4, (int64_t)t->files);
	sqlite3_bind_int64(st, 5, (int64_t)t->bytes);
	sqlite3_bind_int64(st, 6, (int64_t)t->read_files);
	sqlite3_bind_int64(st, 7, (int64_t)t->read_bytes);
	sqlite3_bind_blob(st, 8, digest, MANIFEST_DIGEST_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, w->seq);
	sqlite3_bind_int64(st, 10, w->key);
	r = catalog_errno(sqlite3_step(st));
	if (r < 0)
		return r;
	/* the set may have been deleted meanwhile: then there is nothing to complete */
	if (sqlite3_changes(w->c->db) != 1)
		return -ENOENT;
	r = swap_in(w);
	if (r < 0)
		return r;
	r = catalog_exec(w->c, "COMMIT");
	if (r < 0)
		return r;
	w->in_transaction = false;
	w->finished = true;
	return 0;
}

void catalog_manifest_writer_free(struct catalog_manifest_writer *w)
{
	if (!w)
		return;
	if (w->in_transaction)
		catalog_exec(w->c, "ROLLBACK");
	if (!w->finished)
		remove_key(w->c, w->seq, w->key);
	sqlite3_finalize(w->insert);
	manifest_encoder_free(w->enc);
	free(w);
}

/* Reading */

/* One block, decoded whole: entries with their strings in an arena. */
struct decoded_block {
	int64_t no;          /* -1 when none */
	uint64_t first_entry;
	struct manifest_entry *entries;
	size_t n, cap;
	char *arena;
	size_t arena_len, arena_cap;
};

struct catalog_manifest_reader {
	struct catalog *c;
	struct catalog_manifest m;
	sqlite3_stmt *by_no;
	sqlite3_stmt *by_key;
	struct decoded_block blk;
	size_t pos;            /* next entry of blk */
	uint64_t next_block;   /* the block to load when blk is used up */
	uint64_t ordinal;      /* of the entry last returned */
	bool sequential;       /* read from the first block on, so the digest can be checked */
	XXH3_state_t *digest;
	char *last_path;       /* last entry of the previous block, for the order across blocks */
	size_t last_path_len;
	bool have_last;
	char damage[160];
};

static void block_release(struct decoded_block *b)
{
	free(b->entries);
	free(b->arena);
	*b = (struct decoded_block){ .no = -1 };
}

static int arena_add(struct decoded_block *b, const char *s, size_t len, size_t *ret_off)
{
	if (b->arena_len + len + 1 > b->arena_cap) {
		size_t cap = b->arena_cap ? b->arena_cap : 4096;
		char *a;

		while (cap < b->arena_len + len + 1)
			cap *= 2;
		a = realloc(b->arena, cap);
		if (!a)
			return -ENOMEM;
		b->arena = a;
		b->arena_cap = cap;
	}
	memcpy(b->arena + b->arena_len, s, len);
	b->arena[b->arena_len + len] = 0;
	*ret_off = b->arena_len;
	b->arena_len += len + 1;
	return 0;
}

static int damaged(struct catalog_manifest_reader *r, const char *what, int64_t block)
{
	if (block >= 0)
		snprintf(r->damage, sizeof(r->damage), "block %" PRId64 ": %s", block, what);
	else
		snprintf(r->damage, sizeof(r->damage), "%s", what);
	return -EBADMSG;
}

/* Decodes block `no` from the current row of `st` (columns block, first_entry, first_key, data). */
static int load_row(struct catalog_manifest_reader *r, sqlite3_stmt *st)
{
	struct decoded_block *b = &r->blk;
	struct manifest_block_iter it = { 0 };
	const void *data = sqlite3_column_blob(st, 3);
	int size = sqlite3_column_bytes(st, 3);
	int64_t no = sqlite3_column_int64(st, 0);
	int64_t first = sqlite3_column_int64(st, 1);
	const char *key = sqlite3_column_blob(st, 2);
	size_t key_len = (size_t)sqlite3_column_bytes(st, 2);
	const void *payload;
	size_t payload_size;
	int k;

	b->n = 0;
	b->arena_len = 0;
	b->no = -1;
	if (!data || size <= 0 || first < 0 || no < 0 || (uint64_t)no >= r->m.blocks)
		return damaged(r, "malformed block record", no);
	if (manifest_block_parse(data, (size_t)size, &it) < 0)
		return damaged(r, "bad header or checksum", no);
	for (;;) {
		struct manifest_entry e;
		size_t path_off, target_off = 0;

		k = manifest_block_next(&it, &e);
		if (k == 0)
			break;
		if (k < 0) {
			manifest_block_iter_release(&it);
			return damaged(r, "malformed entry", no);
		}
		if (b->n == b->cap) {
			size_t cap = b->cap ? b->cap * 2 : 1024;
			struct manifest_entry *n = reallocarray(b->entries, cap, sizeof(*n));

			if (!n) {
				manifest_block_iter_release(&it);
				return -ENOMEM;
			}
			b->entries = n;
			b->cap = cap;
		}
		if (arena_add(b, e.path, e.path_len, &path_off) < 0 ||
		    (e.target && arena_add(b, e.target, e.target_len, &target_off) < 0)) {
			manifest_block_iter_release(&it);
			return -ENOMEM;
		}
		/* offsets for now: the arena may still move */
		e.path = (const char *)(uintptr_t)path_off;
		if (e.target)
			e.target = (const char *)(uintptr_t)target_off;
		b->entries[b->n++] = e;
	}
	manifest_block_iter_release(&it);
	for (size_t i = 0; i < b->n; i++) {
		b->entries[i].path = b->arena + (uintptr_t)b->entries[i].path;
		if (b->entries[i].target)
			b->entries[i].target = b->arena + (uintptr_t)b->entries[i].target;
	}
	if (b->n == 0)
		return damaged(r, "empty block", no);
	/* the lookup key must name the block's first entry, or lookups would miss */
	if ((!key && key_len) || key_len != b->entries[0].path_len)
		return damaged(r, "wrong first key", no);
	for (size_t i = 0; i < key_len; i++)
		if (key[i] != (b->entries[0].path[i] == '/' ? 0 : b->entries[0].path[i]))
			return damaged(r, "wrong first key", no);
	if ((uint64_t)first + b->n > r->m.entries)
		return damaged(r, "more entries than recorded", no);
	if (r->sequential && manifest_block_payload(data, (size_t)size, &payload, &payload_size) >= 0)
		XXH3_128bits_update(r->digest, payload, payload_size);
	b->no = no;
	b->first_entry = (uint64_t)first;
	return 0;
}

static int load_block(struct catalog_manifest_reader *r, uint64_t no)
{
	int rc;

	sqlite3_reset(r->by_no);
	sqlite3_bind_int64(r->by_no, 3, (int64_t)no);
	rc = sqlite3_step(r->by_no);
	if (rc == SQLITE_DONE)
		return damaged(r, "missing", (int64_t)no);
	if (rc != SQLITE_ROW)
		return catalog_errno(rc);
	return load_row(r, r->by_no);
}

int catalog_manifest_reader_new(struct catalog *c, int64_t seq, unsigned vol_idx,
				struct catalog_manifest_reader **ret)
{
	struct catalog_manifest_reader *r;
	int k;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->c = c;
	r->blk.no = -1;
	r->sequential = true;
	k = catalog_manifest_get(c, seq, vol_idx, &r->m);
	if (k >= 0 && !r->m.complete)
		k = -ENOENT;
	if (k >= 0)
		k = catalog_prepare(c,
				    "SELECT block, first_entry, first_key, data FROM manifest_block "
				    "WHERE set_seq = ? AND vol_idx = ? AND block = ?",
				    &r->by_no);
	if (k >= 0)
		k = catalog_prepare(c,
				    "SELECT block, first_entry, first_key, data FROM manifest_block "
				    "WHERE set_seq = ? AND vol_idx = ? AND first_key <= ? "
				    "ORDER BY first_key DESC LIMIT 1",
				    &r->by_key);
	if (k >= 0) {
		r->digest = XXH3_createState();
		if (!r->digest || XXH3_128bits_reset(r->digest) == XXH_ERROR)
			k = -ENOMEM;
	}
	if (k < 0) {
		catalog_manifest_reader_free(r);
		return k;
	}
	sqlite3_bind_int64(r->by_no, 1, seq);
	sqlite3_bind_int64(r->by_no, 2, vol_idx);
	sqlite3_bind_int64(r->by_key, 1, seq);
	sqlite3_bind_int64(r->by_key, 2, vol_idx);
	*ret = r;
	return 0;
}

static int finish_check(struct catalog_manifest_reader *r)
{
	XXH128_canonical_t canon;

	if (!r->sequential)
		return 0;
	if (r->have_last ? r->ordinal + 1 != r->m.entries : r->m.entries != 0)
		return damaged(r, "fewer entries than recorded (truncated)", -1);
	XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(r->digest));
	if (memcmp(canon.digest, r->m.digest, MANIFEST_DIGEST_LEN) != 0)
		return damaged(r, "digest of the whole does not match", -1);
	return 0;
}

int catalog_manifest_reader_next(struct catalog_manifest_reader *r, struct manifest_entry *ret)
{
	const struct manifest_entry *e;
	int k;

	while (r->blk.no < 0 || r->pos >= r->blk.n) {
		if (r->next_block >= r->m.blocks)
			return finish_check(r);
		k = load_block(r, r->next_block);
		if (k < 0)
			return k;
		if (r->sequential &&
		    r->blk.first_entry != (r->have_last ? r->ordinal + 1 : 0))
			return damaged(r, "entries out of sequence", r->blk.no);
		r->next_block++;
		r->pos = 0;
	}
	e = &r->blk.entries[r->pos];
	if (r->have_last && r->pos == 0 &&
	    manifest_path_cmp(r->last_path, r->last_path_len, e->path, e->path_len) >= 0)
		return damaged(r, "entries out of order", r->blk.no);
	r->ordinal = r->blk.first_entry + r->pos;
	r->pos++;
	if (r->pos == r->blk.n) {
		char *p = realloc(r->last_path, e->path_len + 1);

		if (!p)
			return -ENOMEM;
		memcpy(p, e->path, e->path_len);
		r->last_path = p;
		r->last_path_len = e->path_len;
	}
	r->have_last = true;
	*ret = *e;
	return 1;
}

uint64_t catalog_manifest_reader_ordinal(const struct catalog_manifest_reader *r)
{
	return r->ordinal;
}

const char *catalog_manifest_reader_damage(const struct catalog_manifest_reader *r)
{
	return r->damage[0] ? r->damage : NULL;
}

int catalog_manifest_reader_find(struct catalog_manifest_reader *r, const char *path,
				 size_t path_len, struct manifest_entry *ret, uint64_t *ret_ordinal)
{
	_cleanup_free_ char *key = path_key(path, path_len);
	size_t lo, hi;
	int rc, k;

	if (!key)
		return -ENOMEM;
	r->sequential = false;
	if (r->blk.no < 0 || r->blk.n == 0 ||
	    manifest_path_cmp(path, path_len, r->blk.entries[0].path, r->blk.entries[0].path_len) < 0 ||
	    ((uint64_t)r->blk.no + 1 < r->m.blocks &&
	     manifest_path_cmp(path, path_len, r->blk.entries[r->blk.n - 1].path,
			       r->blk.entries[r->blk.n - 1].path_len) > 0)) {
		sqlite3_reset(r->by_key);
		sqlite3_bind_blob(r->by_key, 3, key, (int)path_len, SQLITE_STATIC);
		rc = sqlite3_step(r->by_key);
		if (rc == SQLITE_DONE) {
			sqlite3_reset(r->by_key);
			return 0;
		}
		if (rc != SQLITE_ROW)
			return catalog_errno(rc);
		k = load_row(r, r->by_key);
		sqlite3_reset(r->by_key);
		if (k < 0)
			return k;
	}
	lo = 0;
	hi = r->blk.n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct manifest_entry *e = &r->blk.entries[mid];

		k = manifest_path_cmp(e->path, e->path_len, path, path_len);
		if (k == 0) {
			r->ordinal = r->blk.first_entry + mid;
			r->pos = mid + 1;
			r->next_block = (uint64_t)r->blk.no + 1;
			r->have_last = false;
			*ret = *e;
			if (ret_ordinal)
				*ret_ordinal = r->ordinal;
			return 1;
		}
		if (k < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

void catalog_manifest_reader_free(struct catalog_manifest_reader *r)
{
	if (!r)
		return;
	sqlite3_finalize(r->by_no);
	sqlite3_finalize(r->by_key);
	block_release(&r->blk);
	XXH3_freeState(r->digest);
	free(r->last_path);
	free(r);
}

int catalog_manifest_check(struct catalog *c, int64_t seq, unsigned vol_idx, char **ret_damage)
{
	struct catalog_manifest_reader *r = NULL;
	struct manifest_entry e;
	int k;

	k = catalog_manifest_reader_new(c, seq, vol_idx, &r);
	if (k < 0)
		return k;
	while ((k = catalog_manifest_reader_next(r, &e)) > 0)
		;
	if (k == -EBADMSG && ret_damage) {
		*ret_damage = strdup(catalog_manifest_reader_damage(r) ?: "damaged");
		if (!*ret_damage)
			k = -ENOMEM;
	}
	catalog_manifest_reader_free(r);
	return k;
}

int manifest_reader_next_eb(struct catalog_manifest_reader *r, struct manifest_entry *ret,
			    struct errbuf *eb)
{
	int k = catalog_manifest_reader_next(r, ret);

	if (k == -EBADMSG)
		return errbuf_setx(eb, k, "the manifest is damaged (%s); it is not used",
				   catalog_manifest_reader_damage(r) ?: "unknown");
	if (k < 0)
		return errbuf_set(eb, k, "cannot read the manifest");
	return k;
}

int manifest_check_eb(struct catalog *c, int64_t seq, unsigned vol_idx, struct errbuf *eb)
{
	_cleanup_free_ char *damage = NULL;
	int r = catalog_manifest_check(c, seq, vol_idx, &damage);

	if (r == -EBADMSG)
		return errbuf_setx(eb, r, "the manifest of volume %u is damaged (%s); it is not used",
				   vol_idx, damage);
	if (r == -ENOENT)
		return errbuf_setx(eb, r, "volume %u has no complete manifest (see 'stillfs index')",
				   vol_idx);
	if (r < 0)
		return errbuf_set(eb, r, "cannot read the manifest of volume %u", vol_idx);
	return 0;
}
