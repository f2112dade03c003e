/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A few descriptors of files being read, shared by the READs of one node
 * (and of the directories they are found in, see target_handle()).
 * Without OPEN requests each READ would reopen its file, and a fresh
 * descriptor has no readahead state on the snapshot's filesystem: a sequential
 * read through the view would reach it as unrelated 1 MiB reads, each waiting
 * for the disk. The cache is small and bounded; a descriptor idle for a few
 * seconds is closed, so nothing stays open once reading stops (a deleted
 * set's snapshot is not held).
 */
#pragma once

#include <stdint.h>

struct fdcache;

int fdcache_new(unsigned int size, struct fdcache **ret);
void fdcache_free(struct fdcache *c);

/*
 * Returns a descriptor of node `id` (>= 0) or -errno. A cached one is shared;
 * otherwise open_fn(userdata) opens it and it is cached if there is room
 * (when open_fn runs out of descriptors, idle ones are closed and it is tried
 * again).
 * Hand it back with fdcache_put(), which closes it if it was not cached.
 */
int fdcache_get(struct fdcache *c, uint64_t id, int (*open_fn)(void *userdata), void *userdata);
void fdcache_put(struct fdcache *c, uint64_t id, int fd);

/* Closes the descriptors nobody used for `idle_ms` milliseconds (0: all idle ones). */
void fdcache_expire(struct fdcache *c, unsigned int idle_ms);

/* Descriptors held, for tests. */
unsigned int fdcache_count(struct fdcache *c);
