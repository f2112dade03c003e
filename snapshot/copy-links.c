// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The files of a volume that have several names: the copy of the first name
 * met is remembered by its file handle on the storage (a few dozen bytes, at
 * any depth of the tree, no descriptor kept), so that later names become hard
 * links of it and the copy keeps the volume's hard-link groups.
 *
 * An open-addressing table keyed by the original inode number.
 */
#include <fcntl.h>

#include "copy.h"

#define HANDLE_MAX 64

struct link_slot {
	uint64_t ino; /* 0: empty (no file has inode 0) */
	int type;
	unsigned int bytes;
	unsigned char handle[HANDLE_MAX];
};

struct copy_links {
	struct link_slot *slots;
	size_t cap, n; /* cap is a power of two */
};

int copy_links_new(struct copy_links **ret)
{
	struct copy_links *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	*ret = l;
	return 0;
}

void copy_links_free(struct copy_links *l)
{
	if (l)
		free(l->slots);
	free(l);
}

static size_t slot_of(const struct copy_links *l, uint64_t ino)
{
	uint64_t h = ino * UINT64_C(0x9e3779b97f4a7c15);
	size_t i = (size_t)(h >> 32) & (l->cap - 1);

	while (l->slots[i].ino != 0 && l->slots[i].ino != ino)
		i = (i + 1) & (l->cap - 1);
	return i;
}

static int grow(struct copy_links *l)
{
	struct copy_links bigger = { .cap = l->cap ? l->cap * 2 : 64 };

	bigger.slots = calloc(bigger.cap, sizeof(*bigger.slots));
	if (!bigger.slots)
		return -ENOMEM;
	for (size_t i = 0; i < l->cap; i++)
		if (l->slots[i].ino != 0)
			bigger.slots[slot_of(&bigger, l->slots[i].ino)] = l->slots[i];
	free(l->slots);
	l->slots = bigger.slots;
	l->cap = bigger.cap;
	return 0;
}

int copy_links_find(struct copy_links *l, uint64_t ino, int mount_fd, int *ret_fd)
{
	union {
		struct file_handle fh;
		unsigned char space[sizeof(struct file_handle) + HANDLE_MAX];
	} h;
	struct link_slot *s;
	int fd;

	if (l->n == 0)
		return -ENOENT;
	s = &l->slots[slot_of(l, ino)];
	if (s->ino != ino)
		return -ENOENT;
	h.fh.handle_bytes = s->bytes;
	h.fh.handle_type = s->type;
	memcpy(h.fh.f_handle, s->handle, s->bytes);
	fd = open_by_handle_at(mount_fd, &h.fh, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

int copy_links_add(struct copy_links *l, uint64_t ino, int dirfd, const char *name)
{
	union {
		struct file_handle fh;
		unsigned char space[sizeof(struct file_handle) + HANDLE_MAX];
	} h;
	struct link_slot *s;
	int mount_id, r;

	if (ino == 0)
		return -EINVAL;
	h.fh.handle_bytes = HANDLE_MAX;
	if (name_to_handle_at(dirfd, name, &h.fh, &mount_id, 0) < 0)
		return -errno;
	if ((l->n + 1) * 4 > l->cap * 3) {
		r = grow(l);
		if (r < 0)
			return r;
	}
	s = &l->slots[slot_of(l, ino)];
	if (s->ino == 0)
		l->n++;
	s->ino = ino;
	s->type = h.fh.handle_type;
	s->bytes = h.fh.handle_bytes;
	memcpy(s->handle, h.fh.f_handle, h.fh.handle_bytes);
	return 0;
}
