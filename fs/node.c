// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"

struct node {
	struct node *next;
	uint64_t id;
	uint64_t nlookup;
	struct node_handle handle;
};

struct node_table {
	pthread_mutex_t lock;
	struct node **buckets;
	size_t n_buckets; /* a power of two */
	uint64_t n_nodes;
};

#define INITIAL_BUCKETS 4096

static size_t bucket_of(uint64_t id, size_t n)
{
	/* node ids carry set and volume in the high bits; mix them in */
	id ^= id >> 33;
	id *= UINT64_C(0xff51afd7ed558ccd);
	id ^= id >> 33;
	return (size_t)(id & (n - 1));
}

int node_table_new(struct node_table **ret)
{
	struct node_table *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->n_buckets = INITIAL_BUCKETS;
	t->buckets = calloc(t->n_buckets, sizeof(*t->buckets));
	if (!t->buckets) {
		free(t);
		return -ENOMEM;
	}
	pthread_mutex_init(&t->lock, NULL);
	*ret = t;
	return 0;
}

void node_table_free(struct node_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_buckets; i++)
		for (struct node *n = t->buckets[i], *next; n; n = next) {
			next = n->next;
			free(n);
		}
	free(t->buckets);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static struct node **find_slot(struct node_table *t, uint64_t id)
{
	struct node **p = &t->buckets[bucket_of(id, t->n_buckets)];

	while (*p && (*p)->id != id)
		p = &(*p)->next;
	return p;
}

/* Doubles the bucket array; on allocation failure the table stays as it is. */
static void grow(struct node_table *t)
{
	size_t n = t->n_buckets * 2;
	struct node **b = calloc(n, sizeof(*b));

	if (!b)
		return;
	for (size_t i = 0; i < t->n_buckets; i++)
		for (struct node *e = t->buckets[i], *next; e; e = next) {
			size_t k = bucket_of(e->id, n);

			next = e->next;
			e->next = b[k];
			b[k] = e;
		}
	free(t->buckets);
	t->buckets = b;
	t->n_buckets = n;
}

int node_table_ref(struct node_table *t, uint64_t id, const struct node_handle *h)
{
	struct node **slot, *n;
	int r = 0;

	pthread_mutex_lock(&t->lock);
	slot = find_slot(t, id);
	if (*slot) {
		(*slot)->nlookup++;
		goto out;
	}
	n = malloc(offsetof(struct node, handle.data) + h->bytes);
	if (!n) {
		r = -ENOMEM;
		goto out;
	}
	n->next = NULL;
	n->id = id;
	n->nlookup = 1;
	n->handle.bytes = h->bytes;
	n->handle.type = h->type;
	memcpy(n->handle.data, h->data, h->bytes);
	*slot = n;
	if (++t->n_nodes > t->n_buckets)
		grow(t);
out:
	pthread_mutex_unlock(&t->lock);
	return r;
}

void node_table_forget(struct node_table *t, uint64_t id, uint64_t count)
{
	struct node **slot, *n;

	pthread_mutex_lock(&t->lock);
	slot = find_slot(t, id);
	n = *slot;
	if (n) {
		n->nlookup = count >= n->nlookup ? 0 : n->nlookup - count;
		if (n->nlookup == 0) {
			*slot = n->next;
			free(n);
			t->n_nodes--;
		}
	}
	pthread_mutex_unlock(&t->lock);
}

int node_table_handle(struct node_table *t, uint64_t id, struct node_handle *ret)
{
	struct node *n;
	int r = 0;

	pthread_mutex_lock(&t->lock);
	n = *find_slot(t, id);
	if (n) {
		ret->bytes = n->handle.bytes;
		ret->type = n->handle.type;
		memcpy(ret->data, n->handle.data, n->handle.bytes);
	} else {
		r = -ESTALE;
	}
	pthread_mutex_unlock(&t->lock);
	return r;
}

uint64_t node_table_size(struct node_table *t)
{
	uint64_t n;

	pthread_mutex_lock(&t->lock);
	n = t->n_nodes;
	pthread_mutex_unlock(&t->lock);
	return n;
}

int node_handle_at(int dirfd, const char *name, struct node_handle *ret)
{
	union {
		struct file_handle fh;
		unsigned char buf[sizeof(struct file_handle) + NODE_HANDLE_MAX];
	} u;
	int mount_id;

	u.fh.handle_bytes = NODE_HANDLE_MAX;
	if (name_to_handle_at(dirfd, name, &u.fh, &mount_id, name[0] ? 0 : AT_EMPTY_PATH) < 0)
		return -errno;
	ret->bytes = u.fh.handle_bytes;
	ret->type = u.fh.handle_type;
	memcpy(ret->data, u.fh.f_handle, u.fh.handle_bytes);
	return 0;
}

int node_handle_open(int mount_fd, const struct node_handle *h, int flags)
{
	union {
		struct file_handle fh;
		unsigned char buf[sizeof(struct file_handle) + NODE_HANDLE_MAX];
	} u;
	int fd;

	u.fh.handle_bytes = h->bytes;
	u.fh.handle_type = h->type;
	memcpy(u.fh.f_handle, h->data, h->bytes);
	fd = open_by_handle_at(mount_fd, &u.fh, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}
