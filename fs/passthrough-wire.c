// SPDX-License-Identifier: GPL-2.0-or-later
/* FUSE passthrough's additions to the protocol: see passthrough-wire.h. */
#include <string.h>

#include "passthrough-wire.h"

/* the stacking depth took the first reserved word of fuse_init_out, the
 * backing id fuse_open_out's padding */
#define PT_INIT_OUT_MAX_STACK_DEPTH offsetof(struct fuse_init_out, unused)
#define PT_OPEN_OUT_BACKING_ID offsetof(struct fuse_open_out, padding)

bool pt_wire_init_offers(const void *buf, size_t n)
{
	struct fuse_in_header h;
	struct fuse_init_in in;
	uint64_t flags;

	if (n < sizeof(h) + sizeof(in))
		return false;
	memcpy(&h, buf, sizeof(h));
	if (h.opcode != FUSE_INIT)
		return false;
	memcpy(&in, (const char *)buf + sizeof(h), sizeof(in));
	flags = in.flags;
	if (flags & FUSE_INIT_EXT)
		flags |= (uint64_t)in.flags2 << 32;
	return (flags & PT_FUSE_PASSTHROUGH) != 0;
}

void pt_wire_amend_init(struct fuse_init_out *out)
{
	uint32_t depth = PT_STACK_DEPTH;

	out->flags |= FUSE_INIT_EXT;
	out->flags2 |= (uint32_t)(PT_FUSE_PASSTHROUGH >> 32);
	memcpy((char *)out + PT_INIT_OUT_MAX_STACK_DEPTH, &depth, sizeof(depth));
}

void pt_wire_amend_open(struct fuse_open_out *out, int32_t backing_id)
{
	out->open_flags |= PT_FOPEN_PASSTHROUGH;
	memcpy((char *)out + PT_OPEN_OUT_BACKING_ID, &backing_id, sizeof(backing_id));
}
