// SPDX-License-Identifier: GPL-2.0-or-later
/* The registry of providers. A new provider is a new file and one line here. */
#include "snapshot-internal.h"

static const struct snapshot_provider *const providers[] = {
	&snapshot_provider_btrfs,
};

const struct snapshot_provider *snapshot_provider_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(providers); i++)
		if (streq(providers[i]->name, name))
			return providers[i];
	return NULL;
}

/* Tries each provider in turn; the first that accepts the path protects it. */
int snapshot_provider_probe(const char *path, struct snapshot_volume *v, struct errbuf *eb)
{
	int r = -EMEDIUMTYPE;

	for (size_t i = 0; i < ARRAY_SIZE(providers); i++) {
		r = providers[i]->probe(path, v, eb);
		if (r == 0) {
			v->provider = providers[i];
			return 0;
		}
		if (r != -EMEDIUMTYPE)
			return r;
	}
	return r;
}
