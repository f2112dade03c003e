// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"

struct node_dir {
	atomic_uint refs;
	uint64_t id;
	struct node_handle handle;
};

struct node {
	struct node *next;
	uint64_t id;
	uint64_t nlookup;
	struct node_dir *dir; /* NULL once the handle is known */
	union {
		struct node_handle handle;
		char name[1]; /* with dir: the name in it */
	} u;
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

int node_dir_new(uint64_t id, const struct node_handle *h, struct node_dir **ret)
{
	struct node_dir *d = malloc(sizeof(*d));

	if (!d)
		return -ENOMEM;
	atomic_init(&d->refs, 1);
	d->id = id;
	d->handle = *h;
	*ret = d;
	return 0;
}

struct node_dir *node_dir_ref(struct node_dir *d)
{
	atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed);
	return d;
}

void node_dir_unref(struct node_dir *d)
{
	if (d && atomic_fetch_sub_explicit(&d->refs, 1, memory_order_acq_rel) == 1)
		free(d);
}

static void node_free(struct node *n)
{
	node_dir_unref(n->dir);
	free(n);
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
			node_free(n);
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

/* Adds a reference to `id`; a new node is made by `make` (NULL: -ENOMEM). */
static int table_ref(struct node_table *t, uint64_t id, struct node *(*make)(const void *),
		     const void *arg)
{
	struct node **slot, *n;
	int r = 0;

	pthread_mutex_lock(&t->lock);
	slot = find_slot(t, id);
	if (*slot) {
		(*slot)->nlookup++;
		goto out;
	}
	n = make(arg);
	if (!n) {
		r = -ENOMEM;
		goto out;
	}
	n->next = NULL;
	n->id = id;
	n->nlookup = 1;
	*slot = n;
	if (++t->n_nodes > t->n_buckets)
		grow(t);
out:
	pthread_mutex_unlock(&t->lock);
	return r;
}

static struct node *make_handled(const void *arg)
{
	const struct node_handle *h = arg;
	struct node *n = malloc(offsetof(struct node, u.handle.data) + h->bytes);

	if (n) {
		n->dir = NULL;
		n->u.handle.bytes = h->bytes;
		n->u.handle.type = h->type;
		memcpy(n->u.handle.data, h->data, h->bytes);
	}
	return n;
}

struct listed {
	struct node_dir *dir;
	const char *name;
};

static struct node *make_listed(const void *arg)
{
	const struct listed *l = arg;
	size_t len = strlen(l->name);
	struct node *n = malloc(offsetof(struct node, u.name) + len + 1);

	if (n) {
		n->dir = node_dir_ref(l->dir);
		memcpy(n->u.name, l->name, len + 1);
	}
	return n;
}

int node_table_ref(struct node_table *t, uint64_t id, const struct node_handle *h)
{
	return table_ref(t, id, make_handled, h);
}

int node_table_ref_listed(struct node_table *t, uint64_t id, struct node_dir *dir,
			  const char *name)
{
	struct listed l = { dir, name };

	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	return table_ref(t, id, make_listed, &l);
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
			node_free(n);
			t->n_nodes--;
		}
	}
	pthread_mutex_unlock(&t->lock);
}

int node_table_handle(struct node_table *t, uint64_t id, struct node_handle *ret,
		      char ret_name[static NAME_MAX + 1], uint64_t *ret_dir)
{
	struct node *n;
	int r = 0;

	pthread_mutex_lock(&t->lock);
	n = *find_slot(t, id);
	if (!n) {
		r = -ESTALE;
	} else if (n->dir) {
		*ret = n->dir->handle;
		strcpy(ret_name, n->u.name);
		if (ret_dir)
			*ret_dir = n->dir->id;
		r = NODE_LISTED;
	} else {
		ret->bytes = n->u.handle.bytes;
		ret->type = n->u.handle.type;
		memcpy(ret->data, n->u.handle.data, n->u.handle.bytes);
	}
	pthread_mutex_unlock(&t->lock);
	return r;
}

void node_table_set_handle(struct node_table *t, uint64_t id, const struct node_handle *h)
{
	struct node **slot, *n;

	pthread_mutex_lock(&t->lock);
	slot = find_slot(t, id);
	if (*slot && (*slot)->dir) {
		n = make_handled(h);
		if (n) {
			n->next = (*slot)->next;
			n->id = id;
			n->nlookup = (*slot)->nlookup;
			node_free(*slot);
			*slot = n;
		}
	}
	pthread_mutex_unlock(&t->lock);
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
