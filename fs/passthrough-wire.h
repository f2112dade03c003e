/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to fs/: the parts of FUSE protocol 7.40 that passthrough needs and
 * that the kernel headers Debian 12 ships (7.38) lack, applied to messages
 * as they cross /dev/fuse. Kept apart from the device and its registrations
 * (passthrough.h) so that the layout can be checked without a kernel.
 */
#pragma once

#include <linux/fuse.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>

/* the INIT flag (in flags2 once FUSE_INIT_EXT is set) and the open flag */
#define PT_FUSE_PASSTHROUGH (1ULL << 37)
#define PT_FOPEN_PASSTHROUGH (1U << 7)

/* registering a backing file with the device, and dropping it */
struct pt_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};

#define PT_DEV_IOC_MAGIC 229
#define PT_DEV_IOC_BACKING_OPEN _IOW(PT_DEV_IOC_MAGIC, 1, struct pt_backing_map)
#define PT_DEV_IOC_BACKING_CLOSE _IOW(PT_DEV_IOC_MAGIC, 2, uint32_t)

/* a snapshot is a plain filesystem: the view stacks one level above it */
#define PT_STACK_DEPTH 1

/* Whether the request in buf[0..n) is an INIT that offers passthrough. */
bool pt_wire_init_offers(const void *buf, size_t n);

/* The INIT reply asks for passthrough: the flag, and how deep files stack. */
void pt_wire_amend_init(struct fuse_init_out *out);

/* The OPEN reply makes the kernel read the file from backing file `backing_id`. */
void pt_wire_amend_open(struct fuse_open_out *out, int32_t backing_id);
