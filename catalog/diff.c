// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * diff: two manifests merged as sorted streams. Paths present on both sides
 * are compared at once; paths on one side only are kept until the end, when
 * an inode that left one path and appeared at another is told as a rename.
 */
#include <stdio.h>

#include "catalog-internal.h"

/* An entry kept until the end, with its own copies of its strings. */
struct kept {
	struct manifest_entry e;
	bool paired;
	bool implied; /* a rename that follows from its directory's rename */
	size_t partner;
};

struct kept_list {
	struct kept *v;
	size_t n, cap;
};

static int kept_add(struct kept_list *l, const struct manifest_entry *e)
{
	struct kept *k;
	char *path, *target = NULL;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct kept *v = reallocarray(l->v, cap, sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	path = malloc(e->path_len + 1);
	if (!path)
		return -ENOMEM;
	memcpy(path, e->path, e->path_len);
	path[e->path_len] = 0;
	if (e->target) {
		target = malloc(e->target_len + 1);
		if (!target) {
			free(path);
			return -ENOMEM;
		}
		memcpy(target, e->target, e->target_len);
		target[e->target_len] = 0;
	}
	k = &l->v[l->n++];
	*k = (struct kept){ .e = *e };
	k->e.path = path;
	k->e.target = target;
	return 0;
}

static void kept_release(struct kept_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free((char *)l->v[i].e.path);
		free((char *)l->v[i].e.target);
	}
	free(l->v);
}

static int report_pair(const struct manifest_entry *a, const struct manifest_entry *b,
		       catalog_change_fn fn, void *userdata)
{
	unsigned fields = catalog_entry_compare(a, b, 0, 0);
	struct catalog_change ch = {
		.path = b->path,
		.path_len = b->path_len,
		.type = b->type,
		.fields = fields,
	};

	if (!fields)
		return 0;
	ch.kind = fields & (CATALOG_FIELD_CONTENT | CATALOG_FIELD_TYPE) ? CATALOG_CHANGE_MODIFIED
									  : CATALOG_CHANGE_METADATA;
	return fn(userdata, &ch);
}

static int by_ino(const void *a, const void *b, void *list)
{
	const struct kept *v = list;
	const size_t *x = a, *y = b;
	uint64_t p = v[*x].e.ino, q = v[*y].e.ino;

	if (p != q)
		return p < q ? -1 : 1;
	return *x < *y ? -1 : *x > *y;
}

/* Indices of the list sorted by inode number (stable for equal ones). */
static size_t *sorted_by_ino(const struct kept_list *l)
{
	size_t *idx = reallocarray(NULL, l->n ? l->n : 1, sizeof(*idx));

	if (!idx)
		return NULL;
	for (size_t i = 0; i < l->n; i++)
		idx[i] = i;
	qsort_r(idx, l->n, sizeof(*idx), by_ino, l->v);
	return idx;
}

static size_t parent_len(const char *p, size_t len)
{
	const char *s = memrchr(p, '/', len);

	return s ? (size_t)(s - p) : 0;
}

