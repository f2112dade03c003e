/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stats of a batch of names in one directory, shared with a helper thread.
 * A cold walk spends most of the daemon's time in the filesystem's lookups,
 * one name after the other, while the kernel takes in the last reply on
 * another processor; with a second thread taking names from the same batch,
 * more of the machine works on the next reply. The helper serves one batch
 * at a time: a batch offered while it is busy is done by its caller alone.
 */
#pragma once

#include <stddef.h>
#include <sys/stat.h>

struct statpool;

/* Starts the helper thread. Returns 0 or -errno. */
int statpool_new(struct statpool **ret);
/* Stops and joins it; NULL is accepted. */
void statpool_free(struct statpool *p);

struct stat_batch {
	int dirfd;
	const char **names;
	struct stat *st; /* out: one per name */
	int *err;        /* out: 0, or the errno of that name's fstatat */
	size_t n;
};

/*
 * Fills st and err for every name of b (fstatat, symlinks not followed),
 * with the helper taking some when it is free. With p NULL, alone.
 */
void statpool_run(struct statpool *p, struct stat_batch *b);
