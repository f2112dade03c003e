// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * create: intent, snapshots, commit. The set is durable as `creating` before
 * any snapshot exists and becomes `complete` only once all exist; a crash in
 * between leaves a record that gc finishes (the snapshot path is recorded
 * before the snapshot is taken, so nothing can exist that the catalog does
 * not know of).
 */
#include <signal.h>
#include <stdio.h>

#include "snapshot-internal.h"

static void rollback(struct catalog *c, const struct catalog_set *set, const char *reason)
{
	_cleanup_catalog_set_ struct catalog_set *now = NULL;
	struct errbuf eb;

	/* re-read: the record holds every snapshot path we may have made */
	if (catalog_set_get(c, set->id, &now) == 0)
		for (size_t i = 0; i < now->n_volumes; i++) {
			const struct catalog_volume *v = &now->volumes[i];
			const struct snapshot_provider *p = snapshot_provider_find(v->provider);

			if (p)
				p->remove(v, &eb);
		}
	catalog_set_update_state(c, set->seq, CATALOG_SET_FAILED, reason);
}

int snapshot_set_create(struct catalog *c, const struct snapshot_volume *vols, size_t n,
			const char *label, struct catalog_set **ret, struct errbuf *eb)
{
	_cleanup_free_ struct catalog_volume_spec *specs = calloc(n, sizeof(*specs));
	_cleanup_free_ char **storages = calloc(n, sizeof(*storages));
	_cleanup_catalog_set_ struct catalog_set *set = NULL;
	struct process_id self;
	sigset_t block, old;
	int r;

	if (!specs || !storages)
		return -ENOMEM;
	r = process_id_get(getpid(), &self);
	if (r < 0)
		return errbuf_set(eb, r, "cannot read this process's identity");

	for (size_t i = 0; i < n; i++) {
		if (asprintf(&storages[i], "%s/%s", vols[i].storage_root, catalog_uuid(c)) < 0) {
			storages[i] = NULL;
			r = -ENOMEM;
			goto free_storages;
		}
		r = vols[i].provider->prepare_storage(storages[i], eb);
		if (r < 0)
			goto free_storages;
		r = catalog_storage_add(c, storages[i], vols[i].provider->name);
		if (r < 0) {
			errbuf_set(eb, r, "cannot record storage '%s' in the catalog",
				   storages[i]);
			goto free_storages;
		}
		specs[i] = (struct catalog_volume_spec){
			.path = vols[i].path,
			.name = vols[i].name,
			.provider = vols[i].provider->name,
			.storage = storages[i],
			.origin_uuid = vols[i].origin_uuid,
		};
	}

	/* an interrupt now would leave work for gc; finish or roll back first */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &old);

	r = catalog_set_begin(c, label, specs, n, &self, &set);
	if (r < 0) {
		errbuf_set(eb, r, "cannot record the new set in the catalog");
		goto out;
	}
	failpoint("create-after-intent");

	for (size_t i = 0; i < n; i++) {
		char *dest;

		if (asprintf(&dest, "%s/%s.%zu", storages[i], set->id, i) < 0) {
			r = -ENOMEM;
			goto fail;
		}
		free(set->volumes[i].snapshot);
		set->volumes[i].snapshot = dest;
		r = catalog_volume_set_snapshot(c, set->seq, (unsigned)i, dest, NULL);
		if (r < 0) {
			errbuf_set(eb, r, "cannot record the snapshot path in the catalog");
			goto fail;
		}
	}
	failpoint("create-before-snapshot");

	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *uuid = NULL;
		const char *dest = set->volumes[i].snapshot;

		r = vols[i].provider->take(&vols[i], dest, &uuid, eb);
		if (r < 0)
			goto fail;
		failpoint("create-after-snapshot");
		r = catalog_volume_set_snapshot(c, set->seq, (unsigned)i, dest, uuid);
		if (r < 0) {
			errbuf_set(eb, r, "cannot record the snapshot of '%s' in the catalog",
				   vols[i].path);
			goto fail;
		}
	}

	r = catalog_set_update_state(c, set->seq, CATALOG_SET_COMPLETE, NULL);
	if (r < 0) {
		errbuf_set(eb, r, "cannot mark set %s complete in the catalog", set->id);
		goto fail;
	}
	failpoint("create-after-commit");
	r = catalog_set_get(c, set->id, ret);
	if (r < 0)
		errbuf_set(eb, r, "cannot read back set %s", set->id);
	goto out;
fail:
	rollback(c, set, eb->msg);
out:
	sigprocmask(SIG_SETMASK, &old, NULL);
free_storages:
	for (size_t i = 0; i < n; i++)
		free(storages[i]);
	return r;
}