/* Whether the removed entry `i` moved with its directory, whose rename is also listed. */
static bool implied_by_parent(const struct kept_list *rem, const struct kept_list *add, size_t i)
{
	const struct manifest_entry *o = &rem->v[i].e, *n = &add->v[rem->v[i].partner].e;
	size_t po = parent_len(o->path, o->path_len), pn = parent_len(n->path, n->path_len);
	size_t lo = 0, hi = rem->n;

	if (po == 0 || pn == 0 || o->path_len - po != n->path_len - pn ||
	    memcmp(o->path + po, n->path + pn, o->path_len - po) != 0)
		return false;
	/* removed entries are in path order: find the parent's */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = manifest_path_cmp(rem->v[mid].e.path, rem->v[mid].e.path_len, o->path, po);

		if (c == 0) {
			const struct kept *pk = &rem->v[mid];
			const struct manifest_entry *pnew;

			if (!pk->paired)
				return false;
			pnew = &add->v[pk->partner].e;
			return pnew->path_len == pn && memcmp(pnew->path, n->path, pn) == 0;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int pair_renames(struct kept_list *rem, struct kept_list *add)
{
	_cleanup_free_ size_t *ri = sorted_by_ino(rem);
	_cleanup_free_ size_t *ai = sorted_by_ino(add);
	size_t i = 0, j = 0;

	if (!ri || !ai)
		return -ENOMEM;
	while (i < rem->n && j < add->n) {
		struct kept *r = &rem->v[ri[i]], *a = &add->v[ai[j]];

		if (r->e.ino < a->e.ino) {
			i++;
		} else if (r->e.ino > a->e.ino) {
			j++;
		} else {
			if (r->e.type == a->e.type) {
				r->paired = a->paired = true;
				r->partner = ai[j];
				a->partner = ri[i];
			}
			i++;
			j++;
		}
	}
	for (size_t k = 0; k < rem->n; k++)
		if (rem->v[k].paired)
			rem->v[k].implied = implied_by_parent(rem, add, k);
	return 0;
}

static int open_checked(struct catalog *c, int64_t seq, unsigned vol,
			struct catalog_manifest_reader **ret, struct errbuf *eb)
{
	int r = manifest_check_eb(c, seq, vol, eb);

	if (r < 0)
		return r;
	r = catalog_manifest_reader_new(c, seq, vol, ret);
	if (r < 0)
		return errbuf_set(eb, r, "cannot read the manifest");
	return 0;
}

static int report_unpaired(const struct kept_list *l, enum catalog_change_kind kind,
			   catalog_change_fn fn, void *userdata)
{
	for (size_t i = 0; i < l->n; i++)
		if (!l->v[i].paired) {
			struct catalog_change ch = {
				.kind = kind,
				.path = l->v[i].e.path,
				.path_len = l->v[i].e.path_len,
				.type = l->v[i].e.type,
			};
			int r = fn(userdata, &ch);

			if (r < 0)
				return r;
		}
	return 0;
}

int catalog_diff_volume(struct catalog *c, int64_t seq1, unsigned vol1, int64_t seq2,
			unsigned vol2, catalog_change_fn fn, void *userdata, struct errbuf *eb)
{
	struct catalog_manifest_reader *r1 = NULL, *r2 = NULL;
	struct kept_list rem = { 0 }, add = { 0 };
	struct manifest_entry a, b;
	int ka, kb, r;

	r = open_checked(c, seq1, vol1, &r1, eb);
	if (r >= 0)
		r = open_checked(c, seq2, vol2, &r2, eb);
	if (r < 0)
		goto out;
	ka = manifest_reader_next_eb(r1, &a, eb);
	kb = manifest_reader_next_eb(r2, &b, eb);
	while (ka > 0 || kb > 0) {
		int cmp;

		if (ka < 0 || kb < 0) {
			r = ka < 0 ? ka : kb;
			goto out;
		}
		cmp = ka == 0 ? 1 : kb == 0 ? -1 : manifest_path_cmp(a.path, a.path_len, b.path, b.path_len);
		if (cmp < 0) {
			r = kept_add(&rem, &a);
			ka = r < 0 ? r : manifest_reader_next_eb(r1, &a, eb);
		} else if (cmp > 0) {
			r = kept_add(&add, &b);
			kb = r < 0 ? r : manifest_reader_next_eb(r2, &b, eb);
		} else {
			r = report_pair(&a, &b, fn, userdata);
			if (r < 0)
				goto out;
			ka = manifest_reader_next_eb(r1, &a, eb);
			kb = manifest_reader_next_eb(r2, &b, eb);
		}
	}
	if (ka < 0 || kb < 0) {
		r = ka < 0 ? ka : kb;
		goto out;
	}
	r = pair_renames(&rem, &add);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < rem.n && r >= 0; i++) {
		const struct kept *k = &rem.v[i];
		const struct manifest_entry *n;

		if (!k->paired)
			continue;
		n = &add.v[k->partner].e;
		if (!k->implied) {
			struct catalog_change ch = {
				.kind = CATALOG_CHANGE_RENAMED,
				.path = k->e.path,
				.path_len = k->e.path_len,
				.to = n->path,
				.to_len = n->path_len,
				.type = n->type,
			};

			r = fn(userdata, &ch);
		}
		if (r >= 0)
			r = report_pair(&k->e, n, fn, userdata);
	}
	if (r >= 0)
		r = report_unpaired(&rem, CATALOG_CHANGE_REMOVED, fn, userdata);
	if (r >= 0)
		r = report_unpaired(&add, CATALOG_CHANGE_ADDED, fn, userdata);
out:
	kept_release(&rem);
	kept_release(&add);
	catalog_manifest_reader_free(r1);
	catalog_manifest_reader_free(r2);
	return r < 0 ? r : 0;
}
