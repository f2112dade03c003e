/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Inode numbers of the view. A number is built from stable parts so that it
 * is the same after a remount and never shared by two different files:
 *
 *   bit  63      the namespace: 0 for the sets' history, 1 for current/
 *   bits 62..46  the set's sequence number (never reused in a catalog)
 *   bits 45..40  the volume's index in the set (0..62; 63 marks a synthetic
 *                entry of the set: its directory, `latest` pointing at it,
 *                or current/ showing it)
 *   bits 39..0   the file's inode number in the snapshot
 *
 * In the history the same number serves as the FUSE node id and as st_ino
 * (and d_ino), so two entries share it exactly when they are hard links of
 * one file of one set. The root of the mount is FUSE_ROOT_ID (1), which no
 * encoded number can equal because set numbers start at 1.
 *
 * current/ shows one set at a time and must look the same from one set to
 * the next where nothing changed, so its files report
 *
 *   st_ino = 1 << 63 | volume key << 40 | file inode number
 *
 * with the volume's catalog-wide key (stable for a volume path), while their
 * node ids still name the set (bit 63 set, as above): when current/ moves to
 * another set the kernel sees new inodes and caches nothing stale.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define INO_SET_BITS 17
#define INO_VOL_BITS 6
#define INO_FILE_BITS 40
#define INO_CURRENT_BIT (UINT64_C(1) << 63)
#define INO_VOLKEY_BITS 23

#define INO_SET_MAX ((UINT64_C(1) << INO_SET_BITS) - 1)
#define INO_VOL_SYNTHETIC ((UINT64_C(1) << INO_VOL_BITS) - 1)
#define INO_VOL_MAX (INO_VOL_SYNTHETIC - 1)
#define INO_FILE_MAX ((UINT64_C(1) << INO_FILE_BITS) - 1)
#define INO_VOLKEY_MAX ((UINT64_C(1) << INO_VOLKEY_BITS) - 1)

#define INO_ROOT UINT64_C(1)
/* file parts of the synthetic entries of a set */
#define INO_SYN_SETDIR 1
#define INO_SYN_LATEST 2
#define INO_SYN_CURRENT 3
/* st_ino of current/ itself, whatever set it shows */
#define INO_CURRENT_DIR_STABLE (INO_CURRENT_BIT | INO_SYN_CURRENT)

enum ino_kind {
	INO_KIND_ROOT,
	INO_KIND_SETDIR,
	INO_KIND_LATEST,
	INO_KIND_FILE,
	INO_KIND_CURRENT,       /* current/ itself; set 0 when nothing is pinned */
	INO_KIND_CURRENT_FILE,  /* a file of the set current/ shows */
	INO_KIND_INVALID,
};

struct ino_parts {
	uint64_t set;
	uint64_t vol;
	uint64_t file;
};

/* Builds a history number; returns 0, or -EOVERFLOW when a part does not fit. */
int ino_encode(uint64_t set, uint64_t vol, uint64_t file, uint64_t *ret);

/* Builds the node id of a current/ entry (set may be 0 only for current/ itself). */
int ino_encode_current(uint64_t set, uint64_t vol, uint64_t file, uint64_t *ret);

/* The st_ino a file of current/ reports; -EOVERFLOW when a part does not fit. */
int ino_current_st(uint64_t volume_key, uint64_t file, uint64_t *ret);

/* Splits a node id and tells what kind of entry it names. */
enum ino_kind ino_decode(uint64_t ino, struct ino_parts *ret);
