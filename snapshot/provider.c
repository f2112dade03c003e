// SPDX-License-Identifier: GPL-2.0-or-later
/* The registry of providers. A new provider is a new file and one line here. */
#include <stdio.h>

#include "snapshot-internal.h"

/* in the order they are tried: the first that accepts a volume protects it */
static const struct snapshot_provider *const providers[] = {
	&snapshot_provider_btrfs,
	&snapshot_provider_copy,
};

const struct snapshot_provider *snapshot_provider_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(providers); i++)
		if (streq(providers[i]->name, name))
			return providers[i];
	return NULL;
}

int snapshot_provider_probe(const char *path, const struct snapshot_volume_options *o,
			    struct snapshot_volume *v, struct errbuf *eb)
{
	int r = -EMEDIUMTYPE;

	if (o && o->provider) {
		const struct snapshot_provider *p = snapshot_provider_find(o->provider);

		if (!p)
			return errbuf_setx(eb, -EINVAL, "there is no provider '%s' (btrfs, copy)",
					   o->provider);
		r = p->probe(path, o, v, eb);
		if (r == 0)
			v->provider = p;
		return r;
	}
	for (size_t i = 0; i < ARRAY_SIZE(providers); i++) {
		r = providers[i]->probe(path, o, v, eb);
		if (r == 0) {
			v->provider = providers[i];
			return 0;
		}
		if (r != -EMEDIUMTYPE)
			return r;
	}
	return r;
}

int snapshot_provider_owned(struct catalog *c, const char *path, bool *ret)
{
	int r = catalog_snapshot_owned(c, path, ret);

	for (size_t i = 0; i < ARRAY_SIZE(providers) && r == 0 && !*ret; i++) {
		_cleanup_free_ char *snapshot = NULL;

		if (!providers[i]->snapshot_suffix)
			continue;
		if (asprintf(&snapshot, "%s%s", path, providers[i]->snapshot_suffix) < 0)
			return -ENOMEM;
		r = catalog_snapshot_owned(c, snapshot, ret);
	}
	return r;
}

int snapshot_provider_remove_orphan(const char *path, struct errbuf *eb)
{
	int r = -EPERM;

	for (size_t i = 0; i < ARRAY_SIZE(providers) && r == -EPERM; i++)
		r = providers[i]->remove_orphan(path, eb);
	return r;
}

int snapshot_space(const struct catalog_volume *v, struct snapshot_space *ret)
{
	const struct snapshot_provider *p = snapshot_provider_find(v->provider);

	if (!p || !p->space)
		return -EMEDIUMTYPE;
	if (!v->snapshot)
		return -ENOENT;
	return p->space(v->snapshot, ret);
}
