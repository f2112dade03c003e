/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The table of file nodes the kernel currently knows: for each node id, how
 * many lookups the kernel holds (it forgets them later) and how to reopen
 * the file in its snapshot: its file handle, or, for a node met in a
 * directory listing and not opened since, the directory and its name there
 * (the handle is read when first wanted: a walk that only stats entries
 * never pays for it, and an O_PATH open, for attributes or extended
 * attributes, opens the name instead, see target_open_path()). No
 * descriptor is kept per node, so a walk of millions of files costs one
 * small entry per cached inode and the table shrinks as the kernel forgets.
 * About 80 bytes per node.
 */
#pragma once

#include <fcntl.h>
#include <limits.h>
#include <stdint.h>

/* room for any handle btrfs makes (20 or 28 bytes) */
#define NODE_HANDLE_MAX 40

struct node_handle {
	unsigned int bytes;
	int type;
	unsigned char data[NODE_HANDLE_MAX];
};

struct node_table;

/*
 * A directory its listed nodes are found again through, by handle; shared by
 * them (and its lister) until each has its own handle. Reference counted.
 */
struct node_dir;

/* The directory of node `id` and handle `h`, with one reference. Returns 0 or -ENOMEM. */
int node_dir_new(uint64_t id, const struct node_handle *h, struct node_dir **ret);
struct node_dir *node_dir_ref(struct node_dir *d);
/* Drops a reference; NULL is accepted. */
void node_dir_unref(struct node_dir *d);

int node_table_new(struct node_table **ret);
void node_table_free(struct node_table *t);

/* Adds one lookup reference to `id`, recording its handle when new. Returns 0 or -ENOMEM. */
int node_table_ref(struct node_table *t, uint64_t id, const struct node_handle *h);

/*
 * Adds one lookup reference to `id`, listed as `name` in `dir`, when new
 * (the node takes a reference on dir until it has its handle). Returns 0 or
 * -ENOMEM.
 */
int node_table_ref_listed(struct node_table *t, uint64_t id, struct node_dir *dir,
			  const char *name);

/* Drops n lookup references; the node goes when none remain. */
void node_table_forget(struct node_table *t, uint64_t id, uint64_t n);

/* what node_table_handle() returns for a node known by its directory and name */
#define NODE_LISTED 1

/*
 * Copies the handle of `id` into *ret and returns 0; or, for a node known by
 * its name alone, copies its directory's handle into *ret, its name into
 * ret_name and the directory's node id into *ret_dir (unless NULL) and
 * returns NODE_LISTED. -ESTALE when unknown.
 */
int node_table_handle(struct node_table *t, uint64_t id, struct node_handle *ret,
		      char ret_name[static NAME_MAX + 1], uint64_t *ret_dir);

/* Records the handle of `id`, found from its directory and name (if it is still there). */
void node_table_set_handle(struct node_table *t, uint64_t id, const struct node_handle *h);

/* Number of nodes held, for statistics and tests. */
uint64_t node_table_size(struct node_table *t);

/* Fills a handle for `name` in directory `dirfd` (symlinks not followed). */
int node_handle_at(int dirfd, const char *name, struct node_handle *ret);

/* Opens the file of a handle, relative to any descriptor on its filesystem. */
int node_handle_open(int mount_fd, const struct node_handle *h, int flags);
