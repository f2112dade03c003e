/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reading a snapshot's file to answer a READ. The kernel keeps what the view
 * returns in the view's own page cache, so the snapshot's filesystem need not
 * cache it too: where that filesystem allows, descriptors read with direct
 * I/O, into a buffer of the daemon's, and each page is copied once (into the
 * view's cache) instead of twice, and cached once.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* what direct reads align offsets, lengths and buffers to */
#define DIRECT_READ_ALIGN 4096u

/* The bytes that direct_read() reads for `size` bytes at `off`: the aligned span around them. */
static inline size_t direct_read_span(off_t off, size_t size)
{
	size_t head = (size_t)off % DIRECT_READ_ALIGN;

	return (head + size + DIRECT_READ_ALIGN - 1) / DIRECT_READ_ALIGN * DIRECT_READ_ALIGN;
}

/* Makes `fd` read with direct I/O if its filesystem can; returns whether it does. */
bool direct_read_enable(int fd);

/*
 * Reads `size` bytes at `off` of `fd` into `buf`, which must be aligned to
 * DIRECT_READ_ALIGN and hold direct_read_span(off, size) bytes. On success
 * the data starts at buf + *skip and is *len bytes long (fewer than `size` at
 * the end of the file). If the filesystem refuses a direct read after all,
 * `fd` is switched to ordinary reads for good and the read done again.
 * Returns 0 or -errno.
 */
int direct_read(int fd, char *buf, size_t size, off_t off, size_t *skip, size_t *len);
