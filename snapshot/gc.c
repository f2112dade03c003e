// SPDX-License-Identifier: GPL-2.0-or-later
/* gc: finish what crashes left, item by item. */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>

#include "fsfreeze.h"
#include "snapshot-internal.h"

static void notef(snapshot_note_fn note, void *userdata, int error, const char *fmt, ...)
	_printf_(4, 5);

static void notef(snapshot_note_fn note, void *userdata, int error, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!note)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	note(userdata, error, msg);
}

/*
 * Removes snapshots in one storage directory that no set owns. Ownership is
 * read afresh for each entry after it is seen on disk: a create records the
 * snapshot's path before it takes the snapshot, so an entry that exists and is
 * not recorded now can only be a leftover.
 */
static int sweep_storage(struct catalog *c, const char *storage, snapshot_note_fn note,
			 void *userdata, unsigned *cleaned)
{
	struct dirent *de;
	DIR *d;
	int first = 0;

	d = opendir(storage);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		_cleanup_free_ char *path = NULL;
		struct errbuf eb;
		bool owned = false;
		int r;

		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (asprintf(&path, "%s/%s", storage, de->d_name) < 0) {
			first = first ?: -ENOMEM;
			break;
		}
		r = snapshot_provider_owned(c, path, &owned);
		if (r < 0) {
			first = first ?: r;
			break;
		}
		if (owned)
			continue;
		r = snapshot_provider_remove_orphan(path, &eb);
		if (r == -EPERM) {
			/* not ours to judge: say so, and leave it */
			notef(note, userdata, r, "%s", eb.msg);
			continue;
		}
		if (r < 0) {
			notef(note, userdata, r, "%s", eb.msg);
			first = first ?: r;
			continue;
		}
		notef(note, userdata, 0, "removed snapshot '%s' that no set owns", path);
		(*cleaned)++;
	}
	closedir(d);
	return first;
}

static int unpin_everywhere(struct catalog *c, int64_t seq)
{
	char **views = NULL;
	int r;

	r = catalog_pin_views(c, seq, &views);
	if (r < 0)
		return r;
	for (char **v = views; *v; v++) {
		if (r == 0)
			r = catalog_pin_clear(c, *v);
		free(*v);
	}
	free(views);
	return r;
}

static bool frozen_by_live_create(struct catalog_set **sets, size_t n, const char *mount_point)
{
	for (size_t i = 0; i < n; i++) {
		if (sets[i]->state != CATALOG_SET_CREATING || !process_id_alive(&sets[i]->owner))
			continue;
		for (size_t j = 0; j < sets[i]->n_frozen_fs; j++)
			if (streq(sets[i]->frozen_fs[j], mount_point))
				return true;
	}
	return false;
}

/*
 * A create that died with its guard (both killed) while --freeze-fs held its
 * filesystems leaves them frozen: thaws each one its set recorded before
 * freezing, unless a create still running is about to freeze it or has.
 */
static void thaw_left_frozen(struct catalog_set **sets, size_t n, const struct catalog_set *s,
			     snapshot_note_fn note, void *userdata)
{
	for (size_t i = 0; i < s->n_frozen_fs; i++) {
		const char *mp = s->frozen_fs[i];
		int r;

		if (frozen_by_live_create(sets, n, mp))
			continue;
		r = fsfreeze_thaw_path(mp);
		if (r == 0)
			notef(note, userdata, 0, "thawed %s, left frozen by unfinished set %s", mp,
			      s->id);
		else if (r != -EINVAL)
			notef(note, userdata, r, "cannot thaw %s, frozen by unfinished set %s", mp,
			      s->id);
	}
}

int snapshot_gc(struct catalog *c, snapshot_note_fn note, void *userdata, unsigned *ret_cleaned)
{
	struct catalog_set **sets = NULL;
	char **storages = NULL;
	unsigned cleaned = 0;
	size_t n = 0;
	int r, first = 0;

	r = catalog_set_list(c, ~0u, &sets, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct catalog_set *s = sets[i];

		if (s->state == CATALOG_SET_CREATING && process_id_alive(&s->owner))
			continue;
		if (s->state == CATALOG_SET_COMPLETE || s->state == CATALOG_SET_FAILED) {
			struct process_id lessee;

			/* a set made for one run outlives that run only by accident */
			if (catalog_lease_get(c, s->seq, &lessee) < 0 || process_id_alive(&lessee))
				continue;
			r = unpin_everywhere(c, s->seq);
			if (r < 0) {
				notef(note, userdata, r, "cannot unpin set %s", s->id);
				first = first ?: r;
				continue;
			}
			r = snapshot_set_delete(c, s, note, userdata);
			if (r == -ESTALE)
				continue;
			if (r < 0) {
				notef(note, userdata, r, "cannot remove set %s", s->id);
				first = first ?: r;
				continue;
			}
			notef(note, userdata, 0, "removed set %s (%s), leased to a run that ended",
			      s->id, s->token);
			cleaned++;
			continue;
		}
		if (s->state != CATALOG_SET_CREATING && s->state != CATALOG_SET_DELETING)
			continue;
		if (s->state == CATALOG_SET_CREATING)
			thaw_left_frozen(sets, n, s, note, userdata);
		r = snapshot_set_delete(c, s, note, userdata);
		if (r == -ESTALE)
			continue; /* its creator committed it, or another process took it on */
		if (r < 0) {
			notef(note, userdata, r, "cannot finish cleaning set %s", s->id);
			first = first ?: r;
			continue;
		}
		notef(note, userdata, 0, "removed %s set %s (%s)",
		      s->state == CATALOG_SET_CREATING ? "unfinished" : "half-deleted", s->id,
		      s->token);
		cleaned++;
	}
	catalog_sets_free(sets, n);

	{
		unsigned abandoned = 0;

		r = catalog_manifest_remove_abandoned(c, &abandoned);
		if (r < 0) {
			notef(note, userdata, r, "cannot remove unfinished manifests");
			first = first ?: r;
		} else if (abandoned > 0) {
			notef(note, userdata, 0,
			      "removed %u unfinished manifest%s (their index was interrupted)",
			      abandoned, abandoned == 1 ? "" : "s");
			cleaned += abandoned;
		}
	}

	r = catalog_storage_list(c, &storages);
	if (r < 0)
		return first ?: r;
	for (char **s = storages; *s; s++) {
		r = sweep_storage(c, *s, note, userdata, &cleaned);
		if (r < 0) {
			notef(note, userdata, r, "cannot sweep storage '%s'", *s);
			first = first ?: r;
		}
		free(*s);
	}
	free(storages);
	if (ret_cleaned)
		*ret_cleaned = cleaned;
	return first;
}
