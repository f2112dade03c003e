// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <stdlib.h>

#include "dir-reply.h"

int dir_reply_start(struct dir_reply *r, size_t size, off_t off)
{
	if (size > r->cap) {
		char *buf = realloc(r->buf, size);

		if (!buf)
			return -ENOMEM;
		r->buf = buf;
		r->cap = size;
	}
	r->used = 0;
	r->off = off;
	r->err = 0;
	r->n_ids = 0;
	return 0;
}

int dir_reply_add_id(struct dir_reply *r, uint64_t id)
{
	if (r->n_ids == r->cap_ids) {
		size_t cap = r->cap_ids ? 2 * r->cap_ids : 64;
		uint64_t *ids = reallocarray(r->ids, cap, sizeof(*ids));

		if (!ids)
			return -ENOMEM;
		r->ids = ids;
		r->cap_ids = cap;
	}
	r->ids[r->n_ids++] = id;
	return 0;
}

void dir_reply_sent(struct dir_reply *r)
{
	r->n_ids = 0;
}

void dir_reply_drop(struct dir_reply *r, struct node_table *nodes)
{
	for (size_t i = 0; i < r->n_ids; i++)
		node_table_forget(nodes, r->ids[i], 1);
	r->n_ids = 0;
	r->used = 0;
}

void dir_reply_release(struct dir_reply *r)
{
	free(r->buf);
	free(r->ids);
	*r = (struct dir_reply){ 0 };
}
