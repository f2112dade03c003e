// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The free space a create asks for where its snapshots go, checked before
 * anything is recorded: a btrfs snapshot pins the blocks its volume later
 * rewrites, and a copy fills its storage, so a filesystem already nearly full
 * would run out of space in the middle of a set or under the applications.
 */
#include <stdio.h>
#include <sys/statvfs.h>

#include "snapshot-internal.h"

int snapshot_space_check(const struct snapshot_volume *volumes, size_t n,
			 const struct snapshot_min_free *m, struct errbuf *eb)
{
	if (m->bytes == 0 && m->percent <= 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const struct snapshot_volume *v = &volumes[i];
		char have[BYTESIZE_MAX], total[BYTESIZE_MAX], want[BYTESIZE_MAX];
		_cleanup_free_ char *existing = NULL;
		struct statvfs st;
		uint64_t size, avail, need;
		int r;

		r = storage_existing_part(v->storage_root, &existing);
		if (r == 0 && statvfs(existing, &st) < 0)
			r = -errno;
		if (r < 0)
			return errbuf_set(eb, r, "cannot tell the free space of '%s'",
					  v->storage_root);
		size = (uint64_t)st.f_blocks * st.f_frsize;
		avail = (uint64_t)st.f_bavail * st.f_frsize;
		need = m->percent > 0 ? (uint64_t)((double)size * m->percent / 100) : m->bytes;
		if (avail >= need)
			continue;
		bytesize_format(avail, have, sizeof(have));
		bytesize_format(size, total, sizeof(total));
		if (m->percent > 0)
			snprintf(want, sizeof(want), "%g%%", m->percent);
		else
			bytesize_format(m->bytes, want, sizeof(want));
		return errbuf_setx(eb, -ENOSPC,
				   "not enough free space for a snapshot of '%s': the filesystem "
				   "of '%s', where its snapshots go, has %s free of %s, less than "
				   "--min-free %s; delete sets no longer needed ('stillfs delete "
				   "ID') or lower --min-free",
				   v->path, v->storage_root, have, total, want);
	}
	return 0;
}
