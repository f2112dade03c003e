/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A reply to READDIRPLUS being built: its bytes and the nodes on which its
 * entries took a lookup reference. A reply the kernel never gets (prepared
 * ahead and not asked for, or one it could not be sent) gives those
 * references back, so the node table keeps counting only what the kernel
 * holds. Depends on node.h alone.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "node.h"

struct dir_reply {
	char *buf;      /* owned; dir_reply_release() frees it */
	size_t cap;     /* bytes allocated at buf */
	size_t used;    /* bytes of entries in buf */
	off_t off;      /* the listing offset the reply starts at */
	int err;        /* < 0: the answer is this error (used is 0) */
	uint64_t *ids;  /* one per entry that took a reference */
	size_t n_ids, cap_ids;
};

/* Empties r for a reply of up to `size` bytes starting at `off`. Returns 0 or -ENOMEM. */
int dir_reply_start(struct dir_reply *r, size_t size, off_t off);

/* Records that the reply holds one lookup reference on `id`. Returns 0 or -ENOMEM. */
int dir_reply_add_id(struct dir_reply *r, uint64_t id);

/* The kernel has the reply: its references are now the kernel's. */
void dir_reply_sent(struct dir_reply *r);

/* The reply will not reach the kernel: gives its references back to `nodes`. */
void dir_reply_drop(struct dir_reply *r, struct node_table *nodes);

/* Frees what r holds (drop it first if it still holds references). */
void dir_reply_release(struct dir_reply *r);
