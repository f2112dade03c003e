// SPDX-License-Identifier: GPL-2.0-or-later
/* A stack of mapped buffers under one mutex, taken and given back once per READ. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "bufpool.h"

struct bufpool {
	pthread_mutex_t lock;
	size_t size;
	unsigned int keep, n;
	void *kept[];
};

int bufpool_new(size_t size, unsigned int keep, struct bufpool **ret)
{
	struct bufpool *p = calloc(1, sizeof(*p) + keep * sizeof(void *));

	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	p->size = size;
	p->keep = keep;
	*ret = p;
	return 0;
}

void bufpool_free(struct bufpool *p)
{
	if (!p)
		return;
	for (unsigned int i = 0; i < p->n; i++)
		munmap(p->kept[i], p->size);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

size_t bufpool_size(const struct bufpool *p)
{
	return p->size;
}

void *bufpool_get(struct bufpool *p)
{
	void *buf = NULL;

	pthread_mutex_lock(&p->lock);
	if (p->n > 0)
		buf = p->kept[--p->n];
	pthread_mutex_unlock(&p->lock);
	if (buf)
		return buf;
	buf = mmap(NULL, p->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		   -1, 0);
	return buf == MAP_FAILED ? NULL : buf;
}

void bufpool_put(struct bufpool *p, void *buf)
{
	if (!buf)
		return;
	pthread_mutex_lock(&p->lock);
	if (p->n < p->keep) {
		p->kept[p->n++] = buf;
		buf = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	if (buf)
		munmap(buf, p->size);
}

unsigned int bufpool_count(struct bufpool *p)
{
	unsigned int n;

	pthread_mutex_lock(&p->lock);
	n = p->n;
	pthread_mutex_unlock(&p->lock);
	return n;
}
