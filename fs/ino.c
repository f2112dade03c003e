// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>

#include "ino.h"

static uint64_t pack(uint64_t set, uint64_t vol, uint64_t file)
{
	return set << (INO_VOL_BITS + INO_FILE_BITS) | vol << INO_FILE_BITS | file;
}

int ino_encode(uint64_t set, uint64_t vol, uint64_t file, uint64_t *ret)
{
	if (set == 0 || set > INO_SET_MAX || vol > INO_VOL_SYNTHETIC || file > INO_FILE_MAX)
		return -EOVERFLOW;
	*ret = pack(set, vol, file);
	return 0;
}

int ino_encode_current(uint64_t set, uint64_t vol, uint64_t file, uint64_t *ret)
{
	if (set > INO_SET_MAX || vol > INO_VOL_SYNTHETIC || file > INO_FILE_MAX)
		return -EOVERFLOW;
	if (set == 0 && !(vol == INO_VOL_SYNTHETIC && file == INO_SYN_CURRENT))
		return -EOVERFLOW;
	*ret = INO_CURRENT_BIT | pack(set, vol, file);
	return 0;
}

int ino_current_st(uint64_t volume_key, uint64_t file, uint64_t *ret)
{
	if (volume_key == 0 || volume_key > INO_VOLKEY_MAX || file > INO_FILE_MAX)
		return -EOVERFLOW;
	*ret = INO_CURRENT_BIT | volume_key << INO_FILE_BITS | file;
	return 0;
}

enum ino_kind ino_decode(uint64_t ino, struct ino_parts *ret)
{
	bool current = ino & INO_CURRENT_BIT;
	struct ino_parts p = {
		.set = (ino & ~INO_CURRENT_BIT) >> (INO_VOL_BITS + INO_FILE_BITS),
		.vol = (ino >> INO_FILE_BITS) & INO_VOL_SYNTHETIC,
		.file = ino & INO_FILE_MAX,
	};

	*ret = p;
	if (ino == INO_ROOT)
		return INO_KIND_ROOT;
	if (current) {
		if (p.vol == INO_VOL_SYNTHETIC)
			return p.file == INO_SYN_CURRENT ? INO_KIND_CURRENT : INO_KIND_INVALID;
		return p.set == 0 ? INO_KIND_INVALID : INO_KIND_CURRENT_FILE;
	}
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
