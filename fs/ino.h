/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Inode numbers of the view. A number is built from stable parts so that it
 * is the same after a remount and never shared by two different files:
 *
 *   bits 63..46  the set's sequence number (never reused in a catalog)
 *   bits 45..40  the volume's index in the set (0..62; 63 marks a synthetic
 *                entry of the set: its directory, or `latest` pointing at it)
 *   bits 39..0   the file's inode number in the snapshot
 *
 * The same number serves as the FUSE node id and as st_ino (and d_ino), so
 * two entries share it exactly when they are hard links of one file of one
 * set. The root of the mount is FUSE_ROOT_ID (1), which no encoded number
 * can equal because set numbers start at 1.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define INO_SET_BITS 18
#define INO_VOL_BITS 6
#define INO_FILE_BITS 40

#define INO_SET_MAX ((UINT64_C(1) << INO_SET_BITS) - 1)
#define INO_VOL_SYNTHETIC ((UINT64_C(1) << INO_VOL_BITS) - 1)
#define INO_VOL_MAX (INO_VOL_SYNTHETIC - 1)
#define INO_FILE_MAX ((UINT64_C(1) << INO_FILE_BITS) - 1)

#define INO_ROOT UINT64_C(1)
/* file parts of the synthetic entries of a set */
#define INO_SYN_SETDIR 1
#define INO_SYN_LATEST 2

enum ino_kind {
	INO_KIND_ROOT,
	INO_KIND_SETDIR,
	INO_KIND_LATEST,
	INO_KIND_FILE,
	INO_KIND_INVALID,
};

struct ino_parts {
	uint64_t set;
	uint64_t vol;
	uint64_t file;
};

/* Builds a number; returns 0, or -EOVERFLOW when a part does not fit. */
int ino_encode(uint64_t set, uint64_t vol, uint64_t file, uint64_t *ret);

/* Splits a number and tells what kind of entry it names. */
enum ino_kind ino_decode(uint64_t ino, struct ino_parts *ret);
