// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * verify: a copy compared with a set's manifests. A directory is walked in
 * path order and merged with the manifest as two sorted streams; an archive
 * comes in its own order, so each member is looked up in the manifest, seen
 * entries are marked in a bitmap (one bit per entry), and what was never seen
 * is reported missing at the end.
 */
#include <stdio.h>

#include "catalog-internal.h"
#include "walk.h"

#define COMPARE_FLAGS CATALOG_COMPARE_COARSE_MTIME

static int check_manifests(struct catalog *c, int64_t seq, const struct catalog_verify_volume *vols,
			   size_t n, struct errbuf *eb)
{
	for (size_t i = 0; i < n; i++) {
		int r = manifest_check_eb(c, seq, vols[i].vol_idx, eb);

		if (r < 0)
			return r;
	}
	return 0;
}

static int report(const struct catalog_verify_options *o, struct catalog_verify_stats *st,
		  enum catalog_problem_kind kind, const struct catalog_verify_volume *v,
		  const char *path, size_t len, unsigned fields)
{
	struct catalog_problem p = {
		.kind = kind, .volume = v, .path = path, .path_len = len, .fields = fields,
	};

	switch (kind) {
	case CATALOG_PROBLEM_MISSING:
		st->missing++;
		break;
	case CATALOG_PROBLEM_EXTRA:
		st->extra++;
		break;
	case CATALOG_PROBLEM_CONTENT:
		st->content++;
		break;
	case CATALOG_PROBLEM_METADATA:
		st->metadata++;
		break;
	}
	return o->fn(o->userdata, &p);
}

static int compare_one(const struct catalog_verify_options *o, struct catalog_verify_stats *st,
		       const struct catalog_verify_volume *v, const struct manifest_entry *m,
		       const struct manifest_entry *copy)
{
	unsigned d = catalog_entry_compare(m, copy, o->ignore, COMPARE_FLAGS);

	st->checked++;
	if (!d)
		return 0;
	return report(o, st,
		      d & (CATALOG_FIELD_CONTENT | CATALOG_FIELD_TYPE) ? CATALOG_PROBLEM_CONTENT
								       : CATALOG_PROBLEM_METADATA,
		      v, copy->path, copy->path_len, d);
}

/* Directory copies */

struct dir_run {
	const struct catalog_verify_options *o;
	const struct catalog_verify_volume *v;
	struct catalog_verify_stats *st;
	struct catalog_manifest_reader *r;
	struct errbuf *eb;
	struct manifest_entry m;
	int have; /* 1: m holds the next manifest entry; 0: none left; <0: not read yet */
};

static int dir_peek(struct dir_run *d)
{
	if (d->have < 0)
		d->have = manifest_reader_next_eb(d->r, &d->m, d->eb);
	return d->have;
}

static int dir_emit(void *userdata, const struct manifest_entry *e, bool reused)
{
	struct dir_run *d = userdata;
	int k;

	for (;;) {
		int c;

		k = dir_peek(d);
		if (k < 0)
			return k;
		if (k == 0)
			return report(d->o, d->st, CATALOG_PROBLEM_EXTRA, d->v, e->path, e->path_len, 0);
		c = manifest_path_cmp(d->m.path, d->m.path_len, e->path, e->path_len);
		if (c > 0)
			return report(d->o, d->st, CATALOG_PROBLEM_EXTRA, d->v, e->path, e->path_len, 0);
		if (c == 0) {
			k = compare_one(d->o, d->st, d->v, &d->m, e);
			d->have = -1;
			return k;
		}
		k = report(d->o, d->st, CATALOG_PROBLEM_MISSING, d->v, d->m.path, d->m.path_len, 0);
		d->have = -1;
		if (k < 0)
			return k;
	}
}

int catalog_verify_dir(struct catalog *c, int64_t seq, const struct catalog_verify_volume *vols,
		       size_t n_vols, const struct catalog_verify_options *o,
		       struct catalog_verify_stats *ret_stats, struct errbuf *eb)
{
	struct catalog_verify_stats st = { 0 };
	int r;

	r = check_manifests(c, seq, vols, n_vols, eb);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_vols; i++) {
		struct dir_run d = { .o = o, .v = &vols[i], .st = &st, .eb = eb, .have = -1 };
		struct walk_options wo = {
			.method = CATALOG_INDEX_FULL,
			.one_filesystem = true,
			.emit = dir_emit,
			.userdata = &d,
		};
		struct walk_stats ws;

		r = catalog_manifest_reader_new(c, seq, vols[i].vol_idx, &d.r);
		if (r < 0)
			return errbuf_set(eb, r, "cannot read the manifest");
		r = walk_tree(vols[i].copy_path, &wo, &ws, eb);
		while (r >= 0 && (r = dir_peek(&d)) > 0) {
			r = report(o, &st, CATALOG_PROBLEM_MISSING, d.v, d.m.path, d.m.path_len, 0);
			d.have = -1;
		}
		catalog_manifest_reader_free(d.r);
		if (r < 0)
			return r;
	}
	*ret_stats = st;
	return 0;
}

