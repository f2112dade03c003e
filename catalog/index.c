// SPDX-License-Identifier: GPL-2.0-or-later
/* Indexing: a walk of a snapshot written into a new manifest. */
#include <inttypes.h>

#include "catalog-internal.h"
#include "walk.h"

struct index_run {
	struct catalog_manifest_writer *w;
	const struct catalog_index_options *o;
};

static int index_emit(void *userdata, const struct manifest_entry *e, bool reused)
{
	struct index_run *run = userdata;

	return catalog_manifest_writer_add(run->w, e);
}

static void index_tick(void *userdata, const struct walk_stats *s)
{
	struct index_run *run = userdata;
	struct catalog_index_progress p = {
		.entries = s->entries,
		.files = s->files,
		.bytes = s->bytes,
		.read_files = s->read_files,
		.read_bytes = s->read_bytes,
		.expected_bytes = run->o->expected_bytes,
	};

	if (run->o->progress)
		run->o->progress(run->o->userdata, &p);
}

/*
 * A copy's files carry the storage's inode numbers and ctimes: the manifest
 * records the original's, from the inode map beside the tree. Other
 * providers' snapshots need none (*ret stays NULL).
 */
static int open_inomap(struct catalog *c, int64_t seq, unsigned vol_idx, const char *root,
		       struct inomap **ret, struct errbuf *eb)
{
	_cleanup_catalog_set_ struct catalog_set *s = NULL;
	int r;

	r = catalog_set_get_seq(c, seq, &s);
	if (r < 0)
		return errbuf_set(eb, r, "cannot read set %" PRId64 " from the catalog", seq);
	if (vol_idx >= s->n_volumes)
		return errbuf_setx(eb, -ENOENT, "set %s has no volume %u", s->id, vol_idx);
	if (!streq(s->volumes[vol_idx].provider, "copy"))
		return 0;
	r = inomap_open_beside(root, ret);
	/* not -EBADMSG: to the caller that means a damaged base, worth a full index */
	if (r == -EBADMSG)
		return errbuf_setx(eb, -EIO, "the inode map beside '%s' is damaged", root);
	if (r < 0)
		return errbuf_set(eb, r, "cannot open the inode map beside '%s'", root);
	return 0;
}

int catalog_index_volume(struct catalog *c, int64_t seq, unsigned vol_idx, const char *root,
			 const struct catalog_index_options *o, struct catalog_manifest *ret,
			 struct errbuf *eb)
{
	_cleanup_inomap_ struct inomap *map = NULL;
	struct catalog_manifest_reader *base = NULL;
	struct index_run run = { .o = o };
	struct walk_stats stats = { 0 };
	struct walk_options wo = {
		.method = o->method,
		.changed = o->changed,
		.one_filesystem = true,
		.emit = index_emit,
		.tick = index_tick,
		.userdata = &run,
	};
	struct catalog_manifest_totals totals;
	int r;

	r = open_inomap(c, seq, vol_idx, root, &map, eb);
	if (r < 0)
		return r;
	wo.inomap = map;
	if (o->method != CATALOG_INDEX_FULL) {
		if (o->base_set_seq <= 0 || (o->method == CATALOG_INDEX_GENERATION && !o->changed))
			return errbuf_setx(eb, -EINVAL, "an incremental index needs a base");
		r = catalog_manifest_reader_new(c, o->base_set_seq, o->base_vol_idx, &base);
		if (r < 0)
			return errbuf_set(eb, r, "cannot read the base manifest");
		wo.base = base;
	}
	r = catalog_manifest_writer_new(c, seq, vol_idx, o->method,
					o->method == CATALOG_INDEX_FULL ? 0 : o->base_set_seq,
					o->generation, &run.w);
	if (r == -EBUSY) {
		errbuf_setx(eb, r, "another process is indexing this volume of the set");
		goto out;
	}
	if (r < 0) {
		errbuf_set(eb, r, "cannot record a manifest in the catalog");
		goto out;
	}
	r = walk_tree(root, &wo, &stats, eb);
	if (r < 0)
		goto out;
	totals = (struct catalog_manifest_totals){
		.files = stats.files,
		.bytes = stats.bytes,
		.read_files = stats.read_files,
		.read_bytes = stats.read_bytes,
	};
	r = catalog_manifest_writer_finish(run.w, &totals);
	if (r < 0) {
		errbuf_set(eb, r, "cannot record the manifest in the catalog");
		goto out;
	}
	if (o->progress) {
		struct catalog_index_progress p = {
			.entries = stats.entries, .files = stats.files, .bytes = stats.bytes,
			.read_files = stats.read_files, .read_bytes = stats.read_bytes,
			.expected_bytes = o->expected_bytes, .done = true,
		};
		o->progress(o->userdata, &p);
	}
	r = catalog_manifest_get(c, seq, vol_idx, ret);
	if (r < 0)
		errbuf_set(eb, r, "cannot read the manifest's record");
out:
	catalog_manifest_writer_free(run.w);
	catalog_manifest_reader_free(base);
	return r;
}
