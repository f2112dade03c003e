/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Buffers for the daemon's reads of the snapshot, kept between requests.
 * Each is page-aligned, as direct I/O wants, and has all its pages present:
 * a filesystem reading directly into a buffer gives up on a page that is not
 * there yet and goes through its page cache instead (btrfs does). Worker
 * threads come and go, so the buffers belong to the pool, not to a thread.
 */
#pragma once

#include <stddef.h>

struct bufpool;

/* A pool of buffers of `size` bytes, of which it keeps at most `keep` once handed back. */
int bufpool_new(size_t size, unsigned int keep, struct bufpool **ret);
void bufpool_free(struct bufpool *p);

size_t bufpool_size(const struct bufpool *p);

/* A buffer of bufpool_size() bytes, or NULL when memory is short. */
void *bufpool_get(struct bufpool *p);
/* Hands it back: kept for the next request, or released if the pool is full. */
void bufpool_put(struct bufpool *p, void *buf);

/* Buffers kept now, for tests. */
unsigned int bufpool_count(struct bufpool *p);