/* Archives */

/* The copy's content of a file with several links, by its inode in the set. */
struct link_content {
	uint64_t ino;
	uint64_t size;
	unsigned flags;
	uint8_t digest[MANIFEST_DIGEST_LEN];
	uint8_t xattrs[MANIFEST_DIGEST_LEN];
	bool used;
};

struct link_map {
	struct link_content *v;
	size_t cap, n;
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	return x;
}

static struct link_content *link_find(struct link_map *m, uint64_t ino, bool insert)
{
	size_t i;

	if (insert && (m->n + 1) * 10 > m->cap * 7) {
		size_t cap = m->cap ? m->cap * 2 : 256;
		struct link_content *v = calloc(cap, sizeof(*v));

		if (!v)
			return NULL;
		for (size_t k = 0; k < m->cap; k++)
			if (m->v[k].used) {
				i = mix(m->v[k].ino) & (cap - 1);
				while (v[i].used)
					i = (i + 1) & (cap - 1);
				v[i] = m->v[k];
			}
		free(m->v);
		m->v = v;
		m->cap = cap;
	}
	if (!m->cap)
		return NULL;
	i = mix(ino) & (m->cap - 1);
	while (m->v[i].used) {
		if (m->v[i].ino == ino)
			return &m->v[i];
		i = (i + 1) & (m->cap - 1);
	}
	if (!insert)
		return NULL;
	m->v[i] = (struct link_content){ .ino = ino, .used = true };
	m->n++;
	return &m->v[i];
}

struct archive_volume {
	struct catalog_manifest_reader *r;
	uint8_t *seen;
	struct link_map links;
};

/* Which volume a member belongs to, and its path relative to it. */
static const struct catalog_verify_volume *member_volume(const struct catalog_verify_volume *vols,
							 size_t n, const char *path, size_t len,
							 size_t *ret_skip, size_t *ret_i)
{
	for (size_t i = 0; i < n; i++) {
		size_t pl = strlen(vols[i].prefix);

		if (pl == 0) {
			*ret_skip = 0;
			*ret_i = i;
			return &vols[i];
		}
		if (len >= pl && memcmp(path, vols[i].prefix, pl) == 0 &&
		    (len == pl || path[pl] == '/')) {
			*ret_skip = len == pl ? pl : pl + 1;
			*ret_i = i;
			return &vols[i];
		}
	}
	return NULL;
}

static int find_entry(struct archive_volume *av, const char *path, size_t len,
		      struct manifest_entry *ret, uint64_t *ret_ord, struct errbuf *eb)
{
	int k = catalog_manifest_reader_find(av->r, path, len, ret, ret_ord);

	if (k == -EBADMSG)
		return errbuf_setx(eb, k, "the manifest is damaged (%s)",
				   catalog_manifest_reader_damage(av->r) ?: "unknown");
	if (k < 0)
		return errbuf_set(eb, k, "cannot read the manifest");
	return k;
}

