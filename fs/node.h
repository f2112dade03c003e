/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The table of file nodes the kernel currently knows: for each node id, how
 * many lookups the kernel holds (it forgets them later) and the file handle
 * that reopens the file in its snapshot. No descriptor is kept per node, so
 * a walk of millions of files costs one small entry per cached inode and the
 * table shrinks as the kernel forgets. About 80 bytes per node.
 */
#pragma once

#include <fcntl.h>
#include <stdint.h>

/* room for any handle btrfs makes (20 or 28 bytes) */
#define NODE_HANDLE_MAX 40

struct node_handle {
	unsigned int bytes;
	int type;
	unsigned char data[NODE_HANDLE_MAX];
};

struct node_table;

int node_table_new(struct node_table **ret);
void node_table_free(struct node_table *t);

/* Adds one lookup reference to `id`, recording its handle when new. Returns 0 or -ENOMEM. */
int node_table_ref(struct node_table *t, uint64_t id, const struct node_handle *h);

/* Drops n lookup references; the node goes when none remain. */
void node_table_forget(struct node_table *t, uint64_t id, uint64_t n);

/* Copies the handle of `id` into *ret. Returns 0 or -ESTALE when unknown. */
int node_table_handle(struct node_table *t, uint64_t id, struct node_handle *ret);

/* Number of nodes held, for statistics and tests. */
uint64_t node_table_size(struct node_table *t);

/* Fills a handle for `name` in directory `dirfd` (symlinks not followed). */
int node_handle_at(int dirfd, const char *name, struct node_handle *ret);

/* Opens the file of a handle, relative to any descriptor on its filesystem. */
int node_handle_open(int mount_fd, const struct node_handle *h, int flags);
