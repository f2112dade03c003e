// SPDX-License-Identifier: GPL-2.0-or-later
/* delete: mark, remove each snapshot (on past failures), then forget. */
#include "snapshot-internal.h"

int snapshot_set_delete(struct catalog *c, const struct catalog_set *set, snapshot_note_fn note,
			void *userdata)
{
	int r, first = 0;

	/* only the process that moves the set to deleting goes on, unless it was already */
	if (set->state != CATALOG_SET_DELETING) {
		r = catalog_set_transition(c, set->seq, set->state, CATALOG_SET_DELETING, NULL);
		if (r < 0)
			return r;
	}
	failpoint("delete-after-mark");

	for (size_t i = 0; i < set->n_volumes; i++) {
		const struct catalog_volume *v = &set->volumes[i];
		const struct snapshot_provider *p = snapshot_provider_find(v->provider);
		struct errbuf eb;

		if (!p) {
			r = errbuf_setx(&eb, -EPROTONOSUPPORT,
					"set %s: volume '%s' uses unknown provider '%s'", set->id,
					v->path, v->provider);
		} else {
			r = p->remove(v, &eb);
		}
		if (r < 0) {
			if (note)
				note(userdata, r, eb.msg);
			if (first == 0)
				first = r;
		}
	}
	if (first < 0)
		return first;
	r = catalog_set_remove(c, set->seq);
	/* another process finishing the same deletion got there first */
	return r == -ENOENT ? 0 : r;
}