static int verify_member(const struct catalog_verify_volume *vols, size_t n_vols,
			 struct archive_volume *avs, const struct catalog_verify_options *o,
			 struct catalog_verify_stats *st, struct manifest_entry *e,
			 const char *link, size_t link_len, struct errbuf *eb)
{
	const struct catalog_verify_volume *v;
	struct archive_volume *av;
	struct manifest_entry m;
	size_t skip, vi, lskip, lvi;
	uint64_t ord, m_ino, m_size, m_nlink;
	int k;

	v = member_volume(vols, n_vols, e->path, e->path_len, &skip, &vi);
	if (!v) {
		/* the directory that holds several volumes is not part of any */
		if (e->path_len == 0 && n_vols > 1)
			return 0;
		return report(o, st, CATALOG_PROBLEM_EXTRA, NULL, e->path, e->path_len, 0);
	}
	av = &avs[vi];
	e->path += skip;
	e->path_len -= skip;
	k = find_entry(av, e->path, e->path_len, &m, &ord, eb);
	if (k < 0)
		return k;
	if (k == 0)
		return report(o, st, CATALOG_PROBLEM_EXTRA, v, e->path, e->path_len, 0);
	av->seen[ord / 8] |= (uint8_t)(1u << (ord % 8));
	m_ino = m.ino;
	m_size = m.size;
	m_nlink = m.nlink;
	if (link) {
		struct link_content *lc = NULL;
		struct manifest_entry t;
		const struct catalog_verify_volume *lv;

		lv = member_volume(vols, n_vols, link, link_len, &lskip, &lvi);
		if (lv == v) {
			k = find_entry(av, link + lskip, link_len - lskip, &t, NULL, eb);
			if (k < 0)
				return k;
			if (k > 0 && t.ino == m_ino)
				lc = link_find(&av->links, m_ino, false);
		}
		if (lc) {
			/* an archive holds the content and xattrs of a file once, with its first name */
			memcpy(e->content, lc->digest, MANIFEST_DIGEST_LEN);
			memcpy(e->xattrs, lc->xattrs, MANIFEST_DIGEST_LEN);
			e->flags = lc->flags;
			e->size = lc->size;
		} else {
			/* linked to another file than in the set: its content cannot be this one's */
			e->flags &= ~(unsigned)MANIFEST_HAS_CONTENT;
			e->size = m_size + 1;
		}
		/* find moved the reader: look the entry up again */
		k = find_entry(av, e->path, e->path_len, &m, &ord, eb);
		if (k <= 0)
			return k < 0 ? k : -EIO;
	} else if (e->type == MANIFEST_REG && m_nlink > 1) {
		struct link_content *lc = link_find(&av->links, m_ino, true);

		if (!lc)
			return -ENOMEM;
		lc->size = e->size;
		lc->flags = e->flags;
		memcpy(lc->digest, e->content, MANIFEST_DIGEST_LEN);
		memcpy(lc->xattrs, e->xattrs, MANIFEST_DIGEST_LEN);
	}
	return compare_one(o, st, v, &m, e);
}

int catalog_verify_archive(struct catalog *c, int64_t seq, struct manifest_archive *a,
			   const struct catalog_verify_volume *vols, size_t n_vols,
			   const struct catalog_verify_options *o,
			   struct catalog_verify_stats *ret_stats, struct errbuf *eb)
{
	struct catalog_verify_stats st = { 0 };
	struct archive_volume *avs;
	int r;

	r = check_manifests(c, seq, vols, n_vols, eb);
	if (r < 0)
		return r;
	avs = calloc(n_vols ? n_vols : 1, sizeof(*avs));
	if (!avs)
		return -ENOMEM;
	for (size_t i = 0; i < n_vols && r >= 0; i++) {
		struct catalog_manifest m;

		r = catalog_manifest_get(c, seq, vols[i].vol_idx, &m);
		if (r >= 0)
			r = catalog_manifest_reader_new(c, seq, vols[i].vol_idx, &avs[i].r);
		if (r >= 0) {
			avs[i].seen = calloc(m.entries / 8 + 1, 1);
			if (!avs[i].seen)
				r = -ENOMEM;
		}
		if (r < 0)
			errbuf_set(eb, r, "cannot read the manifest");
	}
	while (r >= 0) {
		struct manifest_entry e;
		const char *link = NULL;
		size_t link_len = 0;

		r = manifest_archive_next(a, &e, &link, &link_len);
		if (r < 0) {
			errbuf_setx(eb, r, "cannot read the archive: %s",
				    manifest_archive_error(a) ?: strerror(-r));
			break;
		}
		if (r == 0)
			break;
		r = verify_member(vols, n_vols, avs, o, &st, &e, link, link_len, eb);
	}
	/* what was never seen is missing; this second read also checks the whole */
	for (size_t i = 0; i < n_vols && r >= 0; i++) {
		struct catalog_manifest_reader *rd = NULL;
		struct manifest_entry m;
		int k;

		r = catalog_manifest_reader_new(c, seq, vols[i].vol_idx, &rd);
		if (r < 0) {
			errbuf_set(eb, r, "cannot read the manifest");
			break;
		}
		while ((k = manifest_reader_next_eb(rd, &m, eb)) > 0) {
			uint64_t ord = catalog_manifest_reader_ordinal(rd);

			if (!(avs[i].seen[ord / 8] & (1u << (ord % 8)))) {
				k = report(o, &st, CATALOG_PROBLEM_MISSING, &vols[i], m.path,
					   m.path_len, 0);
				if (k < 0)
					break;
			}
		}
		catalog_manifest_reader_free(rd);
		r = k;
	}
	for (size_t i = 0; i < n_vols; i++) {
		catalog_manifest_reader_free(avs[i].r);
		free(avs[i].seen);
		free(avs[i].links.v);
	}
	free(avs);
	if (r < 0)
		return r;
	*ret_stats = st;
	return 0;
}
