/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to fs/: FUSE passthrough (Linux 6.9 and later, root). The kernel
 * serves the reads of an open file straight from its file in the snapshot:
 * no READ request reaches the daemon and the data is cached once, in the
 * snapshot's page cache. libfuse 3.14 does not know the feature, so the view
 * amends two replies on their way to the kernel through libfuse's custom I/O:
 * INIT gets the passthrough flag and a stacking depth, and the OPEN of a file
 * gets FOPEN_PASSTHROUGH and the id under which its file in the snapshot was
 * registered with the FUSE device.
 *
 * The kernel takes one backing file per inode: every open of a node shares
 * one registration, which is dropped when the last of them is released.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <fuse_lowlevel.h>

struct passthrough;

int passthrough_new(struct passthrough **ret);
void passthrough_free(struct passthrough *p);

/*
 * After the session is mounted: routes the session's traffic through the
 * amending reader and writer. Returns 0 or -errno.
 */
int passthrough_install(struct passthrough *p, struct fuse_session *se);

/*
 * From the init handler: true when the kernel offered passthrough, in which
 * case the INIT reply about to be sent asks for it and files need OPEN.
 */
bool passthrough_init(struct passthrough *p);

/*
 * From the open handler, before the reply: registers `fd` (the file opened
 * in the snapshot) as the backing file of node `ino`, or takes another
 * reference on the registration an earlier open made, and makes the reply
 * sent next by this thread carry it. Returns true when the open is served by
 * passthrough (hand it to passthrough_release() later), false when the file
 * is to be read through READ requests (passthrough refused; logged once).
 */
bool passthrough_open(struct passthrough *p, fuse_ino_t ino, int fd);

/* Drops the reference of one open that passthrough_open() served. */
void passthrough_release(struct passthrough *p, fuse_ino_t ino);
