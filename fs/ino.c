// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>

#include "ino.h"

int ino_encode(uint64_t set, uint64_t vol, uint64_t file, uint64_t *ret)
{
	if (set == 0 || set > INO_SET_MAX || vol > INO_VOL_SYNTHETIC || file > INO_FILE_MAX)
		return -EOVERFLOW;
	*ret = set << (INO_VOL_BITS + INO_FILE_BITS) | vol << INO_FILE_BITS | file;
	return 0;
}

enum ino_kind ino_decode(uint64_t ino, struct ino_parts *ret)
{
	struct ino_parts p = {
		.set = ino >> (INO_VOL_BITS + INO_FILE_BITS),
		.vol = (ino >> INO_FILE_BITS) & INO_VOL_SYNTHETIC,
		.file = ino & INO_FILE_MAX,
	};

	*ret = p;
	if (ino == INO_ROOT)
		return INO_KIND_ROOT;
	if (p.set == 0)
		return INO_KIND_INVALID;
	if (p.vol != INO_VOL_SYNTHETIC)
		return INO_KIND_FILE;
	if (p.file == INO_SYN_SETDIR)
		return INO_KIND_SETDIR;
	if (p.file == INO_SYN_LATEST)
		return INO_KIND_LATEST;
	return INO_KIND_INVALID;
}
