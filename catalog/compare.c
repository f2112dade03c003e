// SPDX-License-Identifier: GPL-2.0-or-later
/* Which fields of two entries of the same path differ: for diff and verify. */
#include <stdio.h>

#include "catalog-internal.h"

static const char *const field_names[] = {
	"type", "content", "mode", "owner", "group", "mtime", "xattrs", "links",
};

const char *catalog_field_name(enum catalog_field f)
{
	for (unsigned i = 0; i < ARRAY_SIZE(field_names); i++)
		if (f == 1u << i)
			return field_names[i];
	return NULL;
}

int catalog_fields_parse(const char *list, unsigned *ret)
{
	unsigned fields = 0;
	const char *p = list;

	if (!list || !*list)
		return -EINVAL;
	while (*p) {
		size_t len = strcspn(p, ",");
		bool found = false;

		for (unsigned i = 0; i < ARRAY_SIZE(field_names); i++)
			if (strlen(field_names[i]) == len && strncmp(p, field_names[i], len) == 0) {
				fields |= 1u << i;
				found = true;
			}
		if (!found)
			return -EINVAL;
		p += len;
		if (*p == ',')
			p++;
	}
	*ret = fields;
	return 0;
}

void catalog_fields_format(unsigned fields, char *buf, size_t size)
{
	size_t n = 0;

	if (size)
		buf[0] = 0;
	for (unsigned i = 0; i < ARRAY_SIZE(field_names); i++) {
		int k;

		if (!(fields & (1u << i)))
			continue;
		k = snprintf(buf + n, size - n, "%s%s", n ? "," : "", field_names[i]);
		if (k < 0 || (size_t)k >= size - n)
			return;
		n += (size_t)k;
	}
}

static bool same_content(const struct manifest_entry *a, const struct manifest_entry *b)
{
	switch (a->type) {
	case MANIFEST_REG:
		if (a->size != b->size)
			return false;
		if ((a->flags & MANIFEST_HAS_CONTENT) && (b->flags & MANIFEST_HAS_CONTENT))
			return memcmp(a->content, b->content, MANIFEST_DIGEST_LEN) == 0;
		return true;
	case MANIFEST_LNK:
		return a->target_len == b->target_len &&
		       (a->target_len == 0 || memcmp(a->target, b->target, a->target_len) == 0);
	case MANIFEST_CHR:
	case MANIFEST_BLK:
		return a->rdev == b->rdev;
	default:
		return true;
	}
}

static bool same_xattrs(const struct manifest_entry *a, const struct manifest_entry *b)
{
	bool ha = a->flags & MANIFEST_HAS_XATTRS, hb = b->flags & MANIFEST_HAS_XATTRS;

	if (ha != hb)
		return false;
	return !ha || memcmp(a->xattrs, b->xattrs, MANIFEST_DIGEST_LEN) == 0;
}

unsigned catalog_entry_compare(const struct manifest_entry *orig, const struct manifest_entry *copy,
			       unsigned ignore, unsigned flags)
{
	unsigned d = 0;

	if (orig->type != copy->type)
		return CATALOG_FIELD_TYPE & ~ignore;
	if (!same_content(orig, copy))
		d |= CATALOG_FIELD_CONTENT;
	if (orig->mode != copy->mode && orig->type != MANIFEST_LNK)
		d |= CATALOG_FIELD_MODE;
	if (orig->uid != copy->uid)
		d |= CATALOG_FIELD_OWNER;
	if (orig->gid != copy->gid)
		d |= CATALOG_FIELD_GROUP;
	if (orig->mtime_sec != copy->mtime_sec ||
	    (orig->mtime_nsec != copy->mtime_nsec &&
	     !((flags & CATALOG_COMPARE_COARSE_MTIME) && copy->mtime_nsec == 0)))
		d |= CATALOG_FIELD_MTIME;
	if (!same_xattrs(orig, copy))
		d |= CATALOG_FIELD_XATTRS;
	if (orig->type != MANIFEST_DIR && orig->nlink && copy->nlink && orig->nlink != copy->nlink)
		d |= CATALOG_FIELD_LINKS;
	return d & ~ignore;
}
